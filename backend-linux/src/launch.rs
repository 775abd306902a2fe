//! [`LinuxLaunch`]: one launch's worth of kernel objects, behind the core's
//! backend traits.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{PollFd, PollFlags};
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, Shutdown, SockFlag, SockType};

use cradle_core::backend::{Cgroups, Channel, Clock, Interfaces, Processes, Wait, Wake};
use cradle_core::launch::Spawn;
use cradle_core::{ChildStep, CommandError, IdMaps, Interface, LaunchError, NamespaceKind, Pid, Role, Time};

use crate::cgroup::{self, Cgroup, CgroupConfig, CgroupPaths};
use crate::error::Error;
use crate::options::Options;
use crate::process::Process;
use crate::setns::{self, before_exec, Container};
use crate::spawn::{self, ChildFds, CloneSpec, InitProgram, Report};
use crate::wait::{self, Collect};
use crate::{clock, id_maps, net, sys, Signal};

/// How long cleanup waits for a killed process to be reapable.
pub(crate) const REAP_BOUND: Duration = Duration::from_secs(2);

/// The byte that lets a held child go on to `exec`.
const RELEASE: u8 = b'\n';
/// The byte on the start pipe that hands a held init's hold off to its
/// listener (see [`crate::spawn::hand_off_fd`]).
pub(crate) const HAND_OFF: u8 = b'h';

/// The kernel side of one launch: its socket, its processes (as pidfds), its
/// cgroup. It implements every [`cradle_core::backend`] trait, so
/// [`cradle_core::driver::drive`] runs it as it is; [`Process::start`] does
/// exactly that.
///
/// For a readiness-based driver, [`socket`](LinuxLaunch::socket) and
/// [`pidfd`](LinuxLaunch::pidfd) are the descriptors to watch; the parent's
/// end of the socket is non-blocking.
///
/// Dropping a launch kills and reaps whatever process it still owns and
/// destroys the cgroup it still owns: a launch abandoned half-way leaves
/// nothing behind either.
#[derive(Debug)]
pub struct LinuxLaunch {
    program: InitProgram,
    /// Moved into the child at spawn, then closed here.
    child_fds: ChildFds,
    cgroup_config: Option<CgroupConfig>,
    /// Where `cgroup_config`'s cgroup goes, when the caller planned it.
    planned_cgroup: Option<CgroupPaths>,
    container_cgroups: Option<CgroupPaths>,
    /// The running container a setns helper or process joins.
    container: Option<Container>,
    /// The first process spawned is a setns helper (not the process).
    spawned_helper: bool,
    cgroup: Option<Cgroup>,
    /// The parent's end of the launch socket.
    socket: Option<OwnedFd>,
    /// The write end of the pipe a held init waits on after `ready`: one
    /// byte starts it; closing it unwritten (this launch dropped, the
    /// parent killed) makes it exit without running its command.
    start: Option<OwnedFd>,
    /// The listening socket a handed-off hold accepts its start on: moved
    /// into the init at spawn.
    hand_off_listener: Option<OwnedFd>,
    /// The init took a hand-off listener: its hold may be handed off.
    can_hand_off: bool,
    /// The socket the process sends its console on: moved into the child
    /// at spawn.
    console: Option<OwnedFd>,
    /// Where a resuming launch connects to start a handed-off process;
    /// such a launch is not the process's parent, and owns nothing of it.
    resume_at: Option<PathBuf>,
    processes: Vec<Tracked>,
    /// The init process was cloned into a new pid namespace, whose end
    /// (the init's exit) the kernel makes the end of every process in it.
    own_pid_namespace: bool,
    /// The OOM kills the cgroup counted, read as a failed launch destroyed
    /// it: after that nothing is left to ask.
    oom_kills: Option<u64>,
    /// The `tasks` files of the init's v1 cgroups, sent with its config
    /// (`SCM_RIGHTS`, on its first bytes): the init joins them itself
    /// (see [`Cgroup::v1_tasks`]).
    cgroup_tasks: Vec<OwnedFd>,
    /// The init joins its v1 cgroups itself: applying the cgroup leaves
    /// them to it.
    init_joins_v1: bool,
}

/// What a send carries besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Carry {
    /// Nothing: the release byte, which the child reads before its `exec`.
    Nothing,
    /// The init's `tasks` files, if not sent yet: the config.
    CgroupTasks,
}

/// A process of this launch.
#[derive(Debug)]
struct Tracked {
    pid: Pid,
    pidfd: OwnedFd,
    /// Its exit has been reported by [`Wait::wait`]; its pidfd stays
    /// readable, so it is not watched any more.
    exit_reported: bool,
    reaped: bool,
}

