//! Both launch kinds over the mock kernel when nothing goes wrong (a setns
//! process forked by a helper, or cloned by the launcher): the exact
//! commands, and the world they leave.

use cradle_core::framing::encode_to_bytes;
use cradle_core::launch::Spawn;
use cradle_core::{Command, ExitStatus, Interface, LaunchError, Message, Pid, Plan, Role, SetnsEntry, Step};
use cradle_mock::{
    plans, run, run_on, At, Fault, Forgery, Kernel, ProcessPoint, ProcessState, Report, Scenario, Schedule,
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

/// The command that sends `plan`'s config.
fn send_config(plan: &Plan) -> Command {
    let bytes = encode_to_bytes(&Message::Config(Box::new(plan.config.clone()))).unwrap();
    Command::Send { bytes }
}

fn running(report: &Report) -> Pid {
    match &report.result {
        Ok(pid) => *pid,
        Err(error) => panic!("the launch failed: {error}"),
    }
}

#[test]
fn init_runs_with_exactly_its_commands_and_holds_its_process_cgroup_and_interfaces() {
    for schedule in SCHEDULES {
        let plan = plans::init();
        let report = run(&Scenario::new(plan.clone()).with_schedule(schedule)).unwrap();
        let pid = running(&report);
        let [cgroup] = &report.leftovers.cgroups[..] else {
            panic!("one cgroup, not {:?}", report.leftovers.cgroups);
        };
        let maps = plan.id_maps.clone().unwrap();
        let networks = &plan.config.networks;
        assert_eq!(
            report.commands,
            [
                Command::CreateCgroup,
                Command::Spawn(Spawn {
                    role: Role::Init,
                    namespaces: plan.config.new_namespaces().collect(),
                    pid_namespace: None,
                    hold: true,
                    awaits_start: true,
                    cgroup: true,
                }),
                Command::WriteIdMaps {
                    pid,
                    maps: maps.clone()
                },
                Command::Release { pid },
                Command::CreateInterface {
                    pid,
                    index: 0,
                    interface: networks[0].clone(),
                },
                Command::CreateInterface {
                    pid,
                    index: 2,
                    interface: networks[2].clone(),
                },
                send_config(&plan),
                Command::ShutdownWrite,
                // It holds: the attach overlaps its set-up.
                Command::ApplyCgroup { pid },
                Command::Start { pid },
                Command::Close,
            ],
            "{schedule:?}"
        );

        let kernel = &report.kernel;
        let process = kernel.process(pid).unwrap();
        assert!(process.is_alive());
        assert!(!process.is_held());
        assert!(process.is_started());
        assert_eq!(process.parent(), Some(kernel.launcher()));
        assert_eq!(
            process.new_namespaces(),
            &plan.config.new_namespaces().collect::<Vec<_>>()[..]
        );
        assert_eq!(process.id_maps(), Some(&maps));
        assert_eq!(process.cgroup(), Some(cgroup.as_str()));
        assert_eq!(kernel.cgroup_procs(cgroup), [pid]);
        for (host, peer) in [("veth0h", "veth0p"), ("veth1h", "veth1p")] {
            let interface = kernel.interface(host).unwrap();
            assert_eq!((interface.peer(), interface.peer_netns_of()), (peer, pid));
        }
        assert!(matches!(networks[1], Interface::Loopback));
        assert_eq!(report.leftovers.interfaces, ["veth0h", "veth1h"]);
        assert!(
            report.leftovers.sockets.is_empty(),
            "both ends closed: the parent's, and the child's at exec"
        );
        assert_eq!(report.violations(), []);
    }
}

#[test]
fn setns_runs_with_exactly_its_commands_as_the_parents_child_in_the_containers_cgroup() {
    for schedule in SCHEDULES {
        let kernel = Kernel::new();
        let container = kernel.container().clone();
        let plan = plans::setns(&container);
        let report = run_on(kernel, &Scenario::new(plan.clone()).with_schedule(schedule)).unwrap();
        let pid = running(&report);
        let kernel = &report.kernel;
        let process = kernel.process(pid).unwrap();
        let helper = process.creator().unwrap();
        assert_eq!(
            report.commands,
            [
                Command::Spawn(Spawn {
                    role: Role::SetnsHelper,
                    namespaces: Vec::new(),
                    pid_namespace: None,
                    hold: false,
                    awaits_start: false,
                    cgroup: true,
                }),
                Command::Adopt { helper, pid },
                Command::Reap { pid: helper },
                Command::EnterCgroup { pid },
                send_config(&plan),
                Command::ShutdownWrite,
                Command::Close,
            ],
            "{schedule:?}"
        );

        assert!(process.is_alive());
        assert_eq!(
            process.parent(),
            Some(kernel.launcher()),
            "CLONE_PARENT: the launcher's child"
        );
        assert_ne!(helper, kernel.launcher());
        assert!(kernel.process(helper).is_none(), "the helper is reaped");
        assert_eq!(process.cgroup(), Some(container.cgroup.as_str()));
        assert_eq!(kernel.cgroup_procs(&container.cgroup), [container.init, pid]);
        assert!(report.leftovers.sockets.is_empty());
        assert!(report.leftovers.cgroups.is_empty() && report.leftovers.interfaces.is_empty());
        assert_eq!(report.violations(), []);
    }
}

#[test]
fn a_cloned_setns_process_runs_with_exactly_its_commands_as_the_parents_child_in_the_containers_cgroup() {
    for schedule in SCHEDULES {
        let kernel = Kernel::new();
        let container = kernel.container().clone();
        let plan = Plan {
            setns_entry: SetnsEntry::Clone,
            ..plans::setns(&container)
        };
        let report = run_on(kernel, &Scenario::new(plan.clone()).with_schedule(schedule)).unwrap();
        let pid = running(&report);
        // No helper: no pid report, adoption or reap before it runs.
        assert_eq!(
            report.commands,
            [
                Command::Spawn(Spawn {
                    role: Role::SetnsProcess,
                    namespaces: Vec::new(),
                    pid_namespace: None,
                    hold: false,
                    awaits_start: false,
                    cgroup: true,
                }),
                Command::EnterCgroup { pid },
                send_config(&plan),
                Command::ShutdownWrite,
                Command::Close,
            ],
            "{schedule:?}"
        );

        let kernel = &report.kernel;
        let process = kernel.process(pid).unwrap();
        assert!(process.is_alive());
        assert_eq!(process.name(), "setns process");
        assert_eq!(process.parent(), Some(kernel.launcher()));
        assert_eq!(process.creator(), Some(kernel.launcher()), "the launcher's clone");
        assert_eq!(process.cgroup(), Some(container.cgroup.as_str()));
        assert_eq!(kernel.cgroup_procs(&container.cgroup), [container.init, pid]);
        assert!(report.leftovers.sockets.is_empty());
        assert!(report.leftovers.cgroups.is_empty() && report.leftovers.interfaces.is_empty());
        assert_eq!(report.violations(), []);
    }
}

#[test]
fn a_bare_init_spawns_sends_and_half_closes() {
    let plan = Plan::init(cradle_core::Config::new(["/bin/true"]));
    let report = run(&Scenario::new(plan.clone())).unwrap();
    let pid = running(&report);
    assert_eq!(
        report.commands,
        [
            Command::Spawn(Spawn {
                role: Role::Init,
                namespaces: Vec::new(),
                pid_namespace: None,
                hold: false,
                awaits_start: false,
                cgroup: false,
            }),
            send_config(&plan),
            Command::ShutdownWrite,
            Command::Close,
        ]
    );
    assert!(report.kernel.process(pid).unwrap().is_alive());
    assert_eq!(report.violations(), []);
}

#[test]
fn a_process_that_exits_right_after_exec_is_running_and_its_exit_is_the_callers() {
    for exit in [ExitStatus::Exited(0), ExitStatus::Signaled(9)] {
        for schedule in SCHEDULES {
            let dies = Fault::Die {
                at: At::Process(ProcessPoint::Run),
                status: exit,
            };
            let scenario = Scenario::new(plans::init())
                .with_schedule(schedule)
                .with_fault(dies);
            let mut report = run(&scenario).unwrap();
            let pid = running(&report);
            assert_eq!(report.violations(), []);
            // The launch is over; the world goes on.
            report.kernel.run_until_idle();
            assert_eq!(report.kernel.pending_faults(report.launch), []);
            let process = report.kernel.process(pid).unwrap();
            assert_eq!(process.state(), ProcessState::Zombie(exit));
            assert_eq!(report.kernel.reap(pid), Ok(exit));
            assert!(report.kernel.leftovers(report.launch).processes.is_empty());
        }
    }
}

/// Between `ready` and `exec` the parent cannot tell a death from an exec
/// (both close the socket): the launch reports the process running, and its
/// exit status is the caller's to collect.
#[test]
fn a_death_between_ready_and_exec_reads_as_running() {
    let dies = Fault::Die {
        at: At::Process(ProcessPoint::Exec),
        status: ExitStatus::Signaled(9),
    };
    let report = run(&Scenario::new(plans::init()).with_fault(dies)).unwrap();
    let pid = running(&report);
    let state = report.kernel.process(pid).unwrap().state();
    assert_eq!(state, ProcessState::Zombie(ExitStatus::Signaled(9)));
    assert_eq!(report.violations(), []);
}

/// A pid comes back once its process is reaped. A stale report of one that
/// now names another child of the parent is refused, and that child lives
/// on; the launch after it, on reused pids, runs.
#[test]
fn pids_are_reused_and_a_stale_pid_report_is_refused() {
    let kernel = Kernel::with_pid_max(6);
    let container = kernel.container().clone();
    let plan = plans::setns(&container);

    let first = run_on(kernel, &Scenario::new(plan.clone())).unwrap();
    let stale = running(&first);
    let first_helper = first.kernel.process(stale).unwrap().creator().unwrap();
    let mut kernel = first.kernel;
    kernel.kill(stale).unwrap();
    assert_eq!(kernel.reap(stale), Ok(ExitStatus::Signaled(9)));

    // Start processes until one gets the stale pid; let the others go.
    let mut others = Vec::new();
    let squatter = loop {
        let pid = kernel.start_process("unrelated").unwrap();
        if pid == stale {
            break pid;
        }
        assert!(others.len() < 6, "{stale} never came back: {others:?}");
        others.push(pid);
    };
    for pid in others {
        kernel.kill(pid).unwrap();
        kernel.reap(pid).unwrap();
    }

    let forged = Fault::ForgedPid(Forgery::Raw(stale.as_raw()));
    let report = run_on(kernel, &Scenario::new(plan.clone()).with_fault(forged)).unwrap();
    let Err(LaunchError::Command {
        step: Step::Adopt,
        error,
    }) = &report.result
    else {
        panic!("a stale pid must not be adopted: {:?}", report.result);
    };
    assert!(error.message.contains("not forked by the helper"), "{error}");
    assert_eq!(error.errno, None, "the backend's refusal, as on Linux");
    assert!(report.kernel.process(squatter).unwrap().is_alive());
    assert_eq!(report.violations(), []);
    let Command::Spawn(_) = &report.commands[0] else {
        panic!("spawn first: {:?}", report.commands);
    };

    let again = run_on(report.kernel, &Scenario::new(plan)).unwrap();
    let pid = running(&again);
    let helper = again.kernel.process(pid).unwrap().creator().unwrap();
    assert!(
        [first_helper, stale].contains(&helper) || [first_helper, stale].contains(&pid),
        "a pid of the first launch ({first_helper}, {stale}) is handed out again: helper {helper}, process {pid}"
    );
    assert_eq!(again.violations(), []);
}

/// A caller that records the process while it sets up starts it before its
/// `ready` (`handle_start_when_ready`): the same commands as a start after
/// the hold, the process running and started, nothing left.
#[test]
fn a_process_started_before_its_ready_runs_with_the_same_commands() {
    for schedule in SCHEDULES {
        let plan = plans::init();
        let held = run(&Scenario::new(plan.clone()).with_schedule(schedule)).unwrap();
        let early = run(&Scenario::new(plan.clone())
            .with_schedule(schedule)
            .started_when_ready())
        .unwrap();
        let pid = running(&early);
        assert_eq!(early.commands, held.commands, "{schedule:?}");
        let process = early.kernel.process(pid).unwrap();
        assert!(process.is_alive() && process.is_started());
        assert_eq!(early.violations(), []);
    }
}

/// A child that fails its set-up after an early start (or dies in it)
/// fails the launch as it would have without one: its own error, or its
/// exit, never the start the backend could not give it.
#[test]
fn a_child_that_fails_after_an_early_start_is_the_launch_error() {
    for schedule in SCHEDULES {
        let refuses = Fault::Refuse {
            at: At::Process(ProcessPoint::SetUp(cradle_core::ChildStep::Mounts)),
            errno: 13,
        };
        let scenario = Scenario::new(plans::init())
            .with_schedule(schedule)
            .started_when_ready()
            .with_fault(refuses);
        let report = run(&scenario).unwrap();
        match &report.result {
            Err(LaunchError::Child { step, error }) => {
                assert_eq!(*step, Step::AwaitReady, "{schedule:?}");
                assert_eq!(
                    (error.step, error.errno),
                    (cradle_core::ChildStep::Mounts, Some(13))
                );
            }
            other => panic!("not the child's error: {other:?}"),
        }
        assert_eq!(report.violations(), []);

        let dies = Fault::Die {
            at: At::Process(ProcessPoint::SetUp(cradle_core::ChildStep::Mounts)),
            status: ExitStatus::Signaled(9),
        };
        let scenario = Scenario::new(plans::init())
            .with_schedule(schedule)
            .started_when_ready()
            .with_fault(dies);
        let report = run(&scenario).unwrap();
        assert!(
            matches!(
                report.result,
                Err(LaunchError::Exited {
                    status: ExitStatus::Signaled(9),
                    ..
                })
            ),
            "not its exit: {:?}",
            report.result
        );
        assert_eq!(report.violations(), []);
    }
}
