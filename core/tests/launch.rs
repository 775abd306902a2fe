//! The parent's launch machine, fed by hand: the exact commands of each
//! path, every way it fails, and the cleanup after.

use std::time::Duration;

use cradle_core::child::pid_report;
use cradle_core::config::{Hook, HookStage, Interface, Veth};
use cradle_core::framing::{encode_to_bytes, DecodeError};
use cradle_core::launch::{ConfigError, Misuse, Role, Spawn, Step, Who, EXIT_GRACE};
use cradle_core::message::{ChildError, ChildStep, MessageKind, StepTime};
use cradle_core::{
    Command, CommandError, Config, Event, ExitStatus, IdMap, IdMaps, Launch, LaunchError, Limits, Message,
    Namespace, NamespaceKind, Pid, Plan, SetnsEntry, Time,
};

const START: Time = Time::from_nanos(5_000_000_000);
const TIMEOUT: Duration = Duration::from_secs(2);
const CHILD: i32 = 100;
const HELPER: i32 = 100;
const REPORTED: i32 = 200;

fn pid(raw: i32) -> Pid {
    Pid::new(raw).unwrap()
}

fn veth(n: u8) -> Interface {
    Interface::Veth(Veth {
        host_name: format!("box{n}"),
        peer_name: format!("box{n}p"),
        name: format!("eth{n}"),
        ..Veth::default()
    })
}

/// An init process with nothing but a mount and pid namespace.
fn init_plan() -> Plan {
    let mut config = Config::new(["/sbin/init"]);
    config.namespaces = vec![
        Namespace::new(NamespaceKind::Mount),
        Namespace::new(NamespaceKind::Pid),
    ];
    let mut plan = Plan::init(config);
    plan.timeout = TIMEOUT;
    plan
}

fn id_maps() -> IdMaps {
    let map = IdMap {
        container: 0,
        host: 100_000,
        count: 65_536,
    };
    IdMaps {
        uid: vec![map],
        gid: vec![map],
        deny_setgroups: true,
    }
}

/// An init process with everything: cgroup, user namespace, a loopback and
/// two veth pairs.
fn full_init_plan() -> Plan {
    let mut plan = init_plan();
    plan.config.namespaces = [
        NamespaceKind::User,
        NamespaceKind::Mount,
        NamespaceKind::Pid,
        NamespaceKind::Net,
    ]
    .into_iter()
    .map(Namespace::new)
    .collect();
    plan.config.networks = vec![Interface::Loopback, veth(1), veth(2)];
    plan.cgroup = true;
    plan.id_maps = Some(id_maps());
    plan
}

/// `plan`, holding its process after `ready` until the caller's start.
fn holding(mut plan: Plan) -> Plan {
    plan.config.hold = true;
    plan
}

fn setns_plan(cgroup: bool) -> Plan {
    let mut config = Config::new(["/bin/sh"]);
    config.namespaces = vec![Namespace::join(NamespaceKind::Pid, "/proc/4242/ns/pid")];
    let mut plan = Plan::setns(config);
    plan.cgroup = cgroup;
    plan.timeout = TIMEOUT;
    plan
}

fn config_line(plan: &Plan) -> Command {
    Command::Send {
        bytes: encode_to_bytes(&Message::Config(Box::new(plan.config.clone()))).unwrap(),
    }
}

fn child_error() -> ChildError {
    ChildError {
        message: "mount proc on /proc: operation not permitted".to_owned(),
        step: ChildStep::Mounts,
        errno: Some(1),
    }
}

fn backend_error() -> CommandError {
    CommandError::new("mkdir /sys/fs/cgroup/box: permission denied", Some(13))
}

/// Plays the driver by hand.
struct Driver {
    launch: Launch,
    plan: Plan,
    now: Time,
}

impl Driver {
    fn new(plan: Plan) -> Driver {
        Driver {
            launch: Launch::new(plan.clone(), START).unwrap(),
            plan,
            now: START,
        }
    }

    #[track_caller]
    fn expect(&mut self, expected: Command) {
        assert_eq!(self.launch.poll_command(), Some(expected));
    }

    #[track_caller]
    fn ok(&mut self) {
        self.launch.handle_done(self.now, Ok(())).unwrap();
    }

    #[track_caller]
    fn fail(&mut self) {
        self.launch.handle_done(self.now, Err(backend_error())).unwrap();
    }

    #[track_caller]
    fn spawned(&mut self, raw: i32) {
        self.launch.handle_spawned(self.now, pid(raw)).unwrap();
    }

    #[track_caller]
    fn say(&mut self, message: Message) {
        self.write(&encode_to_bytes(&message).unwrap());
    }

    #[track_caller]
    fn write(&mut self, bytes: &[u8]) {
        self.launch.handle_read(self.now, bytes).unwrap();
    }

    #[track_caller]
    fn eof(&mut self) {
        self.launch.handle_eof(self.now).unwrap();
    }

    #[track_caller]
    fn exit(&mut self, raw: i32, status: ExitStatus) {
        self.launch.handle_exit(self.now, pid(raw), status).unwrap();
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        self.launch.handle_timeout(self.now);
    }

    /// Nothing to do and nothing decided: the launch waits.
    #[track_caller]
    fn waiting(&mut self) {
        assert_eq!(self.launch.poll_command(), None);
        assert_eq!(self.launch.poll_event(), None);
        assert!(self.launch.poll_timeout().is_some(), "no verdict yet");
    }

    /// Whether this driver's plan applies its cgroup after the half-close
    /// (it holds, with no `createContainer` hook).
    fn applies_cgroup_late(&self) -> bool {
        self.plan.config.hold
            && !self
                .plan
                .config
                .hooks
                .iter()
                .any(|hook| hook.stage == HookStage::CreateContainer)
    }

    /// Runs an init launch of this driver's plan up to waiting for `ready`.
    fn init_to_await_ready(&mut self) {
        let maps = self.plan.id_maps.clone();
        let child = pid(CHILD);
        let late = self.applies_cgroup_late();
        if self.plan.cgroup {
            self.expect(Command::CreateCgroup);
            self.ok();
        }
        assert!(matches!(self.launch.poll_command(), Some(Command::Spawn(_))));
        self.spawned(CHILD);
        if let Some(maps) = maps {
            self.expect(Command::WriteIdMaps { pid: child, maps });
            self.ok();
            self.expect(Command::Release { pid: child });
            self.ok();
        }
        if self.plan.cgroup && !late {
            self.expect(Command::ApplyCgroup { pid: child });
            self.ok();
        }
        for (index, interface) in self.plan.config.networks.clone().into_iter().enumerate() {
            if interface.has_host_side() {
                self.expect(Command::CreateInterface {
                    pid: child,
                    index,
                    interface,
                });
                self.ok();
            }
        }
        self.expect(config_line(&self.plan));
        self.ok();
        self.expect(Command::ShutdownWrite);
        self.ok();
        if self.plan.cgroup && late {
            self.expect(Command::ApplyCgroup { pid: child });
            self.ok();
        }
        assert_eq!(self.launch.step(), Step::AwaitReady);
        self.waiting();
    }

    /// Runs an init launch of this driver's plan, which holds, up to its
    /// hold: `ready` read, [`Event::Held`] polled.
    #[track_caller]
    fn init_to_held(&mut self) {
        self.init_to_await_ready();
        self.say(Message::ready());
        assert_eq!(self.launch.poll_event(), Some(Event::Held { pid: pid(CHILD) }));
        assert_eq!(self.launch.step(), Step::AwaitStart);
        assert!(self.launch.is_held());
        self.waiting();
    }

    /// Runs an init launch of this driver's plan, which holds, up to its
    /// start given before `ready` ([`Launch::handle_start_when_ready`]):
    /// the `Start` command in flight.
    #[track_caller]
    fn init_started_early(&mut self) {
        self.init_to_await_ready();
        self.launch.handle_start_when_ready(self.now).unwrap();
        self.expect(Command::Start { pid: pid(CHILD) });
    }

