//! A whole launch, parent and simulated child, over the mock kernel with a
//! fault script.
//!
//! Each scenario runs twice over a fresh kernel. Once with the mock's own
//! harness ([`cradle_mock::run`], the core's blocking driver), whose
//! [`Report::violations`](cradle_mock::Report::violations) checks the world
//! afterwards: a failed launch left nothing, a running one holds exactly its
//! process, cgroup and interfaces, no bystander was touched. Once with the
//! same driver loop feeding a [`CheckedLaunch`], which checks the launch's
//! own invariants at every input. A held process is recorded and started
//! in both runs as the mock's [`Pair`](cradle_mock::Pair) does it. Without a
//! cancel the two runs must agree command for command: the mock is
//! deterministic.

use std::time::Duration;

use cradle_core::backend::{Clock, Wait, Wake};
use cradle_core::driver::{execute, READ_CHUNK};
use cradle_core::{Command, Config, Namespace, NamespaceKind, Pid, Plan, SetnsEntry, Step};
use cradle_mock::{plans, Fault, Kernel, MockBackend, Options, Scenario, Schedule};

use super::launch::{CheckedLaunch, ExitOf, Op};

/// One scenario for the `pair` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairInput {
    /// What is launched.
    pub plan: PairPlan,
    /// How the simulated world delivers.
    pub schedule: Schedule,
    /// The caller cancels when the launch reaches this step.
    pub cancel_at: Option<Step>,
    /// What goes wrong.
    pub faults: Vec<Fault>,
}

/// The plans a pair scenario launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairPlan {
    /// [`plans::init`]: every part of an init launch, the hold after
    /// `ready` included.
    FullInit,
    /// An init process in a mount and a pid namespace, nothing else.
    BareInit,
    /// [`plans::setns`]: joins every namespace of the running container
    /// and enters its cgroup.
    FullSetns,
    /// The same, without the cgroup.
    BareSetns,
    /// [`FullSetns`](PairPlan::FullSetns), the process cloned into the
    /// container's pid namespace rather than forked by a helper.
    FullSetnsCloned,
    /// [`BareSetns`](PairPlan::BareSetns), cloned likewise.
    BareSetnsCloned,
}

impl PairPlan {
    /// The plan, for the container `kernel` runs.
    pub fn plan(self, kernel: &Kernel) -> Plan {
        match self {
            PairPlan::FullInit => plans::init(),
            PairPlan::BareInit => {
                let mut config = Config::new(["/bin/true"]);
                config.namespaces = vec![
                    Namespace::new(NamespaceKind::Mount),
                    Namespace::new(NamespaceKind::Pid),
                ];
                Plan::init(config)
            }
            PairPlan::FullSetns => plans::setns(kernel.container()),
            PairPlan::BareSetns => {
                let mut plan = plans::setns(kernel.container());
                plan.cgroup = false;
                plan
            }
            PairPlan::FullSetnsCloned => cloned(PairPlan::FullSetns.plan(kernel)),
            PairPlan::BareSetnsCloned => cloned(PairPlan::BareSetns.plan(kernel)),
        }
    }
}

/// `plan` with its process cloned into the container's pid namespace.
fn cloned(mut plan: Plan) -> Plan {
    plan.setns_entry = SetnsEntry::Clone;
    plan
}

/// Bounds the checked driver loop: a launch over the mock ends in fewer
/// rounds (the longest: an oversized message read a byte at a time), or it
/// hangs.
const MAX_ROUNDS: usize = 1 << 18;

/// Runs the scenario both ways and checks both; see the module docs.
pub fn check_pair(input: &PairInput) {
    let plan = input.plan.plan(&Kernel::new());
    let scenario = Scenario {
        plan,
        faults: input.faults.clone(),
        schedule: input.schedule,
        cancel_at: input.cancel_at,
        start_after: Some(cradle_mock::RECORD_TIME),
        start_when_ready: false,
    };
    let checked = drive_checked(&scenario);
    let report = match cradle_mock::run(&scenario) {
        Ok(report) => report,
        Err(error) => panic!("the pair plan is refused: {error}"),
    };
    let violations = report.violations();
    assert!(violations.is_empty(), "{report}: {violations:?}");
    if scenario.cancel_at.is_none() {
        assert_eq!(
            checked.commands, report.commands,
            "the checked run diverged from the mock's"
        );
        assert_eq!(
            checked.result,
            report.result.as_ref().copied().map_err(|error| error.step()),
            "the checked run ended otherwise than the mock's"
        );
    }
}