impl LinuxLaunch {
    /// A launch with `options`; nothing is created until the first
    /// command.
    pub fn new(options: Options) -> Result<LinuxLaunch, Error> {
        let preserved = options.preserved.len();
        let program = match &options.container {
            Some(container) => InitProgram::setns(&options.init, preserved, container.pid())?,
            None => InitProgram::new(&options.init, preserved)?,
        };
        Ok(LinuxLaunch {
            program,
            child_fds: ChildFds {
                stdio: options.stdio,
                preserved: options.preserved,
            },
            cgroup_config: options.cgroup,
            planned_cgroup: options.planned_cgroup,
            container_cgroups: options.container_cgroups,
            container: options.container,
            spawned_helper: false,
            cgroup: None,
            socket: None,
            start: None,
            hand_off_listener: options.hand_off,
            can_hand_off: false,
            console: options.console,
            resume_at: None,
            processes: Vec::new(),
            own_pid_namespace: false,
            oom_kills: None,
            cgroup_tasks: Vec::new(),
            init_joins_v1: false,
        })
    }

    /// A launch that [resumes](cradle_core::Launch::resume) `pid`, a
    /// process another launch handed off, held by `pidfd` (which the
    /// caller has proved names it): its start connects to the hold's
    /// listening socket at `hold` and becomes the channel its `exec` is
    /// reported on. Dropping it leaves the process alone.
    pub fn resuming(pid: Pid, pidfd: OwnedFd, hold: impl Into<PathBuf>) -> Result<LinuxLaunch, Error> {
        let mut launch = LinuxLaunch::new(Options::new())?;
        launch.resume_at = Some(hold.into());
        // Its exit shows as the end of the channel: not ours to wait for.
        launch.processes.push(Tracked {
            pid,
            pidfd,
            exit_reported: true,
            reaped: false,
        });
        Ok(launch)
    }

    /// The process `pid`, handed off (the launch's verdict was
    /// [`Event::Created`](cradle_core::Event::Created)), with the cgroup:
    /// both are the caller's from now on; the process holds until resumed.
    pub fn into_created(mut self, pid: Pid) -> Result<(Pid, Option<Cgroup>), Error> {
        let process = self.tracked(pid)?;
        // Not killed or reaped on drop: it lives on, held.
        process.reaped = true;
        Ok((pid, self.cgroup.take()))
    }