    /// Runs a setns launch up to waiting for `ready`.
    fn setns_to_await_ready(&mut self) {
        assert!(matches!(self.launch.poll_command(), Some(Command::Spawn(_))));
        self.spawned(HELPER);
        self.write(&pid_report(REPORTED));
        self.exit(HELPER, ExitStatus::Exited(0));
        self.expect(Command::Adopt {
            helper: pid(HELPER),
            pid: pid(REPORTED),
        });
        self.ok();
        self.expect(Command::Reap { pid: pid(HELPER) });
        self.ok();
        if self.plan.cgroup {
            self.expect(Command::EnterCgroup { pid: pid(REPORTED) });
            self.ok();
        }
        self.expect(config_line(&self.plan));
        self.ok();
        self.expect(Command::ShutdownWrite);
        self.ok();
        self.waiting();
    }

    /// Runs a setns launch whose process is cloned into the container's
    /// pid namespace (no cgroup) up to waiting for `ready`.
    fn cloned_setns_to_await_ready(&mut self) {
        assert!(matches!(self.launch.poll_command(), Some(Command::Spawn(_))));
        self.spawned(CHILD);
        self.expect(config_line(&self.plan));
        self.ok();
        self.expect(Command::ShutdownWrite);
        self.ok();
        self.waiting();
    }

    /// Completes every ending command with success and returns them with
    /// the terminal event.
    #[track_caller]
    fn ending(&mut self) -> (Vec<Command>, Event) {
        assert_eq!(self.launch.poll_timeout(), None, "a verdict was reached");
        let mut commands = Vec::new();
        while let Some(command) = self.launch.poll_command() {
            assert_eq!(
                self.launch.poll_event(),
                None,
                "the terminal event comes after the last command"
            );
            commands.push(command);
            self.ok();
        }
        let event = self
            .launch
            .poll_event()
            .expect("a terminal event after the ending");
        assert!(self.launch.is_finished());
        assert_eq!(self.launch.poll_event(), None, "exactly one terminal event");
        (commands, event)
    }

    /// Completes the ending of a launch whose child runs: the socket is
    /// closed, and the verdict is that it is running.
    #[track_caller]
    fn ends_running(&mut self) {
        assert_eq!(
            self.ending(),
            (vec![Command::Close], Event::Running { pid: pid(CHILD) })
        );
    }

    #[track_caller]
    fn fails_with(&mut self, cleanup: &[Command]) -> LaunchError {
        match self.ending() {
            (commands, Event::Failed(error)) => {
                assert_eq!(commands, cleanup, "cleanup after {error}");
                error
            }
            (_, event) => panic!("expected a failure, got {event:?}"),
        }
    }
}

fn kill(raw: i32) -> Command {
    Command::Kill { pid: pid(raw) }
}

fn reap(raw: i32) -> Command {
    Command::Reap { pid: pid(raw) }
}

fn strays(helper: i32) -> Command {
    Command::ReapStrays { helper: pid(helper) }
}

fn remove(index: usize) -> Command {
    Command::RemoveInterface {
        index,
        interface: full_init_plan().config.networks[index].clone(),
    }
}

// ---- The successful paths.

#[test]
fn init_runs_every_step_in_order() {
    let plan = full_init_plan();
    let mut d = Driver::new(plan.clone());
    assert_eq!(
        d.launch.steps(),
        [
            Step::CreateCgroup,
            Step::Spawn,
            Step::IdMaps,
            Step::Release,
            Step::ApplyCgroup,
            Step::Network { index: 1 },
            Step::Network { index: 2 },
            Step::SendConfig,
            Step::HalfClose,
            Step::AwaitReady,
            Step::AwaitExec,
        ]
    );
    d.expect(Command::CreateCgroup);
    assert_eq!(d.launch.poll_command(), None, "one command at a time");
    d.ok();
    d.expect(Command::Spawn(Spawn {
        role: Role::Init,
        namespaces: vec![
            NamespaceKind::User,
            NamespaceKind::Mount,
            NamespaceKind::Pid,
            NamespaceKind::Net,
        ],
        pid_namespace: None,
        hold: true,
        awaits_start: false,
        cgroup: true,
    }));
    assert!(!d.launch.wants_read(), "no socket before the spawn");
    d.spawned(CHILD);
    assert!(d.launch.wants_read());
    let child = pid(CHILD);
    d.expect(Command::WriteIdMaps {
        pid: child,
        maps: id_maps(),
    });
    d.ok();
    d.expect(Command::Release { pid: child });
    d.ok();
    d.expect(Command::ApplyCgroup { pid: child });
    d.ok();
    for index in [1, 2] {
        d.expect(Command::CreateInterface {
            pid: child,
            index,
            interface: plan.config.networks[index].clone(),
        });
        d.ok();
    }
    d.expect(config_line(&plan));
    d.ok();
    d.expect(Command::ShutdownWrite);
    d.ok();
    d.waiting();
    d.say(Message::ready());
    assert_eq!(d.launch.step(), Step::AwaitExec);
    d.waiting();
    d.eof();
    assert_eq!(d.ending(), (vec![Command::Close], Event::Running { pid: child }));
    assert_eq!(d.launch.pid(), Some(child));
}

#[test]
fn init_without_extras_spawns_sends_and_closes() {
    let plan = init_plan();
    let mut d = Driver::new(plan.clone());
    d.expect(Command::Spawn(Spawn {
        role: Role::Init,
        namespaces: vec![NamespaceKind::Mount, NamespaceKind::Pid],
        pid_namespace: None,
        hold: false,
        awaits_start: false,
        cgroup: false,
    }));
    d.spawned(CHILD);
    d.expect(config_line(&plan));
    d.ok();
    d.expect(Command::ShutdownWrite);
    d.ok();
    // `ready` and the end of stream in one read, then the exit: all fine.
    d.say(Message::ready());
    d.eof();
    d.ends_running();
    d.exit(CHILD, ExitStatus::Exited(0));
    assert_eq!(d.launch.poll_event(), None);
}

#[test]
fn the_childs_step_timings_come_with_its_ready() {
    let mut plan = init_plan();
    plan.config.report_timings = true;
    let mut d = Driver::new(plan);
    d.init_to_await_ready();
    assert_eq!(d.launch.child_timings(), []);
    let timings = vec![
        StepTime {
            step: ChildStep::Mounts,
            nanos: 1_500_000,
        },
        StepTime {
            step: ChildStep::Seccomp,
            nanos: 40_000,
        },
    ];
    d.say(Message::Ready {
        timings: timings.clone(),
    });
    d.eof();
    d.ends_running();
    assert_eq!(d.launch.child_timings(), timings);
}

#[test]
fn a_pid_namespace_joined_by_path_is_the_spawns_to_enter() {
    let mut plan = init_plan();
    plan.config.namespaces[1] = Namespace::join(NamespaceKind::Pid, "/proc/4242/ns/pid");
    let mut d = Driver::new(plan);
    d.expect(Command::Spawn(Spawn {
        role: Role::Init,
        namespaces: vec![NamespaceKind::Mount],
        pid_namespace: Some("/proc/4242/ns/pid".into()),
        hold: false,
        awaits_start: false,
        cgroup: false,
    }));
}

