//! Starting the child: `clone3` into the new namespaces (a setns helper
//! into none, a setns process into the container's pid namespace and,
//! where it can, its other namespaces and root: [`in_container`]), then
//! `exec` of the init binary with the launch socket on a known descriptor.
//!
//! Everything the child needs is prepared here, before the clone; the child
//! itself ([`pre_exec`]) only closes the launcher's other descriptors,
//! joins the cgroups it is given and what of the container it was not born
//! in, copies descriptors, sets its parent-death signal, waits for the
//! release byte when asked to, and `exec`s.

mod fork_in_v1;
mod in_container;
mod pid_namespace;
mod pre_exec;
mod real_gid;
mod report;
mod sealed;

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::resource::{getrlimit, Resource};

use cradle_core::{NamespaceKind, Pid};

use self::fork_in_v1::ThreadInCgroup;
use self::in_container::WayBack;
pub(crate) use self::pid_namespace::can_clone_into;
use self::pid_namespace::ChildrenInJoined;
use self::pre_exec::PreExec;
use self::real_gid::RealGidApart;
pub(crate) use self::report::Report;
use self::report::Reports;
use crate::cgroup::PidsFork;
use crate::error::Error;
use crate::options::InitBinary;
use crate::setns::before_exec::BeforeExec;
use crate::sys::{self, Cloned};

/// The environment variable that makes [`init`](crate::init) take the init
/// role; its value is the launch socket's descriptor, with
/// `:<soft>:<hard>:<stack>` after it for an init cloned into a pid
/// namespace joined by path (the launcher's core file size limit and its
/// stack's soft limit, which it restores).
pub(crate) const INIT_ENV: &str = "_CRADLE_INIT";

/// The environment variable that makes [`init`](crate::init) take a setns
/// role: `<socket fd>:<target pidfd fd>:<target pid>` for the helper, with
/// `:`[`CLONED`]`:<soft>:<hard>:<stack>` after it for a process cloned
/// into the container's pid namespace (the launcher's core file size limit
/// and its stack's soft limit, which it restores); the target is the init
/// of the container to join.
pub(crate) const SETNS_ENV: &str = "_CRADLE_SETNS";

/// The fourth field of [`SETNS_ENV`] for a setns process cloned into the
/// container's pid namespace, which joins the rest itself.
pub(crate) const CLONED: &str = "cloned";

/// The fourth field of [`SETNS_ENV`] for a setns process cloned into the
/// container's pid namespace that joined every namespace but the user one,
/// and the root, before its `exec`; then `:1` if it is left to join the
/// container's user namespace, else `:0`.
pub(crate) const ENTERED: &str = "entered";

/// Where the running program is, for [`InitBinary::CurrentExe`].
const CURRENT_EXE: &CStr = c"/proc/self/exe";
const CURRENT_EXE_PATH: &str = "/proc/self/exe";

/// The init binary, ready to `exec`.
#[derive(Debug)]
pub(crate) struct InitProgram {
    /// The sealed copy of the binary that is `exec`d (see [`sealed`]).
    binary: BorrowedFd<'static>,
    /// `argv[0]`: the binary's path as given.
    path: CString,
    /// `_CRADLE_INIT=<socket_fd>` (or a setns helper's [`SETNS_ENV`]): the
    /// init binary's whole environment (the container's own comes with the
    /// config).
    env: CString,
    /// Where the socket lands in the child: right after stdio and the
    /// preserved descriptors.
    socket_fd: RawFd,
    /// Where a setns helper or process finds the pidfd of the container's
    /// init: right after the socket.
    target_fd: Option<RawFd>,
    reports: Reports,
}