    /// The cgroup this launch created, while it holds it.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// The parent's end of the launch socket, once spawned and until closed.
    pub fn socket(&self) -> Option<BorrowedFd<'_>> {
        self.socket.as_ref().map(AsFd::as_fd)
    }

    /// The pidfd of `pid`, a process of this launch (readable once it has
    /// exited).
    pub fn pidfd(&self, pid: Pid) -> Option<BorrowedFd<'_>> {
        self.processes
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| p.pidfd.as_fd())
    }

    /// The running process `pid` (the launch's verdict), with the cgroup:
    /// both are the caller's from now on.
    pub fn into_process(mut self, pid: Pid) -> Result<Process, Error> {
        let index = self
            .processes
            .iter()
            .position(|p| p.pid == pid && !p.reaped)
            .ok_or(Error::UnknownProcess { pid })?;
        let tracked = self.processes.swap_remove(index);
        Ok(Process::new(
            tracked.pid,
            tracked.pidfd,
            self.cgroup.take(),
            self.own_pid_namespace,
        ))
    }

    /// Why the launch failed: `error`, or the OOM kill behind it (see
    /// [`Error::of_launch`]).
    pub(crate) fn failure(&self, error: LaunchError) -> Error {
        let limit = self
            .cgroup_config
            .as_ref()
            .and_then(|config| config.resources.memory_max);
        Error::of_launch(error, self.oom_kills, limit)
    }

    /// The setns helper, until it is reaped.
    fn helper(&self) -> Option<Pid> {
        let helper = self.processes.first().filter(|p| !p.reaped)?;
        self.spawned_helper.then_some(helper.pid)
    }

    /// The pids of the processes this launch holds.
    fn held(&self) -> Vec<Pid> {
        self.processes.iter().map(|p| p.pid).collect()
    }

    fn tracked(&mut self, pid: Pid) -> Result<&mut Tracked, Error> {
        self.processes
            .iter_mut()
            .find(|p| p.pid == pid)
            .ok_or(Error::UnknownProcess { pid })
    }

    fn spawn_init(&mut self, spawn: &Spawn) -> Result<Pid, Error> {
        if !self.processes.is_empty() {
            return Err(Error::OutOfOrder {
                reason: "a launch spawns its init process once",
            });
        }
        if self.container.is_some() {
            return Err(Error::Options {
                reason: "the options name a container to join, but the plan starts an init",
            });
        }
        let cgroup = self
            .cgroup
            .as_ref()
            .filter(|_| spawn.cgroup)
            .and_then(Cgroup::clone_into);
        let hand_off = self.hand_off_listener.take().filter(|_| spawn.awaits_start);
        let pid_namespace = spawn
            .pid_namespace
            .as_ref()
            .map(|path| std::fs::File::open(path).map_err(Error::file(path)))
            .transpose()?;
        let spawning = spawn::Spawning::begin();
        let (parent_end, child_end) = launch_socket()?;
        let start_pipe = if spawn.awaits_start {
            Some(nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(Error::syscall("pipe2"))?)
        } else {
            None
        };
        let spec = CloneSpec {
            hand_off: hand_off.as_ref().map(AsFd::as_fd),
            namespaces: spawn
                .namespaces
                .iter()
                .fold(0, |flags, &kind| flags | spawn::namespace_flag(kind)),
            pid_namespace: pid_namespace.as_ref().map(AsFd::as_fd),
            setns_process: false,
            enter: None,
            hold: spawn.hold,
            cgroup,
            start: start_pipe.as_ref().map(|(read, _)| read.as_fd()),
            console: self.console.as_ref().map(AsFd::as_fd),
            target: None,
            // Its v1 cgroups are made after the clone; their `tasks` files
            // go with the config instead (see `spawn`'s end).
            join: &[],
            fork_in: None,
        };
        let cloned = spawn::clone_init(&self.program, child_end.as_fd(), &self.child_fds, spec);
        self.close_childs_copies(child_end);
        // The read end is the child's alone, so that its end of file means
        // this side has gone.
        let start = start_pipe.map(|(_, write)| write);
        drop(spawning);
        let (pid, pidfd) = cloned?;
        // While the child `exec`s the init binary; before it can read its
        // config, so before its first set-up step. The v1 directories'
        // `tasks` files go with the config, for the init to join them.
        let finished = match self.cgroup.as_mut().filter(|_| spawn.cgroup) {
            Some(cgroup) => cgroup.finish_after_clone().and_then(|()| cgroup.v1_tasks()),
            None => Ok(Vec::new()),
        };
        match finished {
            Ok(tasks) => self.cgroup_tasks = tasks,
            Err(error) => {
                // The spawn fails as a whole: the child goes with it
                // (before anything else knows of it).
                wait::kill_and_reap(pidfd.as_fd(), REAP_BOUND);
                return Err(error.into());
            }
        }
        self.init_joins_v1 = spawn.cgroup && self.cgroup.is_some();
        // Only a new one: in a pid namespace joined by path the init is not
        // pid 1, and its exit ends no other process there.
        self.own_pid_namespace = spawn.namespaces.contains(&NamespaceKind::Pid);
        self.spawned(pid, pidfd, parent_end);
        self.start = start;
        self.can_hand_off = hand_off.is_some();
        Ok(pid)
    }

    /// Spawns the setns helper, or the setns process itself (`process`,
    /// cloned into the container's pid namespace): the init binary, in no
    /// new namespace, with a pidfd on the container's init. Where the plan
    /// enters the container's cgroups, the child is cloned into the v2 one
    /// and joins the v1 ones itself before its `exec`, through their
    /// `tasks` files (no RCU grace period to wait for: see
    /// [`Cgroup::v1_tasks`]). A helper's fork is then born in them all,
    /// held to every `pids.max` (a move into a v1 cgroup is not), and the
    /// helper counts against the limit until it exits, right after its
    /// fork (runc's does too): a container one process short of its limit
    /// cannot be joined through a helper. A cloned process is held to the
    /// v2 limit by its clone; under a v1 limit it is cloned in the
    /// container's pids cgroup, which the launching thread enters for the
    /// clone (and counts in meanwhile, as the helper does) and leaves
    /// after (see `cgroup::fork_into_v1_pids`).
    fn spawn_setns(&mut self, spawn: &Spawn, process: bool) -> Result<Pid, Error> {
        if !self.processes.is_empty() {
            return Err(Error::OutOfOrder {
                reason: "a launch spawns its setns child once",
            });
        }
        if !spawn.namespaces.is_empty() || spawn.pid_namespace.is_some() {
            return Err(Error::Options {
                reason: "a setns process joins the container's namespaces; it cannot create or join others",
            });
        }
        let container = self.container.as_ref().ok_or(Error::Options {
            reason: "a setns plan needs the container to join (Options::container)",
        })?;
        container.check_running()?;
        let paths = self.container_cgroups.as_ref().filter(|_| spawn.cgroup);
        let cgroup = paths
            .and_then(CgroupPaths::v2)
            .map(|dir| std::fs::File::open(&dir.path).map_err(Error::file(&dir.path)))
            .transpose()?;
        // A process cloned into a container with a v1 pids limit is
        // cloned in its pids cgroup, where the limit holds it, rather than
        // joining it.
        let fork_in = match paths.filter(|_| process) {
            Some(paths) => cgroup::fork_into_v1_pids(paths)?,
            None => None,
        };
        let born_in = fork_in
            .as_ref()
            .and_then(|_| paths?.v1_with("pids"))
            .map(|dir| dir.file("tasks"));
        let join = match paths {
            Some(paths) => cgroup::v1_tasks(paths)
                .map_err(Error::from)?
                .into_iter()
                .filter(|(_, path)| Some(path) != born_in.as_ref())
                .map(|(tasks, path)| {
                    let report = Report::new(
                        &format!("write of 0 to {} before exec", path.display()),
                        ChildStep::Cgroup,
                    );
                    (tasks, report)
                })
                .collect(),
            None => Vec::new(),
        };
        let before_exec = match process {
            true => before_exec::prepare(container, self.program.is_static())?,
            false => None,
        };
        let spawning = spawn::Spawning::begin();
        let (parent_end, child_end) = launch_socket()?;
        let spec = CloneSpec {
            namespaces: 0,
            // A pidfd names its process's pid namespace (Linux 5.8).
            pid_namespace: process.then(|| container.pidfd()),
            setns_process: process,
            enter: before_exec.as_ref(),
            hold: spawn.hold,
            cgroup: cgroup.as_ref().map(AsFd::as_fd),
            start: None,
            hand_off: None,
            console: self.console.as_ref().map(AsFd::as_fd),
            target: Some(container.pidfd()),
            join: &join,
            fork_in: fork_in.as_ref(),
        };
        let cloned = spawn::clone_init(&self.program, child_end.as_fd(), &self.child_fds, spec);
        self.close_childs_copies(child_end);
        drop(spawning);
        let (pid, pidfd) = cloned?;
        self.spawned(pid, pidfd, parent_end);
        self.spawned_helper = !process;
        Ok(pid)
    }

    /// Closes, right after the clone (done or failed), what the child took
    /// copies of: ours would keep the socket open past the child's exec
    /// and hide its end of stream.
    fn close_childs_copies(&mut self, child_end: OwnedFd) {
        drop(child_end);
        self.child_fds = ChildFds::default();
        // The child's alone: a child that dies before it sends the console
        // leaves the receiver an end of stream rather than a wait.
        self.console = None;
    }

    /// Records a spawned child, whose end of the launch socket is
    /// `parent_end`.
    fn spawned(&mut self, pid: Pid, pidfd: OwnedFd, parent_end: OwnedFd) {
        self.socket = Some(parent_end);
        self.track(pid, pidfd);
    }

    /// Holds `pid` by `pidfd` from now on: watched for its exit, killed and
    /// reaped on drop.
    fn track(&mut self, pid: Pid, pidfd: OwnedFd) {
        self.processes.push(Tracked {
            pid,
            pidfd,
            exit_reported: false,
            reaped: false,
        });
    }

    /// Writes all of `bytes`, waiting for room until `deadline` (`None`: not
    /// at all); `Carry::CgroupTasks` for the config (see [`send_once`]).
    ///
    /// [`send_once`]: LinuxLaunch::send_once
    fn send_all(&mut self, mut bytes: &[u8], deadline: Option<Time>, carry: Carry) -> Result<(), Error> {
        if self.socket.is_none() {
            return Err(Error::OutOfOrder {
                reason: "send before spawn",
            });
        }
        while !bytes.is_empty() {
            match self.send_once(bytes, carry) {
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    let started = clock::now();
                    let writable = match (deadline, self.socket.as_ref()) {
                        (Some(deadline), Some(socket)) => {
                            wait::until_ready(socket.as_fd(), PollFlags::POLLOUT, Some(deadline))
                                .map_err(Error::syscall("ppoll"))?
                        }
                        _ => false,
                    };
                    if !writable {
                        return Err(Error::TimedOut {
                            call: "send",
                            after: clock::now().saturating_since(started),
                        });
                    }
                }
                // The child is gone. Its exit status, and whatever it wrote
                // before it went, say why; the read side reports them.
                Err(Errno::EPIPE | Errno::ECONNRESET) => return Ok(()),
                Err(errno) => return Err(Error::syscall("send")(errno)),
            }
        }
        Ok(())
    }

    /// One send of `bytes`, without waiting: how many went (`ENOTCONN`
    /// before the spawn). With
    /// `Carry::CgroupTasks` (the config), the init's `tasks` files go on
    /// the first bytes that do (`SCM_RIGHTS`), and ours are closed.
    fn send_once(&mut self, bytes: &[u8], carry: Carry) -> Result<usize, Errno> {
        let socket = self.socket.as_ref().ok_or(Errno::ENOTCONN)?.as_raw_fd();
        let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
        if carry == Carry::Nothing || self.cgroup_tasks.is_empty() {
            return socket::send(socket, bytes, flags);
        }
        let fds: Vec<RawFd> = self.cgroup_tasks.iter().map(AsRawFd::as_raw_fd).collect();
        let control = [ControlMessage::ScmRights(&fds)];
        let sent = socket::sendmsg::<()>(socket, &[IoSlice::new(bytes)], &control, flags, None)?;
        if sent > 0 {
            self.cgroup_tasks.clear();
        }
        Ok(sent)
    }

    /// Reads what the socket has: `None` if nothing after all.
    fn read_socket(&self, buf: &mut [u8]) -> Option<Wake> {
        let socket = self.socket.as_ref()?;
        if buf.is_empty() {
            let error = Error::OutOfOrder {
                reason: "wait was given an empty read buffer",
            };
            return Some(Wake::ReadFailed(error.into()));
        }
        loop {
            return match socket::recv(socket.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => Some(Wake::Eof),
                Ok(n) => Some(Wake::Read(n)),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => None,
                // The child closed its end with our bytes unread: that is an
                // end of stream too, after everything it wrote.
                Err(Errno::ECONNRESET) => Some(Wake::Eof),
                Err(errno) => Some(Wake::ReadFailed(Error::syscall("recv")(errno).into())),
            };
        }
    }

    /// The exit of the `index`th process, if it has exited; reported once.
    fn check_exit(&mut self, index: usize) -> Option<Wake> {
        let process = self.processes.get_mut(index)?;
        match wait::exit_status(process.pidfd.as_fd(), Collect::Peek) {
            Ok(Some(status)) => {
                process.exit_reported = true;
                Some(Wake::Exited {
                    pid: process.pid,
                    status,
                })
            }
            Ok(None) => None,
            // ECHILD: someone else reaped it (a SIGCHLD set to SIG_IGN
            // does). Its status is lost; say so rather than wait forever.
            Err(errno) => {
                process.exit_reported = true;
                let error = Error::syscall("waitid(P_PIDFD)")(errno);
                Some(Wake::ReadFailed(error.into()))
            }
        }
    }

    /// Reaps `pid` once it has exited, waiting at most [`REAP_BOUND`] for
    /// that (it has been killed, or has exited already).
    fn reap(&mut self, pid: Pid) -> Result<(), Error> {
        let process = self.tracked(pid)?;
        if process.reaped {
            return Ok(());
        }
        wait::reap_within(process.pidfd.as_fd(), REAP_BOUND)?;
        process.reaped = true;
        Ok(())
    }
}

