//! The hand-off over the mock kernel: one launch sets a held init up and
//! hands it off (the OCI `create`), and its process outlives that launch,
//! set up and waiting; a later launch, on the same kernel, resumes it (the
//! OCI `start`). Then what goes wrong between and during the two.

use std::time::Duration;

use cradle_core::backend::Clock;
use cradle_core::{driver, ChildStep, Command, ExitStatus, Launch, LaunchError, Limits, Pid, Plan, Step};
use cradle_mock::{
    plans, run_on, At, CommandKind, Fault, Kernel, MockBackend, Options, ProcessPoint, ProcessState,
    Scenario, Schedule, SIGKILL,
};

/// Everything at once, and a byte at a time with exits reported first and
/// a send buffer smaller than the config (so the send waits on the child).
const SCHEDULES: [Schedule; 2] = [
    Schedule {
        chunk: 64 << 10,
        exits_first: false,
        buffer: cradle_mock::SOCKET_BUFFER,
    },
    Schedule {
        chunk: 1,
        exits_first: true,
        buffer: 16,
    },
];

/// The resuming launch's deadline.
const RESUME_TIMEOUT: Duration = Duration::from_secs(5);

/// A launch that was driven to its hold and, if it got there, handed off.
struct Create {
    launch: Launch,
    backend: MockBackend,
    result: Result<Pid, LaunchError>,
}

impl Create {
    /// [`plans::init`] (which holds) on `kernel`, with `faults`, driven to
    /// its hold; handed off there, and driven to its end.
    fn run(kernel: Kernel, faults: Vec<Fault>, schedule: Schedule) -> Create {
        let plan = plans::init();
        let mut launch = Launch::new(plan.clone(), kernel.now()).expect("the plan is valid");
        let mut backend = MockBackend::new(kernel, options(&plan, schedule), faults);
        let mut result = driver::drive(&mut launch, &mut backend);
        if launch.is_held() {
            launch
                .handle_hand_off(backend.now())
                .expect("a held launch takes the hand-off");
            result = driver::drive(&mut launch, &mut backend);
        }
        assert!(launch.is_finished(), "the create launch did not end");
        Create {
            launch,
            backend,
            result,
        }
    }

    /// The created process: the launch must have ended at the hand-off.
    #[track_caller]
    fn created(&self) -> Pid {
        let pid = match &self.result {
            Ok(pid) => *pid,
            Err(error) => panic!("the create launch failed: {error}"),
        };
        assert_eq!(self.launch.step(), Step::HandOff, "it ended at the hand-off");
        pid
    }
}

fn options(plan: &Plan, schedule: Schedule) -> Options {
    Options {
        limits: plan.limits,
        schedule,
        cgroup: None,
    }
}

/// A launch that resumed `pid` on `kernel` (with `faults` of its own), to
/// its end.
struct Resume {
    launch: Launch,
    backend: MockBackend,
    result: Result<Pid, LaunchError>,
}

impl Resume {
    fn run(kernel: Kernel, pid: Pid, schedule: Schedule) -> Resume {
        let options = Options {
            limits: Limits::default(),
            schedule,
            cgroup: None,
        };
        let mut backend = MockBackend::resume(kernel, options, [], pid);
        let mut launch = Launch::resume(pid, RESUME_TIMEOUT, Limits::default(), backend.now());
        let result = driver::drive(&mut launch, &mut backend);
        assert!(launch.is_finished(), "the resuming launch did not end");
        Resume {
            launch,
            backend,
            result,
        }
    }

    /// The command error the resume failed with at `step`.
    #[track_caller]
    fn failed_command(&self, step: Step) -> Option<i32> {
        match &self.result {
            Err(LaunchError::Command { step: at, error }) if *at == step => error.errno,
            other => panic!("expected a failed command at {step}, got {other:?}"),
        }
    }
}

/// The boot processes are untouched.
#[track_caller]
fn bystanders_alive(kernel: &Kernel) {
    let container = kernel.container();
    for pid in [kernel.host_init(), kernel.launcher(), container.init] {
        assert!(
            kernel.process(pid).is_some_and(|p| p.is_alive()),
            "{pid} was harmed"
        );
    }
    assert_eq!(
        kernel.process(container.init).and_then(|p| p.cgroup()),
        Some(container.cgroup.as_str())
    );
}

#[track_caller]
fn no_kill_or_reap(commands: &[Command]) {
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, Command::Kill { .. } | Command::Reap { .. })),
        "{commands:?}"
    );
}

