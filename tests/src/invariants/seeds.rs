//! The seed corpora: real handshakes, recorded as each target's input.
//!
//! A recorder plays driver, backend and child around a real [`Launch`]
//! (through [`CheckedLaunch`], so every recording is checked as it is made)
//! and a real [`ChildHandshake`]: it completes each command, hands the
//! config to the child, lets the child answer, and writes down every input
//! as an [`Op`]. A story decides what goes wrong, if anything. From each
//! recording come a `launch` script, a `child` script, the byte streams in
//! each direction (`decoder`) and each line (`message`). The `pair` seeds
//! are the mock's scenarios: each plan clean, then under one fault of each
//! kind, where it bites.
//!
//! `cargo test -p cradle-tests --test fuzz_regressions -- --ignored` writes
//! them to `fuzz/corpus/`.

use std::time::Duration;

use cradle_core::child::pid_report;
use cradle_core::framing::encode_to_bytes;
use cradle_core::launch::Who;
use cradle_core::message::ChildStep;
use cradle_core::{
    ChildError, ChildEvent, ChildHandshake, Command, Direction, ExitStatus, Kind, Limits, Message, Pid,
    SetnsEntry, Step,
};
use cradle_mock::{At, CommandKind, Fault, Forgery, HelperPoint, ProcessPoint, Schedule};

use super::child::{ChildInput, ChildOp};
use super::framing::{DecoderInput, SMALL_LIMITS};
use super::input::Encode;
use super::launch::{CheckedLaunch, ExitOf, LaunchInput, Op, Shape, SPAWNED_PID, TIMEOUT};
use super::pair::{PairInput, PairPlan};

/// One seed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The fuzz target it is for.
    pub target: &'static str,
    /// Its file name.
    pub name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// What goes wrong in a recorded handshake. (A process that is held after
/// `ready` is started as soon as it is, and `exec`s once the start is
/// done; or, in the hand-off stories, handed off instead.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Story {
    /// Nothing: the process runs.
    Success,
    /// The backend fails the command with this (1-based) number.
    CommandFails(usize),
    /// The caller cancels while this command is in flight.
    Cancel(usize),
    /// The child fails its set-up and says so.
    ChildFails,
    /// The child dies after reading its config, without a word.
    ChildDies,
    /// The child never answers.
    ChildHangs,
    /// The setns helper reports its own pid.
    ForgedPid,
    /// The setns child (helper or cloned process) cannot join the
    /// container's namespaces: it says so at once, and exits.
    JoinFails,
    /// The setns process cloned into the container writes a pid report,
    /// which only a helper sends.
    ProcessReportsPid,
    /// The caller never starts the held process.
    NeverStarted,
    /// The caller starts the process while it sets up, before its `ready`
    /// (a recorded run): it `exec`s once ready.
    StartedWhenReady,
    /// The caller hands the held process off (the OCI `create`): the launch
    /// ends in `Created`.
    HandedOff,
    /// The caller hands the held process off, and the backend fails the
    /// hand-off.
    HandOffFails,
    /// The caller hands the held process off, and it is killed while the
    /// hand-off is in flight: its exit comes before the hand-off is done,
    /// the end of stream it causes after.
    DiesHandedOff,
}

impl Story {
    /// Whether the caller hands the held process off rather than start it.
    fn hands_off(self) -> bool {
        matches!(
            self,
            Story::HandedOff | Story::HandOffFails | Story::DiesHandedOff
        )
    }
}

/// The pid a recorded setns helper reports for its process.
pub const REPORTED_PID: i32 = 200;

/// One handshake, as each target sees it.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The parent's inputs.
    pub launch: LaunchInput,
    /// The child's inputs.
    pub child: ChildInput,
    /// Every byte the parent wrote.
    pub to_child: Vec<u8>,
    /// Every byte the child (and the setns helper) wrote.
    pub to_parent: Vec<u8>,
}

