//! The fault script: what goes wrong in a launch, and where.
//!
//! A script is a plain list of [`Fault`]s, easy to build from data (a fuzzer
//! or a test table). Each fault strikes once, at the first point that matches
//! it, and is then spent; what never struck is left
//! [pending](FaultScript::pending), so a test can tell a fault that did
//! nothing from one that was survived. A program suffers at most one fault
//! at each point it reaches (the first listed).

use std::time::Duration;

use cradle_core::launch::Who;
use cradle_core::{ChildStep, ExitStatus, Kind, Step};

/// One thing that goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The command fails with `errno`, having done nothing.
    Fail {
        /// Which command.
        command: CommandKind,
        /// The error it returns.
        errno: i32,
    },
    /// The multi-part command does `after` of its parts, then fails with
    /// `errno` at the next; what becomes of the parts done, and of those
    /// after, is what the Linux backend makes of such a failure:
    ///
    /// - [`CommandKind::CreateCgroup`] (one `mkdir` per hierarchy, in
    ///   order) removes the directories it made and fails: nothing is left;
    /// - [`CommandKind::DestroyCgroup`] (one `rmdir` per hierarchy) goes on
    ///   to the other hierarchies and fails: the directory it could not
    ///   remove is left, in that hierarchy alone.
    ///
    /// Every other command is done in one part on Linux (a veth is one
    /// netlink request that makes both ends, its peer straight in the
    /// child's namespace): there, as with `after` at or past a command's
    /// last part, it never strikes and stays pending.
    FailPartway {
        /// Which command.
        command: CommandKind,
        /// How many of its parts succeed first.
        after: usize,
        /// The error its next part fails with.
        errno: i32,
    },
    /// The command succeeds, but takes `by` of virtual time.
    Slow {
        /// Which command.
        command: CommandKind,
        /// How long it takes.
        by: Duration,
    },
    /// The program at `at` dies: killed by a signal or exiting.
    Die {
        /// Where.
        at: At,
        /// How it ends.
        status: ExitStatus,
    },
    /// The program at `at` stops making progress, for good: only the
    /// deadline (or a kill) ends it.
    Stall {
        /// Where.
        at: At,
    },
    /// The program at `at` writes a line that is not JSON.
    Garbage {
        /// Where.
        at: At,
    },
    /// The program at `at` writes a line longer than any message may be.
    Oversized {
        /// Where.
        at: At,
    },
    /// The program at `at` writes the first half of the message it is due
    /// to send, closes its socket end and exits 0.
    Truncated {
        /// Where.
        at: At,
    },
    /// The program at `at` writes a valid message that is not its to send:
    /// `ready` from the setns helper, `pid` from the container process.
    Unexpected {
        /// Where.
        at: At,
    },
    /// The program at `at` fails its set-up with `errno`: it replies
    /// `error` (after the parent's end of stream, as the child's handshake
    /// requires) and exits 1.
    Refuse {
        /// Where.
        at: At,
        /// The errno its `error` names.
        errno: i32,
    },
    /// The program at `at` closes its socket end without a word. A helper
    /// then exits 0; a container process keeps running.
    Hangup {
        /// Where.
        at: At,
    },
    /// When `at` is reached, the parent's end of the socket gets a pending
    /// error: its next read fails with `errno`.
    SocketError {
        /// Where.
        at: At,
        /// What the read fails with.
        errno: i32,
    },
    /// The setns helper reports this pid instead of forking a process.
    ForgedPid(Forgery),
    /// When `who` is next sent `SIGKILL`, it takes `by` of virtual time to
    /// exit, instead of [`DYING_TIME`](crate::DYING_TIME): a process busy
    /// in the kernel, or, past the reap's bound
    /// ([`REAP_BOUND`](crate::REAP_BOUND)), one stuck in `D` state (an
    /// uninterruptible sleep on a hung mount, say). Until then it is dying:
    /// still in its cgroup, holding its socket end, not reapable.
    SlowToDie {
        /// The process it strikes: the container process (a stray the
        /// helper forked is one too) or the setns helper.
        who: Who,
        /// How long its death takes.
        by: Duration,
    },
}