#[test]
fn a_handed_off_process_outlives_its_launch_and_a_resume_runs_it() {
    for schedule in SCHEDULES {
        let create = Create::run(Kernel::new(), Vec::new(), schedule);
        let pid = create.created();
        let commands = create.backend.commands();
        // The cgroup's attach overlaps the set-up of a process that holds.
        assert_eq!(
            commands[commands.len() - 4..],
            [
                Command::ShutdownWrite,
                Command::ApplyCgroup { pid },
                Command::HandOff { pid },
                Command::Close
            ],
            "{schedule:?}"
        );
        assert!(
            !commands.iter().any(|c| matches!(
                c,
                Command::Start { .. }
                    | Command::Kill { .. }
                    | Command::Reap { .. }
                    | Command::RemoveInterface { .. }
                    | Command::DestroyCgroup
            )),
            "the process, its interfaces and its cgroup are the caller's: {commands:?}"
        );
        assert!(create.launch.cleanup_failures().is_empty());
        let cgroup = create.backend.cgroup_path().to_owned();
        let launch = create.backend.launch_id();
        let mut kernel = create.backend.into_kernel();

        // The launch is over and its socket end closed; the process runs
        // on, and holds: a held process whose parent goes away exits, one
        // that was handed off waits for its start.
        kernel.run_until_idle();
        let process = kernel.process(pid).expect("the created process");
        assert!(process.is_alive(), "{:?}", process.state());
        assert!(process.is_handed_off() && !process.is_started());
        assert_eq!(process.parent(), Some(kernel.launcher()));
        assert_eq!(process.cgroup(), Some(cgroup.as_str()));
        let left = kernel.leftovers(launch);
        assert_eq!(left.processes.len(), 1);
        assert_eq!(left.cgroups, std::slice::from_ref(&cgroup));
        assert_eq!(left.interfaces, ["veth0h", "veth1h"]);
        // Its end of the launch socket is still open: it has not exec'd.
        let [socket] = left.sockets[..] else {
            panic!("the launch socket, not {:?}", left.sockets);
        };
        let socket = kernel.socket(socket).expect("the launch socket");
        assert!(!socket.parent_open());
        assert_eq!(socket.child_holders().collect::<Vec<_>>(), [pid]);
        bystanders_alive(&kernel);

        let resume = Resume::run(kernel, pid, schedule);
        assert_eq!(resume.result, Ok(pid), "{schedule:?}");
        assert_eq!(
            resume.backend.commands(),
            [Command::Start { pid }, Command::Close]
        );
        let resumer = resume.backend.launch_id();
        let kernel = resume.backend.into_kernel();
        let process = kernel.process(pid).expect("the resumed process");
        assert!(process.is_alive() && process.is_started());
        // It exec'd: every socket end it held closed on `exec`, the one it
        // was created with and the resuming launch's.
        let left = kernel.leftovers(launch);
        assert!(left.sockets.is_empty(), "{:?}", left.sockets);
        assert_eq!(left.processes.len(), 1);
        assert_eq!(left.cgroups, [cgroup]);
        assert!(kernel.leftovers(resumer).is_empty());
        bystanders_alive(&kernel);
    }
}

#[test]
fn a_process_killed_between_the_launches_fails_the_resume_at_its_start() {
    let create = Create::run(Kernel::new(), Vec::new(), Schedule::default());
    let pid = create.created();
    let mut kernel = create.backend.into_kernel();
    kernel.kill(pid).expect("kill");

    let resume = Resume::run(kernel, pid, Schedule::default());
    assert_eq!(resume.failed_command(Step::Start), Some(libc::ESRCH));
    // Nothing to kill, and not its child to reap: only its channel closes.
    assert_eq!(
        resume.backend.commands(),
        [Command::Start { pid }, Command::Close]
    );
    assert!(resume.launch.cleanup_failures().is_empty());
    assert!(resume.backend.leftovers().is_empty());
    let mut kernel = resume.backend.into_kernel();
    // The zombie is its parent's to reap.
    assert_eq!(kernel.reap(pid), Ok(ExitStatus::Signaled(SIGKILL)));
    bystanders_alive(&kernel);
}

#[test]
fn a_failed_hand_off_leaves_nothing() {
    for schedule in SCHEDULES {
        let fails = Fault::Fail {
            command: CommandKind::HandOff,
            errno: libc::EIO,
        };
        let create = Create::run(Kernel::new(), vec![fails], schedule);
        match &create.result {
            Err(LaunchError::Command {
                step: Step::HandOff,
                error,
            }) => assert_eq!(error.errno, Some(libc::EIO)),
            other => panic!("expected the hand-off to fail, got {other:?}"),
        }
        let commands = create.backend.commands();
        let pid = create.launch.pid().expect("the spawned process");
        let at = commands
            .iter()
            .position(|c| *c == Command::HandOff { pid })
            .expect("the hand-off");
        assert!(
            matches!(
                commands[at + 1..],
                [
                    Command::Kill { .. },
                    Command::Reap { .. },
                    Command::RemoveInterface { index: 2, .. },
                    Command::RemoveInterface { index: 0, .. },
                    Command::DestroyCgroup,
                    Command::Close,
                ]
            ),
            "{commands:?}"
        );
        assert!(create.launch.cleanup_failures().is_empty());
        assert!(create.backend.pending_faults().is_empty());
        assert!(
            create.backend.leftovers().is_empty(),
            "{:?}",
            create.backend.leftovers()
        );
        bystanders_alive(create.backend.kernel());
    }
}