/// The shapes the corpus records, by name.
pub fn shapes() -> [(&'static str, Shape); 6] {
    let init = Shape {
        kind: Kind::Init,
        setns_entry: SetnsEntry::Helper,
        cgroup: false,
        user_namespace: false,
        veths: 0,
        loopback: false,
        hold: false,
    };
    let setns = Shape {
        kind: Kind::Setns,
        ..init
    };
    let setns_clone = Shape {
        setns_entry: SetnsEntry::Clone,
        ..setns
    };
    [
        ("init", init),
        (
            "init-full",
            Shape {
                cgroup: true,
                user_namespace: true,
                veths: 2,
                loopback: true,
                hold: true,
                ..init
            },
        ),
        ("setns", setns),
        (
            "setns-cgroup",
            Shape {
                cgroup: true,
                ..setns
            },
        ),
        ("setns-clone", setns_clone),
        (
            "setns-clone-cgroup",
            Shape {
                cgroup: true,
                ..setns_clone
            },
        ),
    ]
}

/// Records `story` over a launch of `shape`.
pub fn record(shape: Shape, story: Story) -> Recording {
    let mut recorder = Recorder {
        launch: CheckedLaunch::new(shape),
        child: ChildHandshake::new(Limits::default()),
        helper: spawns_helper(shape),
        story,
        ops: Vec::new(),
        child_ops: Vec::new(),
        to_child: Vec::new(),
        to_parent: Vec::new(),
        commands: 0,
        holds: shape.plan().config.hold,
        hold_pending: false,
        answer_pending: false,
    };
    recorder.run();
    Recording {
        launch: LaunchInput {
            shape,
            ops: recorder.ops,
        },
        child: ChildInput {
            limits: Limits::default(),
            ops: recorder.child_ops,
        },
        to_child: recorder.to_child,
        to_parent: recorder.to_parent,
    }
}

/// Every seed: each story over each shape it applies to.
pub fn seed_corpus() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (shape_name, shape) in shapes() {
        let mut stories = vec![
            ("success".to_owned(), Story::Success),
            ("child-fails".to_owned(), Story::ChildFails),
            ("child-dies".to_owned(), Story::ChildDies),
            ("child-hangs".to_owned(), Story::ChildHangs),
            ("cancel-2".to_owned(), Story::Cancel(2)),
        ];
        let commands = planned_commands(shape);
        stories.extend((1..=commands).map(|n| (format!("command-{n}-fails"), Story::CommandFails(n))));
        if shape.kind == Kind::Setns {
            stories.push(if spawns_helper(shape) {
                ("forged-pid".to_owned(), Story::ForgedPid)
            } else {
                ("process-reports-pid".to_owned(), Story::ProcessReportsPid)
            });
            stories.push(("join-fails".to_owned(), Story::JoinFails));
        }
        if shape.plan().config.hold {
            stories.extend([
                ("never-started".to_owned(), Story::NeverStarted),
                ("started-when-ready".to_owned(), Story::StartedWhenReady),
                ("handed-off".to_owned(), Story::HandedOff),
                ("hand-off-fails".to_owned(), Story::HandOffFails),
                ("dies-handed-off".to_owned(), Story::DiesHandedOff),
            ]);
        }
        for (story_name, story) in stories {
            let name = format!("{shape_name}-{story_name}");
            let recording = record(shape, story);
            add(&mut seeds, "launch", &name, recording.launch.to_bytes());
            if shape_name == "init" || shape_name == "setns" {
                add(&mut seeds, "child", &name, recording.child.to_bytes());
            }
            for (direction, end, stream) in [
                (Direction::ToChild, "to-child", &recording.to_child),
                (Direction::ToParent, "to-parent", &recording.to_parent),
            ] {
                if stream.is_empty() {
                    continue;
                }
                let input = DecoderInput {
                    direction,
                    limits: Limits::default(),
                    chunks: chunks(stream, 97),
                };
                add(&mut seeds, "decoder", &format!("{name}-{end}"), input.to_bytes());
                for line in stream.split_inclusive(|&b| b == b'\n') {
                    add(
                        &mut seeds,
                        "message",
                        &format!("{shape_name}-{end}"),
                        line.to_vec(),
                    );
                }
            }
        }
    }
    let bytewise = DecoderInput {
        direction: Direction::ToParent,
        limits: SMALL_LIMITS,
        chunks: chunks(&record(shapes()[2].1, Story::ChildFails).to_parent, 1),
    };
    add(
        &mut seeds,
        "decoder",
        "setns-to-parent-small-bytewise",
        bytewise.to_bytes(),
    );
    for (name, input) in pair_scenarios() {
        add(&mut seeds, "pair", &name, input.to_bytes());
    }
    seeds
}