impl InitProgram {
    /// The program for `init`, in a child that gets `preserved` descriptors
    /// after stdio.
    pub(crate) fn new(init: &InitBinary, preserved: usize) -> Result<InitProgram, Error> {
        if let Some(reason) = crate::init::role_not_taken() {
            return Err(Error::Options { reason });
        }
        let path = match init {
            InitBinary::CurrentExe => CString::from(CURRENT_EXE),
            InitBinary::Path(path) => {
                CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Options {
                    reason: "the init binary's path holds a NUL byte",
                })?
            }
        };
        let binary = match init {
            InitBinary::CurrentExe => sealed::sealed(std::path::Path::new(CURRENT_EXE_PATH))?,
            InitBinary::Path(path) => sealed::sealed(path)?,
        };
        let socket_fd = i32::try_from(preserved)
            .ok()
            .and_then(|n| n.checked_add(3))
            .ok_or(Error::Options {
                reason: "too many preserved descriptors",
            })?;
        let env = CString::new(format!("{INIT_ENV}={socket_fd}")).map_err(|_| Error::Options {
            reason: "unreachable: the init variable holds a NUL byte",
        })?;
        let shown = match init {
            InitBinary::CurrentExe => CURRENT_EXE.to_string_lossy(),
            InitBinary::Path(path) => path.to_string_lossy(),
        };
        Ok(InitProgram {
            reports: Reports::new(&shown),
            binary,
            path,
            env,
            socket_fd,
            target_fd: None,
        })
    }

    /// The program for a setns helper or process that joins the container
    /// whose init is `target`, in a child that gets `preserved` descriptors
    /// after stdio.
    pub(crate) fn setns(init: &InitBinary, preserved: usize, target: Pid) -> Result<InitProgram, Error> {
        let mut program = InitProgram::new(init, preserved)?;
        let target_fd = program.socket_fd.checked_add(1).ok_or(Error::Options {
            reason: "too many preserved descriptors",
        })?;
        let value = format!("{SETNS_ENV}={}:{target_fd}:{target}", program.socket_fd);
        let nul = |_| Error::Options {
            reason: "unreachable: the setns variable holds a NUL byte",
        };
        program.env = CString::new(value).map_err(nul)?;
        program.target_fd = Some(target_fd);
        Ok(program)
    }

    /// Whether the binary names no program interpreter: it starts the same
    /// from the container's root as from the host's (read now).
    pub(crate) fn is_static(&self) -> bool {
        sealed::is_static(self.binary)
    }
}

/// The descriptors the child gets: stdio (where given) and the preserved
/// ones, at 0, 1, 2 and from 3 on.
#[derive(Debug, Default)]
pub(crate) struct ChildFds {
    pub(crate) stdio: [Option<OwnedFd>; 3],
    pub(crate) preserved: Vec<OwnedFd>,
}

/// Held from the making of a child's own descriptors (its end of the
/// launch socket, its start pipe) until the parent has closed its copies,
/// after the clone: no other launch clones meanwhile, on another thread,
/// whose child would get copies too. It closes them first thing (see
/// `PreExec::run`), but on a loaded machine that first thing may come
/// long after this child's `exec`, whose end of stream on the socket the
/// launch waits for.
pub(crate) struct Spawning {
    _held: std::sync::MutexGuard<'static, ()>,
}

impl Spawning {
    pub(crate) fn begin() -> Spawning {
        static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        // Guards no data: a panic while it was held leaves nothing broken.
        Spawning {
            _held: SPAWNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }
}

/// How to clone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CloneSpec<'a> {
    /// `CLONE_NEW*` flags.
    pub(crate) namespaces: u64,
    /// A pid namespace to clone the child into, open (a namespace file, or
    /// a setns process's pidfd of the container's init): never with
    /// `CLONE_NEWPID` in `namespaces`.
    pub(crate) pid_namespace: Option<BorrowedFd<'a>>,
    /// A setns process (not its helper): it `exec`s with the program's
    /// variable for a process.
    pub(crate) setns_process: bool,
    /// What a setns process joins before it `exec`s the init binary
    /// (see `setns::before_exec`); without it, it joins everything after.
    pub(crate) enter: Option<&'a BeforeExec>,
    /// The child waits for one byte on the socket before `exec`.
    pub(crate) hold: bool,
    /// Clone straight into this cgroup2 directory.
    pub(crate) cgroup: Option<BorrowedFd<'a>>,
    /// An init that holds after `ready`: the read end of the pipe its
    /// start comes on, placed at [`start_fd`].
    pub(crate) start: Option<BorrowedFd<'a>>,
    /// An init whose hold may be handed off: the listening socket it then
    /// accepts its start on, placed at [`hand_off_fd`].
    pub(crate) hand_off: Option<BorrowedFd<'a>>,
    /// The socket a console is sent on, placed at [`console_fd`].
    pub(crate) console: Option<BorrowedFd<'a>>,
    /// A setns helper's or process's pidfd of the container's init, placed
    /// where the program says.
    pub(crate) target: Option<BorrowedFd<'a>>,
    /// The `tasks` files of v1 cgroups the child joins before `exec`,
    /// by writing `0` to each (see `Cgroup::v1_tasks`), each with the
    /// report of its failure.
    pub(crate) join: &'a [(OwnedFd, Report)],
    /// Clone in this v1 cgroup, where it is held to the pids limit: the
    /// calling thread moves itself there for the clone, and back (see
    /// `cgroup::fork_into_v1_pids`).
    pub(crate) fork_in: Option<&'a PidsFork>,
}

