//! The crate's one error type, and what callers branch on in it
//! ([`ErrorKind`]).

mod kind;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;

use cradle_core::launch::Who;
use cradle_core::{CommandError, ConfigError, ExitStatus, LaunchError, Pid, Step};

use crate::cgroup::{CgroupError, HumanSize};
use crate::net::NetError;

pub use self::kind::ErrorKind;

/// Something the Linux backend could not do. Each variant names the
/// syscall or path that failed.
///
/// [`kind`](Error::kind) says what kind of failure it was and
/// [`errno`](Error::errno) the OS error behind it, looking through the
/// layers (a launch's child, a cgroup, a netlink request) so that callers
/// need not match on them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A syscall failed.
    #[error("{call}: {}", ErrnoText(source))]
    Syscall {
        /// The syscall, and what it was for where that is not obvious.
        call: &'static str,
        /// What the kernel said (`raw_os_error` is its errno).
        source: io::Error,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// A `/proc` file did not have the expected format.
    #[error("{path}: {reason}")]
    Proc {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A bounded operation did not finish in time.
    #[error("{call}: not done after {after:?}")]
    TimedOut {
        /// What was waited for.
        call: &'static str,
        /// The bound.
        after: Duration,
    },
    /// The process has been reaped: its pid may belong to another process
    /// now.
    #[error("process {pid} has already been reaped")]
    Reaped {
        /// Its pid, when it was ours.
        pid: Pid,
    },
    /// A pid that is not a process of this launch.
    #[error("{pid} is not a process of this launch")]
    UnknownProcess {
        /// The pid.
        pid: Pid,
    },
    /// The container a setns process was to join is not running.
    #[error("the container's init (pid {pid}) {reason}")]
    ContainerGone {
        /// The init's pid, as the caller named it.
        pid: Pid,
        /// What became of it.
        reason: &'static str,
    },
    /// A setns helper reported a pid that is not the process it forked.
    #[error("the setns helper reported pid {pid}, which is {reason}")]
    ForgedPid {
        /// The reported pid.
        pid: Pid,
        /// Why it is not the helper's process.
        reason: &'static str,
    },
    /// Options that do not fit the plan.
    #[error("bad options: {reason}")]
    Options {
        /// What does not fit.
        reason: &'static str,
    },
    /// A process that was to make a console sent none.
    #[error("no console: {reason}")]
    NoConsole {
        /// What came instead.
        reason: &'static str,
    },
    /// The launch was driven out of order: a bug in the driver.
    #[error("out of order: {reason}")]
    OutOfOrder {
        /// What came out of order.
        reason: &'static str,
    },
    /// Something a later version of this crate will do.
    #[error("{message}")]
    Unsupported {
        /// What, as a sentence: "veth interfaces are not supported yet".
        message: &'static str,
    },
    /// A plan this backend cannot carry out as asked; nothing was
    /// created.
    #[error("refused plan: {reason}")]
    Plan {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A plan that a caller without privileges over the host cannot
    /// launch: what it asks for needs root.
    #[error("not allowed without privileges: {reason}")]
    Unprivileged {
        /// What the plan asks for that needs them.
        reason: &'static str,
    },
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// A network interface could not be checked, created or removed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The plan was refused before anything was created.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The launch failed (everything it made has been released).
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// A seccomp profile could not be compiled.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// The launch failed because its process died of `SIGKILL` and its
    /// cgroup counted a kill by the kernel's OOM killer (everything it made
    /// has been released).
    #[error("{step}: killed by the OOM killer: {}", OomLimit(*limit))]
    OomKilled {
        /// Where the launch was.
        step: Step,
        /// The cgroup's memory limit, bytes; `None` when it had none of its
        /// own (the host or a parent cgroup ran out).
        limit: Option<u64>,
    },
    /// The caller's work during the child's set-up failed
    /// ([`Process::start_held_while`](crate::Process::start_held_while)),
    /// so the launch was undone: this is the work's own error.
    #[error(transparent)]
    Meanwhile(Box<dyn std::error::Error + Send + Sync>),
}

/// What the kernel said, as `ENOENT: No such file or directory`: the
/// errno's name, which the `io::Error` text lacks, and its description.
struct ErrnoText<'a>(&'a io::Error);

impl fmt::Display for ErrnoText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error() {
            Some(errno) => write!(f, "{}", Errno::from_raw(errno)),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The memory limit an OOM kill came under, for a message.
struct OomLimit(Option<u64>);

impl fmt::Display for OomLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(bytes) => write!(f, "memory limit {}", HumanSize(bytes)),
            None => f.write_str("no memory limit on its cgroup (the host or a parent cgroup ran out)"),
        }
    }
}

impl Error {
    /// A failed syscall.
    pub(crate) fn syscall(call: &'static str) -> impl FnOnce(Errno) -> Error {
        move |errno| Error::Syscall {
            call,
            source: io::Error::from(errno),
        }
    }

    /// A failed file operation.
    pub(crate) fn file(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }

    /// Why a launch failed: `error`, unless its process died of `SIGKILL`
    /// and its cgroup counted `oom_kills` kills by the OOM killer, which the
    /// core cannot tell from any other `SIGKILL`. `limit`: the cgroup's
    /// memory limit.
    pub(crate) fn of_launch(error: LaunchError, oom_kills: Option<u64>, limit: Option<u64>) -> Error {
        match error {
            LaunchError::Exited {
                step,
                who: Who::Process,
                status: ExitStatus::Signaled(libc::SIGKILL),
            } if oom_kills.is_some_and(|kills| kills > 0) => Error::OomKilled { step, limit },
            error => Error::Launch(error),
        }
    }

    /// The raw OS error behind this one, where there is one: the
    /// syscall's, the one a launch's child reported (its `execve`'s
    /// `ENOENT`), a cgroup file's, the kernel's answer to a netlink
    /// request; `ETIMEDOUT` for a timeout.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Syscall { source, .. } | Error::File { source, .. } => source.raw_os_error(),
            Error::TimedOut { .. } => Some(libc::ETIMEDOUT),
            Error::Reaped { .. } | Error::UnknownProcess { .. } | Error::ContainerGone { .. } => {
                Some(libc::ESRCH)
            }
            Error::Cgroup(error) => error.errno(),
            Error::Net(error) => error.errno(),
            Error::Launch(error) => launch_errno(error),
            Error::Unprivileged { .. } => Some(libc::EPERM),
            Error::Proc { .. }
            | Error::ForgedPid { .. }
            | Error::Options { .. }
            | Error::NoConsole { .. }
            | Error::OutOfOrder { .. }
            | Error::Unsupported { .. }
            | Error::Plan { .. }
            | Error::Config(_)
            | Error::Seccomp(_)
            | Error::OomKilled { .. }
            | Error::Meanwhile(_) => None,
        }
    }
}

/// The errno a launch failed with: a backend command's, the child's, the
/// socket read's.
fn launch_errno(error: &LaunchError) -> Option<i32> {
    match error {
        LaunchError::Command { error, .. } | LaunchError::Read { error, .. } => error.errno,
        LaunchError::Child { error, .. } => error.errno,
        LaunchError::TimedOut { .. } => Some(libc::ETIMEDOUT),
        _ => None,
    }
}

impl From<Error> for CommandError {
    fn from(error: Error) -> CommandError {
        CommandError::new(error.to_string(), error.errno())
    }
}

#[cfg(test)]
mod tests {
    use cradle_core::{ChildError, ChildStep};

    use super::*;

    #[test]
    fn command_errors_keep_the_call_and_the_errno() {
        let error = CommandError::from(Error::syscall("clone3")(Errno::EPERM));
        assert_eq!(error.errno, Some(libc::EPERM));
        assert_eq!(error.message, "clone3: EPERM: Operation not permitted");
    }

    #[test]
    fn a_childs_error_is_one_line_naming_both_steps() {
        let error = Error::Launch(LaunchError::Child {
            step: Step::AwaitReady,
            error: ChildError {
                message: "execve /bin/nope: No such file or directory".to_owned(),
                step: ChildStep::Exec,
                errno: Some(libc::ENOENT),
            },
        });
        assert_eq!(
            error.to_string(),
            "await ready: child failed: execve /bin/nope: No such file or directory (step: exec, errno 2)"
        );
        assert_eq!(error.errno(), Some(libc::ENOENT));
    }

    #[test]
    fn a_sigkill_is_an_oom_kill_only_where_the_cgroup_counted_one() {
        let exited = |who, signal| LaunchError::Exited {
            step: Step::AwaitReady,
            who,
            status: ExitStatus::Signaled(signal),
        };
        let sigkill = || exited(Who::Process, libc::SIGKILL);
        let plain = "await ready: child ended with killed by signal 9";
        let limit = Some(4 << 10);
        assert_eq!(Error::of_launch(sigkill(), None, limit).to_string(), plain);
        assert_eq!(Error::of_launch(sigkill(), Some(0), limit).to_string(), plain);
        let oom = Error::of_launch(sigkill(), Some(1), limit);
        assert!(matches!(
            oom,
            Error::OomKilled {
                step: Step::AwaitReady,
                limit: Some(4096)
            }
        ));
        assert_eq!(
            oom.to_string(),
            "await ready: killed by the OOM killer: memory limit 4 KiB"
        );
        let unlimited = Error::of_launch(sigkill(), Some(1), None).to_string();
        assert!(
            unlimited.contains("killed by the OOM killer: no memory limit"),
            "{unlimited}"
        );
        // The OOM killer sends nothing but SIGKILL, and a setns helper is
        // not in a cgroup of the launch's.
        let segv = Error::of_launch(exited(Who::Process, libc::SIGSEGV), Some(1), limit);
        assert!(matches!(segv, Error::Launch(_)), "{segv}");
        let helper = Error::of_launch(exited(Who::Helper, libc::SIGKILL), Some(1), limit);
        assert!(matches!(helper, Error::Launch(_)), "{helper}");
    }

    #[test]
    fn file_errors_name_the_path() {
        let source = io::Error::from_raw_os_error(libc::ENOENT);
        let error = Error::file("/proc/1/uid_map")(source);
        assert_eq!(error.errno(), Some(libc::ENOENT));
        assert!(error.to_string().starts_with("/proc/1/uid_map: "), "{error}");
    }
}