/// The `pair` seeds: every plan clean, then one fault of each kind.
pub fn pair_scenarios() -> Vec<(String, PairInput)> {
    let scenario = |plan, faults: Vec<Fault>| PairInput {
        plan,
        schedule: Schedule::default(),
        cancel_at: None,
        faults,
    };
    let process = At::Process;
    let set_up = |step| At::Process(ProcessPoint::SetUp(step));
    let mut scenarios = vec![
        ("init-full".to_owned(), scenario(PairPlan::FullInit, vec![])),
        ("init-bare".to_owned(), scenario(PairPlan::BareInit, vec![])),
        ("setns-full".to_owned(), scenario(PairPlan::FullSetns, vec![])),
        ("setns-bare".to_owned(), scenario(PairPlan::BareSetns, vec![])),
        (
            "setns-cloned-full".to_owned(),
            scenario(PairPlan::FullSetnsCloned, vec![]),
        ),
        (
            "setns-cloned-bare".to_owned(),
            scenario(PairPlan::BareSetnsCloned, vec![]),
        ),
    ];
    let init_faults = [
        (
            "spawn-fails",
            Fault::Fail {
                command: CommandKind::Spawn,
                errno: 12,
            },
        ),
        (
            "veth-fails",
            Fault::Fail {
                command: CommandKind::CreateInterface { index: 2 },
                errno: 17,
            },
        ),
        (
            "kill-fails",
            Fault::Fail {
                command: CommandKind::Kill,
                errno: 1,
            },
        ),
        (
            "cgroup-create-fails-partway",
            Fault::FailPartway {
                command: CommandKind::CreateCgroup,
                after: 3,
                errno: 17,
            },
        ),
        (
            "slow-send",
            Fault::Slow {
                command: CommandKind::Send,
                by: Duration::from_secs(2),
            },
        ),
        (
            "dies",
            Fault::Die {
                at: set_up(ChildStep::Rootfs),
                status: ExitStatus::Signaled(9),
            },
        ),
        (
            "exec-fails",
            Fault::Die {
                at: process(ProcessPoint::Exec),
                status: ExitStatus::Exited(127),
            },
        ),
        (
            "refuses",
            Fault::Refuse {
                at: set_up(ChildStep::Mounts),
                errno: libc::EPERM,
            },
        ),
        (
            "refuses-seccomp",
            Fault::Refuse {
                at: set_up(ChildStep::Seccomp),
                errno: libc::EPERM,
            },
        ),
        (
            "stalls-in-set-up",
            Fault::Stall {
                at: set_up(ChildStep::Devices),
            },
        ),
        (
            "garbage",
            Fault::Garbage {
                at: set_up(ChildStep::Setsid),
            },
        ),
        (
            "oversized",
            Fault::Oversized {
                at: set_up(ChildStep::Hostname),
            },
        ),
        (
            "truncated",
            Fault::Truncated {
                at: set_up(ChildStep::Capabilities),
            },
        ),
        (
            "unexpected",
            Fault::Unexpected {
                at: set_up(ChildStep::Fds),
            },
        ),
        (
            "hangs-up",
            Fault::Hangup {
                at: process(ProcessPoint::ReadConfig),
            },
        ),
        (
            "stalls",
            Fault::Stall {
                at: process(ProcessPoint::AwaitRelease),
            },
        ),
        (
            "read-fails",
            Fault::SocketError {
                at: At::Command(CommandKind::ShutdownWrite),
                errno: 5,
            },
        ),
        (
            "start-fails",
            Fault::Fail {
                command: CommandKind::Start,
                errno: 3,
            },
        ),
        (
            "dies-held",
            Fault::Die {
                at: process(ProcessPoint::AwaitStart),
                status: ExitStatus::Signaled(9),
            },
        ),
        (
            "hangs-up-held",
            Fault::Hangup {
                at: process(ProcessPoint::AwaitStart),
            },
        ),
    ];
    for (name, fault) in init_faults {
        scenarios.push((format!("init-{name}"), scenario(PairPlan::FullInit, vec![fault])));
    }
    let setns_faults = [
        ("forged-zero", Fault::ForgedPid(Forgery::Zero)),
        ("forged-helper", Fault::ForgedPid(Forgery::Helper)),
        ("forged-sibling", Fault::ForgedPid(Forgery::Sibling)),
        ("forged-stranger", Fault::ForgedPid(Forgery::Stranger)),
        ("forged-vacant", Fault::ForgedPid(Forgery::Vacant)),
        (
            "helper-dies",
            Fault::Die {
                at: At::Helper(HelperPoint::Fork),
                status: ExitStatus::Exited(1),
            },
        ),
        (
            "helper-refuses",
            Fault::Refuse {
                at: At::Helper(HelperPoint::Join),
                errno: libc::EPERM,
            },
        ),
        (
            "helper-stalls",
            Fault::Stall {
                at: At::Helper(HelperPoint::Exit),
            },
        ),
        (
            "adopt-fails",
            Fault::Fail {
                command: CommandKind::Adopt,
                errno: 3,
            },
        ),
        (
            "enter-fails",
            Fault::Fail {
                command: CommandKind::EnterCgroup,
                errno: 13,
            },
        ),
        (
            "refuses",
            Fault::Refuse {
                at: set_up(ChildStep::Capabilities),
                errno: libc::EPERM,
            },
        ),
        (
            "dies-in-set-up",
            Fault::Die {
                at: set_up(ChildStep::OomScoreAdj),
                status: ExitStatus::Signaled(9),
            },
        ),
    ];
    for (name, fault) in setns_faults {
        scenarios.push((
            format!("setns-{name}"),
            scenario(PairPlan::FullSetns, vec![fault]),
        ));
    }
    // The cloned process in place of the helper: it joins the namespaces
    // itself, and a pid report from it is unexpected.
    let joining = process(ProcessPoint::Join);
    let cloned_faults = [
        (
            "spawn-fails",
            Fault::Fail {
                command: CommandKind::Spawn,
                errno: libc::EAGAIN,
            },
        ),
        (
            "join-refused",
            Fault::Refuse {
                at: joining,
                errno: libc::EPERM,
            },
        ),
        (
            "dies-joining",
            Fault::Die {
                at: joining,
                status: ExitStatus::Signaled(9),
            },
        ),
        ("reports-pid", Fault::Unexpected { at: joining }),
        ("hangs-up-joining", Fault::Hangup { at: joining }),
        (
            "enter-fails",
            Fault::Fail {
                command: CommandKind::EnterCgroup,
                errno: 13,
            },
        ),
        (
            "send-fails",
            Fault::Fail {
                command: CommandKind::Send,
                errno: libc::EPIPE,
            },
        ),
        (
            "refuses",
            Fault::Refuse {
                at: set_up(ChildStep::Capabilities),
                errno: libc::EPERM,
            },
        ),
        (
            "dies-in-set-up",
            Fault::Die {
                at: set_up(ChildStep::OomScoreAdj),
                status: ExitStatus::Signaled(9),
            },
        ),
        (
            "exec-fails",
            Fault::Die {
                at: process(ProcessPoint::Exec),
                status: ExitStatus::Exited(127),
            },
        ),
    ];
    for (name, fault) in cloned_faults {
        scenarios.push((
            format!("setns-cloned-{name}"),
            scenario(PairPlan::FullSetnsCloned, vec![fault]),
        ));
    }
    scenarios.push((
        "init-cancelled-bytewise".to_owned(),
        PairInput {
            schedule: Schedule {
                chunk: 1,
                exits_first: true,
                ..Schedule::default()
            },
            cancel_at: Some(Step::Network { index: 2 }),
            ..scenario(PairPlan::FullInit, vec![])
        },
    ));
    scenarios.push((
        "init-cancelled-held".to_owned(),
        PairInput {
            cancel_at: Some(Step::AwaitStart),
            ..scenario(PairPlan::FullInit, vec![])
        },
    ));
    scenarios.push((
        "setns-cancelled-before-helper-exit".to_owned(),
        PairInput {
            cancel_at: Some(Step::HelperExit),
            ..scenario(PairPlan::FullSetns, vec![])
        },
    ));
    scenarios.push((
        "setns-cloned-cancelled-entering-cgroup".to_owned(),
        PairInput {
            cancel_at: Some(Step::EnterCgroup),
            ..scenario(PairPlan::FullSetnsCloned, vec![])
        },
    ));
    // Killed processes that take time to die: a few milliseconds, and
    // longer than any of the launch's waits (stuck in `D` state).
    let slow_to_die = |who, millis| Fault::SlowToDie {
        who,
        by: Duration::from_millis(millis),
    };
    let stalls_in_set_up = Fault::Stall {
        at: set_up(ChildStep::Devices),
    };
    let helper_stalls = Fault::Stall {
        at: At::Helper(HelperPoint::Report),
    };
    let stalls_in_setns_set_up = Fault::Stall {
        at: set_up(ChildStep::Cwd),
    };
    for (name, millis) in [("slow-to-die", 5), ("stuck-dying", 60_000)] {
        scenarios.push((
            format!("init-stalls-{name}"),
            scenario(
                PairPlan::FullInit,
                vec![stalls_in_set_up.clone(), slow_to_die(Who::Process, millis)],
            ),
        ));
        scenarios.push((
            format!("setns-helper-stalls-{name}"),
            scenario(
                PairPlan::FullSetns,
                vec![
                    helper_stalls.clone(),
                    slow_to_die(Who::Helper, millis),
                    slow_to_die(Who::Process, millis),
                ],
            ),
        ));
        scenarios.push((
            format!("setns-cloned-stalls-{name}"),
            scenario(
                PairPlan::FullSetnsCloned,
                vec![stalls_in_setns_set_up.clone(), slow_to_die(Who::Process, millis)],
            ),
        ));
    }
    scenarios
}