#[test]
fn setns_adopts_the_reported_process() {
    let plan = setns_plan(true);
    let mut d = Driver::new(plan.clone());
    assert_eq!(
        d.launch.steps(),
        [
            Step::Spawn,
            Step::ReportPid,
            Step::Adopt,
            Step::HelperExit,
            Step::ReapHelper,
            Step::EnterCgroup,
            Step::SendConfig,
            Step::HalfClose,
            Step::AwaitReady,
            Step::AwaitExec,
        ]
    );
    d.expect(Command::Spawn(Spawn {
        role: Role::SetnsHelper,
        namespaces: vec![],
        pid_namespace: None,
        hold: false,
        awaits_start: false,
        cgroup: true,
    }));
    d.spawned(HELPER);
    d.waiting();
    d.write(&pid_report(REPORTED));
    // Adopted at once, before the helper exits.
    d.expect(Command::Adopt {
        helper: pid(HELPER),
        pid: pid(REPORTED),
    });
    d.ok();
    d.waiting();
    d.exit(HELPER, ExitStatus::Exited(0));
    d.expect(reap(HELPER));
    d.ok();
    d.expect(Command::EnterCgroup { pid: pid(REPORTED) });
    d.ok();
    d.expect(config_line(&plan));
    d.ok();
    d.expect(Command::ShutdownWrite);
    d.ok();
    d.say(Message::ready());
    d.eof();
    assert_eq!(
        d.ending(),
        (vec![Command::Close], Event::Running { pid: pid(REPORTED) })
    );
}

#[test]
fn setns_takes_the_helpers_exit_before_its_report() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.exit(HELPER, ExitStatus::Exited(0));
    d.waiting();
    d.write(&pid_report(REPORTED));
    d.expect(Command::Adopt {
        helper: pid(HELPER),
        pid: pid(REPORTED),
    });
}

fn setns_clone_plan(cgroup: bool) -> Plan {
    let mut plan = setns_plan(cgroup);
    plan.setns_entry = SetnsEntry::Clone;
    plan
}

#[test]
fn a_setns_process_cloned_into_the_pid_namespace_is_the_process() {
    let plan = setns_clone_plan(true);
    let mut d = Driver::new(plan.clone());
    assert_eq!(
        d.launch.steps(),
        [
            Step::Spawn,
            Step::EnterCgroup,
            Step::SendConfig,
            Step::HalfClose,
            Step::AwaitReady,
            Step::AwaitExec,
        ]
    );
    d.expect(Command::Spawn(Spawn {
        role: Role::SetnsProcess,
        namespaces: vec![],
        pid_namespace: None,
        hold: false,
        awaits_start: false,
        cgroup: true,
    }));
    d.spawned(CHILD);
    assert_eq!(d.launch.pid(), Some(pid(CHILD)));
    d.expect(Command::EnterCgroup { pid: pid(CHILD) });
    d.ok();
    d.expect(config_line(&plan));
    d.ok();
    d.expect(Command::ShutdownWrite);
    d.ok();
    d.say(Message::ready());
    d.eof();
    d.ends_running();
}

#[test]
fn a_pid_report_from_a_cloned_setns_process_is_unexpected() {
    let mut d = Driver::new(setns_clone_plan(false));
    d.launch.poll_command();
    d.spawned(CHILD);
    d.write(&pid_report(REPORTED));
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Unexpected {
            step: Step::SendConfig,
            kind: MessageKind::Pid
        }
    );
}

#[test]
fn a_cloned_setns_process_exiting_before_ready_fails_with_its_status() {
    let mut d = Driver::new(setns_clone_plan(false));
    d.cloned_setns_to_await_ready();
    d.exit(CHILD, ExitStatus::Exited(1));
    d.eof();
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::AwaitReady,
            who: Who::Process,
            status: ExitStatus::Exited(1)
        }
    );
}

#[test]
fn nothing_follows_the_terminal_event() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.say(Message::ready());
    d.eof();
    d.ending();
    d.launch.handle_cancel(d.now);
    d.advance(TIMEOUT * 2);
    d.launch.handle_read(d.now, b"{\"type\":\"ready\"}\n").unwrap();
    assert_eq!(d.launch.poll_command(), None);
    assert_eq!(d.launch.poll_event(), None);
    assert_eq!(d.launch.poll_timeout(), None);
}

// ---- Every way to fail.

#[test]
fn a_failed_command_fails_the_launch_at_its_step() {
    let mut d = Driver::new(full_init_plan());
    d.expect(Command::CreateCgroup);
    d.fail();
    let error = d.fails_with(&[Command::Close]);
    assert_eq!(
        error,
        LaunchError::Command {
            step: Step::CreateCgroup,
            error: backend_error()
        }
    );
}

#[test]
fn a_failed_spawn_destroys_the_cgroup_made_for_it() {
    let mut d = Driver::new(full_init_plan());
    d.expect(Command::CreateCgroup);
    d.ok();
    d.launch.poll_command();
    d.fail();
    let error = d.fails_with(&[Command::DestroyCgroup, Command::Close]);
    assert_eq!(error.step(), Step::Spawn);
}

#[test]
fn a_child_error_is_the_launch_error() {
    // An init, or a setns process cloned into the container: the spawned
    // child is the process, killed and reaped with no helper's strays to
    // sweep.
    for cloned in [false, true] {
        let mut d = if cloned {
            let mut d = Driver::new(setns_clone_plan(false));
            d.cloned_setns_to_await_ready();
            d
        } else {
            let mut d = Driver::new(init_plan());
            d.init_to_await_ready();
            d
        };
        d.say(Message::Error(child_error()));
        let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
        assert_eq!(
            error,
            LaunchError::Child {
                step: Step::AwaitReady,
                error: child_error()
            },
            "cloned: {cloned}"
        );
    }
}

#[test]
fn an_error_after_ready_is_a_failed_exec() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.say(Message::ready());
    let failed_exec = ChildError {
        message: "execve /sbin/init: no such file or directory".to_owned(),
        step: ChildStep::Exec,
        errno: Some(2),
    };
    d.say(Message::Error(failed_exec.clone()));
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::AwaitExec,
            error: failed_exec
        }
    );
}

#[test]
fn a_child_that_exits_without_ready_fails_with_its_status() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.exit(CHILD, ExitStatus::Exited(1));
    d.waiting();
    d.eof();
    // It exited: reaped, not killed.
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::AwaitReady,
            who: Who::Process,
            status: ExitStatus::Exited(1)
        }
    );
}

#[test]
fn a_repeated_exit_report_keeps_the_first_status() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.exit(CHILD, ExitStatus::Exited(1));
    d.exit(CHILD, ExitStatus::Signaled(9));
    d.eof();
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::AwaitReady,
            who: Who::Process,
            status: ExitStatus::Exited(1)
        }
    );
}

#[test]
fn a_helper_exiting_non_zero_fails_the_setns_launch() {
    let mut d = Driver::new(setns_plan(true));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.exit(HELPER, ExitStatus::Exited(2));
    // What it wrote before it ended may still be on its way.
    d.waiting();
    d.eof();
    let error = d.fails_with(&[strays(HELPER), reap(HELPER), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::ReportPid,
            who: Who::Helper,
            status: ExitStatus::Exited(2)
        }
    );
}

#[test]
fn a_helpers_error_before_its_exit_is_the_launch_error() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.exit(HELPER, ExitStatus::Exited(1));
    let setns = ChildError {
        message: "setns /proc/4242/ns/pid: invalid argument".to_owned(),
        step: ChildStep::Setns,
        errno: Some(22),
    };
    d.say(Message::Error(setns.clone()));
    let error = d.fails_with(&[strays(HELPER), reap(HELPER), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::ReportPid,
            error: setns
        }
    );
}

#[test]
fn a_helper_exiting_zero_without_a_report_is_a_closed_socket() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.exit(HELPER, ExitStatus::Exited(0));
    d.eof();
    let error = d.fails_with(&[strays(HELPER), reap(HELPER), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Closed {
            step: Step::ReportPid
        }
    );
}

#[test]
fn a_close_without_a_word_or_an_exit_is_closed() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.eof();
    d.advance(EXIT_GRACE);
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Closed {
            step: Step::AwaitReady
        }
    );
}

#[test]
fn bytes_that_are_no_message_are_a_protocol_error() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.write(b"{\"type\":\"ready\"");
    d.waiting();
    d.write(b" oops\n");
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert!(
        matches!(
            error,
            LaunchError::Protocol {
                step: Step::AwaitReady,
                error: DecodeError::Malformed { .. }
            }
        ),
        "{error:?}"
    );
}