/// What the checked run came to.
struct Checked {
    /// The pid, or the step the launch failed at.
    result: Result<Pid, Step>,
    commands: Vec<Command>,
}

/// [`cradle_core::driver::drive`]'s loop over a fresh mock kernel, each
/// input fed through a [`CheckedLaunch`]. A cancel comes when the launch
/// reaches the scenario's step, with or without a command in flight. Once
/// the launch holds its process, the caller records it and starts it
/// ([`record`]), where the driver would return with the hold.
fn drive_checked(scenario: &Scenario) -> Checked {
    let options = Options {
        limits: scenario.plan.limits,
        schedule: scenario.schedule,
        cgroup: None,
    };
    let mut backend = MockBackend::new(Kernel::new(), options, scenario.faults.iter().cloned());
    let mut checked = CheckedLaunch::with_plan(scenario.plan.clone(), backend.now());
    let mut cancel_at = scenario.cancel_at;
    let mut recorded = false;
    let mut buf = vec![0; READ_CHUNK];
    for _ in 0..MAX_ROUNDS {
        if cancel_at.is_some_and(|step| checked.launch().step() == step) {
            cancel_at = None;
            checked.apply(&Op::Cancel);
        }
        if let Some(command) = checked.in_flight().cloned() {
            let result = execute(&mut backend, &command, checked.launch().deadline());
            catch_up(&mut checked, &mut backend);
            checked.apply(&match result {
                Ok(Some(pid)) => Op::Spawned(pid),
                Ok(None) => Op::Done { ok: true },
                Err(_) => Op::Done { ok: false },
            });
            continue;
        }
        if let Some(event) = checked.terminal() {
            let result = match event {
                cradle_core::Event::Running { pid } | cradle_core::Event::Created { pid } => Ok(*pid),
                cradle_core::Event::Failed(error) => Err(error.step()),
                cradle_core::Event::Held { .. } => unreachable!("the held event is not terminal"),
            };
            let leftovers = backend.leftovers();
            let failures = checked.launch().cleanup_failures();
            assert!(
                result.is_ok() || !failures.is_empty() || leftovers.is_empty(),
                "the failed launch left {leftovers:?}"
            );
            return Checked {
                result,
                commands: backend.commands().to_vec(),
            };
        }
        if !recorded && checked.launch().is_held() {
            recorded = true;
            record(&mut checked, &mut backend, scenario.start_after, &mut buf);
            continue;
        }
        let launch = checked.launch();
        let wake = backend.wait(launch.poll_timeout(), launch.wants_read(), &mut buf);
        feed(&mut checked, &mut backend, wake, &buf);
    }
    panic!("the launch did not end in {MAX_ROUNDS} rounds");
}

/// The caller records the held process, which takes it `start_after`
/// (the launch hears of the child meanwhile), then starts it if it is
/// still held; with `None` it never does. The mock's `Pair` does the same.
fn record(
    checked: &mut CheckedLaunch,
    backend: &mut MockBackend,
    start_after: Option<Duration>,
    buf: &mut [u8],
) {
    let Some(time) = start_after else {
        return;
    };
    let until = backend.now() + time;
    while checked.launch().is_held() && backend.now() < until {
        let launch = checked.launch();
        let deadline = launch.poll_timeout().map_or(until, |t| t.min(until));
        let wake = backend.wait(Some(deadline), launch.wants_read(), buf);
        feed(checked, backend, wake, buf);
    }
    if checked.launch().is_held() {
        catch_up(checked, backend);
        checked.apply(&Op::Start);
    }
}

/// Feeds what woke the backend's wait to the checked launch, at the
/// backend's time.
fn feed(checked: &mut CheckedLaunch, backend: &mut MockBackend, wake: Wake, buf: &[u8]) {
    let op = match wake {
        Wake::Read(n) => Op::Bytes(buf[..n].to_vec()),
        Wake::Eof => Op::Eof,
        Wake::ReadFailed(_) => Op::ReadError,
        Wake::Exited { pid, status } => Op::Exit {
            of: ExitOf::Pid(pid),
            status,
        },
        Wake::Deadline => Op::Timeout {
            after: backend.now().saturating_since(checked.now()),
        },
    };
    if !matches!(op, Op::Timeout { .. }) {
        catch_up(checked, backend);
    }
    checked.apply(&op);
}

/// Brings the checked launch's clock to the backend's.
fn catch_up(checked: &mut CheckedLaunch, backend: &mut MockBackend) {
    let by = backend.now().saturating_since(checked.now());
    if !by.is_zero() {
        checked.apply(&Op::Advance { by });
    }
}