/// Adds a seed unless its target has those bytes already, under a name not
/// taken yet.
fn add(seeds: &mut Vec<Seed>, target: &'static str, name: &str, bytes: Vec<u8>) {
    if seeds.iter().any(|s| s.target == target && s.bytes == bytes) {
        return;
    }
    let taken = |candidate: &str| seeds.iter().any(|s| s.target == target && s.name == candidate);
    let mut unique = name.to_owned();
    for n in 2.. {
        if !taken(&unique) {
            break;
        }
        unique = format!("{name}-{n}");
    }
    seeds.push(Seed {
        target,
        name: unique,
        bytes,
    });
}

/// How many commands a shape's plan issues before its ending.
fn planned_commands(shape: Shape) -> usize {
    let plan = shape.plan();
    let mut n = 3; // spawn, send config, half-close
    match shape.kind {
        Kind::Init => {
            n += 2 * usize::from(plan.cgroup) + 2 * usize::from(plan.id_maps.is_some());
            n += plan.config.networks.iter().filter(|i| i.has_host_side()).count();
            n += usize::from(plan.config.hold);
        }
        // Adopt and reap the helper, if any; enter the cgroup.
        Kind::Setns => n += 2 * usize::from(spawns_helper(shape)) + usize::from(plan.cgroup),
    }
    n
}