#[test]
fn end_of_stream_inside_a_message_is_a_protocol_error() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.write(b"{\"type\":\"rea");
    d.eof();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Protocol {
            step: Step::AwaitReady,
            error: DecodeError::Truncated { buffered: 12 }
        }
    );
}

#[test]
fn a_message_at_the_wrong_time_is_unexpected() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.say(Message::Pid { pid: 7 });
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Unexpected {
            step: Step::AwaitReady,
            kind: MessageKind::Pid
        }
    );
}

#[test]
fn ready_before_the_config_is_unexpected_and_waits_for_the_command_in_flight() {
    let mut d = Driver::new(full_init_plan());
    d.expect(Command::CreateCgroup);
    d.ok();
    d.launch.poll_command();
    d.spawned(CHILD);
    d.expect(Command::WriteIdMaps {
        pid: pid(CHILD),
        maps: id_maps(),
    });
    d.say(Message::ready());
    assert_eq!(
        d.launch.poll_command(),
        None,
        "the id maps write is still in flight"
    );
    assert_eq!(d.launch.poll_event(), None);
    d.ok();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::DestroyCgroup, Command::Close]);
    assert_eq!(
        error,
        LaunchError::Unexpected {
            step: Step::IdMaps,
            kind: MessageKind::Ready
        }
    );
}

#[test]
fn a_report_that_cannot_be_the_helpers_process_is_forged() {
    for (report, reason) in [
        (0, "not a positive pid"),
        (-1, "not a positive pid"),
        (i32::MIN, "not a positive pid"),
        (HELPER, "the helper's own pid"),
    ] {
        let mut d = Driver::new(setns_plan(false));
        d.launch.poll_command();
        d.spawned(HELPER);
        d.write(&pid_report(report));
        let error = d.fails_with(&[kill(HELPER), strays(HELPER), reap(HELPER), Command::Close]);
        assert_eq!(
            error,
            LaunchError::ForgedPid {
                step: Step::ReportPid,
                pid: report,
                reason
            }
        );
    }
}

#[test]
fn a_second_report_is_unexpected() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.write(&pid_report(REPORTED));
    d.write(&pid_report(REPORTED + 1));
    // The first report was valid: its process is adopted (checked) before
    // it is killed.
    let adopt = Command::Adopt {
        helper: pid(HELPER),
        pid: pid(REPORTED),
    };
    let error = d.fails_with(&[
        adopt,
        kill(REPORTED),
        reap(REPORTED),
        kill(HELPER),
        reap(HELPER),
        Command::Close,
    ]);
    assert_eq!(
        error,
        LaunchError::Unexpected {
            step: Step::Adopt,
            kind: MessageKind::Pid
        }
    );
}

#[test]
fn a_failed_read_fails_the_launch() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    let failed = CommandError::new("read launch socket: input/output error", Some(5));
    d.launch.handle_read_error(d.now, failed.clone()).unwrap();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Read {
            step: Step::AwaitReady,
            error: failed
        }
    );
}

#[test]
fn the_deadline_fails_the_launch_at_the_step_it_was_at() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    assert_eq!(d.launch.poll_timeout(), Some(START + TIMEOUT));
    d.advance(TIMEOUT - Duration::from_nanos(1) - (d.now - START));
    d.waiting();
    d.advance(Duration::from_nanos(1));
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::AwaitReady,
            after: TIMEOUT
        }
    );
}

#[test]
fn any_input_past_the_deadline_times_out_even_a_ready() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.now = START + TIMEOUT;
    d.say(Message::ready());
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert!(matches!(error, LaunchError::TimedOut { .. }), "{error:?}");
}

