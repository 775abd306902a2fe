//! One scenario suite over both backends: the mock must mean what Linux
//! means.
//!
//! A [`Scenario`] is written once, in terms both worlds can bring about: a
//! launch of a [`Shape`] and one [`Trouble`] (the child killed or stalling
//! at a step, a bad reply, a command the kernel refuses, a forged pid
//! report). A [`World`] runs it: [`mock::MockWorld`] over the simulated
//! kernel, without root; `linux::LinuxWorld` (feature `linux`) over the real
//! one, as root. Each scenario names one expected [`Verdict`]: the terminal
//! event, the step, and the error's kind and errno. [`check`] runs every
//! scenario in a world and lists each disagreement and each leftover, so a
//! suite that passes on both worlds certifies that they agree.
//!
//! Where the worlds must differ, the scenario says so in its `note`; its
//! verdict is still the same on both.

use cradle_core::launch::Who;
use std::path::PathBuf;

use cradle_core::config::Veth;
use cradle_core::{
    ChildStep, Config, ExitStatus, Interface, Kind, LaunchError, Namespace, NamespaceKind, Pid, Plan, Step,
    StepTime,
};

#[cfg(feature = "linux")]
pub mod linux;
pub mod mock;

/// `SIGKILL`'s number, on Linux and in the mock.
pub const SIGKILL: i32 = 9;

/// What is launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A container's init: new mount, pid, UTS, IPC and network
    /// namespaces, a rootfs, a host name, a cgroup and one veth pair.
    Init,
    /// An init in a new user namespace with id maps: the child waits for
    /// them to be written (steps `IdMaps`, `Release`).
    UserNs,
    /// A process in a running container: it joins every namespace of the
    /// container's init and enters its cgroup.
    Setns,
}

/// The one thing that goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// Nothing.
    None,
    /// The launcher kills the child (`SIGKILL`) just before the launch
    /// gets to `step`.
    KilledBefore(Step),
    /// The container process is killed at its set-up step.
    KilledAt(ChildStep),
    /// The container process stops making progress at its set-up step
    /// (`Exec`: after `ready`).
    StallsAt(ChildStep),
    /// The container process writes a line that is not a message at its
    /// set-up step.
    GarbageAt(ChildStep),
    /// The setns helper is killed at its step (`Setns`, `Fork`, `Report`).
    HelperKilledAt(ChildStep),
    /// The setns helper stops making progress at its step.
    HelperStallsAt(ChildStep),
    /// The setns helper reports the pid of a live process that is not its
    /// fork (the host's init).
    ForgedPid,
    /// The config's working directory does not exist.
    MissingCwd,
    /// The command does not exist.
    MissingCommand,
    /// The root filesystem does not exist.
    MissingRootfs,
    /// A cgroup of the name the launch creates exists already.
    CgroupInUse,
    /// A host interface of the name the launch's veth takes exists already.
    InterfaceInUse,
}

/// How a launch ended, as both worlds can tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The process runs its command.
    Running,
    /// The launch failed at `step`.
    Failed {
        /// Where.
        step: Step,
        /// Why.
        why: Why,
    },
}

/// Why a launch failed, without what only one world can say (messages,
/// durations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// A command failed with this errno.
    Command(Option<i32>),
    /// The child reported an error at its step, with this errno.
    Child(ChildStep, Option<i32>),
    /// The child or the helper ended without `ready`.
    Exited(Who, ExitStatus),
    /// The child closed the socket without a word.
    Closed,
    /// The child sent bytes that are not a message.
    Protocol,
    /// The child sent a message out of turn.
    Unexpected,
    /// The helper reported an impossible pid.
    ForgedPid,
    /// Reading the socket failed.
    Read,
    /// The deadline passed.
    TimedOut,
    /// The caller cancelled.
    Cancelled,
}