/// Whether a launch of `shape` spawns a setns helper, which reports the
/// process it forks; otherwise the spawned process is the container's.
fn spawns_helper(shape: Shape) -> bool {
    shape.kind == Kind::Setns && shape.setns_entry == SetnsEntry::Helper
}

/// `bytes` cut into chunks of `size`.
fn chunks(bytes: &[u8], size: usize) -> Vec<Vec<u8>> {
    bytes.chunks(size).map(<[u8]>::to_vec).collect()
}

struct Recorder {
    launch: CheckedLaunch,
    child: ChildHandshake,
    /// The spawn makes a setns helper (not the container process).
    helper: bool,
    story: Story,
    ops: Vec<Op>,
    child_ops: Vec<ChildOp>,
    to_child: Vec<u8>,
    to_parent: Vec<u8>,
    /// Commands issued so far.
    commands: usize,
    /// The plan holds its process after `ready` until the caller's start.
    holds: bool,
    /// The child replied `ready` to a plan that holds: the caller acts as
    /// the story says once the launch is held (a late cgroup attach may
    /// come first).
    hold_pending: bool,
    /// The child, configured, answers only once it has its early start.
    answer_pending: bool,
}

impl Recorder {
    fn op(&mut self, op: Op) {
        self.launch.apply(&op);
        self.ops.push(op);
    }

    fn run(&mut self) {
        for _ in 0..64 {
            if self.launch.terminal().is_some() {
                return;
            }
            match self.launch.in_flight().cloned() {
                Some(command) => {
                    self.commands += 1;
                    self.carry_out(command);
                    self.act_on_hold();
                    self.start_when_ready();
                }
                // Waiting on a child that does not answer.
                None => self.op(Op::Timeout {
                    after: TIMEOUT + Duration::from_millis(100),
                }),
            }
        }
        panic!(
            "the recorded {:?} story did not end after {} commands",
            self.story, self.commands
        );
    }