#[test]
fn a_cancel_fails_the_launch_and_cleans_up() {
    let mut d = Driver::new(setns_plan(false));
    d.setns_to_await_ready();
    d.launch.handle_cancel(d.now);
    // The helper was reaped by its step; the adopted process remains.
    let error = d.fails_with(&[kill(REPORTED), reap(REPORTED), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Cancelled {
            step: Step::AwaitReady
        }
    );
}

// ---- Cleanup: everything acquired, last acquired first.

#[test]
fn cleanup_releases_in_reverse_order_of_acquisition() {
    let mut d = Driver::new(full_init_plan());
    d.init_to_await_ready();
    d.say(Message::Error(child_error()));
    d.fails_with(&[
        kill(CHILD),
        reap(CHILD),
        remove(2),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
}

#[test]
fn cleanup_releases_only_what_was_acquired() {
    let mut d = Driver::new(full_init_plan());
    d.expect(Command::CreateCgroup);
    d.ok();
    d.launch.poll_command();
    d.spawned(CHILD);
    for _ in 0..3 {
        d.launch.poll_command();
        d.ok();
    }
    d.expect(Command::CreateInterface {
        pid: pid(CHILD),
        index: 1,
        interface: veth(1),
    });
    d.ok();
    d.launch.poll_command();
    d.fail();
    let error = d.fails_with(&[
        kill(CHILD),
        reap(CHILD),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
    assert_eq!(error.step(), Step::Network { index: 2 });
}

#[test]
fn a_setns_failure_before_the_helper_is_reaped_reaps_both() {
    let mut d = Driver::new(setns_plan(true));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.write(&pid_report(REPORTED));
    d.exit(HELPER, ExitStatus::Exited(0));
    d.launch.poll_command();
    d.ok();
    d.expect(reap(HELPER));
    d.fail();
    // The adopted process is alive: killed. The helper exited: only reaped.
    let error = d.fails_with(&[kill(REPORTED), reap(REPORTED), reap(HELPER), Command::Close]);
    assert_eq!(error.step(), Step::ReapHelper);
}

#[test]
fn a_failure_before_the_helper_exits_kills_it_and_the_adopted_process() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.write(&pid_report(REPORTED));
    d.launch.poll_command();
    d.ok();
    d.launch.handle_cancel(d.now);
    let error = d.fails_with(&[
        kill(REPORTED),
        kill(HELPER),
        reap(REPORTED),
        reap(HELPER),
        Command::Close,
    ]);
    assert_eq!(
        error,
        LaunchError::Cancelled {
            step: Step::HelperExit
        }
    );
}

#[test]
fn a_helper_exiting_zero_without_a_report_while_its_fork_holds_the_socket_fails_soon() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.exit(HELPER, ExitStatus::Exited(0));
    // The report would be in the socket before the exit: a grace period,
    // not the deadline, decides.
    assert_eq!(d.launch.poll_timeout(), Some(d.now + EXIT_GRACE));
    d.advance(EXIT_GRACE);
    let error = d.fails_with(&[strays(HELPER), reap(HELPER), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::ReportPid,
            who: Who::Helper,
            status: ExitStatus::Exited(0)
        }
    );
}

#[test]
fn a_helper_killed_before_its_report_leaves_no_stray() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.exit(HELPER, ExitStatus::Signaled(9));
    d.eof();
    // It may have forked before it died: the sweep comes while its pid is
    // still its own, before the reap.
    let error = d.fails_with(&[strays(HELPER), reap(HELPER), Command::Close]);
    assert_eq!(error.step(), Step::ReportPid);
}

#[test]
fn a_stalled_helper_is_killed_before_its_strays_are_looked_for() {
    let mut d = Driver::new(setns_plan(true));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.advance(Duration::from_secs(3600));
    let error = d.fails_with(&[kill(HELPER), strays(HELPER), reap(HELPER), Command::Close]);
    assert!(
        matches!(
            error,
            LaunchError::TimedOut {
                step: Step::ReportPid,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_report_adopted_by_the_cleanup_needs_no_sweep() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.write(&pid_report(REPORTED));
    // Cancelled before the adopt went out: the ending adopts, and with the
    // helper's fork found there is nothing stray to look for.
    d.launch.handle_cancel(d.now);
    let error = d.fails_with(&[
        Command::Adopt {
            helper: pid(HELPER),
            pid: pid(REPORTED),
        },
        kill(REPORTED),
        reap(REPORTED),
        kill(HELPER),
        reap(HELPER),
        Command::Close,
    ]);
    assert_eq!(error.step(), Step::Adopt);
}

#[test]
fn a_refused_adopt_kills_nothing_it_names() {
    let mut d = Driver::new(setns_plan(false));
    d.launch.poll_command();
    d.spawned(HELPER);
    d.write(&pid_report(REPORTED));
    d.exit(HELPER, ExitStatus::Exited(0));
    let adopt = Command::Adopt {
        helper: pid(HELPER),
        pid: pid(REPORTED),
    };
    d.expect(adopt.clone());
    d.fail();
    // The ending asks again; refused again (the report was forged), so the
    // pid it names is nobody's to kill.
    d.expect(adopt);
    d.fail();
    let error = d.fails_with(&[strays(HELPER), reap(HELPER), Command::Close]);
    assert_eq!(error.step(), Step::Adopt);
    assert_eq!(d.launch.cleanup_failures(), [], "a refusal is the check working");
}

#[test]
fn a_failed_cleanup_command_is_recorded_and_the_rest_still_runs() {
    let mut d = Driver::new(full_init_plan());
    d.init_to_await_ready();
    d.launch.handle_cancel(d.now);
    d.expect(kill(CHILD));
    let denied = CommandError::new("kill 100: operation not permitted", Some(1));
    d.launch.handle_done(d.now, Err(denied.clone())).unwrap();
    let (rest, event) = d.ending();
    assert_eq!(
        rest,
        [
            reap(CHILD),
            remove(2),
            remove(1),
            Command::DestroyCgroup,
            Command::Close
        ]
    );
    assert!(matches!(event, Event::Failed(LaunchError::Cancelled { .. })));
    let failures = d.launch.cleanup_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (&failures[0].command, &failures[0].error),
        (&kill(CHILD), &denied)
    );
}

// ---- A verdict while a command is in flight.

#[test]
fn a_verdict_during_a_command_waits_for_it_and_releases_what_it_made() {
    let mut d = Driver::new(full_init_plan());
    d.expect(Command::CreateCgroup);
    d.ok();
    d.launch.poll_command();
    d.spawned(CHILD);
    for _ in 0..4 {
        d.launch.poll_command();
        d.ok();
    }
    d.expect(Command::CreateInterface {
        pid: pid(CHILD),
        index: 2,
        interface: veth(2),
    });
    d.launch.handle_cancel(d.now);
    assert_eq!(d.launch.poll_timeout(), None, "the verdict is in");
    assert_eq!(
        d.launch.poll_command(),
        None,
        "but the interface is still being made"
    );
    assert_eq!(d.launch.poll_event(), None);
    d.ok();
    d.fails_with(&[
        kill(CHILD),
        reap(CHILD),
        remove(2),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
}

#[test]
fn a_verdict_during_the_spawn_kills_what_it_spawned() {
    let mut d = Driver::new(init_plan());
    d.launch.poll_command();
    d.launch.handle_cancel(d.now);
    d.spawned(CHILD);
    d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
}

#[test]
fn a_verdict_during_a_command_that_then_fails_releases_the_rest() {
    let mut d = Driver::new(full_init_plan());
    d.expect(Command::CreateCgroup);
    d.advance(TIMEOUT);
    assert_eq!(d.launch.poll_command(), None);
    d.fail();
    let error = d.fails_with(&[Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::CreateCgroup,
            after: TIMEOUT
        },
        "the first verdict stands"
    );
}

// ---- The grace period after a close or an exit.

#[test]
fn an_exit_within_the_grace_after_a_close_gives_the_status() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.eof();
    assert_eq!(d.launch.poll_timeout(), Some(d.now + EXIT_GRACE));
    d.now = d.now + EXIT_GRACE / 2;
    d.exit(CHILD, ExitStatus::Signaled(11));
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::AwaitReady,
            who: Who::Process,
            status: ExitStatus::Signaled(11)
        }
    );
}

#[test]
fn the_grace_after_a_close_ends_exactly_at_exit_grace() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.eof();
    d.advance(EXIT_GRACE - Duration::from_nanos(1));
    d.waiting();
    d.advance(Duration::from_nanos(1));
    assert!(matches!(d.ending().1, Event::Failed(LaunchError::Closed { .. })));
}

#[test]
fn an_error_written_before_an_exit_wins_within_the_grace() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.exit(CHILD, ExitStatus::Exited(1));
    assert_eq!(d.launch.poll_timeout(), Some(d.now + EXIT_GRACE));
    d.now = d.now + EXIT_GRACE / 2;
    d.say(Message::Error(child_error()));
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::AwaitReady,
            error: child_error()
        }
    );
}

#[test]
fn an_exit_with_nothing_after_it_fails_at_the_end_of_the_grace() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.exit(CHILD, ExitStatus::Exited(3));
    d.advance(EXIT_GRACE);
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert!(
        matches!(
            error,
            LaunchError::Exited {
                status: ExitStatus::Exited(3),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn the_deadline_caps_the_grace() {
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.now = START + (TIMEOUT - EXIT_GRACE / 2);
    d.eof();
    assert_eq!(d.launch.poll_timeout(), Some(START + TIMEOUT));
}

// ---- The hold after `ready`: the caller records the process, then
// starts it.

#[test]
fn a_held_init_reports_held_and_execs_only_once_started() {
    let plan = holding(init_plan());
    let mut d = Driver::new(plan.clone());
    assert_eq!(
        d.launch.steps(),
        [
            Step::Spawn,
            Step::SendConfig,
            Step::HalfClose,
            Step::AwaitReady,
            Step::AwaitStart,
            Step::Start,
            Step::AwaitExec,
        ]
    );
    assert_eq!(
        d.launch.poll_command(),
        Some(Command::Spawn(Spawn {
            role: Role::Init,
            namespaces: vec![NamespaceKind::Mount, NamespaceKind::Pid],
            pid_namespace: None,
            hold: false,
            awaits_start: true,
            cgroup: false,
        }))
    );
    d.spawned(CHILD);
    d.expect(config_line(&plan));
    d.ok();
    d.expect(Command::ShutdownWrite);
    d.ok();
    assert!(!d.launch.is_held(), "not before ready");
    d.say(Message::ready());
    assert_eq!(d.launch.poll_event(), Some(Event::Held { pid: pid(CHILD) }));
    assert!(d.launch.is_held());
    // Recording takes a while: nothing happens meanwhile.
    d.advance(TIMEOUT / 2);
    d.waiting();
    assert!(d.launch.is_held());
    d.launch.handle_start(d.now).unwrap();
    assert!(!d.launch.is_held());
    d.expect(Command::Start { pid: pid(CHILD) });
    d.ok();
    assert_eq!(d.launch.step(), Step::AwaitExec);
    d.waiting();
    d.eof();
    d.ends_running();
}

#[test]
fn an_end_of_stream_while_the_start_is_in_flight_is_the_exec() {
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.launch.handle_start(d.now).unwrap();
    d.expect(Command::Start { pid: pid(CHILD) });
    // Started, it ran ahead of the command's completion.
    d.eof();
    d.exit(CHILD, ExitStatus::Exited(0));
    d.ok();
    d.ends_running();
}

#[test]
fn a_start_of_a_launch_that_is_not_held_is_misuse() {
    // A plan that does not hold.
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.say(Message::ready());
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    // Before `ready`, and once started.
    let mut d = Driver::new(holding(init_plan()));
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    d.init_to_await_ready();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    d.say(Message::ready());
    d.launch.handle_start(d.now).unwrap();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    d.expect(Command::Start { pid: pid(CHILD) });
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    // After an end of stream.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.eof();
    assert!(!d.launch.is_held());
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    // After the verdict.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.launch.handle_cancel(d.now);
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
}

#[test]
fn a_start_when_ready_goes_before_the_ready_and_holds_nothing() {
    let mut d = Driver::new(holding(full_init_plan()));
    d.init_started_early();
    assert!(!d.launch.steps().contains(&Step::AwaitStart));
    d.ok();
    assert_eq!(d.launch.step(), Step::AwaitReady);
    d.waiting();
    // Its end of stream before `ready` is no exec.
    d.say(Message::ready());
    assert!(!d.launch.is_held());
    assert_eq!(d.launch.step(), Step::AwaitExec);
    d.waiting();
    d.eof();
    d.ends_running();
}

#[test]
fn a_ready_and_exec_while_the_early_start_is_in_flight_is_running() {
    let mut d = Driver::new(holding(init_plan()));
    d.init_started_early();
    // The child had it before the command's completion came back.
    d.say(Message::ready());
    d.eof();
    d.ok();
    d.ends_running();
}

#[test]
fn a_child_that_fails_after_an_early_start_fails_the_launch_with_its_error() {
    let mut d = Driver::new(holding(init_plan()));
    d.init_started_early();
    d.ok();
    d.say(Message::Error(child_error()));
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::AwaitReady,
            error: child_error()
        }
    );
}

#[test]
fn an_early_start_that_cannot_be_given_leaves_the_verdict_to_the_child() {
    // It had ended (the start pipe's EPIPE): its `error` says why.
    let mut d = Driver::new(holding(init_plan()));
    d.init_started_early();
    d.fail();
    d.waiting();
    d.say(Message::Error(child_error()));
    d.eof();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::AwaitReady,
            error: child_error()
        }
    );
    // Or its exit status, with no word.
    let mut d = Driver::new(holding(init_plan()));
    d.init_started_early();
    d.fail();
    d.exit(CHILD, ExitStatus::Signaled(9));
    d.eof();
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::AwaitReady,
            who: Who::Process,
            status: ExitStatus::Signaled(9)
        }
    );
    // Ready all the same: the start did not reach it, and it would hold
    // until the deadline.
    let mut d = Driver::new(holding(init_plan()));
    d.init_started_early();
    d.fail();
    d.say(Message::ready());
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Command {
            step: Step::Start,
            error: backend_error()
        }
    );
}

