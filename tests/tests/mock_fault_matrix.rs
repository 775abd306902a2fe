//! The fault matrix: every step of each launch shape (an init, a setns
//! process forked by a helper, a setns process cloned by the launcher),
//! under every fault that applies at that step, under more than one
//! schedule. While the launch awaits `ready`, that includes a failure, a
//! stall and a death at each of the child's set-up steps of its kind, and,
//! for a cloned setns process, at its join of the container.
//!
//! Each case must end in a typed error of the expected kind naming the step,
//! with the fault spent (it struck), no cleanup command failed, nothing of
//! the launch left in the kernel (no process alive or zombie, socket end,
//! cgroup or interface: asserted on the kernel's state), and nothing else
//! harmed. Every case runs on a thread of its own with a real-time limit, so
//! a hang or a panic in the core is a failed case, not a stuck suite. All
//! failures are reported together.
//!
//! A create of the cgroup that stops partway through the hierarchies
//! removes what it made, as on Linux, and so leaves nothing either.
//!
//! Cleanup commands have cases of their own: each fails in turn in a
//! launch that has failed already, which must still end in its original
//! error, report exactly that command (and what failed because of it) in
//! its cleanup failures, and leave exactly what that command should have
//! removed.
//!
//! The hand-off has a matrix of its own: the init's hold handed off (the
//! OCI `create`) under every fault of its command, and the resuming launch
//! (the OCI `start`) under every fault of its start and of the wait for
//! `exec`. A failed hand-off leaves nothing; a failed resume leaves nothing
//! of its own, kills the process only if its start reached it, and never
//! reaps it (its creator's launcher does).
//!
//! A killed process takes time to exit, as on Linux. At representative
//! steps of each shape, the launch fails with its processes slow to die (a
//! few milliseconds: the main matrix, which must end as with a quick
//! death), and stuck dying past every bound (as in `D` state): the launch
//! still ends, within a bound of its own, its cleanup failures name the
//! waits that gave up, and it leaves only what those account for.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cradle_core::backend::Clock;
use cradle_core::launch::Who;
use cradle_core::message::MessageKind;
use cradle_core::{
    driver, ChildStep, Command, DecodeError, ExitStatus, Kind, Launch, LaunchError, Limits, Pid, Plan, Role,
    SetnsEntry, Step, Time,
};
use cradle_mock::{
    plans, run_on, set_up_steps, At, CommandKind, Fault, Forgery, HelperPoint, Kernel, MockBackend, Options,
    ProcessPoint, ProcessState, Report, Scenario, Schedule, Violation, DESTROY_BOUND, DYING_TIME,
    HIERARCHIES, REAP_BOUND,
};

/// Everything at once, data before exits.
const BULK: Schedule = Schedule {
    chunk: 64 << 10,
    exits_first: false,
    buffer: cradle_mock::SOCKET_BUFFER,
};

/// A byte at a time, exits before data.
const TRICKLE: Schedule = Schedule {
    chunk: 1,
    exits_first: true,
    buffer: cradle_mock::SOCKET_BUFFER,
};

/// A send buffer smaller than the config: the send waits on the child.
const NARROW: Schedule = Schedule {
    chunk: 7,
    exits_first: false,
    buffer: 16,
};

/// How long one case may take in real time before it counts as a hang.
const HANG: Duration = Duration::from_secs(20);

const SIGKILL: ExitStatus = ExitStatus::Signaled(9);

/// What sets a case off.
#[derive(Clone, Debug)]
enum Trigger {
    Fault(Fault),
    /// Several faults: one that fails the launch, and what else goes
    /// wrong on the way (a process slow to die).
    Faults(Vec<Fault>),
    /// The caller cancels when the launch reaches the step.
    Cancel,
    /// The caller never starts the held process.
    NeverStart,
}

/// The error a case must end in (its step is the case's).
#[derive(Clone, Debug)]
enum Expect {
    Command(i32),
    /// A command refused by the backend's own check (a forged report): no
    /// errno.
    Refused,
    /// What `Expect` says, reported at this later step: a command on a
    /// dead child that the kernel takes (or skips) does not fail, and a
    /// later one that meets the death, or the wait for `ready`, tells.
    At(Step, Box<Expect>),
    TimedOut,
    Cancelled,
    Exited(Who, ExitStatus),
    /// The child's `error`, naming this step and errno.
    Child(ChildStep, i32),
    Protocol(Decode),
    Unexpected(MessageKind),
    ForgedPid,
    Closed,
    Read(i32),
}

#[derive(Clone, Copy, Debug)]
enum Decode {
    Malformed,
    TooLong,
    Truncated,
}

#[derive(Clone, Debug)]
struct Case {
    shape: Shape,
    step: Step,
    trigger: Trigger,
    expect: Expect,
    schedule: Schedule,
}

/// A trigger and what it must end in, under the given schedules.
struct Row {
    trigger: Trigger,
    expect: Expect,
    schedules: &'static [Schedule],
}

fn row(trigger: Trigger, expect: Expect) -> Row {
    Row {
        trigger,
        expect,
        schedules: &[BULK, TRICKLE],
    }
}

fn fault(fault: Fault, expect: Expect) -> Row {
    row(Trigger::Fault(fault), expect)
}

/// What a launch starts: its kind, and for setns how the process gets
/// into the container's pid namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Init,
    /// Forked there by a helper, which reports its pid.
    SetnsHelper,
    /// Cloned there by the launcher, and joins the rest itself: no helper.
    SetnsClone,
}

const SHAPES: [Shape; 3] = [Shape::Init, Shape::SetnsHelper, Shape::SetnsClone];

impl Shape {
    fn kind(self) -> Kind {
        match self {
            Shape::Init => Kind::Init,
            Shape::SetnsHelper | Shape::SetnsClone => Kind::Setns,
        }
    }
}

fn plan(shape: Shape) -> Plan {
    let setns = |setns_entry| Plan {
        setns_entry,
        ..plans::setns(Kernel::new().container())
    };
    match shape {
        Shape::Init => plans::init(),
        Shape::SetnsHelper => setns(SetnsEntry::Helper),
        Shape::SetnsClone => setns(SetnsEntry::Clone),
    }
}

/// Every row that applies at `step` of a `shape` launch.
fn rows(shape: Shape, step: Step, timeout: Duration) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(command) = CommandKind::of_step(step) {
        rows.extend([
            fault(
                Fault::Fail {
                    command,
                    errno: libc::EIO,
                },
                Expect::Command(libc::EIO),
            ),
            fault(Fault::Slow { command, by: timeout }, Expect::TimedOut),
            row(Trigger::Cancel, Expect::Cancelled),
        ]);
        // The process dies just as the parent gets to a command on it.
        if let Some(expect) = death_before(shape, step) {
            let at = At::Command(command);
            rows.push(fault(Fault::Die { at, status: SIGKILL }, expect));
        }
    }
    match step {
        // The create stops partway through the hierarchies, and removes
        // the directories it made, as on Linux: nothing is left.
        Step::CreateCgroup => rows.extend([1, HIERARCHIES - 1].map(|after| {
            fault(
                Fault::FailPartway {
                    command: CommandKind::CreateCgroup,
                    after,
                    errno: libc::EEXIST,
                },
                Expect::Command(libc::EEXIST),
            )
        })),
        Step::SendConfig if shape == Shape::Init => rows.extend(send_waits_on_the_child()),
        Step::SendConfig if shape == Shape::SetnsClone => rows.extend(send_waits_on_the_joining_child()),

        Step::ReportPid => rows.extend(report_faults()),
        Step::Adopt => rows.extend(forged_reports_the_backend_refuses()),
        Step::HelperExit => rows.extend(helper_exit_faults()),
        Step::EnterCgroup => rows.push(Row {
            trigger: Trigger::Fault(Fault::Die {
                at: At::Process(ProcessPoint::ReadConfig),
                status: SIGKILL,
            }),
            expect: Expect::At(Step::AwaitReady, Box::new(Expect::Exited(Who::Process, SIGKILL))),
            schedules: &[TRICKLE],
        }),
        Step::AwaitReady => rows.extend(await_ready_faults(shape)),
        Step::AwaitStart => rows.extend(await_start_faults()),
        Step::AwaitExec => rows.extend(await_exec_faults()),
        _ => {}
    }
    rows.extend(slow_death_rows(shape, step));
    rows
}