#[test]
fn a_second_resume_is_refused_and_harms_the_running_process_in_nothing() {
    let create = Create::run(Kernel::new(), Vec::new(), Schedule::default());
    let pid = create.created();
    let first = Resume::run(create.backend.into_kernel(), pid, Schedule::default());
    assert_eq!(first.result, Ok(pid));

    let second = Resume::run(first.backend.into_kernel(), pid, Schedule::default());
    assert_eq!(second.failed_command(Step::Start), Some(libc::ECONNREFUSED));
    no_kill_or_reap(second.backend.commands());
    assert!(second.backend.leftovers().is_empty());
    let kernel = second.backend.into_kernel();
    let process = kernel.process(pid).expect("the running process");
    assert!(
        process.is_alive(),
        "a refused start killed it: {:?}",
        process.state()
    );
    bystanders_alive(&kernel);
}

#[test]
fn a_process_that_was_never_handed_off_refuses_a_resume() {
    let plan = plans::init();
    let report = run_on(Kernel::new(), &Scenario::new(plan)).expect("the plan is valid");
    let pid = report.result.clone().expect("it runs");
    let resume = Resume::run(report.kernel, pid, Schedule::default());
    assert_eq!(resume.failed_command(Step::Start), Some(libc::ECONNREFUSED));
    no_kill_or_reap(resume.backend.commands());
    assert!(resume.backend.kernel().process(pid).is_some_and(|p| p.is_alive()));
}

#[test]
fn an_exec_failure_is_reported_to_the_resumer() {
    for schedule in SCHEDULES {
        // Scripted for the process, so in its own (the creating) launch's
        // script: it strikes after the resume lets it go on to `exec`.
        let exec_fails = Fault::Refuse {
            at: At::Process(ProcessPoint::Exec),
            errno: libc::EPERM,
        };
        let create = Create::run(Kernel::new(), vec![exec_fails.clone()], schedule);
        let pid = create.created();
        let launch = create.backend.launch_id();
        let kernel = create.backend.into_kernel();
        assert_eq!(
            kernel.pending_faults(launch),
            [exec_fails],
            "not before the start"
        );

        let resume = Resume::run(kernel, pid, schedule);
        match &resume.result {
            Err(LaunchError::Child {
                step: Step::AwaitExec,
                error,
            }) => assert_eq!((error.step, error.errno), (ChildStep::Exec, Some(libc::EPERM))),
            other => panic!("expected the child's error, got {other:?}"),
        }
        // Killed unless its exit came first (it may not have exited yet),
        // never reaped.
        let commands = resume.backend.commands();
        assert!(
            commands == [Command::Start { pid }, Command::Kill { pid }, Command::Close]
                || (schedule.exits_first && commands == [Command::Start { pid }, Command::Close]),
            "{schedule:?}: {commands:?}"
        );
        assert!(resume.launch.cleanup_failures().is_empty());
        assert!(resume.backend.leftovers().is_empty());
        let mut kernel = resume.backend.into_kernel();
        assert!(kernel.pending_faults(launch).is_empty());
        let state = kernel.process(pid).expect("its zombie").state();
        assert!(matches!(state, ProcessState::Zombie(_)), "{state:?}");
        assert!(kernel.reap(pid).is_ok(), "its parent reaps it");
        bystanders_alive(&kernel);
    }
}

#[test]
fn a_resumed_process_that_stalls_before_exec_is_killed_at_the_deadline() {
    let stalls = Fault::Stall {
        at: At::Process(ProcessPoint::Exec),
    };
    let create = Create::run(Kernel::new(), vec![stalls], Schedule::default());
    let pid = create.created();
    let started_at = create.backend.kernel().now();
    let resume = Resume::run(create.backend.into_kernel(), pid, Schedule::default());
    assert!(
        matches!(
            resume.result,
            Err(LaunchError::TimedOut {
                step: Step::AwaitExec,
                after: RESUME_TIMEOUT
            })
        ),
        "{:?}",
        resume.result
    );
    assert_eq!(
        resume.backend.commands(),
        [Command::Start { pid }, Command::Kill { pid }, Command::Close]
    );
    let mut kernel = resume.backend.into_kernel();
    assert!(kernel.now() >= started_at + RESUME_TIMEOUT);
    kernel.advance(cradle_mock::DYING_TIME); // a killed process takes a moment to exit
    assert_eq!(
        kernel.process(pid).map(|p| p.state()),
        Some(ProcessState::Zombie(ExitStatus::Signaled(SIGKILL)))
    );
}