/// A start before `ready` is refused, and changes nothing.
#[track_caller]
fn refused_start_when_ready(d: &mut Driver) {
    refused(d, Misuse::NotAwaitingReady, |l, now| {
        l.handle_start_when_ready(now)
    });
}

#[test]
fn a_start_when_ready_is_refused_unless_the_launch_holds_and_awaits_ready() {
    // A plan that does not hold.
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    refused_start_when_ready(&mut d);
    // Before the config is sent, once ready, once started, and twice.
    let mut d = Driver::new(holding(init_plan()));
    refused_start_when_ready(&mut d);
    d.init_to_held();
    refused_start_when_ready(&mut d);
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_await_ready();
    d.launch.handle_start_when_ready(d.now).unwrap();
    refused_start_when_ready(&mut d);
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    // After the child's end of stream or exit, and after the verdict.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_await_ready();
    d.eof();
    refused_start_when_ready(&mut d);
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_await_ready();
    d.exit(CHILD, ExitStatus::Exited(1));
    refused_start_when_ready(&mut d);
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_await_ready();
    d.launch.handle_cancel(d.now);
    refused_start_when_ready(&mut d);
}

#[test]
fn an_end_of_stream_before_the_start_is_no_exec() {
    // With nothing after it: closed, once the grace is over.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.eof();
    assert_eq!(d.launch.poll_timeout(), Some(d.now + EXIT_GRACE));
    d.advance(EXIT_GRACE);
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Closed {
            step: Step::AwaitStart
        }
    );
    // With its exit within the grace: that exit, even a clean one.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.eof();
    d.now = d.now + EXIT_GRACE / 2;
    d.exit(CHILD, ExitStatus::Exited(0));
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::AwaitStart,
            who: Who::Process,
            status: ExitStatus::Exited(0)
        }
    );
}

#[test]
fn the_deadline_ends_a_hold_the_caller_never_starts() {
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    assert_eq!(d.launch.poll_timeout(), Some(START + TIMEOUT));
    d.advance(TIMEOUT - Duration::from_nanos(1) - (d.now - START));
    d.waiting();
    assert!(d.launch.is_held());
    d.advance(Duration::from_nanos(1));
    assert!(!d.launch.is_held());
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::AwaitStart,
            after: TIMEOUT
        }
    );
}

#[test]
fn a_start_past_the_deadline_times_out() {
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.now = START + TIMEOUT;
    d.launch.handle_start(d.now).unwrap();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::AwaitStart,
            after: TIMEOUT
        }
    );
}

#[test]
fn a_cancel_while_held_releases_everything() {
    let mut d = Driver::new(holding(full_init_plan()));
    d.init_to_held();
    d.launch.handle_cancel(d.now);
    let error = d.fails_with(&[
        kill(CHILD),
        reap(CHILD),
        remove(2),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
    assert_eq!(
        error,
        LaunchError::Cancelled {
            step: Step::AwaitStart
        }
    );
}

#[test]
fn a_failed_start_kills_the_held_process() {
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.launch.handle_start(d.now).unwrap();
    d.expect(Command::Start { pid: pid(CHILD) });
    d.fail();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Command {
            step: Step::Start,
            error: backend_error()
        }
    );
}

#[test]
fn a_failure_in_the_read_that_brings_ready_takes_back_the_hold() {
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_await_ready();
    let mut bytes = encode_to_bytes(&Message::ready()).unwrap().to_vec();
    bytes.extend_from_slice(&encode_to_bytes(&Message::Error(child_error())).unwrap());
    d.write(&bytes);
    // `ending` checks that no event comes before the terminal one.
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::AwaitStart,
            error: child_error()
        }
    );
}

#[test]
fn only_an_init_holds() {
    let error = Launch::new(holding(setns_plan(false)), START).unwrap_err();
    assert_eq!(error, ConfigError::SetnsHold);
}

/// `createContainer` hooks run as the host's root from the container's
/// mount namespace: one joined by path, whose processes could put another
/// program at the hook's path, is refused before anything is made;
/// `startContainer` hooks, which run confined, are not.
#[test]
fn create_container_hooks_are_refused_in_a_joined_mount_namespace() {
    let hook = |stage| Hook {
        stage,
        path: "/usr/local/bin/hook".into(),
        args: Vec::new(),
        env: Vec::new(),
        timeout: None,
    };
    let mut plan = init_plan();
    plan.config.namespaces = vec![
        Namespace::new(NamespaceKind::Pid),
        Namespace::join(NamespaceKind::Mount, "/proc/4242/ns/mnt"),
    ];
    plan.config.hooks = vec![hook(HookStage::StartContainer)];
    assert!(Launch::new(plan.clone(), START).is_ok());
    plan.config.hooks.push(hook(HookStage::CreateContainer));
    let error = Launch::new(plan.clone(), START).unwrap_err();
    assert_eq!(error, ConfigError::CreateContainerHooksInJoinedMountNamespace);
    plan.config.namespaces[1] = Namespace::new(NamespaceKind::Mount);
    assert!(Launch::new(plan, START).is_ok());
}

// ---- The hand-off: the held process outlives its launch (the OCI
// `create`), and a later launch resumes it (the OCI `start`).

/// A launch of `plan` at its hold, handed off, with `HandOff` in flight.
#[track_caller]
fn handing_off(plan: Plan) -> Driver {
    let mut d = Driver::new(holding(plan));
    d.init_to_held();
    d.launch.handle_hand_off(d.now).unwrap();
    assert!(!d.launch.is_held());
    d.expect(Command::HandOff { pid: pid(CHILD) });
    d
}

