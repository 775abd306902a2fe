//! The harness: a parent and its child, driven together to the end.

use std::time::Duration;

use cradle_core::backend::{Clock, Wait};
use cradle_core::driver;
use cradle_core::{ConfigError, Interface, Kind, Launch, LaunchError, Pid, Plan, Step};

use crate::backend::{MockBackend, Options, Schedule};
use crate::faults::Fault;
use crate::kernel::Kernel;
use crate::report::{Expected, Report};

/// One launch in a simulated world: what to launch, what goes wrong, how
/// the world delivers, and whether the caller gives up. Plain data, for
/// test tables and fuzzers.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What to launch.
    pub plan: Plan,
    /// What goes wrong.
    pub faults: Vec<Fault>,
    /// Chunking and ordering.
    pub schedule: Schedule,
    /// The caller cancels the launch when it reaches this step.
    pub cancel_at: Option<Step>,
    /// How long the caller takes to record a held process before it
    /// starts it (the child runs meanwhile); `None`: it never does.
    pub start_after: Option<Duration>,
    /// The caller starts a process that holds as soon as the launch awaits
    /// its `ready` ([`Launch::handle_start_when_ready`]): the child goes on
    /// to `exec` once ready, never held.
    pub start_when_ready: bool,
}

/// How long a caller takes, by default, to record a held process.
pub const RECORD_TIME: Duration = Duration::from_millis(1);

impl Scenario {
    /// `plan`, with nothing going wrong.
    pub fn new(plan: Plan) -> Scenario {
        Scenario {
            plan,
            faults: Vec::new(),
            schedule: Schedule::default(),
            cancel_at: None,
            start_after: Some(RECORD_TIME),
            start_when_ready: false,
        }
    }

    /// Adds a fault.
    pub fn with_fault(mut self, fault: Fault) -> Scenario {
        self.faults.push(fault);
        self
    }

    /// Sets the schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Scenario {
        self.schedule = schedule;
        self
    }

    /// Cancels the launch when it reaches `step`.
    pub fn cancelled_at(mut self, step: Step) -> Scenario {
        self.cancel_at = Some(step);
        self
    }

    /// A caller that never starts a held process.
    pub fn never_started(mut self) -> Scenario {
        self.start_after = None;
        self
    }

    /// A caller that starts a process that holds before its `ready`.
    pub fn started_when_ready(mut self) -> Scenario {
        self.start_when_ready = true;
        self
    }
}

/// A [`Launch`] (the parent) and a [`MockBackend`] (the launcher's calls,
/// and the simulated child behind them), driven together.
#[derive(Debug)]
pub struct Pair {
    launch: Launch,
    backend: MockBackend,
    plan: Plan,
    cancel_at: Option<Step>,
    start_after: Option<Duration>,
    start_when_ready: bool,
    result: Option<Result<Pid, LaunchError>>,
}

impl Pair {
    /// Sets up `scenario` on `kernel`, starting the launch at the kernel's
    /// time.
    pub fn new(kernel: Kernel, scenario: &Scenario) -> Result<Pair, ConfigError> {
        let launch = Launch::new(scenario.plan.clone(), kernel.now())?;
        let options = Options {
            limits: scenario.plan.limits,
            schedule: scenario.schedule,
            cgroup: None,
        };
        Ok(Pair {
            launch,
            backend: MockBackend::new(kernel, options, scenario.faults.iter().cloned()),
            plan: scenario.plan.clone(),
            cancel_at: scenario.cancel_at,
            start_after: scenario.start_after,
            start_when_ready: scenario.start_when_ready,
            result: None,
        })
    }

    /// The parent.
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    /// The backend, with the kernel.
    pub fn backend(&self) -> &MockBackend {
        &self.backend
    }