/// How a `shape` launch (the plan of [`plan`]) ends when its process
/// dies just before the command of `step`, as on Linux (the conformance
/// suite checks the two agree): writing a zombie's id maps, releasing it
/// and putting it in a cgroup succeed, and so does a send to it; opening
/// its network namespace fails (`ENOENT`); the wait for `ready` hears of
/// the exit.
fn death_before(shape: Shape, step: Step) -> Option<Expect> {
    let killed = || Expect::At(Step::AwaitReady, Box::new(Expect::Exited(Who::Process, SIGKILL)));
    match step {
        Step::IdMaps
        | Step::Release
        | Step::ApplyCgroup
        | Step::Network { .. }
        | Step::EnterCgroup
        | Step::SendConfig => {
            // The death is met at the first veth's creation from here on
            // (a launch's network steps are its veths), else at the wait
            // for `ready`.
            let steps = Launch::new(plan(shape), Time::from_nanos(0))
                .expect("plan")
                .steps()
                .to_vec();
            let from = steps.iter().position(|s| *s == step).expect("the step");
            Some(
                steps[from..]
                    .iter()
                    .find(|s| matches!(s, Step::Network { .. }))
                    .map_or_else(killed, |&at| {
                        Expect::At(at, Box::new(Expect::Command(libc::ENOENT)))
                    }),
            )
        }
        Step::Start => Some(Expect::Command(libc::ESRCH)),
        _ => None,
    }
}

/// With a send buffer smaller than the config, the child must read for the
/// send to finish (init: a setns process gets to its config earlier).
fn send_waits_on_the_child() -> Vec<Row> {
    let at = At::Process(ProcessPoint::ReadConfig);
    vec![
        Row {
            trigger: Trigger::Fault(Fault::Stall { at }),
            expect: Expect::TimedOut,
            schedules: &[NARROW],
        },
        // The send ends as on Linux, with nothing to say: the wait for
        // `ready` hears of the death.
        Row {
            trigger: Trigger::Fault(Fault::Die { at, status: SIGKILL }),
            expect: Expect::At(Step::AwaitReady, Box::new(Expect::Exited(Who::Process, SIGKILL))),
            schedules: &[NARROW],
        },
    ]
}

/// With a send buffer smaller than the config, a cloned setns process
/// must read for the send to finish: one that stalls before (at its join)
/// or at its config never does, and one that dies at its join leaves the
/// send nothing to say, as on Linux.
fn send_waits_on_the_joining_child() -> Vec<Row> {
    let join = At::Process(ProcessPoint::Join);
    let read = At::Process(ProcessPoint::ReadConfig);
    vec![
        Row {
            trigger: Trigger::Fault(Fault::Stall { at: join }),
            expect: Expect::TimedOut,
            schedules: &[NARROW],
        },
        Row {
            trigger: Trigger::Fault(Fault::Stall { at: read }),
            expect: Expect::TimedOut,
            schedules: &[NARROW],
        },
        Row {
            trigger: Trigger::Fault(Fault::Die {
                at: join,
                status: SIGKILL,
            }),
            expect: Expect::At(Step::AwaitReady, Box::new(Expect::Exited(Who::Process, SIGKILL))),
            schedules: &[NARROW],
        },
    ]
}

/// The setns helper misbehaving before its report is in: before its fork,
/// and after it, when the process it forked is the parent's child, whose
/// pid the parent never learns (the ending's sweep must find it).
fn report_faults() -> Vec<Row> {
    let mut rows = helper_faults(HelperPoint::JoinCgroups);
    rows.extend(helper_faults(HelperPoint::Join));
    rows.extend(helper_faults(HelperPoint::Report));
    rows.push(row(Trigger::Cancel, Expect::Cancelled));
    for forgery in [Forgery::Zero, Forgery::Negative, Forgery::Helper] {
        rows.push(fault(Fault::ForgedPid(forgery), Expect::ForgedPid));
    }
    rows
}

/// Every fault of the helper's at `point`, before its report.
fn helper_faults(point: HelperPoint) -> Vec<Row> {
    let at = At::Helper(point);
    let (refused_at, truncated, closed) = match point {
        // Before its fork it alone holds its end of the socket.
        HelperPoint::JoinCgroups => (
            ChildStep::Cgroup,
            Expect::Protocol(Decode::Truncated),
            Expect::Closed,
        ),
        HelperPoint::Join => (
            ChildStep::Setns,
            Expect::Protocol(Decode::Truncated),
            Expect::Closed,
        ),
        // Its fork holds the socket too: a helper that closes its end and
        // exits 0 leaves no end of stream, only an exit without a report.
        _ => {
            let quiet_exit = Expect::Exited(Who::Helper, ExitStatus::Exited(0));
            (ChildStep::Report, quiet_exit.clone(), quiet_exit)
        }
    };
    vec![
        fault(
            Fault::Die { at, status: SIGKILL },
            Expect::Exited(Who::Helper, SIGKILL),
        ),
        fault(
            Fault::Die {
                at,
                status: ExitStatus::Exited(2),
            },
            Expect::Exited(Who::Helper, ExitStatus::Exited(2)),
        ),
        fault(Fault::Stall { at }, Expect::TimedOut),
        fault(Fault::Garbage { at }, Expect::Protocol(Decode::Malformed)),
        fault(Fault::Oversized { at }, Expect::Protocol(Decode::TooLong)),
        fault(Fault::Truncated { at }, truncated),
        fault(Fault::Unexpected { at }, Expect::Unexpected(MessageKind::Ready)),
        fault(
            Fault::Refuse {
                at,
                errno: libc::EPERM,
            },
            Expect::Child(refused_at, libc::EPERM),
        ),
        fault(Fault::Hangup { at }, closed),
        fault(
            Fault::SocketError { at, errno: libc::EIO },
            Expect::Read(libc::EIO),
        ),
    ]
}

/// The setns helper misbehaving after its report, which the parent has
/// already acted on: the reported process is adopted, so cleanup kills it.
fn helper_exit_faults() -> Vec<Row> {
    let exit = At::Helper(HelperPoint::Exit);
    vec![
        fault(
            Fault::Die {
                at: exit,
                status: SIGKILL,
            },
            Expect::Exited(Who::Helper, SIGKILL),
        ),
        fault(
            Fault::Die {
                at: exit,
                status: ExitStatus::Exited(1),
            },
            Expect::Exited(Who::Helper, ExitStatus::Exited(1)),
        ),
        fault(Fault::Stall { at: exit }, Expect::TimedOut),
        // The forked process runs at once: it dies on the way to its config
        // while the parent still waits for the helper. In bulk the end of
        // stream and the exit arrive together and the parent learns it
        // here; a byte at a time, the helper's exit is taken first and the
        // parent finds the death at its next command.
        Row {
            trigger: Trigger::Fault(Fault::Die {
                at: At::Process(ProcessPoint::ReadConfig),
                status: SIGKILL,
            }),
            expect: Expect::Exited(Who::Process, SIGKILL),
            schedules: &[BULK],
        },
        row(Trigger::Cancel, Expect::Cancelled),
    ]
}

/// Reports the core cannot refuse by itself: only the backend knows whose
/// child a pid is.
fn forged_reports_the_backend_refuses() -> Vec<Row> {
    [Forgery::Stranger, Forgery::Sibling, Forgery::Vacant]
        .into_iter()
        .map(|forgery| fault(Fault::ForgedPid(forgery), Expect::Refused))
        .collect()
}