impl Fault {
    /// The point a program fault strikes at; `None` for command faults and
    /// forged reports, which are keyed otherwise.
    pub fn at(&self) -> Option<At> {
        match *self {
            Fault::Die { at, .. }
            | Fault::Stall { at }
            | Fault::Garbage { at }
            | Fault::Oversized { at }
            | Fault::Truncated { at }
            | Fault::Unexpected { at }
            | Fault::Refuse { at, .. }
            | Fault::Hangup { at }
            | Fault::SocketError { at, .. } => Some(at),
            Fault::Fail { .. }
            | Fault::FailPartway { .. }
            | Fault::Slow { .. }
            | Fault::ForgedPid(_)
            | Fault::SlowToDie { .. } => None,
        }
    }

    /// Whether the program suffering it writes to (or closes) its socket
    /// end, and so needs to hold one.
    pub(crate) fn uses_socket(&self) -> bool {
        matches!(
            self,
            Fault::Garbage { .. }
                | Fault::Oversized { .. }
                | Fault::Truncated { .. }
                | Fault::Unexpected { .. }
                | Fault::Refuse { .. }
                | Fault::Hangup { .. }
        )
    }
}

/// Where a program fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum At {
    /// The parent is about to carry out this command. The fault strikes the
    /// newest live process of the launch: the container process once it
    /// exists, the setns helper before.
    Command(CommandKind),
    /// The container process (init, or the process a setns helper forks)
    /// reaches this point.
    Process(ProcessPoint),
    /// The setns helper reaches this point.
    Helper(HelperPoint),
}

impl From<ProcessPoint> for At {
    fn from(point: ProcessPoint) -> At {
        At::Process(point)
    }
}

impl From<HelperPoint> for At {
    fn from(point: HelperPoint) -> At {
        At::Helper(point)
    }
}

/// The container process's life, by what it is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessPoint {
    /// Wait for [`Command::Release`](cradle_core::Command::Release) (an
    /// init process spawned with `hold`).
    AwaitRelease,
    /// Join the container's namespaces (a setns process the parent cloned
    /// into its pid namespace, which has no helper to do it), before it
    /// reads its config.
    Join,
    /// Read the config, up to the parent's end of stream.
    ReadConfig,
    /// Run this set-up step: one of [`set_up_steps`] of the process's
    /// kind, which it walks in order, each in turn; after the last, it
    /// replies `ready`. As on Linux, every step of the kind is run (and can
    /// be struck), whether or not the config gives it anything to do.
    SetUp(ChildStep),
    /// Set up, `ready` sent, held before `exec` until the parent's
    /// [`Command::Start`](cradle_core::Command::Start) (a config that
    /// holds). It exits 0 if the parent's end closes first.
    AwaitStart,
    /// `exec`, which closes its socket end (close-on-exec).
    Exec,
    /// Run the user's program, after `exec`.
    Run,
}

/// The set-up steps an init runs between its config and `ready`, in the
/// order of [`ChildStep::ALL`]. The last, [`ChildStep::Exec`], finds the
/// program, as Linux's child does before `ready` (a missing command fails
/// there); `execve` itself comes after `ready` ([`ProcessPoint::Exec`]).
pub const INIT_SET_UP: [ChildStep; 22] = [
    ChildStep::Cgroup,
    ChildStep::Setsid,
    ChildStep::Namespaces,
    ChildStep::Hostname,
    ChildStep::Rlimits,
    ChildStep::OomScoreAdj,
    ChildStep::Network,
    ChildStep::Mounts,
    ChildStep::Rootfs,
    ChildStep::Devices,
    ChildStep::CreateContainerHooks,
    ChildStep::Sysctls,
    ChildStep::Paths,
    ChildStep::ReadonlyRootfs,
    ChildStep::Console,
    ChildStep::User,
    ChildStep::Capabilities,
    ChildStep::Cwd,
    ChildStep::NoNewPrivileges,
    ChildStep::Fds,
    ChildStep::Seccomp,
    ChildStep::Exec,
];

