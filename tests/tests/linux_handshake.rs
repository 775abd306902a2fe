//! The handshake under faults, as root: the child killed at each step, or
//! stalling at each step. Every launch ends with a typed error within its
//! deadline, and leaves no zombie and no descriptor in the parent.
//!
//! The tests count the parent's descriptors and children, so they take
//! turns (`linux::serial`), and other suites run in other processes.

use std::time::{Duration, Instant};

use cradle_core::launch::Who;
use cradle_core::{ChildStep, Config, ExitStatus, Launch, LaunchError, NamespaceKind, Pid, Plan, Step};
use cradle_linux::{clock, LinuxLaunch, Options, Process};
use cradle_tests::linux::{self, require_root, serial, BusyboxRootfs, Leftovers};
use nix::sys::signal::{kill, Signal};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
const DEAF: &str = env!("CARGO_BIN_EXE_cradle-test-deaf");

/// The init's set-up steps before `ready`, in order: every child step but
/// receiving the config, the setns helper's and `exec`.
fn init_steps() -> impl Iterator<Item = ChildStep> {
    ChildStep::ALL.into_iter().filter(|step| {
        !matches!(
            step,
            ChildStep::Config
                | ChildStep::Setns
                | ChildStep::Fork
                | ChildStep::Report
                | ChildStep::Exec
                | ChildStep::Other
        )
    })
}

/// A config that runs every child step: namespaces, a rootfs, `/bin/true`.
fn full_config(rootfs: &BusyboxRootfs) -> Config {
    let mut config = linux::in_busybox(rootfs, ["/bin/true"]);
    config.hostname = Some("handshake".into());
    config
}

/// A plan with a user namespace: the child holds before `exec` until the
/// parent has written its id maps, so the plan has every parent step.
/// (Without a rootfs: a new `/proc` in a user namespace must be mounted
/// before the old root goes, which comes with user namespaces proper.)
fn plan_with_hold(mut config: Config) -> Plan {
    config.rootfs = None;
    config
        .namespaces
        .push(cradle_core::Namespace::new(NamespaceKind::User));
    let mut plan = Plan::init(config);
    plan.id_maps = Some(linux::identity_maps());
    plan
}

/// `cradle_core::driver::drive`, killing the child just before the launch
/// reaches `kill_at` (before its command, or before waiting at it); the
/// launch's result, and whether the child was there to kill.
fn drive_killing(
    launch: &mut Launch,
    backend: &mut LinuxLaunch,
    kill_at: Step,
) -> (Result<Pid, LaunchError>, bool) {
    let mut killed = false;
    let kill_if_due = |launch: &mut Launch, _: &mut LinuxLaunch| {
        if !killed && launch.step() == kill_at {
            if let Some(pid) = launch.pid() {
                kill(nix::unistd::Pid::from_raw(pid.as_raw()), Signal::SIGKILL).expect("kill the child");
                killed = true;
            }
        }
    };
    let result = cradle_core::driver::drive_with(launch, backend, kill_if_due);
    (result, killed)
}

/// The child's death by SIGKILL, seen where the parent first waits on it:
/// at `ready` (the backend takes a send to a dead child for sent).
fn assert_killed(result: &Result<Pid, LaunchError>, what: &str) {
    match result {
        Err(LaunchError::Exited { step, who, status }) => {
            assert_eq!(
                (*step, *who, *status),
                (
                    Step::AwaitReady,
                    Who::Process,
                    ExitStatus::Signaled(Signal::SIGKILL as i32)
                ),
                "{what}"
            );
        }
        other => panic!("{what}: expected the child's death, got {other:?}"),
    }
}