/// The container process misbehaving before `ready`: on the way to its
/// config, on its socket as it finishes its set-up, at each set-up step
/// of its kind, and, cloned into a container, as it joins.
fn await_ready_faults(shape: Shape) -> Vec<Row> {
    let read = At::Process(ProcessPoint::ReadConfig);
    let steps = set_up_steps(shape.kind());
    let last = steps.last().copied().expect("a kind with set-up steps");
    let set_up = At::Process(ProcessPoint::SetUp(last));
    let mut rows = vec![
        // It dies with the config unread: the parent's read is reset.
        fault(
            Fault::Die {
                at: At::Command(CommandKind::ShutdownWrite),
                status: SIGKILL,
            },
            Expect::Exited(Who::Process, SIGKILL),
        ),
        fault(
            Fault::Die {
                at: set_up,
                status: ExitStatus::Exited(3),
            },
            Expect::Exited(Who::Process, ExitStatus::Exited(3)),
        ),
        fault(Fault::Stall { at: set_up }, Expect::TimedOut),
        fault(Fault::Garbage { at: set_up }, Expect::Protocol(Decode::Malformed)),
        fault(Fault::Oversized { at: set_up }, Expect::Protocol(Decode::TooLong)),
        fault(
            Fault::Truncated { at: set_up },
            Expect::Protocol(Decode::Truncated),
        ),
        fault(
            Fault::Unexpected { at: set_up },
            Expect::Unexpected(MessageKind::Pid),
        ),
        fault(
            Fault::Refuse {
                at: read,
                errno: libc::EPERM,
            },
            Expect::Child(ChildStep::Config, libc::EPERM),
        ),
        fault(Fault::Hangup { at: set_up }, Expect::Closed),
        fault(
            Fault::SocketError {
                at: set_up,
                errno: libc::EIO,
            },
            Expect::Read(libc::EIO),
        ),
        row(Trigger::Cancel, Expect::Cancelled),
    ];
    rows.extend(steps.iter().flat_map(|&step| set_up_step_faults(step)));
    if shape == Shape::SetnsClone {
        rows.extend(join_faults());
    }
    if shape == Shape::Init {
        let held = At::Process(ProcessPoint::AwaitRelease);
        rows.extend([
            fault(
                Fault::Die {
                    at: read,
                    status: SIGKILL,
                },
                Expect::Exited(Who::Process, SIGKILL),
            ),
            fault(Fault::Stall { at: held }, Expect::TimedOut),
            fault(
                Fault::Die {
                    at: held,
                    status: SIGKILL,
                },
                Expect::Exited(Who::Process, SIGKILL),
            ),
        ]);
    }
    rows
}

/// The container process failing at set-up `step`: its `error` names the
/// step and the errno; or it stalls there, or is killed or exits there.
fn set_up_step_faults(step: ChildStep) -> Vec<Row> {
    let at = At::Process(ProcessPoint::SetUp(step));
    vec![
        fault(
            Fault::Refuse {
                at,
                errno: libc::EPERM,
            },
            Expect::Child(step, libc::EPERM),
        ),
        fault(Fault::Stall { at }, Expect::TimedOut),
        fault(
            Fault::Die { at, status: SIGKILL },
            Expect::Exited(Who::Process, SIGKILL),
        ),
        fault(
            Fault::Die {
                at,
                status: ExitStatus::Exited(1),
            },
            Expect::Exited(Who::Process, ExitStatus::Exited(1)),
        ),
    ]
}

/// A cloned setns process misbehaving as it joins the container, before
/// its config: the parent's commands up to the half-close do not wait on
/// it, so the wait for `ready` is where each tells.
fn join_faults() -> Vec<Row> {
    let at = At::Process(ProcessPoint::Join);
    vec![
        fault(
            Fault::Die { at, status: SIGKILL },
            Expect::Exited(Who::Process, SIGKILL),
        ),
        fault(
            Fault::Die {
                at,
                status: ExitStatus::Exited(2),
            },
            Expect::Exited(Who::Process, ExitStatus::Exited(2)),
        ),
        fault(Fault::Stall { at }, Expect::TimedOut),
        fault(Fault::Garbage { at }, Expect::Protocol(Decode::Malformed)),
        fault(Fault::Oversized { at }, Expect::Protocol(Decode::TooLong)),
        fault(Fault::Truncated { at }, Expect::Protocol(Decode::Truncated)),
        // It is the process: a pid report is not its to send.
        fault(Fault::Unexpected { at }, Expect::Unexpected(MessageKind::Pid)),
        // Failed, it still reads the config to its end before it replies:
        // a send that waits on it finishes.
        Row {
            trigger: Trigger::Fault(Fault::Refuse {
                at,
                errno: libc::EPERM,
            }),
            expect: Expect::Child(ChildStep::Setns, libc::EPERM),
            schedules: &[BULK, TRICKLE, NARROW],
        },
        // Its socket end closed, and it runs on: the end of stream tells.
        fault(Fault::Hangup { at }, Expect::Closed),
        fault(
            Fault::SocketError { at, errno: libc::EIO },
            Expect::Read(libc::EIO),
        ),
    ]
}

/// The container process misbehaving while it is held after `ready`, as
/// the caller records it; or the caller never starting it.
fn await_start_faults() -> Vec<Row> {
    let held = At::Process(ProcessPoint::AwaitStart);
    vec![
        row(Trigger::Cancel, Expect::Cancelled),
        row(Trigger::NeverStart, Expect::TimedOut),
        fault(
            Fault::Die {
                at: held,
                status: SIGKILL,
            },
            Expect::Exited(Who::Process, SIGKILL),
        ),
        fault(
            Fault::Die {
                at: held,
                status: ExitStatus::Exited(0),
            },
            Expect::Exited(Who::Process, ExitStatus::Exited(0)),
        ),
        fault(Fault::Garbage { at: held }, Expect::Protocol(Decode::Malformed)),
        fault(Fault::Oversized { at: held }, Expect::Protocol(Decode::TooLong)),
        fault(
            Fault::Unexpected { at: held },
            Expect::Unexpected(MessageKind::Pid),
        ),
        fault(
            Fault::Refuse {
                at: held,
                errno: libc::EPERM,
            },
            Expect::Child(ChildStep::Exec, libc::EPERM),
        ),
        // Its socket end closed but no `exec`: no end of stream counts
        // as one before the start.
        fault(Fault::Hangup { at: held }, Expect::Closed),
        fault(
            Fault::SocketError {
                at: held,
                errno: libc::EIO,
            },
            Expect::Read(libc::EIO),
        ),
    ]
}

/// The container process misbehaving after `ready`, before `exec`.
fn await_exec_faults() -> Vec<Row> {
    let exec = At::Process(ProcessPoint::Exec);
    vec![
        fault(Fault::Stall { at: exec }, Expect::TimedOut),
        fault(Fault::Garbage { at: exec }, Expect::Protocol(Decode::Malformed)),
        fault(Fault::Oversized { at: exec }, Expect::Protocol(Decode::TooLong)),
        fault(Fault::Truncated { at: exec }, Expect::Protocol(Decode::Truncated)),
        fault(
            Fault::Unexpected { at: exec },
            Expect::Unexpected(MessageKind::Pid),
        ),
        fault(
            Fault::Refuse {
                at: exec,
                errno: libc::EPERM,
            },
            Expect::Child(ChildStep::Exec, libc::EPERM),
        ),
        fault(
            Fault::SocketError {
                at: exec,
                errno: libc::EIO,
            },
            Expect::Read(libc::EIO),
        ),
        row(Trigger::Cancel, Expect::Cancelled),
    ]
}

/// Every case: each step of each shape, each row, each of its schedules.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for shape in SHAPES {
        let plan = plan(shape);
        let launch = Launch::new(plan.clone(), Time::ZERO).unwrap();
        for &step in launch.steps() {
            let rows = rows(shape, step, plan.timeout);
            assert!(
                !rows.is_empty(),
                "no fault reaches {shape:?} {step}: add its rows"
            );
            for row in rows {
                for &schedule in row.schedules {
                    cases.push(Case {
                        shape,
                        step,
                        trigger: row.trigger.clone(),
                        expect: row.expect.clone(),
                        schedule,
                    });
                }
            }
        }
    }
    cases
}