/// The set-up steps a setns process (the one the helper forks) runs
/// between its config and `ready`: the init's, less those that make the
/// container (namespaces, host name, network, mounts, root, devices,
/// sysctls, paths), which it joins instead.
pub const SETNS_SET_UP: [ChildStep; 11] = [
    ChildStep::Setsid,
    ChildStep::Rlimits,
    ChildStep::OomScoreAdj,
    ChildStep::Console,
    ChildStep::User,
    ChildStep::Capabilities,
    ChildStep::Cwd,
    ChildStep::NoNewPrivileges,
    ChildStep::Fds,
    ChildStep::Seccomp,
    ChildStep::Exec,
];

/// The set-up steps the container process of a `kind` launch runs, in
/// order.
pub fn set_up_steps(kind: Kind) -> &'static [ChildStep] {
    match kind {
        Kind::Init => &INIT_SET_UP,
        Kind::Setns => &SETNS_SET_UP,
    }
}

/// The setns helper's life, by what it is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelperPoint {
    /// Join the container's v1 cgroups itself, before its `exec` (on Linux
    /// a write of `0` to each `tasks` file; a refusal is a
    /// [`ChildStep::Cgroup`] failure). Every helper passes here, whether or
    /// not its plan enters cgroups.
    JoinCgroups,
    /// Join the container's namespaces.
    Join,
    /// Fork the process, as a child of the parent (`CLONE_PARENT`).
    Fork,
    /// Report the process's pid.
    Report,
    /// Exit 0.
    Exit,
}

/// The backend commands, without their arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// [`Command::CreateCgroup`](cradle_core::Command::CreateCgroup)
    CreateCgroup,
    /// [`Command::Spawn`](cradle_core::Command::Spawn)
    Spawn,
    /// [`Command::WriteIdMaps`](cradle_core::Command::WriteIdMaps)
    WriteIdMaps,
    /// [`Command::Release`](cradle_core::Command::Release)
    Release,
    /// [`Command::Start`](cradle_core::Command::Start)
    Start,
    /// [`Command::HandOff`](cradle_core::Command::HandOff)
    HandOff,
    /// [`Command::ApplyCgroup`](cradle_core::Command::ApplyCgroup)
    ApplyCgroup,
    /// [`Command::CreateInterface`](cradle_core::Command::CreateInterface)
    CreateInterface {
        /// Position in the config's `networks`.
        index: usize,
    },
    /// [`Command::Adopt`](cradle_core::Command::Adopt)
    Adopt,
    /// [`Command::Reap`](cradle_core::Command::Reap)
    Reap,
    /// [`Command::ReapStrays`](cradle_core::Command::ReapStrays)
    ReapStrays,
    /// [`Command::EnterCgroup`](cradle_core::Command::EnterCgroup)
    EnterCgroup,
    /// [`Command::Send`](cradle_core::Command::Send)
    Send,
    /// [`Command::ShutdownWrite`](cradle_core::Command::ShutdownWrite)
    ShutdownWrite,
    /// [`Command::Kill`](cradle_core::Command::Kill)
    Kill,
    /// [`Command::RemoveInterface`](cradle_core::Command::RemoveInterface)
    RemoveInterface {
        /// Position in the config's `networks`.
        index: usize,
    },
    /// [`Command::DestroyCgroup`](cradle_core::Command::DestroyCgroup)
    DestroyCgroup,
    /// [`Command::Close`](cradle_core::Command::Close)
    Close,
}

impl CommandKind {
    /// The command a launch issues at `step`; `None` for the steps that
    /// wait on the child.
    pub fn of_step(step: Step) -> Option<CommandKind> {
        Some(match step {
            Step::CreateCgroup => CommandKind::CreateCgroup,
            Step::Spawn => CommandKind::Spawn,
            Step::IdMaps => CommandKind::WriteIdMaps,
            Step::Release => CommandKind::Release,
            Step::Start => CommandKind::Start,
            Step::HandOff => CommandKind::HandOff,
            Step::ApplyCgroup => CommandKind::ApplyCgroup,
            Step::Network { index } => CommandKind::CreateInterface { index },
            Step::Adopt => CommandKind::Adopt,
            Step::ReapHelper => CommandKind::Reap,
            Step::EnterCgroup => CommandKind::EnterCgroup,
            Step::SendConfig => CommandKind::Send,
            Step::HalfClose => CommandKind::ShutdownWrite,
            _ => return None,
        })
    }
}