    fn carry_out(&mut self, command: Command) {
        if self.story == Story::Cancel(self.commands) {
            self.op(Op::Cancel);
        }
        let ok = self.story != Story::CommandFails(self.commands);
        match command {
            Command::Spawn(_) if ok => {
                self.op(Op::Spawned(pid(SPAWNED_PID)));
                if self.story == Story::JoinFails {
                    let error = Message::Error(ChildError {
                        message: "setns into /proc/4242/ns/mnt: operation not permitted".to_owned(),
                        step: ChildStep::Setns,
                        errno: Some(1),
                    });
                    self.child_writes(&encode_to_bytes(&error).expect("an error encodes"));
                    self.op(Op::Exit {
                        of: ExitOf::Spawned,
                        status: ExitStatus::Exited(1),
                    });
                } else if self.helper {
                    let report = if self.story == Story::ForgedPid {
                        SPAWNED_PID
                    } else {
                        REPORTED_PID
                    };
                    self.child_writes(&pid_report(report));
                    self.op(Op::Exit {
                        of: ExitOf::Spawned,
                        status: ExitStatus::Exited(0),
                    });
                } else if self.story == Story::ProcessReportsPid {
                    self.child_writes(&pid_report(REPORTED_PID));
                }
            }
            Command::Send { bytes } if ok => {
                self.op(Op::Done { ok });
                self.to_child.extend_from_slice(&bytes);
                for chunk in bytes.chunks(200) {
                    self.child.handle_read(chunk);
                    self.child_ops.push(ChildOp::Bytes(chunk.to_vec()));
                }
            }
            Command::ShutdownWrite if ok => {
                self.op(Op::Done { ok });
                self.child.handle_eof();
                self.child_ops.push(ChildOp::Eof);
                if self.story == Story::StartedWhenReady {
                    self.answer_pending = true;
                } else {
                    self.child_answers();
                }
            }
            Command::Start { .. } if ok && self.answer_pending => {
                self.op(Op::Done { ok });
                // Started before it was set up: it goes on to `ready`, then
                // `exec`s.
                self.answer_pending = false;
                self.child_answers();
            }
            Command::Start { .. } if ok => {
                self.op(Op::Done { ok });
                // Started, it `exec`s, which closes the socket.
                if self.launch.launch().wants_read() {
                    self.op(Op::Eof);
                }
            }
            Command::HandOff { .. } => {
                let dies = self.story == Story::DiesHandedOff;
                if dies {
                    self.op(Op::Exit {
                        of: ExitOf::Spawned,
                        status: ExitStatus::Signaled(9),
                    });
                }
                self.op(Op::Done {
                    ok: ok && self.story != Story::HandOffFails,
                });
                // Handed off, it holds on: no end of stream, unless it died.
                if dies {
                    self.op(Op::Eof);
                }
            }
            Command::Kill { pid } => {
                self.op(Op::Done { ok: true });
                self.op(Op::Exit {
                    of: ExitOf::Pid(pid),
                    status: ExitStatus::Signaled(9),
                });
            }
            _ => self.op(Op::Done { ok }),
        }
    }

    /// The child has its config (or the protocol failed): it reacts as the
    /// story says.
    fn child_answers(&mut self) {
        let configured = matches!(self.child.poll_event(), Some(ChildEvent::Config(_)));
        let process = if self.helper {
            ExitOf::Adopted
        } else {
            ExitOf::Spawned
        };
        match self.story {
            Story::ChildHangs => return,
            Story::ChildDies => {}
            Story::ChildFails => {
                let step = ChildStep::Mounts;
                self.child.fail(ChildError {
                    message: "mount /proc on /proc: permission denied".to_owned(),
                    step,
                    errno: Some(13),
                });
                self.child_ops.push(ChildOp::Fail(step));
            }
            _ if configured => {
                self.child.ready().expect("a configured child can be ready");
                self.child_ops.push(ChildOp::Ready);
            }
            _ => {}
        }
        if let Some(reply) = self.child.poll_transmit() {
            self.child_writes(&reply);
        }
        if matches!(self.story, Story::ChildFails | Story::ChildDies) {
            self.op(Op::Exit {
                of: process,
                status: ExitStatus::Exited(1),
            });
        }
        let replied_ready = configured && !matches!(self.story, Story::ChildFails | Story::ChildDies);
        if replied_ready && self.holds && self.story != Story::StartedWhenReady {
            self.hold_pending = true;
            self.act_on_hold();
            return;
        }
        // The socket closes: on `exec`, or with the child.
        self.op(Op::Eof);
    }