/// Clones the child, which `exec`s `program` with `socket` (the child's end)
/// and `fds` in place; returns its pid and pidfd. The caller closes its
/// copies of `socket` and `fds` afterwards.
pub(crate) fn clone_init(
    program: &InitProgram,
    socket: BorrowedFd<'_>,
    fds: &ChildFds,
    spec: CloneSpec<'_>,
) -> Result<(Pid, OwnedFd), Error> {
    // Lift every source above every target (the socket, then a setns
    // helper's target or an init's start pipe, a hand-off listener, a
    // console socket), so that placing one never overwrites another's
    // source.
    let floor = console_fd(program.socket_fd) + 1;
    let mut lifted = Vec::with_capacity(fds.preserved.len() + 4);
    let mut placements = Vec::with_capacity(fds.preserved.len() + 4);
    let targets = (0..)
        .zip(fds.stdio.iter().map(Option::as_ref))
        .chain((3..).zip(&fds.preserved).map(|(target, fd)| (target, Some(fd))));
    for (target, fd) in targets {
        if let Some(fd) = fd {
            let high = dup_above(fd.as_fd(), floor)?;
            placements.push((high.as_raw_fd(), target));
            lifted.push(high);
        }
    }
    let socket = dup_above(socket, floor)?;
    placements.push((socket.as_raw_fd(), program.socket_fd));
    // The sealed binary, above every placement so that none overwrites
    // it; the child execs it through its descriptor.
    let binary = dup_above(program.binary, floor)?;
    let binary_path =
        CString::new(format!("/proc/self/fd/{}", binary.as_raw_fd())).map_err(|_| Error::Options {
            reason: "unreachable: a descriptor path holds a NUL byte",
        })?;
    if let Some(start) = spec.start {
        if program.target_fd.is_some() {
            return Err(Error::OutOfOrder {
                reason: "a setns helper never holds after ready",
            });
        }
        let high = dup_above(start, floor)?;
        placements.push((high.as_raw_fd(), start_fd(program.socket_fd)));
        lifted.push(high);
    }
    if let Some(listener) = spec.hand_off {
        if spec.start.is_none() {
            return Err(Error::OutOfOrder {
                reason: "only a process that holds after ready can be handed off",
            });
        }
        let high = dup_above(listener, floor)?;
        placements.push((high.as_raw_fd(), hand_off_fd(program.socket_fd)));
        lifted.push(high);
    }
    if let Some(console) = spec.console {
        let high = dup_above(console, floor)?;
        placements.push((high.as_raw_fd(), console_fd(program.socket_fd)));
        lifted.push(high);
    }
    let mut target_copy = None;
    match (spec.target, program.target_fd) {
        (Some(target), Some(target_fd)) => {
            let high = dup_above(target, floor)?;
            placements.push((high.as_raw_fd(), target_fd));
            target_copy = Some(high.as_raw_fd());
            lifted.push(high);
        }
        (None, None) => {}
        _ => {
            return Err(Error::OutOfOrder {
                reason: "a setns child needs its target, and only a setns child takes one",
            })
        }
    }
    // A setns process's variable says what it joined before its `exec`.
    let process_env;
    let env = match (spec.setns_process, spec.enter, target_copy) {
        (false, None, _) => program.env.as_c_str(),
        (true, None, Some(_)) => {
            process_env = with_fields(&program.env, &format!(":{CLONED}"))?;
            process_env.as_c_str()
        }
        (true, Some(enter), Some(_)) => {
            let user = u8::from(enter.user_left);
            process_env = with_fields(&program.env, &format!(":{ENTERED}:{user}"))?;
            process_env.as_c_str()
        }
        _ => {
            return Err(Error::OutOfOrder {
                reason: "a setns process needs the setns program, and only it enters before its exec",
            })
        }
    };
    // Born into a pid namespace that has processes already (a running
    // container's, or one joined by path; never a setns helper's): see
    // `PreExec::run`. Its variable carries the launcher's core file size
    // limit, which it restores once it is not dumpable, and its stack's
    // soft limit, which its secure `exec` may have lowered (`real_gid`).
    let launchers_core = spec.pid_namespace.map(|_| launchers_core_limit()).transpose()?;
    let with_limits;
    let env = match launchers_core {
        Some((soft, hard)) => {
            let (stack, _) =
                getrlimit(Resource::RLIMIT_STACK).map_err(Error::syscall("getrlimit(RLIMIT_STACK)"))?;
            with_limits = with_fields(env, &format!(":{soft}:{hard}:{stack}"))?;
            with_limits.as_c_str()
        }
        None => env,
    };
    // Born inside the container where the launching thread can enter it
    // and come back (see `in_container`); else the child enters before
    // its `exec`. What a thread does not enter is the child's either way.
    let thread_flags = in_container::thread_flags();
    let way_back = match spec.enter {
        Some(enter) if crate::proc_stat::own_thread_count()? == 1 => {
            // Where it cannot come back, the child enters instead.
            WayBack::prepare(enter.namespaces & thread_flags).ok()
        }
        _ => None,
    };
    let born_inside = way_back.is_some();
    let root = match spec.enter {
        Some(enter) if !born_inside => Some(dup_above(enter.root.as_fd(), floor)?),
        _ => None,
    };
    let enter = match (spec.enter, target_copy) {
        (Some(enter), Some(pidfd)) => Some(pre_exec::Enter {
            pidfd,
            namespaces: clone_flags(match born_inside {
                true => enter.namespaces & !thread_flags,
                false => enter.namespaces,
            })?
            .bits(),
            root: root.as_ref().map(AsRawFd::as_raw_fd),
        }),
        _ => None,
    };

    // Above every placement too; close-on-exec, they go with the `exec`.
    let lifted_tasks = spec
        .join
        .iter()
        .map(|(tasks, _)| dup_above(tasks.as_fd(), floor))
        .collect::<Result<Vec<_>, _>>()?;
    let join: Vec<(BorrowedFd<'_>, &Report)> = lifted_tasks
        .iter()
        .zip(spec.join)
        .map(|(tasks, (_, report))| (tasks.as_fd(), report))
        .collect();

    // What the child closes nothing of: it closes every other descriptor.
    let mut keep: Vec<RawFd> = placements.iter().map(|&(from, _)| from).collect();
    keep.push(binary.as_raw_fd());
    keep.extend(root.as_ref().map(AsRawFd::as_raw_fd));
    keep.extend(lifted_tasks.iter().map(AsRawFd::as_raw_fd));
    keep.sort_unstable();
    keep.dedup();

    let own_user_namespace = spec.namespaces & namespace_flag(NamespaceKind::User) != 0;
    let pre_exec = PreExec {
        program,
        binary: &binary_path,
        binary_fd: binary.as_raw_fd(),
        argv: [program.path.as_ptr(), std::ptr::null()],
        envp: [env.as_ptr(), std::ptr::null()],
        placements: &placements,
        keep: &keep,
        socket: socket.as_fd(),
        hold: spec.hold,
        core_limit: launchers_core
            .map(|(_, hard)| core_limit_until_set_up(own_user_namespace, hard))
            .transpose()?,
        become_root: own_user_namespace,
        join: &join,
        enter,
    };
    // No CLONE_VFORK: the parent does not wait for the child's `exec`, but
    // makes its v1 cgroups and sends its config meanwhile (the
    // child reads the config only after its `exec`, and runs nothing of
    // its own before). A launcher that dies before the child has armed
    // its parent-death signal leaves it reading the end of the launch
    // socket: it exits, as a held child does.
    let mut flags = spec.namespaces | sys::CLONE_CLEAR_SIGHAND;
    if spec.cgroup.is_some() {
        flags |= sys::CLONE_INTO_CGROUP;
    }
    // For this clone only: set back when dropped on return, in the parent,
    // whether the clone succeeded or not (the child never returns).
    let _blocked = launchers_core.map(|_| SignalsBlocked::block()).transpose()?;
    let _in_joined = spec.pid_namespace.map(ChildrenInJoined::enter).transpose()?;
    let in_cgroup = spec
        .fork_in
        .map(|fork| ThreadInCgroup::enter(fork.container.as_fd(), fork.own.as_fd()))
        .transpose()?;
    // The thread in the container for the clone alone: back before
    // anything else runs on it, the cgroup's way back included.
    let inside = match (way_back, spec.enter, spec.target) {
        (Some(way_back), Some(enter), Some(target)) => {
            Some(way_back.enter(target, enter.namespaces & thread_flags, enter.root.as_fd())?)
        }
        _ => None,
    };
    // Born among a pid namespace's processes: with a real gid apart from
    // its effective one, which none of theirs can match (see `real_gid`).
    // Not with a user namespace of its own (it becomes root there before
    // its `exec`, and the root of the pid namespace it joins owns that
    // namespace anyway), nor with a standard descriptor closed: a secure
    // `exec`'s C library opens the root's `/dev/null` (glibc's, `/dev/full`
    // for stdin) in its place, and ends the process where that is not the
    // device.
    let apart = match launchers_core {
        Some(_) if !pre_exec.become_root && standard_fds_open(fds) => RealGidApart::take()?,
        _ => None,
    };
    // SAFETY: the child runs `PreExec::run` only, which makes
    // async-signal-safe calls and execs or exits; no flag shares memory or
    // threads with the parent; `spec.cgroup` is a valid fd when set.
    let cloned = match unsafe { sys::clone3(flags, spec.cgroup) } {
        Ok(Cloned::Child) => pre_exec.run(),
        Ok(Cloned::Parent { pid, pidfd }) => (pid, pidfd),
        Err(errno) => return Err(Error::syscall("clone3")(errno)),
    };
    // The thread back to its own gid, namespaces and cgroup before anything
    // else runs on it. One that cannot get back would give the gid to every
    // later child, or count against the container's pids limit and charge
    // it every fork: the launch fails, its child with it.
    let back = apart.map_or(Ok(()), RealGidApart::leave);
    drop(inside);
    let back = back.and(in_cgroup.map_or(Ok(()), ThreadInCgroup::leave));
    if let Err(error) = back {
        let (_, pidfd) = cloned;
        crate::wait::kill_and_reap(pidfd.as_fd(), crate::launch::REAP_BOUND);
        return Err(error);
    }
    Ok(cloned)
}

/// Whether the child's descriptors 0, 1 and 2 are open: those `fds` gives
/// it, or else the launcher's own.
fn standard_fds_open(fds: &ChildFds) -> bool {
    (0..)
        .zip(&fds.stdio)
        .all(|(fd, given)| given.is_some() || sys::fd_is_open(fd))
}

/// The calling process's core file size limit: soft, hard.
fn launchers_core_limit() -> Result<(u64, u64), Error> {
    getrlimit(Resource::RLIMIT_CORE).map_err(Error::syscall("getrlimit(RLIMIT_CORE)"))
}

/// A role's variable `env` with `fields` after its value.
fn with_fields(env: &CStr, fields: &str) -> Result<CString, Error> {
    let mut bytes = env.to_bytes().to_vec();
    bytes.extend_from_slice(fields.as_bytes());
    CString::new(bytes).map_err(|_| Error::Options {
        reason: "unreachable: the role's variable holds a NUL byte",
    })
}

/// The core file size limit, `[soft, hard]`, of a child born among a pid
/// namespace's processes until its role restores the launcher's: a soft
/// limit of 0, and a hard one of 0 where the child can raise it back
/// (`CAP_SYS_RESOURCE`, which the launcher holds, and no user namespace
/// of the child's own, in which it would not have it over the host).
/// Elsewhere the hard limit stays (the launcher's `hard`): a config's
/// core limit (up to it) must still be settable, and nothing could raise
/// it again.
fn core_limit_until_set_up(own_user_namespace: bool, hard: u64) -> Result<[u64; 2], Error> {
    let effective = sys::capget().map_err(Error::syscall("capget"))?.effective;
    let may_raise = effective & (1 << cradle_core::Capability::SysResource.number()) != 0;
    Ok([0, if may_raise && !own_user_namespace { 0 } else { hard }])
}

/// Every signal blocked in the calling thread until dropped, when its mask
/// is set back: a child cloned meanwhile is born with them all blocked,
/// and keeps them so across `exec`, until its command's (see
/// `PreExec::run`).
struct SignalsBlocked {
    previous: u64,
    /// A mask is the calling thread's: set back on another, it would
    /// leave this one blocked.
    _this_thread: std::marker::PhantomData<*const ()>,
}

impl SignalsBlocked {
    fn block() -> Result<SignalsBlocked, Error> {
        let previous = sys::set_signal_mask(sys::ALL_SIGNALS).map_err(Error::syscall("rt_sigprocmask"))?;
        Ok(SignalsBlocked {
            previous,
            _this_thread: std::marker::PhantomData,
        })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        let _ = sys::set_signal_mask(self.previous);
    }
}

/// Where an init that holds after `ready` finds the read end of its start
/// pipe: right after the launch socket at `socket_fd`. One byte on it lets
/// the init `exec`; its end of file (the parent gone) makes it exit.
pub(crate) fn start_fd(socket_fd: RawFd) -> RawFd {
    socket_fd + 1
}

/// Where an init whose hold may be handed off finds the listening socket
/// it then accepts its start on: after the start pipe. Its parent's
/// hand-off byte on the start pipe makes it close the pipe and wait there
/// instead, for a start from any launcher that can reach the socket.
pub(crate) fn hand_off_fd(socket_fd: RawFd) -> RawFd {
    socket_fd + 2
}

/// Where the child finds the socket it sends the master end of its console
/// on, if it makes one: after the hand-off listener (a setns helper, which
/// has its target at `socket_fd + 1`, leaves it for the process it forks).
pub(crate) fn console_fd(socket_fd: RawFd) -> RawFd {
    socket_fd + 3
}

/// A close-on-exec copy of `fd` numbered `floor` or more.
fn dup_above(fd: BorrowedFd<'_>, floor: RawFd) -> Result<OwnedFd, Error> {
    let copy =
        fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(floor)).map_err(Error::syscall("fcntl(F_DUPFD_CLOEXEC)"))?;
    // SAFETY: F_DUPFD_CLOEXEC made `copy`, a new descriptor; this is its
    // only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// The `CLONE_NEW*` flag of `kind`.
pub(crate) fn namespace_flag(kind: NamespaceKind) -> u64 {
    let flag = match kind {
        NamespaceKind::User => libc::CLONE_NEWUSER,
        NamespaceKind::Mount => libc::CLONE_NEWNS,
        NamespaceKind::Uts => libc::CLONE_NEWUTS,
        NamespaceKind::Ipc => libc::CLONE_NEWIPC,
        NamespaceKind::Pid => libc::CLONE_NEWPID,
        NamespaceKind::Net => libc::CLONE_NEWNET,
        NamespaceKind::Cgroup => libc::CLONE_NEWCGROUP,
        NamespaceKind::Time => libc::CLONE_NEWTIME,
    };
    // The 32-bit flags are positive; going through u32 keeps them so.
    u64::from(flag as u32)
}

/// The directory `path`, as an `O_PATH` descriptor of this thread's view.
pub(crate) fn open_dir(path: &str) -> Result<OwnedFd, Error> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
        .map_err(Error::file(path))?;
    Ok(dir.into())
}