/// What a forging setns helper reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forgery {
    /// `0`: every process in the process group, to `kill`.
    Zero,
    /// `-1`: every process there is, to `kill`.
    Negative,
    /// The helper's own pid.
    Helper,
    /// A live process that is not the parent's child: the host's init.
    Stranger,
    /// A live child of the parent that the helper did not create: the
    /// running container's init.
    Sibling,
    /// A pid that no process has.
    Vacant,
    /// This number.
    Raw(i32),
}

/// The faults not yet spent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultScript {
    pending: Vec<Fault>,
}

impl FaultScript {
    /// A script of `faults`, which strike in list order where several match.
    pub fn new(faults: impl IntoIterator<Item = Fault>) -> FaultScript {
        FaultScript {
            pending: faults.into_iter().collect(),
        }
    }

    /// The faults that have not struck.
    pub fn pending(&self) -> &[Fault] {
        &self.pending
    }

    /// Spends and returns the first pending fault that `strikes`.
    pub(crate) fn take(&mut self, strikes: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let index = self.pending.iter().position(strikes)?;
        Some(self.pending.remove(index))
    }

    pub(crate) fn take_at(&mut self, index: usize) -> Option<Fault> {
        (index < self.pending.len()).then(|| self.pending.remove(index))
    }

    /// The errno `command` fails with, if it is scripted to.
    pub(crate) fn failure(&mut self, command: CommandKind) -> Option<i32> {
        match self.take(|f| matches!(f, Fault::Fail { command: c, .. } if *c == command))? {
            Fault::Fail { errno, .. } => Some(errno),
            _ => None,
        }
    }

    /// Where `command`, one of `parts` parts, is scripted to fail partway:
    /// the part that fails (how many succeed first) and its errno.
    pub(crate) fn failing_part(&mut self, command: CommandKind, parts: usize) -> Option<(usize, i32)> {
        let strikes = |f: &Fault| matches!(f, Fault::FailPartway { command: c, after, .. } if *c == command && *after < parts);
        match self.take(strikes)? {
            Fault::FailPartway { after, errno, .. } => Some((after, errno)),
            _ => None,
        }
    }

    /// How long `command` is scripted to take.
    pub(crate) fn delay(&mut self, command: CommandKind) -> Option<Duration> {
        match self.take(|f| matches!(f, Fault::Slow { command: c, .. } if *c == command))? {
            Fault::Slow { by, .. } => Some(by),
            _ => None,
        }
    }

    /// How long `who`'s death is scripted to take, when it is killed.
    pub(crate) fn dying_time(&mut self, who: Who) -> Option<Duration> {
        match self.take(|f| matches!(f, Fault::SlowToDie { who: w, .. } if *w == who))? {
            Fault::SlowToDie { by, .. } => Some(by),
            _ => None,
        }
    }

    /// The forged report the helper is scripted to make.
    pub(crate) fn forgery(&mut self) -> Option<Forgery> {
        match self.take(|f| matches!(f, Fault::ForgedPid(_)))? {
            Fault::ForgedPid(forgery) => Some(forgery),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `steps` appear in `ChildStep::ALL` in the same order.
    fn in_order(steps: &[ChildStep]) -> bool {
        let position = |step| ChildStep::ALL.iter().position(|s| *s == step);
        steps.windows(2).all(|w| position(w[0]) < position(w[1]))
    }

    #[test]
    fn set_up_steps_follow_the_child_step_order() {
        assert!(in_order(&INIT_SET_UP));
        assert!(in_order(&SETNS_SET_UP));
        assert!(SETNS_SET_UP.iter().all(|step| INIT_SET_UP.contains(step)));
    }

    #[test]
    fn an_init_runs_every_step_between_its_config_and_exec() {
        let handshake = [
            ChildStep::Config,
            ChildStep::Setns,
            ChildStep::Fork,
            ChildStep::Report,
            ChildStep::Exec,
            ChildStep::Other,
        ];
        let mut rest: Vec<ChildStep> = ChildStep::ALL
            .into_iter()
            .filter(|step| !handshake.contains(step))
            .collect();
        // Finding the program, last before `ready`.
        rest.push(ChildStep::Exec);
        assert_eq!(rest, INIT_SET_UP);
    }
}
