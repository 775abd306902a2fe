//! Why a launch failed, and where.

use std::fmt;
use std::time::Duration;

use crate::framing::DecodeError;
use crate::message::{ChildError, MessageKind};
use crate::process::{ExitStatus, Pid};

/// A step of a launch, in the order the launch runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Creating the cgroup (init).
    CreateCgroup,
    /// Starting the child (init) or the setns helper.
    Spawn,
    /// Writing the user namespace's id maps (init).
    IdMaps,
    /// Releasing the held child (init).
    Release,
    /// Putting the child in its cgroup (init).
    ApplyCgroup,
    /// Creating a network interface (init).
    Network {
        /// Position in the config's `networks`.
        index: usize,
    },
    /// Waiting for the helper's pid report (setns).
    ReportPid,
    /// Checking and taking hold of the reported process (setns).
    Adopt,
    /// Waiting for the helper to exit 0 (setns).
    HelperExit,
    /// Reaping the helper (setns).
    ReapHelper,
    /// Putting the process in the container's cgroups (setns).
    EnterCgroup,
    /// Sending the config.
    SendConfig,
    /// Shutting down the parent's writing half.
    HalfClose,
    /// Waiting for `ready` (or an `error`).
    AwaitReady,
    /// Set up and held before `exec`, waiting for the caller's start
    /// (init whose config holds).
    AwaitStart,
    /// Letting the held process `exec`.
    Start,
    /// Handing the held process over to a later launcher (the OCI
    /// `create`): it then holds until [`Launch::resume`](super::Launch::resume).
    HandOff,
    /// After `ready`, waiting for the end of stream that `exec` causes.
    AwaitExec,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateCgroup => f.write_str("create cgroup"),
            Step::Spawn => f.write_str("spawn"),
            Step::IdMaps => f.write_str("id maps"),
            Step::Release => f.write_str("release"),
            Step::ApplyCgroup => f.write_str("apply cgroup"),
            Step::Network { index } => write!(f, "network interface {index}"),
            Step::ReportPid => f.write_str("pid report"),
            Step::Adopt => f.write_str("adopt"),
            Step::HelperExit => f.write_str("helper exit"),
            Step::ReapHelper => f.write_str("reap helper"),
            Step::EnterCgroup => f.write_str("enter cgroup"),
            Step::SendConfig => f.write_str("send config"),
            Step::HalfClose => f.write_str("half-close"),
            Step::AwaitReady => f.write_str("await ready"),
            Step::AwaitStart => f.write_str("await start"),
            Step::Start => f.write_str("start"),
            Step::HandOff => f.write_str("hand off"),
            Step::AwaitExec => f.write_str("await exec"),
        }
    }
}

/// A backend command failed. Backends turn their `io::Error`s into this
/// (the core holds no `io::Error`), naming the syscall or path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// What failed, with the syscall or path.
    pub message: String,
    /// The raw OS error, where there was one.
    pub errno: Option<i32>,
}

impl CommandError {
    /// A failure with a message and an errno.
    pub fn new(message: impl Into<String>, errno: Option<i32>) -> CommandError {
        CommandError {
            message: message.into(),
            errno,
        }
    }
}

/// Why a launch failed. Every variant names the [`Step`] it failed at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// A backend command failed.
    #[error("{step}: {error}")]
    Command {
        /// Where.
        step: Step,
        /// What the backend said.
        error: CommandError,
    },
    /// The child reported an error.
    #[error("{step}: child failed: {error}")]
    Child {
        /// Where the parent was.
        step: Step,
        /// What the child said, with its own step.
        error: ChildError,
    },
    /// The child (or the setns helper) ended without `ready`.
    #[error("{step}: {who} ended with {status}")]
    Exited {
        /// Where.
        step: Step,
        /// Whose exit.
        who: Who,
        /// How it ended.
        status: ExitStatus,
    },
    /// The child closed the socket without `ready` or `error`, and did not
    /// exit within the grace period after.
    #[error("{step}: child closed the socket without reporting")]
    Closed {
        /// Where.
        step: Step,
    },
    /// The child sent bytes that are not a valid message.
    #[error("{step}: protocol error: {error}")]
    Protocol {
        /// Where.
        step: Step,
        /// What was wrong.
        error: DecodeError,
    },
    /// The child sent a valid message at the wrong time.
    #[error("{step}: unexpected {kind} message")]
    Unexpected {
        /// Where.
        step: Step,
        /// Which message.
        kind: MessageKind,
    },
    /// The setns helper reported a pid that cannot be its process.
    #[error("{step}: forged pid report {pid}: {reason}")]
    ForgedPid {
        /// Where.
        step: Step,
        /// What was reported.
        pid: i32,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Reading the socket failed.
    #[error("{step}: reading the socket: {error}")]
    Read {
        /// Where.
        step: Step,
        /// What the backend said.
        error: CommandError,
    },
    /// The deadline passed.
    #[error("{step}: timed out after {after:?}")]
    TimedOut {
        /// Where.
        step: Step,
        /// The launch's timeout.
        after: Duration,
    },
    /// The caller cancelled the launch.
    #[error("{step}: cancelled")]
    Cancelled {
        /// Where.
        step: Step,
    },
}

impl LaunchError {
    /// The step the launch failed at.
    pub fn step(&self) -> Step {
        match *self {
            LaunchError::Command { step, .. }
            | LaunchError::Child { step, .. }
            | LaunchError::Exited { step, .. }
            | LaunchError::Closed { step }
            | LaunchError::Protocol { step, .. }
            | LaunchError::Unexpected { step, .. }
            | LaunchError::ForgedPid { step, .. }
            | LaunchError::Read { step, .. }
            | LaunchError::TimedOut { step, .. }
            | LaunchError::Cancelled { step } => step,
        }
    }
}

/// Which process an exit belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Who {
    /// The container process (init, or the process a setns launch starts).
    Process,
    /// The setns helper.
    Helper,
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Who::Process => "child",
            Who::Helper => "setns helper",
        })
    }
}

/// The driver fed an input the launch cannot have asked for: a bug in the
/// driver, not something the child did. The launch is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// A completion with no command in flight, or of the wrong kind.
    #[error("completion does not match the command in flight ({in_flight:?})")]
    Completion {
        /// What was in flight.
        in_flight: Option<Step>,
    },
    /// Socket input before the child exists or after end of stream.
    #[error("socket input while the launch is not reading")]
    NotReading,
    /// A start of a launch that is not held.
    #[error("start of a launch that is not held before exec")]
    NotHeld,
    /// A start before `ready` of a launch that does not hold, or that is
    /// not awaiting `ready` with its process alive.
    #[error("start before ready of a launch that is not awaiting its ready")]
    NotAwaitingReady,
    /// An exit of a process the launch did not start.
    #[error("exit of unknown process {pid}")]
    UnknownProcess {
        /// The pid.
        pid: Pid,
    },
}

/// A cleanup command that failed: something may be left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanupFailure {
    /// The command.
    pub command: super::Command,
    /// What the backend said.
    pub error: CommandError,
}