    /// Runs the launch to its end with [`driver::drive`] (or, to cancel it,
    /// the same loop with a cancel at the scenario's step) and returns its
    /// outcome; again, the same outcome. A held process is recorded (which
    /// takes the scenario's time) and started, as a caller would.
    pub fn drive(&mut self) -> Result<Pid, LaunchError> {
        if let Some(result) = &self.result {
            return result.clone();
        }
        let result = loop {
            let result = match (self.cancel_at, self.start_when_ready) {
                (None, false) => driver::drive(&mut self.launch, &mut self.backend),
                (cancel_at, start_when_ready) => self.drive_with_caller(cancel_at, start_when_ready),
            };
            if self.launch.is_finished() {
                break result;
            }
            if self.launch.is_held() {
                self.record();
            }
        };
        self.result = Some(result.clone());
        result
    }

    /// The caller records the held process, taking the scenario's time
    /// (the launch hears of the child meanwhile), then starts it.
    fn record(&mut self) {
        let Some(time) = self.start_after else {
            // It never starts: the launch's deadline ends the hold.
            return;
        };
        let until = self.backend.now() + time;
        let mut buf = vec![0; driver::READ_CHUNK];
        while self.launch.is_held() && self.backend.now() < until {
            let deadline = self.launch.poll_timeout().map_or(until, |t| t.min(until));
            let wake = self
                .backend
                .wait(Some(deadline), self.launch.wants_read(), &mut buf);
            let now = self.backend.now();
            let accepted = driver::handle_wake(&mut self.launch, now, wake, &buf);
            debug_assert!(accepted.is_ok(), "the backend reports only this launch's input");
        }
        if self.launch.is_held() {
            let now = self.backend.now();
            let accepted = self.launch.handle_start(now);
            debug_assert!(accepted.is_ok(), "the launch is held");
        }
    }

    /// [`driver::drive`], with the caller's inputs: its cancel the first
    /// time the launch is at `cancel_at`, and, with `start_when_ready`, its
    /// start the first time the launch awaits `ready`.
    fn drive_with_caller(
        &mut self,
        cancel_at: Option<Step>,
        start_when_ready: bool,
    ) -> Result<Pid, LaunchError> {
        let mut cancelled = false;
        let mut started = !start_when_ready;
        driver::drive_with(&mut self.launch, &mut self.backend, |launch, backend| {
            if !cancelled && Some(launch.step()) == cancel_at {
                cancelled = true;
                launch.handle_cancel(backend.now());
            }
            if !started && launch.step() == Step::AwaitReady && launch.pid().is_some() {
                started = true;
                // Refused once the child has ended: the launch says how.
                let _ = launch.handle_start_when_ready(backend.now());
            }
        })
    }

    /// Drives the launch if that is not done yet, and reports how it ended
    /// and what it left.
    pub fn into_report(mut self) -> Report {
        let result = self.drive();
        let expected = Expected {
            cgroups: match self.plan.kind {
                Kind::Init if self.plan.cgroup => vec![self.backend.cgroup_path().to_owned()],
                _ => Vec::new(),
            },
            interfaces: host_interfaces(&self.plan),
        };
        Report {
            result,
            commands: self.backend.commands().to_vec(),
            unspent: self.backend.pending_faults().to_vec(),
            cleanup_failures: self.launch.cleanup_failures().to_vec(),
            finished: self.launch.is_finished(),
            leftovers: self.backend.leftovers(),
            launch: self.backend.launch_id(),
            kernel: self.backend.into_kernel(),
            expected,
        }
    }
}

/// The names of the host interfaces `plan` creates, sorted.
fn host_interfaces(plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = plan
        .config
        .networks
        .iter()
        .filter_map(|interface| match interface {
            Interface::Veth(veth) => Some(veth.host_name.clone()),
            Interface::Loopback => None,
        })
        .collect();
    names.sort();
    names
}

/// Runs `scenario` over a fresh [`Kernel`] and reports how it ended and
/// what it left; [`Report::violations`] checks the invariants.
pub fn run(scenario: &Scenario) -> Result<Report, ConfigError> {
    run_on(Kernel::new(), scenario)
}

/// Runs `scenario` over `kernel`.
pub fn run_on(kernel: Kernel, scenario: &Scenario) -> Result<Report, ConfigError> {
    Ok(Pair::new(kernel, scenario)?.into_report())
}