impl Verdict {
    /// The verdict of a launch's result.
    pub fn of(result: &Result<Pid, LaunchError>) -> Verdict {
        let error = match result {
            Ok(_) => return Verdict::Running,
            Err(error) => error,
        };
        let why = match error {
            LaunchError::Command { error, .. } => Why::Command(error.errno),
            LaunchError::Child { error, .. } => Why::Child(error.step, error.errno),
            LaunchError::Exited { who, status, .. } => Why::Exited(*who, *status),
            LaunchError::Closed { .. } => Why::Closed,
            LaunchError::Protocol { .. } => Why::Protocol,
            LaunchError::Unexpected { .. } => Why::Unexpected,
            LaunchError::ForgedPid { .. } => Why::ForgedPid,
            LaunchError::Read { .. } => Why::Read,
            LaunchError::TimedOut { .. } => Why::TimedOut,
            LaunchError::Cancelled { .. } => Why::Cancelled,
            other => panic!("a launch error the conformance suite does not know: {other:?}"),
        };
        Verdict::Failed {
            step: error.step(),
            why,
        }
    }

    fn failed(step: Step, why: Why) -> Verdict {
        Verdict::Failed { step, why }
    }
}

/// One launch, one trouble, one expected verdict.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What is launched.
    pub shape: Shape,
    /// What goes wrong.
    pub trouble: Trouble,
    /// How it must end, in every world.
    pub expect: Verdict,
    /// Where the worlds must differ (a timing), in one line.
    pub note: Option<&'static str>,
}

impl Scenario {
    fn new(shape: Shape, trouble: Trouble, expect: Verdict) -> Scenario {
        Scenario {
            shape,
            trouble,
            expect,
            note: None,
        }
    }

    fn noting(mut self, note: &'static str) -> Scenario {
        self.note = Some(note);
        self
    }

    /// The launch kind of its shape.
    pub fn kind(&self) -> Kind {
        match self.shape {
            Shape::Init | Shape::UserNs => Kind::Init,
            Shape::Setns => Kind::Setns,
        }
    }

    /// A name for reports.
    pub fn name(&self) -> String {
        format!("{:?} with {:?}", self.shape, self.trouble)
    }
}

/// What a world made of a scenario.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How the launch ended.
    pub verdict: Verdict,
    /// The set-up steps the child said it walked, with its `ready` (every
    /// scenario asks, [`Config::report_timings`]), each once, in the order
    /// it first reached them.
    ///
    /// [`Config::report_timings`]: cradle_core::Config::report_timings
    pub steps: Vec<ChildStep>,
    /// What it left behind (processes, zombies, descriptors, cgroups,
    /// interfaces), described; empty when nothing.
    pub leftovers: Vec<String>,
}

/// A backend with a world around it, able to bring about every
/// [`Trouble`].
pub trait World {
    /// Its name, for reports.
    fn name(&self) -> &'static str;
    /// Runs `scenario` to its end, cleans up a running process, and
    /// reports the verdict and what the launch left.
    fn run(&mut self, scenario: &Scenario) -> Outcome;
}

/// The namespaces an init of [`Shape::Init`] makes (and, on Linux, the
/// container a setns scenario joins).
pub const INIT_NAMESPACES: [NamespaceKind; 5] = [
    NamespaceKind::Mount,
    NamespaceKind::Pid,
    NamespaceKind::Uts,
    NamespaceKind::Ipc,
    NamespaceKind::Net,
];