fn scenario(case: &Case) -> Scenario {
    let scenario = Scenario::new(plan(case.shape)).with_schedule(case.schedule);
    match &case.trigger {
        Trigger::Fault(fault) => scenario.with_fault(fault.clone()),
        Trigger::Faults(faults) => faults.iter().cloned().fold(scenario, Scenario::with_fault),
        Trigger::Cancel => scenario.cancelled_at(case.step),
        Trigger::NeverStart => scenario.never_started(),
    }
}

/// Runs `case` on a thread of its own: a panic or a hang is an error.
fn run_guarded(case: &Case) -> Result<Report, String> {
    let scenario = scenario(case);
    let (done, outcome) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = done.send(run_on(Kernel::new(), &scenario));
    });
    match outcome.recv_timeout(HANG) {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(error)) => Err(format!("the plan was refused: {error}")),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("no end after {HANG:?}: a hang")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(match worker.join() {
            Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
            Ok(()) => "the worker ended without a report".to_owned(),
        }),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(not a string)".to_owned())
}

/// Everything wrong with how `case` ended.
fn check(case: &Case, report: &Report) -> Vec<String> {
    let mut wrong = Vec::new();
    match &report.result {
        Ok(pid) => wrong.push(format!("it runs, as {pid}")),
        Err(error) => {
            let (step, expect) = match &case.expect {
                Expect::At(step, expect) => (*step, expect.as_ref()),
                expect => (case.step, expect),
            };
            if error.step() != step {
                wrong.push(format!("failed at {}, not {step}: {error}", error.step()));
            }
            if !is(expect, error) {
                wrong.push(format!("failed with {error:?}, not {:?}", case.expect));
            }
        }
    }
    if !report.unspent.is_empty() {
        wrong.push(format!("the fault never struck: {:?}", report.unspent));
    }
    if !report.cleanup_failures.is_empty() {
        wrong.push(format!("cleanup failed: {:?}", report.cleanup_failures));
    }
    if case.shape == Shape::SetnsClone {
        wrong.extend(helper_traces(&report.commands));
    }
    wrong.extend(report.violations().iter().map(ToString::to_string));
    wrong
}

/// What in `commands` only a launch with a setns helper may do: a cloned
/// setns process is the spawn's own pid, with nothing to adopt or sweep up
/// and only itself to reap.
fn helper_traces(commands: &[Command]) -> Vec<String> {
    let spawned = commands.iter().find_map(|c| match c {
        Command::Spawn(spawn) => Some(spawn.role),
        _ => None,
    });
    let mut wrong = Vec::new();
    if let Some(role) = spawned.filter(|&role| role != Role::SetnsProcess) {
        wrong.push(format!("spawned a {role:?}, not the process"));
    }
    wrong.extend(
        commands
            .iter()
            .filter(|c| matches!(c, Command::Adopt { .. } | Command::ReapStrays { .. }))
            .map(|c| format!("a launch without a helper issued {c:?}")),
    );
    let reaped = commands
        .iter()
        .filter(|c| matches!(c, Command::Reap { .. }))
        .count();
    if reaped > 1 {
        wrong.push(format!("{reaped} reaps of its one process"));
    }
    wrong
}

fn is(expect: &Expect, error: &LaunchError) -> bool {
    match (expect, error) {
        (Expect::Command(errno), LaunchError::Command { error, .. })
        | (Expect::Read(errno), LaunchError::Read { error, .. }) => error.errno == Some(*errno),
        (Expect::Refused, LaunchError::Command { error, .. }) => error.errno.is_none(),
        (Expect::TimedOut, LaunchError::TimedOut { .. })
        | (Expect::Cancelled, LaunchError::Cancelled { .. })
        | (Expect::ForgedPid, LaunchError::ForgedPid { .. })
        | (Expect::Closed, LaunchError::Closed { .. }) => true,
        (
            Expect::Exited(who, status),
            LaunchError::Exited {
                who: w, status: s, ..
            },
        ) => (who, status) == (w, s),
        (Expect::Child(step, errno), LaunchError::Child { error, .. }) => {
            (error.step, error.errno) == (*step, Some(*errno))
        }
        (Expect::Unexpected(kind), LaunchError::Unexpected { kind: k, .. }) => kind == k,
        (Expect::Protocol(decode), LaunchError::Protocol { error, .. }) => matches!(
            (decode, error),
            (Decode::Malformed, DecodeError::Malformed { .. })
                | (Decode::TooLong, DecodeError::TooLong { .. })
                | (Decode::Truncated, DecodeError::Truncated { .. })
        ),
        _ => false,
    }
}