#[test]
fn a_handed_off_init_is_created_and_keeps_everything_it_acquired() {
    let mut d = Driver::new(holding(full_init_plan()));
    d.init_to_held();
    d.launch.handle_hand_off(d.now).unwrap();
    // The start and the wait for `exec` are the resuming launch's.
    assert_eq!(
        d.launch.steps(),
        [
            Step::CreateCgroup,
            Step::Spawn,
            Step::IdMaps,
            Step::Release,
            Step::Network { index: 1 },
            Step::Network { index: 2 },
            Step::SendConfig,
            Step::HalfClose,
            Step::ApplyCgroup,
            Step::AwaitReady,
            Step::AwaitStart,
            Step::HandOff,
        ]
    );
    d.expect(Command::HandOff { pid: pid(CHILD) });
    assert_eq!(d.launch.step(), Step::HandOff);
    d.ok();
    // No kill, reap, interface removal or cgroup destruction: the process,
    // its interfaces and its cgroup are the caller's now.
    assert_eq!(
        d.ending(),
        (vec![Command::Close], Event::Created { pid: pid(CHILD) })
    );
    assert!(d.launch.cleanup_failures().is_empty());
}

#[test]
fn a_hand_off_of_a_launch_that_is_not_held_is_misuse() {
    // A plan that does not hold.
    let mut d = Driver::new(init_plan());
    d.init_to_await_ready();
    d.say(Message::ready());
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    // Before `ready`.
    let mut d = Driver::new(holding(init_plan()));
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    d.init_to_await_ready();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    // Once handed off: neither a second hand-off nor a start, in flight or
    // done.
    let mut d = handing_off(init_plan());
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    d.ok();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    assert!(matches!(d.ending(), (_, Event::Created { .. })));
    // Once started.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.launch.handle_start(d.now).unwrap();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    // After an end of stream.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.eof();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    // After the process's exit.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.exit(CHILD, ExitStatus::Signaled(9));
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    // After the verdict.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.launch.handle_cancel(d.now);
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
}

#[test]
fn a_failed_hand_off_releases_everything() {
    let mut d = handing_off(full_init_plan());
    d.fail();
    let error = d.fails_with(&[
        kill(CHILD),
        reap(CHILD),
        remove(2),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
    assert_eq!(
        error,
        LaunchError::Command {
            step: Step::HandOff,
            error: backend_error()
        }
    );
}

#[test]
fn an_exit_during_the_hand_off_is_no_creation() {
    // The exit, then the end of stream it causes, while the command is in
    // flight: the verdict waits for the command, and releases everything.
    let mut d = handing_off(full_init_plan());
    d.exit(CHILD, ExitStatus::Signaled(9));
    d.eof();
    d.ok();
    let error = d.fails_with(&[
        reap(CHILD),
        remove(2),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
    let exited = LaunchError::Exited {
        step: Step::HandOff,
        who: Who::Process,
        status: ExitStatus::Signaled(9),
    };
    assert_eq!(error, exited);
    // The exit alone before the command is done: not created; the end of
    // stream that follows decides.
    let mut d = handing_off(init_plan());
    d.exit(CHILD, ExitStatus::Signaled(9));
    d.ok();
    d.waiting();
    d.eof();
    assert_eq!(d.fails_with(&[reap(CHILD), Command::Close]), exited);
    // Or, without one, the end of the grace for it.
    let mut d = handing_off(init_plan());
    d.exit(CHILD, ExitStatus::Signaled(9));
    d.ok();
    d.waiting();
    assert_eq!(d.launch.poll_timeout(), Some(d.now + EXIT_GRACE));
    d.advance(EXIT_GRACE);
    assert_eq!(d.fails_with(&[reap(CHILD), Command::Close]), exited);
}

#[test]
fn an_end_of_stream_during_the_hand_off_is_no_creation() {
    // A held process keeps its socket until `exec`, and a handed-off one
    // never `exec`s in this launch: its end of stream means it has ended.
    // Its exit within the grace says how.
    let mut d = handing_off(init_plan());
    d.eof();
    d.ok();
    d.waiting();
    d.exit(CHILD, ExitStatus::Exited(0));
    let error = d.fails_with(&[reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::HandOff,
            who: Who::Process,
            status: ExitStatus::Exited(0)
        }
    );
    // Without an exit, a bare close at the end of the grace.
    let mut d = handing_off(init_plan());
    d.eof();
    d.ok();
    d.waiting();
    d.advance(EXIT_GRACE);
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(error, LaunchError::Closed { step: Step::HandOff });
}

#[test]
fn a_child_error_during_the_hand_off_fails_it() {
    let mut d = handing_off(init_plan());
    d.say(Message::Error(child_error()));
    d.ok();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::HandOff,
            error: child_error()
        }
    );
}

#[test]
fn the_deadline_while_handing_off_kills_the_process() {
    // The hand-off may have reached the process: it must not hold on
    // after a launch that failed.
    let mut d = handing_off(full_init_plan());
    d.advance(TIMEOUT);
    assert_eq!(d.launch.poll_command(), None, "the command in flight first");
    d.ok();
    let error = d.fails_with(&[
        kill(CHILD),
        reap(CHILD),
        remove(2),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::HandOff,
            after: TIMEOUT
        }
    );
    // A hand-off that completes past the deadline, before any timer.
    let mut d = handing_off(init_plan());
    d.now = START + TIMEOUT;
    d.ok();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::HandOff,
            after: TIMEOUT
        }
    );
    // Asked for past the deadline: the hold is over before it goes out.
    let mut d = Driver::new(holding(init_plan()));
    d.init_to_held();
    d.now = START + TIMEOUT;
    d.launch.handle_hand_off(d.now).unwrap();
    let error = d.fails_with(&[kill(CHILD), reap(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::AwaitStart,
            after: TIMEOUT
        }
    );
}

#[test]
fn a_cancel_while_handing_off_releases_everything() {
    let mut d = handing_off(full_init_plan());
    d.launch.handle_cancel(d.now);
    d.ok();
    let error = d.fails_with(&[
        kill(CHILD),
        reap(CHILD),
        remove(2),
        remove(1),
        Command::DestroyCgroup,
        Command::Close,
    ]);
    assert_eq!(error, LaunchError::Cancelled { step: Step::HandOff });
}

/// A launch resuming `CHILD`, handed off by another launch.
fn resuming() -> Driver {
    Driver {
        launch: Launch::resume(pid(CHILD), TIMEOUT, Limits::default(), START),
        plan: init_plan(),
        now: START,
    }
}

/// A resuming launch whose start went out and reached the process.
#[track_caller]
fn resumed() -> Driver {
    let mut d = resuming();
    d.expect(Command::Start { pid: pid(CHILD) });
    d.ok();
    assert!(d.launch.wants_read(), "the start opened the channel");
    assert_eq!(d.launch.step(), Step::AwaitExec);
    d.waiting();
    d
}

#[test]
fn a_resume_starts_the_process_and_runs_once_it_execs() {
    let mut d = resuming();
    assert_eq!(d.launch.steps(), [Step::Start, Step::AwaitExec]);
    assert_eq!(d.launch.pid(), Some(pid(CHILD)));
    assert!(!d.launch.is_held());
    // No channel until the start opens one.
    assert!(!d.launch.wants_read());
    refused(&mut d, Misuse::NotReading, |l, now| l.handle_eof(now));
    d.expect(Command::Start { pid: pid(CHILD) });
    d.ok();
    assert!(d.launch.wants_read());
    d.waiting();
    d.eof();
    d.ends_running();
}

#[test]
fn a_resume_is_never_held_nor_handed_off() {
    let mut d = resuming();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
    let mut d = resumed();
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_start(now));
    refused(&mut d, Misuse::NotHeld, |l, now| l.handle_hand_off(now));
}

