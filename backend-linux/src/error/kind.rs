//! [`ErrorKind`]: what kind of failure an [`Error`] is, read through every
//! layer it wraps, one small function per layer.

use std::io;

use cradle_core::{ChildError, CommandError, ConfigError, LaunchError};

use super::Error;
use crate::cgroup::CgroupError;
use crate::net::NetError;

/// What kind of failure an [`Error`] is: what a caller branches on (retry,
/// report a bad config, fall back) without matching on the layers beneath.
/// The message and [`Error::errno`] still say exactly what failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Something named is not there: the program, the rootfs, a namespace
    /// path, a cgroup parent, a network interface, the container's
    /// process (`ENOENT`, `ESRCH`).
    NotFound,
    /// The kernel refused for want of privilege (`EACCES`, `EPERM`), or
    /// the plan needs privileges the caller lacks.
    PermissionDenied,
    /// Something cradle would create exists already: a cgroup, a network
    /// interface (`EEXIST`).
    AlreadyExists,
    /// A bounded wait ran out: the launch's deadline, a cgroup's freeze or
    /// kill, a netlink answer.
    TimedOut,
    /// A limit was hit: the pids limit or the host's (`EAGAIN` on fork),
    /// the count of namespaces (`ENOSPC`), memory (`ENOMEM`, or the OOM
    /// killer during the launch), descriptors.
    ResourceLimit,
    /// A plan, options or config that cradle refuses as given, before the
    /// launch or in the child: bad input, nothing to retry.
    InvalidConfig,
    /// The child failed a set-up step with an errno of no kind above (its
    /// message and [`Error::errno`] say which), or gave up without a
    /// report.
    ChildFailed,
    /// The child (or the setns helper) died during the launch.
    ProcessExited,
    /// Something this kernel, host or version of cradle does not offer: a
    /// syscall (`ENOSYS`, `EOPNOTSUPP`), a cgroup controller, a limit.
    Unsupported,
    /// Anything else: a protocol fault, a bug, an errno of no kind above.
    Other,
}

impl Error {
    /// What kind of failure this is, read through the layers: a launch
    /// whose child's `execve` failed with `ENOENT` is
    /// [`NotFound`](ErrorKind::NotFound), one whose child could not fork
    /// with `EAGAIN` is [`ResourceLimit`](ErrorKind::ResourceLimit).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Syscall { source, .. } | Error::File { source, .. } => of_io(source),
            Error::TimedOut { .. } => ErrorKind::TimedOut,
            Error::Reaped { .. } | Error::UnknownProcess { .. } | Error::ContainerGone { .. } => {
                ErrorKind::NotFound
            }
            // A seccomp profile that cannot be compiled is one the caller
            // gave or asked for.
            Error::Options { .. } | Error::Plan { .. } | Error::Seccomp(_) => ErrorKind::InvalidConfig,
            Error::NoConsole { .. } => ErrorKind::ChildFailed,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Unprivileged { .. } => ErrorKind::PermissionDenied,
            Error::OomKilled { .. } => ErrorKind::ResourceLimit,
            Error::Cgroup(error) => error.kind(),
            Error::Net(error) => error.kind(),
            Error::Config(error) => of_config(error),
            Error::Launch(error) => of_launch(error),
            Error::Proc { .. } | Error::ForgedPid { .. } | Error::OutOfOrder { .. } | Error::Meanwhile(_) => {
                ErrorKind::Other
            }
        }
    }
}

impl CgroupError {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            CgroupError::Proc { source, .. }
            | CgroupError::Bpf { source, .. }
            | CgroupError::CreateDir { source, .. }
            | CgroupError::RemoveDir { source, .. }
            | CgroupError::Open { source, .. }
            | CgroupError::Read { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::Kill { source, .. } => of_io(source),
            CgroupError::Unreachable { .. } => ErrorKind::NotFound,
            CgroupError::Exists { .. } => ErrorKind::AlreadyExists,
            CgroupError::InvalidPath { .. }
            | CgroupError::InvalidLimit { .. }
            | CgroupError::InvalidDeviceRule { .. }
            | CgroupError::InvalidPid { .. } => ErrorKind::InvalidConfig,
            CgroupError::NoHierarchy { .. }
            | CgroupError::LimitUnsupported { .. }
            | CgroupError::ControllerUnavailable { .. }
            | CgroupError::NoController { .. }
            | CgroupError::NoFreezer { .. } => ErrorKind::Unsupported,
            CgroupError::Timeout { .. } => ErrorKind::TimedOut,
            CgroupError::Malformed { .. } => ErrorKind::Other,
        }
    }
}