#[test]
fn every_step_under_every_fault_ends_in_its_error_and_leaves_nothing() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let wrong = match run_guarded(case) {
            Ok(report) => check(case, &report),
            Err(error) => vec![error],
        };
        if !wrong.is_empty() {
            let Case {
                shape,
                step,
                trigger,
                schedule,
                ..
            } = case;
            let schedule = (schedule.chunk, schedule.exits_first, schedule.buffer);
            failures.push(format!(
                "{shape:?} at {step}, {trigger:?}, schedule (chunk, exits first, buffer) {schedule:?}:\n    {}",
                wrong.join("\n    ")
            ));
        }
    }
    println!("fault matrix: {} cases, {} failed", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The matrix covers every step of each shape (a new step without rows
/// fails [`cases`]), and every fault kind somewhere.
#[test]
fn the_matrix_reaches_every_step_with_every_kind_of_fault() {
    let cases = cases();
    for shape in SHAPES {
        let launch = Launch::new(plan(shape), Time::ZERO).unwrap();
        for step in launch.steps() {
            assert!(
                cases.iter().any(|c| c.shape == shape && c.step == *step),
                "{shape:?} {step}"
            );
        }
    }
    let fault_name = |fault: &Fault| match fault {
        Fault::Fail { .. } => "fail",
        Fault::FailPartway { .. } => "fail partway",
        Fault::Slow { .. } => "slow",
        Fault::Die { .. } => "die",
        Fault::Stall { .. } => "stall",
        Fault::Garbage { .. } => "garbage",
        Fault::Oversized { .. } => "oversized",
        Fault::Truncated { .. } => "truncated",
        Fault::Unexpected { .. } => "unexpected",
        Fault::Refuse { .. } => "refuse",
        Fault::Hangup { .. } => "hangup",
        Fault::SocketError { .. } => "socket error",
        Fault::ForgedPid(_) => "forged pid",
        Fault::SlowToDie { .. } => "slow to die",
    };
    let names = |c: &Case| match &c.trigger {
        Trigger::Cancel => vec!["cancel"],
        Trigger::NeverStart => vec!["never start"],
        Trigger::Fault(fault) => vec![fault_name(fault)],
        Trigger::Faults(faults) => faults.iter().map(fault_name).collect(),
    };
    let every = [
        "cancel",
        "fail",
        "fail partway",
        "slow",
        "die",
        "stall",
        "garbage",
        "oversized",
        "truncated",
        "unexpected",
        "refuse",
        "hangup",
        "socket error",
        "forged pid",
        "slow to die",
    ];
    for name in every {
        assert!(cases.iter().any(|c| names(c).contains(&name)), "no {name} case");
    }
}

/// The expectations of the matrix's cases of `shape` at `Step::AwaitReady`
/// whose fault strikes at `point`.
fn expects_at(cases: &[Case], shape: Shape, point: ProcessPoint) -> Vec<&Expect> {
    let at = Some(At::Process(point));
    cases
        .iter()
        .filter(|c| {
            c.shape == shape
                && c.step == Step::AwaitReady
                && matches!(&c.trigger, Trigger::Fault(f) if f.at() == at)
        })
        .map(|c| &c.expect)
        .collect()
}

/// A failure, a stall and a death at each set-up step of each shape, each
/// ending where the process is awaited, and the failure naming its step.
#[test]
fn the_matrix_fails_stalls_and_kills_at_every_set_up_step() {
    let cases = cases();
    for shape in SHAPES {
        for &step in set_up_steps(shape.kind()) {
            let expects = expects_at(&cases, shape, ProcessPoint::SetUp(step));
            assert!(
                expects
                    .iter()
                    .any(|e| matches!(e, Expect::Child(s, _) if *s == step)),
                "{shape:?}: no failure at {step}"
            );
            assert!(
                expects.iter().any(|e| matches!(e, Expect::TimedOut)),
                "{shape:?}: no stall at {step}"
            );
            assert!(
                expects
                    .iter()
                    .any(|e| matches!(e, Expect::Exited(Who::Process, _))),
                "{shape:?}: no death at {step}"
            );
        }
    }
}

/// A cloned setns process fails (naming the join), stalls, dies and sends
/// a pid report as it joins the container, each ending where it is
/// awaited.
#[test]
fn the_matrix_fails_stalls_and_kills_a_cloned_setns_process_at_its_join() {
    let cases = cases();
    let expects = expects_at(&cases, Shape::SetnsClone, ProcessPoint::Join);
    for (what, found) in [
        (
            "failure",
            expects
                .iter()
                .any(|e| matches!(e, Expect::Child(ChildStep::Setns, _))),
        ),
        ("stall", expects.iter().any(|e| matches!(e, Expect::TimedOut))),
        (
            "death",
            expects
                .iter()
                .any(|e| matches!(e, Expect::Exited(Who::Process, _))),
        ),
        (
            "pid report",
            expects
                .iter()
                .any(|e| matches!(e, Expect::Unexpected(MessageKind::Pid))),
        ),
    ] {
        assert!(found, "no {what} at the join");
    }
}

/// A setns launch into a container whose init is gone fails at the join
/// with `ESRCH`: the helper's, before its report, or the cloned process's,
/// before `ready`. Nothing of the launch is left.
#[test]
fn a_setns_launch_into_a_container_whose_init_is_gone_fails_at_the_join() {
    let mut failures = Vec::new();
    for (shape, step) in [
        (Shape::SetnsHelper, Step::ReportPid),
        (Shape::SetnsClone, Step::AwaitReady),
    ] {
        for schedule in [BULK, TRICKLE, NARROW] {
            let mut kernel = Kernel::new();
            let init = kernel.container().init;
            kernel.kill(init).expect("the container's init");
            let scenario = Scenario::new(plan(shape)).with_schedule(schedule);
            let report = run_on(kernel, &scenario).expect("the plan");
            let mut wrong = Vec::new();
            let gone = Expect::Child(ChildStep::Setns, libc::ESRCH);
            check_failure(step, &gone, &report.result, &mut wrong);
            if !report.cleanup_failures.is_empty() {
                wrong.push(format!("cleanup failed: {:?}", report.cleanup_failures));
            }
            // Its init's death is the case's, not the launch's.
            let dead_init = format!("the container's init ({init}) is dead");
            wrong.extend(
                report
                    .violations()
                    .iter()
                    .filter(|v| !matches!(v, Violation::Bystander(what) if *what == dead_init))
                    .map(ToString::to_string),
            );
            if !wrong.is_empty() {
                let schedule = (schedule.chunk, schedule.exits_first, schedule.buffer);
                failures.push(format!("{shape:?}, schedule {schedule:?}: {}", wrong.join("; ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- The hand-off and the resume.

/// The resuming launch's deadline.
const RESUME_TIMEOUT: Duration = Duration::from_secs(3);

/// One hand-off case: a fault at the hand-off (`Step::HandOff`, in the
/// creating launch) or in the resuming launch (`Step::Start`,
/// `Step::AwaitExec`).
#[derive(Clone, Debug)]
struct HandOffCase {
    step: Step,
    trigger: Trigger,
    expect: Expect,
    schedule: Schedule,
}

/// Every row that applies at `step` of a hand-off.
fn hand_off_rows(step: Step) -> Vec<Row> {
    let command = |command| {
        let timeout = if command == CommandKind::HandOff {
            plans::init().timeout
        } else {
            RESUME_TIMEOUT
        };
        vec![
            fault(
                Fault::Fail {
                    command,
                    errno: libc::EIO,
                },
                Expect::Command(libc::EIO),
            ),
            fault(Fault::Slow { command, by: timeout }, Expect::TimedOut),
            row(Trigger::Cancel, Expect::Cancelled),
        ]
    };
    match step {
        Step::HandOff => {
            let mut rows = command(CommandKind::HandOff);
            // It dies just as the parent hands it off.
            let at = At::Command(CommandKind::HandOff);
            rows.push(fault(
                Fault::Die { at, status: SIGKILL },
                Expect::Command(libc::ESRCH),
            ));
            rows
        }
        Step::Start => command(CommandKind::Start),
        // Once started, the process is the same as after a start of its
        // own launch's.
        Step::AwaitExec => await_exec_faults(),
        _ => Vec::new(),
    }
}

fn hand_off_cases() -> Vec<HandOffCase> {
    let mut cases = Vec::new();
    for step in [Step::HandOff, Step::Start, Step::AwaitExec] {
        for row in hand_off_rows(step) {
            for &schedule in row.schedules {
                cases.push(HandOffCase {
                    step,
                    trigger: row.trigger.clone(),
                    expect: row.expect.clone(),
                    schedule,
                });
            }
        }
    }
    cases
}

/// A launch driven to its end, cancelled when it first reaches
/// `cancel_at`.
fn drive_to_end(
    launch: &mut Launch,
    backend: &mut MockBackend,
    cancel_at: Option<Step>,
) -> Result<Pid, LaunchError> {
    let mut cancel_at = cancel_at;
    driver::drive_with(launch, backend, |launch, backend| {
        if cancel_at.is_some_and(|step| launch.step() == step) {
            cancel_at = None;
            launch.handle_cancel(backend.now());
        }
    })
}

/// Runs `case` to the end of the launch it strikes, and returns what is
/// wrong with how that ended.
fn run_hand_off_case(case: &HandOffCase) -> Vec<String> {
    // A process fault strikes the process, whose script is its creating
    // launch's; a command fault strikes the launch whose command it is.
    let faults = match &case.trigger {
        Trigger::Fault(fault) => vec![fault.clone()],
        Trigger::Faults(faults) => faults.clone(),
        Trigger::Cancel | Trigger::NeverStart => Vec::new(),
    };
    let (create_faults, resume_faults): (Vec<Fault>, Vec<Fault>) = faults.into_iter().partition(|fault| {
        case.step == Step::HandOff || fault.at().is_some() || matches!(fault, Fault::SlowToDie { .. })
    });
    let cancel_at = matches!(case.trigger, Trigger::Cancel).then_some(case.step);
    let plan = plans::init();
    let options = |limits| Options {
        limits,
        schedule: case.schedule,
        cgroup: None,
    };
    let kernel = Kernel::new();
    let mut create = Launch::new(plan.clone(), kernel.now()).expect("the plan is valid");
    let mut backend = MockBackend::new(kernel, options(plan.limits), create_faults);
    let mut result = driver::drive(&mut create, &mut backend);
    if create.is_held() {
        create
            .handle_hand_off(backend.now())
            .expect("a held launch takes the hand-off");
        let cancel = cancel_at.filter(|&step| step == Step::HandOff);
        result = drive_to_end(&mut create, &mut backend, cancel);
    }
    let creator = backend.launch_id();
    let mut wrong = Vec::new();
    if case.step == Step::HandOff {
        check_failure(case.step, &case.expect, &result, &mut wrong);
        if !backend.pending_faults().is_empty() {
            wrong.push(format!("the fault never struck: {:?}", backend.pending_faults()));
        }
        if !create.cleanup_failures().is_empty() {
            wrong.push(format!("cleanup failed: {:?}", create.cleanup_failures()));
        }
        if !backend.leftovers().is_empty() {
            wrong.push(format!("the failed hand-off left {:?}", backend.leftovers()));
        }
        wrong.extend(bystanders_harmed(backend.kernel()));
        return wrong;
    }
    let pid = match result {
        Ok(pid) if create.step() == Step::HandOff => pid,
        other => return vec![format!("the create launch did not hand off: {other:?}")],
    };

    let mut backend = MockBackend::resume(
        backend.into_kernel(),
        options(Limits::default()),
        resume_faults,
        pid,
    );
    let mut resume = Launch::resume(pid, RESUME_TIMEOUT, Limits::default(), backend.now());
    let result = drive_to_end(&mut resume, &mut backend, cancel_at);
    // The resume kills what it started but is not its parent, so it does
    // not wait for it: the process exits a moment later, and holds its
    // channel until then.
    backend.kernel_mut().advance(DYING_TIME);
    check_failure(case.step, &case.expect, &result, &mut wrong);
    let unspent = [backend.pending_faults(), backend.kernel().pending_faults(creator)].concat();
    if !unspent.is_empty() {
        wrong.push(format!("the fault never struck: {unspent:?}"));
    }
    if !resume.cleanup_failures().is_empty() {
        wrong.push(format!("cleanup failed: {:?}", resume.cleanup_failures()));
    }
    if !backend.leftovers().is_empty() {
        wrong.push(format!("the failed resume left {:?}", backend.leftovers()));
    }
    let commands = backend.commands();
    if commands.iter().any(|c| matches!(c, Command::Reap { .. })) {
        wrong.push(format!("the resume reaped a process not its child: {commands:?}"));
    }
    // Only a start that reached the process lets it go: then the failure
    // kills it (or it has ended). One that did not leaves it as it was.
    let reached = case.step == Step::AwaitExec || matches!(case.trigger, Trigger::Fault(Fault::Slow { .. }));
    let mut kernel = backend.into_kernel();
    match kernel.process(pid) {
        Some(process) if reached && process.is_alive() => {
            wrong.push(format!("the started process {pid} lives on"));
        }
        Some(_) if reached => {}
        // Still holding, waiting for a start.
        Some(process) if process.is_alive() && process.is_handed_off() && !process.is_started() => {}
        Some(process) => wrong.push(format!(
            "a start that never reached {pid} changed it: {:?}",
            process.state()
        )),
        None => wrong.push(format!("{pid} was reaped, and not by its parent")),
    }
    if reached && kernel.reap(pid).is_err() {
        wrong.push(format!("its parent cannot reap {pid}"));
    }
    wrong.extend(bystanders_harmed(&kernel));
    wrong
}

/// Whether `result` is the failure `expect` names, at `step`.
fn check_failure(step: Step, expect: &Expect, result: &Result<Pid, LaunchError>, wrong: &mut Vec<String>) {
    match result {
        Ok(pid) => wrong.push(format!("it runs, as {pid}")),
        Err(error) => {
            if error.step() != step {
                wrong.push(format!("failed at {}, not {step}: {error}", error.step()));
            }
            if !is(expect, error) {
                wrong.push(format!("failed with {error:?}, not {expect:?}"));
            }
        }
    }
}

/// How the processes and the cgroup the kernel booted with were harmed.
fn bystanders_harmed(kernel: &Kernel) -> Vec<String> {
    let container = kernel.container();
    let mut harmed: Vec<String> = [kernel.host_init(), kernel.launcher(), container.init]
        .into_iter()
        .filter(|&pid| !kernel.process(pid).is_some_and(|p| p.is_alive()))
        .map(|pid| format!("bystander {pid} is dead"))
        .collect();
    if kernel.cgroup(&container.cgroup).is_none() {
        harmed.push(format!("the container's cgroup {} is gone", container.cgroup));
    }
    harmed
}

#[test]
fn the_hand_off_and_the_resume_under_every_fault_end_in_their_error() {
    let cases = hand_off_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let (done, outcome) = mpsc::channel();
        let running = case.clone();
        let worker = thread::spawn(move || {
            let _ = done.send(run_hand_off_case(&running));
        });
        let wrong = match outcome.recv_timeout(HANG) {
            Ok(wrong) => wrong,
            Err(mpsc::RecvTimeoutError::Timeout) => vec![format!("no end after {HANG:?}: a hang")],
            Err(mpsc::RecvTimeoutError::Disconnected) => vec![match worker.join() {
                Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
                Ok(()) => "the worker ended without a verdict".to_owned(),
            }],
        };
        if !wrong.is_empty() {
            let HandOffCase {
                step,
                trigger,
                schedule,
                ..
            } = case;
            let schedule = (schedule.chunk, schedule.exits_first, schedule.buffer);
            failures.push(format!(
                "hand-off at {step}, {trigger:?}, schedule (chunk, exits first, buffer) {schedule:?}:\n    {}",
                wrong.join("\n    ")
            ));
        }
    }
    println!(
        "hand-off matrix: {} cases, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every step of a hand-off and of a resume has its rows, each with a
/// failure, a stall (or slow command) and a cancel.
#[test]
fn the_hand_off_matrix_reaches_every_step_of_both_launches() {
    let cases = hand_off_cases();
    let resume = Launch::resume(
        Pid::new(100).unwrap(),
        RESUME_TIMEOUT,
        Limits::default(),
        Time::ZERO,
    );
    for step in [Step::HandOff].iter().chain(resume.steps()) {
        let here: Vec<&HandOffCase> = cases.iter().filter(|c| c.step == *step).collect();
        for (what, found) in [
            (
                "failure",
                here.iter()
                    .any(|c| !matches!(c.expect, Expect::TimedOut | Expect::Cancelled)),
            ),
            (
                "time-out",
                here.iter().any(|c| matches!(c.expect, Expect::TimedOut)),
            ),
            (
                "cancel",
                here.iter().any(|c| matches!(c.trigger, Trigger::Cancel)),
            ),
        ] {
            assert!(found, "no {what} case at {step}");
        }
    }
}

// Cleanup commands that fail.
//
// A launch that fails at a representative step (its config cannot be
// sent, while the process runs) has each of its cleanup commands fail in
// turn. It must still end in the original error, naming its step; its
// `cleanup_failures` name exactly the command that failed (and what failed
// because of it); and the kernel must hold exactly what that command
// should have removed, which `Report::violations` accepts and nothing more.

/// The launch's original failure: its config cannot be sent.
const SEND_FAILS: Fault = Fault::Fail {
    command: CommandKind::Send,
    errno: libc::EIO,
};

/// One cleanup command failing, and what must come of it.
struct CleanupCase {
    shape: Shape,
    fault: Fault,
    /// The cleanup failures, as command and errno, in order.
    failures: &'static [(CommandKind, i32)],
    /// What the kernel holds of the launch, as [`left_of`] says it.
    left: &'static [&'static str],
}

fn cleanup_cases() -> Vec<CleanupCase> {
    let fail = |command, errno| Fault::Fail { command, errno };
    let init = |fault, failures, left| CleanupCase {
        shape: Shape::Init,
        fault,
        failures,
        left,
    };
    vec![
        // The core goes on to reap the process it could not kill: the reap
        // waits out its bound and fails too. The plan holds, so its init
        // is put in its cgroup only after the half-close: the send failed
        // before that, and the cgroup's removal does not reach it either.
        // It runs on, holding its end of the socket.
        init(
            fail(CommandKind::Kill, libc::EPERM),
            &[
                (CommandKind::Kill, libc::EPERM),
                (CommandKind::Reap, libc::ETIMEDOUT),
            ],
            &["init: running", "socket"],
        ),
        // Killed, but not waited for: nothing else waits for it (it is in
        // no cgroup of the launch's yet), so it is still dying at the end.
        init(
            fail(CommandKind::Reap, libc::EIO),
            &[(CommandKind::Reap, libc::EIO)],
            &["init: dying", "socket"],
        ),
        init(
            fail(CommandKind::RemoveInterface { index: 2 }, libc::EIO),
            &[(CommandKind::RemoveInterface { index: 2 }, libc::EIO)],
            &["interface veth1h"],
        ),
        init(
            fail(CommandKind::RemoveInterface { index: 0 }, libc::EIO),
            &[(CommandKind::RemoveInterface { index: 0 }, libc::EIO)],
            &["interface veth0h"],
        ),
        init(
            fail(CommandKind::DestroyCgroup, libc::EIO),
            &[(CommandKind::DestroyCgroup, libc::EIO)],
            &["cgroup in hierarchies [0, 1, 2, 3, 4, 5, 6, 7, 8]"],
        ),
        // One hierarchy refuses; the others are removed, as on Linux.
        init(
            Fault::FailPartway {
                command: CommandKind::DestroyCgroup,
                after: 4,
                errno: libc::EBUSY,
            },
            &[(CommandKind::DestroyCgroup, libc::EBUSY)],
            &["cgroup in hierarchies [4]"],
        ),
        // The descriptor is gone even when close reports an error.
        init(
            fail(CommandKind::Close, libc::EIO),
            &[(CommandKind::Close, libc::EIO)],
            &[],
        ),
        // Without a cgroup of its own, nothing else kills the process: it
        // runs on, holding its end of the socket.
        CleanupCase {
            shape: Shape::SetnsHelper,
            fault: fail(CommandKind::Kill, libc::EPERM),
            failures: &[
                (CommandKind::Kill, libc::EPERM),
                (CommandKind::Reap, libc::ETIMEDOUT),
            ],
            left: &["setns process: running", "socket"],
        },
        // The same of a cloned one.
        CleanupCase {
            shape: Shape::SetnsClone,
            fault: fail(CommandKind::Kill, libc::EPERM),
            failures: &[
                (CommandKind::Kill, libc::EPERM),
                (CommandKind::Reap, libc::ETIMEDOUT),
            ],
            left: &["setns process: running", "socket"],
        },
        // Killed, but not waited for: the container's cgroup is not the
        // launch's to remove, so nothing else waits for it either.
        CleanupCase {
            shape: Shape::SetnsClone,
            fault: fail(CommandKind::Reap, libc::EIO),
            failures: &[(CommandKind::Reap, libc::EIO)],
            left: &["setns process: dying", "socket"],
        },
    ]
}

/// What the kernel holds of the launch, for people: its processes and
/// their state, its sockets, interfaces, and cgroups by hierarchy.
fn left_of(report: &Report) -> Vec<String> {
    let left = &report.leftovers;
    let processes = left.processes.iter().map(|p| {
        let state = match p.state {
            ProcessState::Running => "running",
            ProcessState::Dying { .. } => "dying",
            ProcessState::Zombie(_) => "zombie",
        };
        format!("{}: {state}", p.name)
    });
    let sockets = left.sockets.iter().map(|_| "socket".to_owned());
    let interfaces = left.interfaces.iter().map(|name| format!("interface {name}"));
    let cgroups = left.cgroups.iter().map(|path| {
        let hierarchies = report.kernel.cgroup(path).map(|c| c.hierarchies());
        format!("cgroup in hierarchies {:?}", hierarchies.unwrap_or_default())
    });
    processes
        .chain(sockets)
        .chain(interfaces)
        .chain(cgroups)
        .collect()
}

/// Everything wrong with how `case` ended.
fn check_cleanup(case: &CleanupCase, report: &Report) -> Vec<String> {
    let mut wrong = Vec::new();
    check_failure(
        Step::SendConfig,
        &Expect::Command(libc::EIO),
        &report.result,
        &mut wrong,
    );
    if !report.unspent.is_empty() {
        wrong.push(format!("a fault never struck: {:?}", report.unspent));
    }
    cleanup_ended_as(report, case.failures, case.left, &mut wrong);
    wrong
}

/// A cleanup command's kind.
fn kind_of(command: &Command) -> CommandKind {
    match command {
        Command::Kill { .. } => CommandKind::Kill,
        Command::Reap { .. } => CommandKind::Reap,
        Command::ReapStrays { .. } => CommandKind::ReapStrays,
        Command::RemoveInterface { index, .. } => CommandKind::RemoveInterface { index: *index },
        Command::DestroyCgroup => CommandKind::DestroyCgroup,
        Command::Close => CommandKind::Close,
        other => panic!("{other:?} is not a cleanup command"),
    }
}

#[test]
fn a_failed_cleanup_command_is_reported_and_leaves_what_it_should_have_removed() {
    let mut failures = Vec::new();
    for case in cleanup_cases() {
        let scenario = Scenario::new(plan(case.shape))
            .with_fault(SEND_FAILS)
            .with_fault(case.fault.clone());
        let report = run_on(Kernel::new(), &scenario).expect("the plan");
        let wrong = check_cleanup(&case, &report);
        if !wrong.is_empty() {
            failures.push(format!("{:?} {:?}: {}", case.shape, case.fault, wrong.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `Report::violations` takes what a failed cleanup command leaves as
/// accounted for, and only that: the same leftovers with another command
/// failed are a leak.
#[test]
fn violations_accept_only_the_leftovers_of_the_failed_cleanup_command() {
    let with = |faults: [Fault; 2]| {
        let scenario = faults
            .into_iter()
            .fold(Scenario::new(plans::init()), Scenario::with_fault);
        run_on(Kernel::new(), &scenario).expect("the plan")
    };
    let interface_left = with([
        SEND_FAILS,
        Fault::Fail {
            command: CommandKind::RemoveInterface { index: 0 },
            errno: libc::EIO,
        },
    ]);
    assert!(interface_left.violations().is_empty());

    let mut unaccounted = with([
        SEND_FAILS,
        Fault::Fail {
            command: CommandKind::Close,
            errno: libc::EIO,
        },
    ]);
    unaccounted.leftovers = interface_left.leftovers.clone();
    unaccounted.kernel = interface_left.kernel;
    let violations = unaccounted.violations();
    assert!(
        matches!(violations.as_slice(), [Violation::Leaked(left)] if left.interfaces == ["veth0h"]),
        "{violations:?}"
    );
}

// ---- Deaths that take time.

/// A death that takes a few milliseconds: every wait for it succeeds.
const SLOW_DEATH: Duration = Duration::from_millis(5);

/// A death that takes longer than any wait of a launch's: a process stuck
/// in `D` state.
const STUCK: Duration = Duration::from_secs(60);

/// A launch failing at a representative step while some of its processes
/// are slow to die.
struct DeathCase {
    shape: Shape,
    /// The step the launch fails at, and what makes it fail.
    step: Step,
    fault: Fault,
    expect: Expect,
    /// The processes slow to die: all that the ending kills.
    dying: &'static [Who],
    /// With them stuck: the cleanup failures, as command and errno, in
    /// order.
    stuck_failures: &'static [(CommandKind, i32)],
    /// With them stuck: what the kernel holds of the launch, as
    /// [`left_of`] says it.
    stuck_left: &'static [&'static str],
}

fn death_cases() -> Vec<DeathCase> {
    let set_up = |step| At::Process(ProcessPoint::SetUp(step));
    vec![
        // Before the init is in its cgroup: the removal of the cgroup
        // does not wait on it.
        DeathCase {
            shape: Shape::Init,
            step: Step::ApplyCgroup,
            fault: Fault::Fail {
                command: CommandKind::ApplyCgroup,
                errno: libc::EIO,
            },
            expect: Expect::Command(libc::EIO),
            dying: &[Who::Process],
            stuck_failures: &[(CommandKind::Reap, libc::ETIMEDOUT)],
            stuck_left: &["init: dying", "socket"],
        },
        // In its cgroup, with interfaces: the reap gives up, the
        // interfaces go, and the cgroup cannot empty.
        DeathCase {
            shape: Shape::Init,
            step: Step::AwaitReady,
            fault: Fault::Stall {
                at: set_up(ChildStep::Mounts),
            },
            expect: Expect::TimedOut,
            dying: &[Who::Process],
            stuck_failures: &[
                (CommandKind::Reap, libc::ETIMEDOUT),
                (CommandKind::DestroyCgroup, libc::ETIMEDOUT),
            ],
            stuck_left: &[
                "init: dying",
                "socket",
                "cgroup in hierarchies [0, 1, 2, 3, 4, 5, 6, 7, 8]",
            ],
        },
        // The helper stalls after its fork, before its report: the ending
        // kills it, sweeps up its fork, and reaps it.
        DeathCase {
            shape: Shape::SetnsHelper,
            step: Step::ReportPid,
            fault: Fault::Stall {
                at: At::Helper(HelperPoint::Report),
            },
            expect: Expect::TimedOut,
            dying: &[Who::Helper, Who::Process],
            stuck_failures: &[
                (CommandKind::ReapStrays, libc::ETIMEDOUT),
                (CommandKind::Reap, libc::ETIMEDOUT),
            ],
            stuck_left: &["setns helper: dying", "setns process: dying", "socket"],
        },
        // The adopt kills the process it verified but could not take hold
        // of, and waits for it. Stuck, it outlives that wait; the ending's
        // adopt, whose check it still passes, takes hold of it to kill and
        // reap it, in vain.
        DeathCase {
            shape: Shape::SetnsHelper,
            step: Step::Adopt,
            fault: Fault::Fail {
                command: CommandKind::Adopt,
                errno: libc::EIO,
            },
            expect: Expect::Command(libc::EIO),
            dying: &[Who::Process],
            stuck_failures: &[(CommandKind::Reap, libc::ETIMEDOUT)],
            stuck_left: &["setns process: dying", "socket"],
        },
        // The process is adopted and the helper reaped.
        DeathCase {
            shape: Shape::SetnsHelper,
            step: Step::EnterCgroup,
            fault: Fault::Fail {
                command: CommandKind::EnterCgroup,
                errno: libc::EIO,
            },
            expect: Expect::Command(libc::EIO),
            dying: &[Who::Process],
            stuck_failures: &[(CommandKind::Reap, libc::ETIMEDOUT)],
            stuck_left: &["setns process: dying", "socket"],
        },
        // A cloned process, with no helper to reap: its own reap alone
        // gives up.
        DeathCase {
            shape: Shape::SetnsClone,
            step: Step::EnterCgroup,
            fault: Fault::Fail {
                command: CommandKind::EnterCgroup,
                errno: libc::EIO,
            },
            expect: Expect::Command(libc::EIO),
            dying: &[Who::Process],
            stuck_failures: &[(CommandKind::Reap, libc::ETIMEDOUT)],
            stuck_left: &["setns process: dying", "socket"],
        },
        // It stalls as it joins, and is killed at the deadline.
        DeathCase {
            shape: Shape::SetnsClone,
            step: Step::AwaitReady,
            fault: Fault::Stall {
                at: At::Process(ProcessPoint::Join),
            },
            expect: Expect::TimedOut,
            dying: &[Who::Process],
            stuck_failures: &[(CommandKind::Reap, libc::ETIMEDOUT)],
            stuck_left: &["setns process: dying", "socket"],
        },
    ]
}

/// `case`'s fault, with each process it names taking `by` to die.
fn dying_faults(case: &DeathCase, by: Duration) -> Vec<Fault> {
    let slow = case.dying.iter().map(|&who| Fault::SlowToDie { who, by });
    std::iter::once(case.fault.clone()).chain(slow).collect()
}

/// The rows at `step` of a `shape` launch whose processes are slow to die:
/// they must end as with a quick death.
fn slow_death_rows(shape: Shape, step: Step) -> Vec<Row> {
    death_cases()
        .iter()
        .filter(|case| (case.shape, case.step) == (shape, step))
        .map(|case| {
            row(
                Trigger::Faults(dying_faults(case, SLOW_DEATH)),
                case.expect.clone(),
            )
        })
        .collect()
}

/// How long a launch may take when its processes never die: its deadline,
/// then each wait of its ending within its own bound (the adopt's, the
/// sweep's, the reap's and the cgroup's removal), and no more.
fn stuck_launch_bound(plan: &Plan) -> Duration {
    plan.timeout + 3 * REAP_BOUND + DESTROY_BOUND
}

/// Everything wrong with how a launch whose processes are stuck dying
/// ended.
fn check_stuck(case: &DeathCase, report: &Report, bound: Duration) -> Vec<String> {
    let mut wrong = Vec::new();
    check_failure(case.step, &case.expect, &report.result, &mut wrong);
    if !report.finished {
        wrong.push("it never ended".to_owned());
    }
    let took = report.kernel.now().saturating_since(Time::ZERO);
    if took > bound {
        wrong.push(format!("it ended after {took:?}, past its bound of {bound:?}"));
    }
    if !report.unspent.is_empty() {
        wrong.push(format!("a fault never struck: {:?}", report.unspent));
    }
    cleanup_ended_as(report, case.stuck_failures, case.stuck_left, &mut wrong);
    wrong
}

/// Adds to `wrong` whatever differs from a cleanup that failed exactly
/// with `failures` (command and errno, in order) and left exactly `left`,
/// and each broken invariant.
fn cleanup_ended_as(
    report: &Report,
    failures: &[(CommandKind, i32)],
    left: &[&str],
    wrong: &mut Vec<String>,
) {
    let found: Vec<(CommandKind, Option<i32>)> = report
        .cleanup_failures
        .iter()
        .map(|f| (kind_of(&f.command), f.error.errno))
        .collect();
    let expected: Vec<(CommandKind, Option<i32>)> = failures
        .iter()
        .map(|&(kind, errno)| (kind, Some(errno)))
        .collect();
    if found != expected {
        wrong.push(format!("cleanup failures {found:?}, not {expected:?}"));
    }
    let found_left = left_of(report);
    if found_left != left {
        wrong.push(format!("left {found_left:?}, not {left:?}"));
    }
    wrong.extend(report.violations().iter().map(ToString::to_string));
}

/// A launch whose processes are stuck dying still ends within its bound,
/// names the waits that gave up, and leaves exactly what they account
/// for: with no cleanup failure on record, the same leftovers are a leak.
#[test]
fn a_launch_whose_processes_are_stuck_dying_ends_and_names_what_it_left() {
    let mut failures = Vec::new();
    for case in death_cases() {
        for schedule in [BULK, TRICKLE] {
            let plan = plan(case.shape);
            let bound = stuck_launch_bound(&plan);
            assert!(STUCK > bound, "a stuck death must outlast the launch");
            let scenario = dying_faults(&case, STUCK)
                .into_iter()
                .fold(Scenario::new(plan).with_schedule(schedule), Scenario::with_fault);
            let mut report = run_on(Kernel::new(), &scenario).expect("the plan");
            let mut wrong = check_stuck(&case, &report, bound);
            report.cleanup_failures.clear();
            if !matches!(report.violations().as_slice(), [Violation::Leaked(_)]) {
                wrong.push(format!(
                    "without its cleanup failures the leftovers are no leak: {:?}",
                    report.violations()
                ));
            }
            if !wrong.is_empty() {
                let schedule = (schedule.chunk, schedule.exits_first);
                failures.push(format!(
                    "{:?} at {}, {:?}, schedule {schedule:?}: {}",
                    case.shape,
                    case.step,
                    case.fault,
                    wrong.join("; ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Once a stuck process has died, its zombie is what a failed reap left:
/// the world catches up with the launch.
#[test]
fn a_stuck_process_is_a_zombie_once_its_death_is_over() {
    let case = &death_cases()[1];
    let scenario = dying_faults(case, STUCK)
        .into_iter()
        .fold(Scenario::new(plan(case.shape)), Scenario::with_fault);
    let mut report = run_on(Kernel::new(), &scenario).expect("the plan");
    let pid = report.leftovers.processes[0].pid;
    let cgroup = report.leftovers.cgroups[0].clone();
    assert_eq!(report.kernel.cgroup_procs(&cgroup), [pid]);
    report.kernel.advance(STUCK);
    let process = report.kernel.process(pid).expect("its zombie");
    assert_eq!(process.state(), ProcessState::Zombie(SIGKILL));
    assert!(report.kernel.cgroup_procs(&cgroup).is_empty());
    let left = report.kernel.leftovers(report.launch);
    assert!(left.sockets.is_empty(), "its socket end closed with its exit");
    assert_eq!(report.kernel.reap(pid), Ok(SIGKILL));
}