#[test]
fn a_refused_resume_kills_nothing() {
    // A start that fails did not reach the process (a backend's start
    // connects, then sends one byte: either fails before anything is
    // delivered). So nothing listened: the process has ended, or another
    // launcher has started it and it runs its command. Killing it would
    // make a second `start` kill the running container, and it is not this
    // launcher's child to reap either: only the channel is closed.
    let mut d = resuming();
    d.expect(Command::Start { pid: pid(CHILD) });
    d.fail();
    let error = d.fails_with(&[Command::Close]);
    assert_eq!(
        error,
        LaunchError::Command {
            step: Step::Start,
            error: backend_error()
        }
    );
    // The same for a start that fails past the deadline.
    let mut d = resuming();
    d.expect(Command::Start { pid: pid(CHILD) });
    d.now = START + TIMEOUT;
    d.fail();
    let error = d.fails_with(&[Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::Start,
            after: TIMEOUT
        }
    );
}

#[test]
fn a_start_that_reached_the_process_too_late_kills_it() {
    let mut d = resuming();
    d.expect(Command::Start { pid: pid(CHILD) });
    d.now = START + TIMEOUT;
    d.ok();
    let error = d.fails_with(&[kill(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::Start,
            after: TIMEOUT
        }
    );
}

#[test]
fn a_child_error_after_the_resume_kills_but_never_reaps() {
    let exec_failed = ChildError {
        message: "execve /bin/app: no such file or directory".to_owned(),
        step: ChildStep::Exec,
        errno: Some(2),
    };
    let mut d = resumed();
    d.say(Message::Error(exec_failed.clone()));
    // Killed (it may not have exited yet), never reaped: its parent is
    // the launcher that created it.
    let error = d.fails_with(&[kill(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Child {
            step: Step::AwaitExec,
            error: exec_failed
        }
    );
}

#[test]
fn a_resume_that_times_out_at_await_exec_kills_but_never_reaps() {
    let mut d = resumed();
    d.advance(TIMEOUT);
    let error = d.fails_with(&[kill(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::TimedOut {
            step: Step::AwaitExec,
            after: TIMEOUT
        }
    );
}

#[test]
fn a_resumed_process_that_dies_before_exec_is_reported_not_reaped() {
    let mut d = resumed();
    d.exit(CHILD, ExitStatus::Signaled(9));
    d.waiting();
    d.advance(EXIT_GRACE);
    let error = d.fails_with(&[Command::Close]);
    assert_eq!(
        error,
        LaunchError::Exited {
            step: Step::AwaitExec,
            who: Who::Process,
            status: ExitStatus::Signaled(9)
        }
    );
}

#[test]
fn a_cancelled_resume_kills_only_a_started_process() {
    let mut d = resuming();
    d.launch.handle_cancel(d.now);
    let error = d.fails_with(&[Command::Close]);
    assert_eq!(error, LaunchError::Cancelled { step: Step::Start });
    let mut d = resumed();
    d.launch.handle_cancel(d.now);
    let error = d.fails_with(&[kill(CHILD), Command::Close]);
    assert_eq!(
        error,
        LaunchError::Cancelled {
            step: Step::AwaitExec
        }
    );
}

// ---- Misuse: the driver's bugs are refused and change nothing.

/// Feeds `input`, which must be refused as `expected`, leaving the launch
/// as it was.
#[track_caller]
fn refused(d: &mut Driver, expected: Misuse, input: impl FnOnce(&mut Launch, Time) -> Result<(), Misuse>) {
    let before = format!("{:?}", d.launch);
    assert_eq!(input(&mut d.launch, d.now), Err(expected));
    assert_eq!(
        format!("{:?}", d.launch),
        before,
        "a refused input changed the launch"
    );
}

#[test]
fn completions_that_match_nothing_in_flight_are_misuse() {
    let mut d = Driver::new(full_init_plan());
    refused(&mut d, Misuse::Completion { in_flight: None }, |l, now| {
        l.handle_done(now, Ok(()))
    });
    d.expect(Command::CreateCgroup);
    let in_flight = Some(Step::CreateCgroup);
    refused(&mut d, Misuse::Completion { in_flight }, |l, now| {
        l.handle_spawned(now, pid(CHILD))
    });
    d.ok();
    d.launch.poll_command();
    let in_flight = Some(Step::Spawn);
    refused(&mut d, Misuse::Completion { in_flight }, |l, now| {
        l.handle_done(now, Ok(()))
    });
    d.spawned(CHILD);
    refused(&mut d, Misuse::Completion { in_flight: None }, |l, now| {
        l.handle_spawned(now, pid(CHILD))
    });
}

#[test]
fn socket_input_before_the_spawn_or_after_the_end_of_stream_is_misuse() {
    let mut d = Driver::new(init_plan());
    refused(&mut d, Misuse::NotReading, |l, now| l.handle_read(now, b"{}"));
    refused(&mut d, Misuse::NotReading, |l, now| l.handle_eof(now));
    let error = CommandError::new("read", None);
    refused(&mut d, Misuse::NotReading, |l, now| {
        l.handle_read_error(now, error)
    });
    d.launch.poll_command();
    d.spawned(CHILD);
    d.eof();
    refused(&mut d, Misuse::NotReading, |l, now| l.handle_eof(now));
    refused(&mut d, Misuse::NotReading, |l, now| l.handle_read(now, b"{}"));
}

#[test]
fn the_exit_of_a_stranger_is_misuse() {
    let mut d = Driver::new(setns_plan(false));
    let stranger = pid(REPORTED);
    refused(&mut d, Misuse::UnknownProcess { pid: stranger }, |l, now| {
        l.handle_exit(now, stranger, ExitStatus::Exited(0))
    });
    d.launch.poll_command();
    d.spawned(HELPER);
    d.write(&pid_report(REPORTED));
    // Reported but not adopted yet: not the launch's process.
    refused(&mut d, Misuse::UnknownProcess { pid: stranger }, |l, now| {
        l.handle_exit(now, stranger, ExitStatus::Exited(0))
    });
}

#[test]
fn misuse_after_the_verdict_is_still_refused() {
    let mut d = Driver::new(init_plan());
    d.launch.poll_command();
    d.launch.handle_cancel(d.now);
    refused(&mut d, Misuse::NotReading, |l, now| l.handle_eof(now));
    d.spawned(CHILD);
    d.expect(kill(CHILD));
    let in_flight = Some(Step::Spawn);
    refused(&mut d, Misuse::Completion { in_flight }, |l, now| {
        l.handle_spawned(now, pid(CHILD))
    });
}

#[test]
fn a_held_init_is_put_in_its_cgroup_while_it_sets_itself_up() {
    let steps = |plan: Plan| Launch::new(plan, START).expect("plan").steps().to_vec();
    let position = |steps: &[Step], step: Step| steps.iter().position(|s| *s == step).expect("the step");
    // Without a hold the child runs its command right after `ready`: it
    // must be in its cgroup before it gets its config.
    let early = steps(full_init_plan());
    assert!(position(&early, Step::ApplyCgroup) < position(&early, Step::SendConfig));
    // Held, its command waits for the start: the attach (a v1 hierarchy's
    // first waits for an RCU grace period) overlaps its set-up.
    let late = steps(holding(full_init_plan()));
    assert_eq!(
        late[position(&late, Step::HalfClose)..position(&late, Step::AwaitStart)],
        [Step::HalfClose, Step::ApplyCgroup, Step::AwaitReady]
    );
    // But the processes of the set-up itself, `createContainer` hooks,
    // start in the container's cgroups.
    let mut hooked = holding(full_init_plan());
    hooked.config.hooks = vec![Hook {
        stage: HookStage::CreateContainer,
        path: "/bin/true".into(),
        args: Vec::new(),
        env: Vec::new(),
        timeout: None,
    }];
    let hooked = steps(hooked);
    assert!(position(&hooked, Step::ApplyCgroup) < position(&hooked, Step::SendConfig));
}