impl LinuxLaunch {
    /// A resuming launch's start: connects to the hold's listening socket
    /// at `hold` and sends the start byte; the connection is the launch's
    /// channel from then on. A hold nobody listens on (the process ended,
    /// or was started already) refuses the connection.
    ///
    /// The byte goes last: a start that fails never reached the process
    /// (the core kills a resumed process only once its start succeeded).
    fn connect_to_hold(&mut self, hold: &Path) -> Result<(), Error> {
        let stream = UnixStream::connect(hold).map_err(Error::file(hold))?;
        let stream = OwnedFd::from(stream);
        fcntl(&stream, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(Error::syscall("fcntl(O_NONBLOCK)"))?;
        // One byte into a new connection: there is always room for it,
        // even without blocking.
        match socket::send(stream.as_raw_fd(), &[RELEASE], MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => {}
            Err(errno) => return Err(Error::syscall("send of the start byte")(errno)),
        }
        self.socket = Some(stream);
        Ok(())
    }
}

/// The launch socket: the parent's end (non-blocking) and the child's.
fn launch_socket() -> Result<(OwnedFd, OwnedFd), Error> {
    let (parent_end, child_end) = socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(Error::syscall("socketpair"))?;
    // Only the parent's end: the child reads its own end blocking.
    fcntl(&parent_end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(Error::syscall("fcntl(O_NONBLOCK)"))?;
    Ok((parent_end, child_end))
}

/// The steps that wait on the child, without waiting: for a driver that
/// learns readiness itself ([`crate::driver::Driver`], or an async runtime
/// watching [`socket`](LinuxLaunch::socket) and
/// [`pidfd`](LinuxLaunch::pidfd)) in place of [`Wait::wait`] and the
/// waiting commands ([`Command::Send`](cradle_core::Command::Send),
/// [`Command::Reap`](cradle_core::Command::Reap)).
impl LinuxLaunch {
    /// Writes what fits of `bytes` (the config: an init's `tasks` files go
    /// with its first bytes) now and returns how many bytes are done
    /// with: 0 when the socket is full, all of them once the child is gone
    /// (its exit status and what it wrote say why; the read side reports
    /// them).
    pub fn try_send(&mut self, bytes: &[u8]) -> Result<usize, Error> {
        if self.socket.is_none() {
            return Err(Error::OutOfOrder {
                reason: "send before spawn",
            });
        }
        loop {
            return match self.send_once(bytes, Carry::CgroupTasks) {
                Ok(n) => Ok(n),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => Ok(0),
                Err(Errno::EPIPE | Errno::ECONNRESET) => Ok(bytes.len()),
                Err(errno) => Err(Error::syscall("send")(errno)),
            };
        }
    }

    /// Reads what the socket has now: `None` when it has nothing (or there
    /// is no socket).
    pub fn try_read(&self, buf: &mut [u8]) -> Option<Wake> {
        self.read_socket(buf)
    }

    /// The exit of `pid`, a process of this launch, if it has exited and
    /// that has not been reported yet; it stays unreaped.
    pub fn try_exit(&mut self, pid: Pid) -> Option<Wake> {
        let index = self
            .processes
            .iter()
            .position(|p| p.pid == pid && !p.exit_reported && !p.reaped)?;
        self.check_exit(index)
    }

    /// Reaps `pid` if it has exited; true once it is reaped.
    pub fn try_reap(&mut self, pid: Pid) -> Result<bool, Error> {
        let process = self.tracked(pid)?;
        if process.reaped {
            return Ok(true);
        }
        match wait::exit_status(process.pidfd.as_fd(), Collect::Reap) {
            // ECHILD: reaped by someone else; either way it is gone.
            Ok(Some(_)) | Err(Errno::ECHILD) => {
                process.reaped = true;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(errno) => Err(Error::syscall("waitid(P_PIDFD)")(errno)),
        }
    }
}

impl Drop for LinuxLaunch {
    fn drop(&mut self) {
        if self.resume_at.is_some() {
            // Not our process: a failed resume has killed it already.
            return;
        }
        let live: Vec<Pid> = self
            .processes
            .iter()
            .filter(|p| !p.reaped)
            .map(|p| p.pid)
            .collect();
        for &pid in &live {
            if let Ok(process) = self.tracked(pid) {
                let _ = sys::pidfd_send_signal(process.pidfd.as_fd(), Some(Signal::SIGKILL));
            }
        }
        // A helper abandoned before its fork was adopted may have left one
        // (see `Command::ReapStrays`): swept while the helper is unreaped.
        if let (Some(helper), 1) = (self.helper(), self.processes.len()) {
            let _ = setns::reap_strays(helper, &[helper]);
        }
        for pid in live {
            let _ = self.reap(pid);
        }
        if let Some(cgroup) = self.cgroup.take() {
            let _ = cgroup.destroy();
        }
    }
}

impl Clock for LinuxLaunch {
    fn now(&mut self) -> Time {
        clock::now()
    }
}

impl Processes for LinuxLaunch {
    fn spawn(&mut self, spawn: &Spawn) -> Result<Pid, CommandError> {
        match spawn.role {
            Role::Init => Ok(self.spawn_init(spawn)?),
            Role::SetnsHelper => Ok(self.spawn_setns(spawn, false)?),
            Role::SetnsProcess => Ok(self.spawn_setns(spawn, true)?),
        }
    }

    fn write_id_maps(&mut self, pid: Pid, maps: &IdMaps) -> Result<(), CommandError> {
        self.tracked(pid)?;
        Ok(id_maps::write(pid, maps)?)
    }

    fn release(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.tracked(pid)?;
        // The first byte on a new socket: there is always room for it.
        Ok(self.send_all(&[RELEASE], None, Carry::Nothing)?)
    }

    fn start(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.tracked(pid)?;
        if let Some(hold) = self.resume_at.clone() {
            return Ok(self.connect_to_hold(&hold)?);
        }
        let pipe = self.start.take().ok_or(Error::OutOfOrder {
            reason: "start of a process that does not hold after ready",
        })?;
        // One byte into an empty pipe: it never blocks. A child that died
        // meanwhile makes it fail with EPIPE (HeldProcess::start hears of
        // an exit first where it can).
        match nix::unistd::write(&pipe, &[RELEASE]) {
            Ok(_) => Ok(()),
            Err(errno) => Err(Error::syscall("write of the start byte")(errno).into()),
        }
    }

    fn hand_off(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.tracked(pid)?;
        if !self.can_hand_off {
            return Err(Error::Options {
                reason: "a hold is handed off only with a listener (Options::hand_off_listener)",
            }
            .into());
        }
        let pipe = self.start.take().ok_or(Error::OutOfOrder {
            reason: "hand-off of a process that does not hold after ready",
        })?;
        // The byte then the end of file: the init reads the byte first, and
        // from then on waits on its listener, not on this pipe.
        match nix::unistd::write(&pipe, &[HAND_OFF]) {
            Ok(_) => Ok(()),
            Err(errno) => Err(Error::syscall("write of the hand-off byte")(errno).into()),
        }
    }

    fn adopt(&mut self, helper: Pid, pid: Pid) -> Result<(), CommandError> {
        self.tracked(helper)?;
        if self.processes.iter().any(|p| p.pid == pid) {
            return Err(Error::ForgedPid {
                pid,
                reason: "a process of this launch already",
            }
            .into());
        }
        let container = self.container.as_ref().ok_or(Error::OutOfOrder {
            reason: "adopt without a container",
        })?;
        let pidfd = setns::adopt(container, helper, pid)?;
        self.track(pid, pidfd);
        Ok(())
    }

    fn kill(&mut self, pid: Pid) -> Result<(), CommandError> {
        let process = self.tracked(pid)?;
        if process.reaped {
            return Err(Error::Reaped { pid }.into());
        }
        sys::pidfd_send_signal(process.pidfd.as_fd(), Some(Signal::SIGKILL))
            .map_err(Error::syscall("pidfd_send_signal"))?;
        Ok(())
    }

    fn reap(&mut self, pid: Pid) -> Result<(), CommandError> {
        Ok(LinuxLaunch::reap(self, pid)?)
    }

    fn reap_strays(&mut self, helper: Pid) -> Result<(), CommandError> {
        if self.helper() != Some(helper) {
            return Err(Error::UnknownProcess { pid: helper }.into());
        }
        Ok(setns::reap_strays(helper, &self.held())?)
    }
}

impl Cgroups for LinuxLaunch {
    fn create_cgroup(&mut self) -> Result<(), CommandError> {
        let config = self.cgroup_config.as_ref().ok_or(Error::Options {
            reason: "the plan asks for a cgroup but the options name none",
        })?;
        let cgroup = Cgroup::create_for_launch(self.planned_cgroup.clone(), config);
        self.cgroup = Some(cgroup.map_err(Error::from)?);
        Ok(())
    }

    fn apply_cgroup(&mut self, pid: Pid) -> Result<(), CommandError> {
        // After a clone into the cgroup this covers the v1 hierarchies of a
        // hybrid host, and skips the v2 one the child is in already.
        let cgroup = self.cgroup.as_mut().ok_or(Error::OutOfOrder {
            reason: "apply before the cgroup was created",
        })?;
        // The spawn finished it already, unless its child was not cloned
        // into the cgroup: never a process in it without all of it (its
        // v1 directories, its device rules) past this step.
        cgroup.finish_after_clone().map_err(Error::from)?;
        // The v1 hierarchies' `tasks` files go with the config: the init
        // joins those first thing, before any set-up step.
        let placed = if self.init_joins_v1 {
            cgroup.apply_but_v1(pid.as_raw())
        } else {
            cgroup.apply(pid.as_raw())
        };
        placed.map_err(Error::from)?;
        Ok(())
    }

    fn enter_cgroup(&mut self, pid: Pid) -> Result<(), CommandError> {
        let paths = self.container_cgroups.as_ref().ok_or(Error::Options {
            reason: "the plan asks to enter the container's cgroups but the options name none",
        })?;
        // The setns process was born in them all (see `spawn_setns`): this
        // checks that it still is, and writes nothing where it is. A
        // process cloned without a helper joins its v1 cgroups itself
        // before its `exec` (but a limited pids one, where it was cloned),
        // maybe after this (a failure it reports), as an init does: the
        // check is its v2 cgroup's, where it was cloned.
        let v2_only;
        let checked = if self.spawned_helper {
            paths
        } else {
            v2_only = paths.without_v1();
            &v2_only
        };
        cgroup::enter(checked, pid.as_raw()).map_err(Error::from)?;
        Ok(())
    }

    fn destroy_cgroup(&mut self) -> Result<(), CommandError> {
        match self.cgroup.take() {
            Some(cgroup) => {
                // Best effort: a count that cannot be read leaves the
                // failure as the core reported it.
                self.oom_kills = cgroup.oom_kills().ok().flatten();
                Ok(cgroup.destroy().map_err(Error::from)?)
            }
            None => Ok(()),
        }
    }
}

impl Interfaces for LinuxLaunch {
    /// A veth pair: the host end here, the peer created straight in the
    /// child's network namespace (a new one: the plan checks have made
    /// sure), where the child finishes it.
    fn create_interface(
        &mut self,
        pid: Pid,
        _index: usize,
        interface: &Interface,
    ) -> Result<(), CommandError> {
        match interface {
            // The child brings `lo` up itself; nothing on the host side.
            Interface::Loopback => Ok(()),
            Interface::Veth(veth) => {
                self.tracked(pid)?;
                let netns = net::host::open_netns(pid).map_err(Error::from)?;
                Ok(net::host::create(veth, netns.as_fd()).map_err(Error::from)?)
            }
        }
    }

    /// Deletes the pair by its host end; a pair already gone with the
    /// child's network namespace is fine.
    fn remove_interface(&mut self, _index: usize, interface: &Interface) -> Result<(), CommandError> {
        match interface {
            Interface::Loopback => Ok(()),
            Interface::Veth(veth) => Ok(net::host::remove(veth).map_err(Error::from)?),
        }
    }
}

impl Channel for LinuxLaunch {
    /// The config, the one thing sent; an init's `tasks` files go with it.
    fn send(&mut self, bytes: &[u8], deadline: Time) -> Result<(), CommandError> {
        Ok(self.send_all(bytes, Some(deadline), Carry::CgroupTasks)?)
    }

    fn shutdown_write(&mut self) -> Result<(), CommandError> {
        let socket = self.socket.as_ref().ok_or(Error::OutOfOrder {
            reason: "half-close before spawn",
        })?;
        match socket::shutdown(socket.as_raw_fd(), Shutdown::Write) {
            // The child is gone; the read side reports why.
            Ok(()) | Err(Errno::ENOTCONN) => Ok(()),
            Err(errno) => Err(Error::syscall("shutdown(SHUT_WR)")(errno).into()),
        }
    }

    fn close(&mut self) -> Result<(), CommandError> {
        self.socket = None;
        self.start = None;
        Ok(())
    }
}

impl Wait for LinuxLaunch {
    fn wait(&mut self, deadline: Option<Time>, read: bool, buf: &mut [u8]) -> Wake {
        loop {
            let socket = self.socket.as_ref().filter(|_| read).map(AsFd::as_fd);
            let watched: Vec<usize> = (0..self.processes.len())
                .filter(|&i| !self.processes[i].exit_reported && !self.processes[i].reaped)
                .collect();
            let mut fds: Vec<PollFd<'_>> = socket
                .iter()
                .map(|&fd| PollFd::new(fd, PollFlags::POLLIN))
                .chain(
                    watched
                        .iter()
                        .map(|&i| PollFd::new(self.processes[i].pidfd.as_fd(), PollFlags::POLLIN)),
                )
                .collect();
            if fds.is_empty() && deadline.is_none() {
                // Nothing can ever wake this wait: return rather than hang.
                return Wake::Deadline;
            }
            match wait::ready(&mut fds, deadline) {
                Ok(0) => return Wake::Deadline,
                Ok(_) => {}
                Err(errno) => return Wake::ReadFailed(Error::syscall("ppoll")(errno).into()),
            }
            let socket_ready = socket.is_some() && fds.first().is_some_and(wait::readable);
            let offset = usize::from(socket.is_some());
            let exited: Vec<usize> = watched
                .iter()
                .enumerate()
                .filter(|&(slot, _)| fds.get(slot + offset).is_some_and(wait::readable))
                .map(|(_, &i)| i)
                .collect();
            drop(fds);
            // The socket first: what a child wrote before it exited is read
            // before its exit is reported.
            if socket_ready {
                if let Some(wake) = self.read_socket(buf) {
                    return wake;
                }
            }
            for index in exited {
                if let Some(wake) = self.check_exit(index) {
                    return wake;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn launches_and_processes_can_move_between_threads() {
        // A runtime drives launches on its own threads.
        assert_send::<LinuxLaunch>();
        assert_send::<Process>();
    }

    #[test]
    fn a_new_launch_holds_nothing() {
        let launch = LinuxLaunch::new(Options::new()).expect("launch");
        assert!(launch.socket().is_none());
        assert!(launch.pidfd(Pid::new(1).expect("pid")).is_none());
    }
}
