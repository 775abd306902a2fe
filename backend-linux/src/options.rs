//! What the backend needs besides the core's [`Plan`](cradle_core::Plan):
//! the init binary, the cgroup, the container a setns process joins, and
//! the descriptors the container gets.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use cradle_core::Step;

use crate::cgroup::{CgroupConfig, CgroupPaths};
use crate::setns::Container;

/// The program the child `exec`s before it becomes the container process:
/// one that links this crate, whose constructor takes the role before
/// `main` (see [`init`](crate::init)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum InitBinary {
    /// The running program (`/proc/self/exe`), which works even if its file
    /// has been replaced or removed since it started.
    #[default]
    CurrentExe,
    /// Another program.
    Path(PathBuf),
}

/// How to start a process, beyond what the plan says.
///
/// The descriptors given here are moved into the child at spawn and closed
/// in the parent.
#[derive(Debug, Default)]
pub struct Options {
    pub(crate) init: InitBinary,
    pub(crate) cgroup: Option<CgroupConfig>,
    pub(crate) planned_cgroup: Option<CgroupPaths>,
    pub(crate) container_cgroups: Option<CgroupPaths>,
    pub(crate) container: Option<Container>,
    pub(crate) stdio: [Option<OwnedFd>; 3],
    pub(crate) preserved: Vec<OwnedFd>,
    pub(crate) on_step: Option<fn(Step)>,
    pub(crate) hand_off: Option<OwnedFd>,
    pub(crate) console: Option<OwnedFd>,
}

impl Options {
    /// The defaults: the running program is the init binary, no cgroup, and
    /// the container shares the caller's stdin, stdout and stderr.
    pub fn new() -> Options {
        Options::default()
    }

    /// Calls `hook` with the launch's step each time the parent is about to
    /// act at it (and may call it again at the same step): for tracing, or
    /// for a test that kills the launcher at a given step.
    pub fn on_step(mut self, hook: fn(Step)) -> Options {
        self.on_step = Some(hook);
        self
    }

    /// Runs `init` instead of the running program.
    pub fn init_binary(mut self, init: impl Into<PathBuf>) -> Options {
        self.init = InitBinary::Path(init.into());
        self
    }

    /// Where to create the init process's cgroup (for a plan with
    /// `cgroup` set).
    pub fn cgroup(mut self, config: CgroupConfig) -> Options {
        self.cgroup = Some(config);
        self.planned_cgroup = None;
        self
    }

    /// [`cgroup`](Options::cgroup), made in `planned`, the directories
    /// [`Cgroup::planned`](crate::cgroup::Cgroup::planned) gave for
    /// `config` (and the caller recorded): the launch makes those, and
    /// does not read the host's cgroup layout again.
    pub fn cgroup_at(mut self, config: CgroupConfig, planned: CgroupPaths) -> Options {
        self.cgroup = Some(config);
        self.planned_cgroup = Some(planned);
        self
    }

    /// The running container's cgroups, which a setns process enters (for a
    /// plan with `cgroup` set). On cgroup2 the setns helper is cloned
    /// straight into the v2 directory, so its process is born there.
    pub fn container_cgroups(mut self, paths: CgroupPaths) -> Options {
        self.container_cgroups = Some(paths);
        self
    }

    /// The running container a setns plan's process joins: the namespaces
    /// and root of its init. (Its cgroups are named apart, with
    /// [`container_cgroups`](Options::container_cgroups).)
    pub fn container(mut self, container: Container) -> Options {
        self.container = Some(container);
        self
    }

    /// A listening Unix socket (bound where later launchers can reach it,
    /// such as a container's state directory) on which a held init
    /// accepts its start once its hold is handed off
    /// ([`HeldProcess::hand_off`](crate::HeldProcess::hand_off)); a hold
    /// cannot be handed off without one. Moved into the init.
    pub fn hand_off_listener(mut self, listener: OwnedFd) -> Options {
        self.hand_off = Some(listener);
        self
    }

    /// Where the process sends the master end of the terminal it makes
    /// inside the container, for a config with
    /// [`Terminal::Console`](cradle_core::Terminal::Console): a connected
    /// Unix stream socket (an engine's `--console-socket`, or the child's
    /// end of [`console::channel`](crate::console::channel)). The master
    /// comes with `SCM_RIGHTS`, and the terminal's name (`/dev/pts/0`) as
    /// the payload, as runc sends it. Moved into the process.
    pub fn console_socket(mut self, socket: OwnedFd) -> Options {
        self.console = Some(socket);
        self
    }

    /// The container's stdin.
    pub fn stdin(mut self, fd: OwnedFd) -> Options {
        self.stdio[0] = Some(fd);
        self
    }

    /// The container's stdout.
    pub fn stdout(mut self, fd: OwnedFd) -> Options {
        self.stdio[1] = Some(fd);
        self
    }

    /// The container's stderr.
    pub fn stderr(mut self, fd: OwnedFd) -> Options {
        self.stdio[2] = Some(fd);
        self
    }

    /// Passes `fd` on to the container as the next descriptor after stdio
    /// (3, then 4, ...). The plan's `config.preserved_fds` must count them.
    pub fn preserve_fd(mut self, fd: OwnedFd) -> Options {
        self.preserved.push(fd);
        self
    }
}

/// Takes over `fd`, a descriptor this process inherited to pass on (as
/// `--preserve-fds` has it: 3, 4, ... from the caller of runc's command
/// line), checked to be open. Call it once per descriptor, before anything
/// else in the process could own that number.
pub fn take_inherited_fd(fd: std::os::fd::RawFd) -> Result<OwnedFd, crate::Error> {
    if fd < 3 {
        return Err(crate::Error::Options {
            reason: "stdio is not an inherited descriptor to take over",
        });
    }
    // SAFETY: F_GETFD on a raw number: it only reads the descriptor's flags
    // (EBADF if nothing is open there).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(
            crate::Error::syscall("fcntl(F_GETFD) of an inherited descriptor")(nix::errno::Errno::last()),
        );
    }
    // SAFETY: `fd` is open (checked above) and was inherited to be passed
    // on; the caller takes it over once, so it has no other owner here.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}