impl NetError {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            // `ENODEV` is netlink's answer for an interface that is not
            // there; elsewhere it means a missing driver, not a name.
            NetError::Kernel { source, .. } if source.raw_os_error() == Some(libc::ENODEV) => {
                ErrorKind::NotFound
            }
            NetError::Socket { source }
            | NetError::Namespace { source, .. }
            | NetError::Kernel { source, .. } => of_io(source),
            NetError::InvalidName { .. }
            | NetError::InvalidMac { .. }
            | NetError::InvalidPrefix { .. }
            | NetError::GatewayFamily { .. }
            | NetError::DuplicateName { .. } => ErrorKind::InvalidConfig,
            NetError::Reply { .. } | NetError::WrongKind { .. } => ErrorKind::Other,
        }
    }
}

/// A plan the core refused: always the caller's input.
fn of_config(_: &ConfigError) -> ErrorKind {
    ErrorKind::InvalidConfig
}

/// A failed launch: by what failed in it, the child's report first.
fn of_launch(error: &LaunchError) -> ErrorKind {
    match error {
        LaunchError::Child { error, .. } => of_child(error),
        LaunchError::Command { error, .. } | LaunchError::Read { error, .. } => of_command(error),
        LaunchError::Exited { .. } => ErrorKind::ProcessExited,
        // Alive but silent: it gave up on its set-up without a report.
        LaunchError::Closed { .. } => ErrorKind::ChildFailed,
        LaunchError::TimedOut { .. } => ErrorKind::TimedOut,
        _ => ErrorKind::Other,
    }
}

/// The child's report of a failed set-up step: by its errno. The child
/// reports none when it refuses what the config asks (a rootfs without a
/// mount namespace, a path with a NUL byte).
fn of_child(error: &ChildError) -> ErrorKind {
    match error.errno {
        Some(errno) => of_errno(errno).unwrap_or(ErrorKind::ChildFailed),
        None => ErrorKind::InvalidConfig,
    }
}

/// A backend command of the launch: the core keeps only its message and
/// errno.
fn of_command(error: &CommandError) -> ErrorKind {
    error.errno.and_then(of_errno).unwrap_or(ErrorKind::Other)
}

/// An `io::Error`: by its errno.
fn of_io(error: &io::Error) -> ErrorKind {
    error
        .raw_os_error()
        .and_then(of_errno)
        .unwrap_or(ErrorKind::Other)
}