/// `CLONE_NEW*` flags (of [`namespace_flag`]) as `setns` takes them.
fn clone_flags(flags: u64) -> Result<nix::sched::CloneFlags, Error> {
    let flags = i32::try_from(flags).map_err(|_| Error::Options {
        reason: "unreachable: a namespace flag above 32 bits",
    })?;
    Ok(nix::sched::CloneFlags::from_bits_retain(flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_goes_after_the_preserved_descriptors() {
        let program = InitProgram::new(&InitBinary::CurrentExe, 2).expect("program");
        assert_eq!(program.socket_fd, 5);
        assert_eq!(program.env.to_bytes(), b"_CRADLE_INIT=5");
        assert_eq!(program.path.as_c_str(), CURRENT_EXE);
        assert_eq!(program.target_fd, None);
    }

    #[test]
    fn a_setns_child_finds_its_target_after_the_socket() {
        let target = Pid::new(4242).expect("pid");
        let program = InitProgram::setns(&InitBinary::CurrentExe, 1, target).expect("program");
        assert_eq!(program.socket_fd, 4);
        assert_eq!(program.target_fd, Some(5));
        assert_eq!(program.env.to_bytes(), b"_CRADLE_SETNS=4:5:4242");
    }

    #[test]
    fn a_path_with_a_nul_byte_is_refused() {
        let init = InitBinary::Path("/bin/a\0b".into());
        assert!(matches!(InitProgram::new(&init, 0), Err(Error::Options { .. })));
    }

    #[test]
    fn every_namespace_has_its_own_flag() {
        let flags: Vec<u64> = NamespaceKind::ALL
            .iter()
            .map(|&kind| namespace_flag(kind))
            .collect();
        for (i, flag) in flags.iter().enumerate() {
            assert_eq!(flag.count_ones(), 1, "{:?}", NamespaceKind::ALL[i]);
            assert_eq!(flags.iter().filter(|&f| f == flag).count(), 1);
        }
    }
}