#[test]
fn the_child_killed_before_each_parent_step() {
    if !require_root("the_child_killed_before_each_parent_step") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let mut plan = plan_with_hold(full_config(&rootfs));
    plan.timeout = Duration::from_secs(5);
    let steps = Launch::new(plan.clone(), clock::now())
        .expect("plan")
        .steps()
        .to_vec();
    assert_eq!(
        steps,
        [
            Step::Spawn,
            Step::IdMaps,
            Step::Release,
            Step::SendConfig,
            Step::HalfClose,
            Step::AwaitReady,
            Step::AwaitExec
        ]
    );
    for &step in &steps[1..steps.len() - 1] {
        let leftovers = Leftovers::before();
        let started = Instant::now();
        let result = {
            let mut launch = Launch::new(plan.clone(), clock::now()).expect("plan");
            let mut backend = LinuxLaunch::new(Options::new().init_binary(INIT)).expect("backend");
            drive_killing(&mut launch, &mut backend, step)
        };
        let what = format!("killed before {step}");
        let (result, killed) = result;
        assert!(killed, "{what}: the launch never reached {step} with a child");
        assert_killed(&result, &what);
        assert!(
            started.elapsed() < plan.timeout,
            "{what}: took {:?}",
            started.elapsed()
        );
        leftovers.assert_none(&what);
    }
}

/// Starts `config`, whose child announces (on stdout) the step `at` and
/// stalls there, in a thread; kills the child once it has announced `at`;
/// returns the launch's result.
fn start_and_kill_on_announce(
    config: Config,
    at: ChildStep,
    timeout: Duration,
) -> Result<Process, cradle_linux::Error> {
    let (mut announcements, stdout) = linux::pipe();
    let before = linux::children();
    let mut plan = Plan::init(config);
    plan.timeout = timeout;
    let launch =
        std::thread::spawn(move || Process::start(plan, Options::new().init_binary(INIT).stdout(stdout)));
    let announced = linux::read_line(&mut announcements, timeout);
    assert_eq!(announced.trim_end(), at.as_str(), "the child's announcement");
    let new: Vec<i32> = linux::children().difference(&before).copied().collect();
    assert_eq!(new.len(), 1, "one new child: {new:?}");
    kill(nix::unistd::Pid::from_raw(new[0]), Signal::SIGKILL).expect("kill the child");
    launch.join().expect("the launch thread")
}

#[test]
fn the_child_killed_at_each_of_its_steps() {
    if !require_root("the_child_killed_at_each_of_its_steps") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let timeout = Duration::from_secs(5);
    for step in init_steps() {
        let mut config = full_config(&rootfs);
        config.env = vec![format!("CRADLE_TEST_FAULT=announce@{step}")];
        let leftovers = Leftovers::before();
        let started = Instant::now();
        let result = start_and_kill_on_announce(config, step, timeout);
        let what = format!("killed at {step}");
        match result {
            Err(cradle_linux::Error::Launch(error)) => assert_killed(&Err(error), &what),
            other => panic!("{what}: expected the child's death, got {other:?}"),
        }
        assert!(
            started.elapsed() < timeout,
            "{what}: took {:?}",
            started.elapsed()
        );
        leftovers.assert_none(&what);
    }
}

#[test]
fn a_child_killed_between_ready_and_exec_looks_like_its_command_died() {
    if !require_root("a_child_killed_between_ready_and_exec_looks_like_its_command_died") {
        return;
    }
    let _serial = serial();
    // `exec` closes the socket, and so does death: after `ready`, the parent
    // cannot tell them apart. The launch reports running; the exit status
    // tells the rest.
    let rootfs = BusyboxRootfs::new();
    let mut config = full_config(&rootfs);
    config.env = vec!["CRADLE_TEST_FAULT=announce@exec".into()];
    let leftovers = Leftovers::before();
    let mut process =
        start_and_kill_on_announce(config, ChildStep::Exec, Duration::from_secs(5)).expect("running");
    let status = process.wait_timeout(linux::DEADLINE).expect("wait");
    assert_eq!(status, Some(ExitStatus::Signaled(Signal::SIGKILL as i32)));
    drop(process);
    leftovers.assert_none("killed between ready and exec");
}