/// The plan of an init `shape` ([`Shape::Init`] or [`Shape::UserNs`]),
/// the same in every world but for where its rootfs is and what its
/// veth's host end is named (`...h`; the peer is `...p`).
pub fn init_plan(shape: Shape, rootfs: PathBuf, host_veth: &str) -> Plan {
    let mut config = Config::new(["/bin/true"]);
    match shape {
        Shape::Init => {
            config.namespaces = INIT_NAMESPACES.map(Namespace::new).to_vec();
            config.rootfs = Some(rootfs);
            config.hostname = Some("conformance".to_owned());
            let stem = host_veth.strip_suffix('h').unwrap_or(host_veth);
            config.networks = vec![Interface::Veth(Veth {
                host_name: host_veth.to_owned(),
                peer_name: format!("{stem}p"),
                name: "eth0".to_owned(),
                ..Veth::default()
            })];
            let mut plan = Plan::init(config);
            plan.cgroup = true;
            plan
        }
        Shape::UserNs => {
            config.namespaces = [NamespaceKind::User, NamespaceKind::Mount, NamespaceKind::Pid]
                .map(Namespace::new)
                .to_vec();
            let mut plan = Plan::init(config);
            plan.id_maps = Some(crate::identity_maps());
            plan
        }
        Shape::Setns => panic!("a setns plan joins a container of its world's"),
    }
}

/// The set-up steps a container process of `kind` walks before `ready`,
/// in order, as both backends walk them; but finding the program
/// ([`ChildStep::Exec`] before `ready`), where the test init has no hook:
/// its `exec` hook is after `ready`.
pub fn set_up_steps(kind: Kind) -> Vec<ChildStep> {
    cradle_mock::set_up_steps(kind)
        .iter()
        .copied()
        .filter(|&step| step != ChildStep::Exec)
        .collect()
}

/// The parent's steps of an init launch of `shape` at which the child
/// exists and can be killed.
fn steps_with_a_child(shape: Shape) -> Vec<Step> {
    match shape {
        Shape::Init => vec![
            Step::ApplyCgroup,
            Step::Network { index: 0 },
            Step::SendConfig,
            Step::HalfClose,
            Step::AwaitReady,
        ],
        Shape::UserNs => vec![Step::IdMaps, Step::Release, Step::SendConfig],
        Shape::Setns => vec![Step::EnterCgroup, Step::SendConfig],
    }
}

/// The steps of `timings`, each once, in the order first reached.
pub fn steps_walked(timings: &[StepTime]) -> Vec<ChildStep> {
    let mut steps: Vec<ChildStep> = Vec::new();
    for timing in timings {
        if !steps.contains(&timing.step) {
            steps.push(timing.step);
        }
    }
    steps
}