    /// Once the launch awaits `ready` with the child set up (the story's
    /// answer pending), the caller starts it.
    fn start_when_ready(&mut self) {
        let launch = self.launch.launch();
        if self.answer_pending && self.launch.in_flight().is_none() && launch.step() == Step::AwaitReady {
            self.op(Op::StartWhenReady);
        }
    }

    /// Once the launch is held, the caller starts it at once (or hands it
    /// off, or never starts it, and the deadline ends the hold); it
    /// `exec`s once started.
    fn act_on_hold(&mut self) {
        if !self.hold_pending || !self.launch.launch().is_held() {
            return;
        }
        self.hold_pending = false;
        if self.story.hands_off() {
            self.op(Op::HandOff);
        } else if self.story != Story::NeverStarted {
            self.op(Op::Start);
        }
    }

    fn child_writes(&mut self, bytes: &[u8]) {
        self.to_parent.extend_from_slice(bytes);
        for chunk in bytes.chunks(200) {
            self.op(Op::Bytes(chunk.to_vec()));
        }
    }
}

fn pid(raw: i32) -> Pid {
    Pid::new(raw).expect("a positive pid")
}

#[cfg(test)]
mod tests {
    use cradle_core::message::MessageKind;
    use cradle_core::{Event, LaunchError};

    use super::*;
    use crate::invariants::input::decode;

    /// The `launch` seed `name`, decoded and run (unfinished) through the
    /// checker: its terminal event.
    fn seed_ends_in(name: &str) -> Event {
        let seed = seed_corpus()
            .into_iter()
            .find(|s| s.target == "launch" && s.name == name)
            .unwrap_or_else(|| panic!("no launch seed {name}"));
        let input: LaunchInput = decode(&seed.bytes);
        let mut launch = CheckedLaunch::new(input.shape);
        for op in &input.ops {
            launch.apply(op);
        }
        launch.terminal().cloned().expect("the recorded story ends")
    }

    fn failure(event: Event) -> LaunchError {
        match event {
            Event::Failed(error) => error,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn the_cloned_setns_seeds_run_the_spawned_process_and_fail_where_told() {
        let pid = Pid::new(SPAWNED_PID).expect("a pid");
        for shape in ["setns-clone", "setns-clone-cgroup"] {
            let ends_in = |story: &str| seed_ends_in(&format!("{shape}-{story}"));
            assert_eq!(ends_in("success"), Event::Running { pid });
            assert!(matches!(
                failure(ends_in("command-1-fails")),
                LaunchError::Command {
                    step: Step::Spawn,
                    ..
                }
            ));
            // It says so while the first command after the spawn is in
            // flight.
            let after_spawn = if shape.ends_with("cgroup") {
                Step::EnterCgroup
            } else {
                Step::SendConfig
            };
            match failure(ends_in("join-fails")) {
                LaunchError::Child { step, error } => {
                    assert_eq!((step, error.step), (after_spawn, ChildStep::Setns));
                }
                other => panic!("expected the child's error, got {other:?}"),
            }
            assert!(matches!(
                failure(ends_in("process-reports-pid")),
                LaunchError::Unexpected {
                    kind: MessageKind::Pid,
                    ..
                }
            ));
            assert!(matches!(
                failure(ends_in("child-fails")),
                LaunchError::Child {
                    step: Step::AwaitReady,
                    ..
                }
            ));
            assert!(matches!(
                failure(ends_in("child-dies")),
                LaunchError::Exited {
                    who: Who::Process,
                    ..
                }
            ));
            assert!(matches!(
                failure(ends_in("child-hangs")),
                LaunchError::TimedOut { .. }
            ));
        }
        assert!(matches!(
            failure(seed_ends_in("setns-clone-cgroup-command-2-fails")),
            LaunchError::Command {
                step: Step::EnterCgroup,
                ..
            }
        ));
    }

    #[test]
    fn the_hand_off_seeds_reach_created_and_its_failures() {
        let pid = Pid::new(SPAWNED_PID).expect("a pid");
        assert_eq!(seed_ends_in("init-full-handed-off"), Event::Created { pid });
        assert!(matches!(
            failure(seed_ends_in("init-full-hand-off-fails")),
            LaunchError::Command {
                step: Step::HandOff,
                ..
            }
        ));
        assert!(matches!(
            failure(seed_ends_in("init-full-dies-handed-off")),
            LaunchError::Exited {
                step: Step::HandOff,
                status: ExitStatus::Signaled(9),
                ..
            }
        ));
    }
}