/// The errnos that say something a caller branches on.
fn of_errno(errno: i32) -> Option<ErrorKind> {
    Some(match errno {
        libc::ENOENT | libc::ESRCH => ErrorKind::NotFound,
        libc::EACCES | libc::EPERM => ErrorKind::PermissionDenied,
        libc::EEXIST => ErrorKind::AlreadyExists,
        libc::ETIMEDOUT => ErrorKind::TimedOut,
        libc::EAGAIN | libc::ENOSPC | libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::EUSERS => {
            ErrorKind::ResourceLimit
        }
        libc::ENOSYS | libc::EOPNOTSUPP => ErrorKind::Unsupported,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use cradle_core::launch::Who;
    use cradle_core::message::MessageKind;
    use cradle_core::{ChildStep, ExitStatus, Step};

    use super::*;
    use crate::cgroup::Hierarchy;
    use crate::net::Operation;

    fn os(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    fn child(step: ChildStep, errno: Option<i32>) -> Error {
        Error::Launch(LaunchError::Child {
            step: Step::AwaitReady,
            error: ChildError {
                message: format!("{step} failed"),
                step,
                errno,
            },
        })
    }

    fn command(step: Step, errno: Option<i32>) -> Error {
        Error::Launch(LaunchError::Command {
            step,
            error: CommandError::new("clone3: failed", errno),
        })
    }

    #[test]
    fn a_childs_report_is_read_by_its_errno() {
        let cases = [
            (ChildStep::Exec, Some(libc::ENOENT), ErrorKind::NotFound),
            (ChildStep::Rootfs, Some(libc::ENOENT), ErrorKind::NotFound),
            (ChildStep::Namespaces, Some(libc::ENOENT), ErrorKind::NotFound),
            (ChildStep::Exec, Some(libc::EACCES), ErrorKind::PermissionDenied),
            (ChildStep::Mounts, Some(libc::EPERM), ErrorKind::PermissionDenied),
            (ChildStep::Fork, Some(libc::EAGAIN), ErrorKind::ResourceLimit),
            (ChildStep::Seccomp, Some(libc::ENOSYS), ErrorKind::Unsupported),
            (ChildStep::Exec, Some(libc::ENOEXEC), ErrorKind::ChildFailed),
            (ChildStep::User, Some(libc::EINVAL), ErrorKind::ChildFailed),
            (ChildStep::Mounts, None, ErrorKind::InvalidConfig),
        ];
        for (step, errno, kind) in cases {
            let error = child(step, errno);
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.errno(), errno, "{error}");
        }
    }

    #[test]
    fn the_rest_of_a_launch_is_read_by_what_failed_in_it() {
        let exited = Error::Launch(LaunchError::Exited {
            step: Step::AwaitReady,
            who: Who::Process,
            status: ExitStatus::Signaled(libc::SIGSEGV),
        });
        let timed_out = Error::Launch(LaunchError::TimedOut {
            step: Step::AwaitReady,
            after: Duration::from_secs(1),
        });
        let cases = [
            (
                command(Step::Spawn, Some(libc::EAGAIN)),
                ErrorKind::ResourceLimit,
                Some(libc::EAGAIN),
            ),
            (
                command(Step::Spawn, Some(libc::ENOSPC)),
                ErrorKind::ResourceLimit,
                Some(libc::ENOSPC),
            ),
            (
                command(Step::Spawn, Some(libc::EPERM)),
                ErrorKind::PermissionDenied,
                Some(libc::EPERM),
            ),
            (
                command(Step::CreateCgroup, Some(libc::EEXIST)),
                ErrorKind::AlreadyExists,
                Some(libc::EEXIST),
            ),
            (
                command(Step::IdMaps, Some(libc::EINVAL)),
                ErrorKind::Other,
                Some(libc::EINVAL),
            ),
            (command(Step::ApplyCgroup, None), ErrorKind::Other, None),
            (exited, ErrorKind::ProcessExited, None),
            (timed_out, ErrorKind::TimedOut, Some(libc::ETIMEDOUT)),
            (
                Error::Launch(LaunchError::Closed {
                    step: Step::AwaitReady,
                }),
                ErrorKind::ChildFailed,
                None,
            ),
            (
                Error::Launch(LaunchError::Unexpected {
                    step: Step::AwaitReady,
                    kind: MessageKind::Config,
                }),
                ErrorKind::Other,
                None,
            ),
            (
                Error::Launch(LaunchError::Read {
                    step: Step::AwaitReady,
                    error: CommandError::new("recvmsg", Some(libc::ENOMEM)),
                }),
                ErrorKind::ResourceLimit,
                Some(libc::ENOMEM),
            ),
        ];
        for (error, kind, errno) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.errno(), errno, "{error}");
        }
    }

    #[test]
    fn the_backends_own_errors_say_their_kind() {
        let cases = [
            (
                Error::syscall("setns")(nix::errno::Errno::EPERM),
                ErrorKind::PermissionDenied,
            ),
            (
                Error::syscall("ioctl")(nix::errno::Errno::EINVAL),
                ErrorKind::Other,
            ),
            (
                Error::file("/proc/7/uid_map")(os(libc::ENOENT)),
                ErrorKind::NotFound,
            ),
            (
                Error::TimedOut {
                    call: "waitid(P_PIDFD)",
                    after: Duration::from_secs(1),
                },
                ErrorKind::TimedOut,
            ),
            (Error::Reaped { pid: pid(7) }, ErrorKind::NotFound),
            (
                Error::ContainerGone {
                    pid: pid(7),
                    reason: "has exited",
                },
                ErrorKind::NotFound,
            ),
            (Error::Options { reason: "no cgroup" }, ErrorKind::InvalidConfig),
            (Error::Plan { reason: "no" }, ErrorKind::InvalidConfig),
            (Error::Config(ConfigError::NoCommand), ErrorKind::InvalidConfig),
            (
                Error::Unprivileged { reason: "veth" },
                ErrorKind::PermissionDenied,
            ),
            (Error::Unsupported { message: "not yet" }, ErrorKind::Unsupported),
            (Error::NoConsole { reason: "no fd" }, ErrorKind::ChildFailed),
            (Error::OutOfOrder { reason: "twice" }, ErrorKind::Other),
            (
                Error::OomKilled {
                    step: Step::AwaitReady,
                    limit: Some(1 << 20),
                },
                ErrorKind::ResourceLimit,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }

    #[test]
    fn cgroup_errors_say_their_kind() {
        let hierarchy = Hierarchy::V2;
        let path = || PathBuf::from("/sys/fs/cgroup/unified/box");
        let cases = [
            (
                CgroupError::CreateDir {
                    hierarchy: hierarchy.clone(),
                    path: path(),
                    source: os(libc::ENOENT),
                },
                ErrorKind::NotFound,
            ),
            (
                CgroupError::Write {
                    hierarchy: hierarchy.clone(),
                    path: path(),
                    value: "1".to_owned(),
                    source: os(libc::EACCES),
                },
                ErrorKind::PermissionDenied,
            ),
            (
                CgroupError::Exists {
                    hierarchy: hierarchy.clone(),
                    path: path(),
                },
                ErrorKind::AlreadyExists,
            ),
            (
                CgroupError::InvalidPath {
                    field: "parent",
                    value: path(),
                    reason: "absolute",
                },
                ErrorKind::InvalidConfig,
            ),
            (
                CgroupError::ControllerUnavailable {
                    hierarchy: hierarchy.clone(),
                    controller: "pids",
                    path: path(),
                },
                ErrorKind::Unsupported,
            ),
            (
                CgroupError::Timeout {
                    hierarchy: hierarchy.clone(),
                    path: path(),
                    what: "frozen",
                },
                ErrorKind::TimedOut,
            ),
            (
                CgroupError::Malformed {
                    hierarchy,
                    path: path(),
                    content: "?".to_owned(),
                },
                ErrorKind::Other,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            let errno = error.errno();
            let wrapped = Error::Cgroup(error);
            assert_eq!(wrapped.kind(), kind, "{wrapped}");
            assert_eq!(wrapped.errno(), errno, "{wrapped}");
        }
    }

    #[test]
    fn net_errors_say_their_kind() {
        let kernel = |errno| NetError::Kernel {
            operation: Operation::FindLink,
            interface: "veth0".to_owned(),
            source: os(errno),
        };
        let cases = [
            (kernel(libc::ENODEV), ErrorKind::NotFound),
            (kernel(libc::EEXIST), ErrorKind::AlreadyExists),
            (kernel(libc::EOPNOTSUPP), ErrorKind::Unsupported),
            (kernel(libc::ETIMEDOUT), ErrorKind::TimedOut),
            (
                NetError::Namespace {
                    path: PathBuf::from("/proc/7/ns/net"),
                    source: os(libc::ENODEV),
                },
                ErrorKind::Other,
            ),
            (
                NetError::DuplicateName {
                    name: "eth0".to_owned(),
                },
                ErrorKind::InvalidConfig,
            ),
            (
                NetError::Reply {
                    operation: Operation::FindLink,
                    interface: "veth0".to_owned(),
                    reason: "short".to_owned(),
                },
                ErrorKind::Other,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(Error::Net(error).kind(), kind);
        }
    }

    fn pid(raw: i32) -> cradle_core::Pid {
        cradle_core::Pid::new(raw).expect("a positive pid")
    }
}