/// Every scenario, each with its verdict.
pub fn scenarios() -> Vec<Scenario> {
    let killed = Why::Exited(Who::Process, ExitStatus::Signaled(SIGKILL));
    let mut all = vec![
        Scenario::new(Shape::Init, Trouble::None, Verdict::Running),
        Scenario::new(Shape::UserNs, Trouble::None, Verdict::Running),
        Scenario::new(Shape::Setns, Trouble::None, Verdict::Running),
    ];
    // A child dead (a zombie) when the launch gets to a command: writing
    // its id maps, releasing it, putting it in a cgroup and sending it the
    // config succeed (the kernel takes them, or the launch skips them), and
    // the wait for `ready` hears of the exit; but its network namespace is
    // gone, so creating its interface fails.
    for shape in [Shape::Init, Shape::UserNs, Shape::Setns] {
        for step in steps_with_a_child(shape) {
            let expect = match step {
                Step::ApplyCgroup | Step::Network { .. } => {
                    Verdict::failed(Step::Network { index: 0 }, Why::Command(Some(libc::ENOENT)))
                }
                _ => Verdict::failed(Step::AwaitReady, killed.clone()),
            };
            all.push(Scenario::new(shape, Trouble::KilledBefore(step), expect).noting(
                "Linux takes a moment to end a killed process, and the launcher waits for it; \
                     the mock ends it at once",
            ));
        }
    }
    for shape in [Shape::Init, Shape::Setns] {
        let kind = if shape == Shape::Init {
            Kind::Init
        } else {
            Kind::Setns
        };
        for step in set_up_steps(kind) {
            all.push(Scenario::new(
                shape,
                Trouble::KilledAt(step),
                Verdict::failed(Step::AwaitReady, killed.clone()),
            ));
            all.push(
                Scenario::new(
                    shape,
                    Trouble::StallsAt(step),
                    Verdict::failed(Step::AwaitReady, Why::TimedOut),
                )
                .noting("the deadline passes in virtual time in the mock, in real time on Linux"),
            );
        }
        all.push(Scenario::new(
            shape,
            Trouble::StallsAt(ChildStep::Exec),
            Verdict::failed(Step::AwaitExec, Why::TimedOut),
        ));
        all.push(Scenario::new(
            shape,
            Trouble::GarbageAt(ChildStep::Cwd),
            Verdict::failed(Step::AwaitReady, Why::Protocol),
        ));
        all.push(Scenario::new(
            shape,
            Trouble::MissingCwd,
            Verdict::failed(Step::AwaitReady, Why::Child(ChildStep::Cwd, Some(libc::ENOENT))),
        ));
        // The program is looked for before `ready`.
        all.push(Scenario::new(
            shape,
            Trouble::MissingCommand,
            Verdict::failed(Step::AwaitReady, Why::Child(ChildStep::Exec, Some(libc::ENOENT))),
        ));
    }
    all.push(Scenario::new(
        Shape::Init,
        Trouble::MissingRootfs,
        Verdict::failed(
            Step::AwaitReady,
            Why::Child(ChildStep::Rootfs, Some(libc::ENOENT)),
        ),
    ));
    // A cgroup parent that does not exist is no failure on Linux (the
    // backend makes the directories on the way): a name in use is.
    all.push(Scenario::new(
        Shape::Init,
        Trouble::CgroupInUse,
        Verdict::failed(Step::CreateCgroup, Why::Command(Some(libc::EEXIST))),
    ));
    all.push(Scenario::new(
        Shape::Init,
        Trouble::InterfaceInUse,
        Verdict::failed(Step::Network { index: 0 }, Why::Command(Some(libc::EEXIST))),
    ));
    // The helper's steps: before its fork, and after it (the forked
    // process, never reported, must be found and reaped all the same).
    let helper_killed = Why::Exited(Who::Helper, ExitStatus::Signaled(SIGKILL));
    for step in [ChildStep::Setns, ChildStep::Fork, ChildStep::Report] {
        all.push(Scenario::new(
            Shape::Setns,
            Trouble::HelperKilledAt(step),
            Verdict::failed(Step::ReportPid, helper_killed.clone()),
        ));
        all.push(Scenario::new(
            Shape::Setns,
            Trouble::HelperStallsAt(step),
            Verdict::failed(Step::ReportPid, Why::TimedOut),
        ));
    }
    all.push(Scenario::new(
        Shape::Setns,
        Trouble::ForgedPid,
        // The backend's refusal, not a failed call: no errno.
        Verdict::failed(Step::Adopt, Why::Command(None)),
    ));
    all
}

/// Runs every scenario of `scenarios` in `world`; returns one line for
/// each that ended otherwise than its verdict, or left something.
pub fn check(world: &mut dyn World, scenarios: &[Scenario]) -> Vec<String> {
    let mut wrong = Vec::new();
    for scenario in scenarios {
        let outcome = world.run(scenario);
        if outcome.verdict != scenario.expect {
            wrong.push(format!(
                "{}: {}: expected {:?}, got {:?}",
                world.name(),
                scenario.name(),
                scenario.expect,
                outcome.verdict
            ));
        }
        let walks = cradle_mock::set_up_steps(scenario.kind());
        if outcome.verdict == Verdict::Running && outcome.steps != walks {
            wrong.push(format!(
                "{}: {}: the child walked {:?}, not {walks:?}",
                world.name(),
                scenario.name(),
                outcome.steps
            ));
        }
        if !outcome.leftovers.is_empty() {
            wrong.push(format!(
                "{}: {}: left {}",
                world.name(),
                scenario.name(),
                outcome.leftovers.join(", ")
            ));
        }
    }
    wrong
}