#[test]
fn a_child_that_stalls_times_out_at_that_step() {
    if !require_root("a_child_that_stalls_times_out_at_that_step") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let stalls = init_steps()
        .map(|step| (step, Step::AwaitReady))
        .chain([(ChildStep::Exec, Step::AwaitExec)]);
    for (child_step, parent_step) in stalls {
        let mut config = full_config(&rootfs);
        config.env = vec![format!("CRADLE_TEST_FAULT=announce@{child_step}")];
        let plan = Plan::init(config);
        let leftovers = Leftovers::before();
        let what = format!("stalled at {child_step}");
        let stalled = linux::start_stalling(&what, &plan, || Options::new().init_binary(INIT));
        assert_eq!(stalled.announced, child_step.as_str(), "{what}");
        match stalled.result {
            Err(cradle_linux::Error::Launch(LaunchError::TimedOut { step, after })) => {
                assert_eq!((step, after), (parent_step, stalled.timeout), "{what}");
            }
            other => panic!("{what}: expected a time-out, got {other:?}"),
        }
        let took = stalled.took;
        assert!(took >= stalled.timeout, "{what}: gave up early, after {took:?}");
        assert!(
            took < stalled.timeout + Duration::from_secs(2),
            "{what}: took {took:?}"
        );
        leftovers.assert_none(&what);
    }
}

/// Starts `plan` with the deaf init until it times out at `expected`, or
/// at a later step: a launch that timed out at an earlier one (its
/// deadline passed before it got to `expected`, on a loaded machine) is
/// tried again with a longer timeout. The result, the timeout, and how long
/// that last launch took.
fn deaf_launch_timing_out_at(
    plan: &Plan,
    expected: Step,
) -> (Result<Process, cradle_linux::Error>, Duration, Duration) {
    let steps = Launch::new(plan.clone(), clock::now())
        .expect("plan")
        .steps()
        .to_vec();
    let position = |step: Step| steps.iter().position(|&s| s == step);
    linux::with_growing_timeout(&format!("a deaf child, at {expected}"), |timeout| {
        let mut plan = plan.clone();
        plan.timeout = timeout;
        let started = Instant::now();
        let result = Process::start(plan, Options::new().init_binary(DEAF));
        let took = started.elapsed();
        let early = match &result {
            Err(cradle_linux::Error::Launch(LaunchError::TimedOut { step, .. })) => {
                position(*step) < position(expected)
            }
            _ => false,
        };
        (!early).then_some((result, timeout, took))
    })
}

#[test]
fn a_child_that_never_reads_times_out() {
    if !require_root("a_child_that_never_reads_times_out") {
        return;
    }
    let _serial = serial();
    // A config that fits the socket's buffer: the parent half-closes and
    // waits for a reply that never comes.
    let plan = Plan::init(Config::new(["/bin/true"]));
    let leftovers = Leftovers::before();
    match deaf_launch_timing_out_at(&plan, Step::AwaitReady) {
        (Err(cradle_linux::Error::Launch(LaunchError::TimedOut { step, after })), timeout, _) => {
            assert_eq!((step, after), (Step::AwaitReady, timeout));
        }
        (other, ..) => panic!("expected a time-out, got {other:?}"),
    }
    leftovers.assert_none("a deaf child, small config");

    // A config larger than the socket's buffer: the send itself would block.
    let mut config = Config::new(["/bin/true"]);
    config.env = vec![format!("BIG={}", "x".repeat(900 << 10))];
    let plan = Plan::init(config);
    match deaf_launch_timing_out_at(&plan, Step::SendConfig) {
        (Err(cradle_linux::Error::Launch(LaunchError::TimedOut { step, after })), timeout, took) => {
            assert_eq!((step, after), (Step::SendConfig, timeout));
            assert!(took < timeout + Duration::from_secs(2), "took {took:?}");
        }
        (other, ..) => panic!("expected the send to time out, got {other:?}"),
    }
    leftovers.assert_none("a deaf child, large config");
}

#[test]
fn a_held_child_runs_once_released() {
    if !require_root("a_held_child_runs_once_released") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let mut config = full_config(&rootfs);
    config.args = vec!["/bin/cat".into(), "/proc/self/uid_map".into()];
    let plan = plan_with_hold(config);
    assert!(plan.config.creates(NamespaceKind::User));
    let finished = linux::run(plan, INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0));
    let map: Vec<&str> = finished.stdout.split_whitespace().collect();
    assert_eq!(map, ["0", "0", "4294967295"], "{finished:?}");
}
