//! The program's one error type: each variant names what failed, and
//! [`exit`](crate::exit) maps it to an exit code.

use std::io;
use std::path::PathBuf;

use cradle_linux::net::NetError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// A flag or an argument that cannot be used as given.
    #[error("{0}")]
    Usage(String),
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    File {
        /// The file or directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// A syscall on something other than a path failed.
    #[error("{call}: {source}")]
    Syscall {
        /// The call, and what it was for.
        call: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// A state file that cannot be read back.
    #[error("{path}: {reason}")]
    BadState {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A state root that another user could have planted or could write
    /// to: nothing is read from or created through it.
    #[error("state directory {path:?} {reason}: refused")]
    UnsafeRoot {
        /// The state root, as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A state file that names something it cannot prove is the
    /// container's (a cgroup, an interface, a process): not acted on.
    #[error("container {id:?}: {reason}: refused")]
    Untrusted {
        /// The container.
        id: String,
        /// What the state names, and why it is not the container's.
        reason: String,
    },
    /// `run --name` of an id in use.
    #[error("container {id:?} already exists (in {root})")]
    Exists {
        /// The id.
        id: String,
        /// The state directory.
        root: PathBuf,
    },
    /// An id with no state.
    #[error("no container {id:?} (in {root})")]
    NotFound {
        /// The id.
        id: String,
        /// The state directory.
        root: PathBuf,
    },
    /// Another cradle command holds the container's lock for too long.
    #[error("container {id:?} is locked by another cradle command")]
    Locked {
        /// The id.
        id: String,
    },
    /// The container must be running for this, and is not.
    #[error("container {id:?} is not running")]
    NotRunning {
        /// The id.
        id: String,
    },
    /// `delete` of a running container without `--force`.
    #[error("container {id:?} is running: kill it first, or delete --force")]
    StillRunning {
        /// The id.
        id: String,
    },
    /// `delete` without `--force` of a container whose record is damaged.
    #[error("container {id:?} has a damaged record ({reason}): delete --force removes what cradle's names for it find")]
    Damaged {
        /// The id.
        id: String,
        /// What is wrong with the record.
        reason: String,
    },
    /// A container's mounts in the caller's mount namespace (it had none
    /// of its own) that cannot be detached from here.
    #[error("container {id:?}: {reason}")]
    Unreachable {
        /// The id.
        id: String,
        /// Where the mounts are, and why they cannot be reached.
        reason: String,
    },
    /// A running container that did not end after SIGKILL within the bound.
    #[error("container {id:?} did not exit within {seconds}s of SIGKILL")]
    Unkillable {
        /// The id.
        id: String,
        /// The bound.
        seconds: u64,
    },
    /// The launch did not get the command to `exec`. `message` is one line
    /// naming the step; the exit code depends on `exec_errno`.
    #[error("{message}")]
    Launch {
        /// What failed, and where.
        message: String,
        /// The errno of a failed `exec` of the command, if that is what
        /// failed.
        exec_errno: Option<i32>,
    },
    /// `exec` into a container whose pids limit leaves no room for the
    /// process: its fork was refused.
    #[error("exec: the container's pids limit ({limit}) is reached")]
    PidsLimit {
        /// The container's `pids.max`.
        limit: u64,
    },
    /// An OCI bundle cradle cannot run as it is.
    #[error(transparent)]
    Bundle(#[from] cradle_oci::OciError),
    /// An OCI hook failed; `stage` is its kind (`prestart`, ...).
    #[error("{stage} hook {path:?}: {reason}")]
    Hook {
        /// Which hooks it was one of.
        stage: &'static str,
        /// The hook's program.
        path: PathBuf,
        /// How it failed.
        reason: String,
    },
    /// A command for a container in another state (`start` of a running
    /// one, say).
    #[error("container {id:?} is {status}, not {wanted}")]
    WrongStatus {
        /// The id.
        id: String,
        /// What it is.
        status: &'static str,
        /// What the command needs.
        wanted: &'static str,
    },
    /// The backend failed outside a launch.
    #[error(transparent)]
    Backend(#[from] cradle_linux::Error),
    /// A network configuration the kernel would refuse.
    #[error(transparent)]
    Net(#[from] NetError),
}

impl CliError {
    /// Stdout's reader went away (`cradle list | head -1`): the output was
    /// not wanted any more, which is no failure of cradle's.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::File { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    /// A failed file operation on `path`.
    pub(crate) fn file(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> CliError {
        let path = path.into();
        move |source| CliError::File { path, source }
    }

    /// A failed syscall.
    pub(crate) fn syscall(call: &'static str) -> impl FnOnce(nix::errno::Errno) -> CliError {
        move |errno| CliError::Syscall {
            call,
            source: io::Error::from_raw_os_error(errno as i32),
        }
    }
}
