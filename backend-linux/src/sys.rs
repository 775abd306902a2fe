//! The syscalls nix does not wrap: `clone3`, `pidfd_open`,
//! `pidfd_send_signal`, `close_range`, and the two calls of the new mount
//! API that detach a bind mount from the host (`open_tree`, `move_mount`)
//! and change a tree's flags and propagation (`mount_setattr`), and the
//! three that mount a filesystem detached (`fsopen`, `fsconfig`,
//! `fsmount`); `seccomp` to install a filter; `openat2` to resolve without
//! symlinks; `capget`/`capset` and the capability `prctl`s, whose errno
//! the child reports; `rt_sigaction`, `rt_sigprocmask` and
//! `rt_sigtimedwait` raw, for the signals the C library keeps to itself;
//! `kill` and `wait4` for the real-time signals nix's types cannot hold;
//! `_exit`; and the 64-bit clone flags that libc declares as truncated
//! 32-bit constants.
//!
//! Each `unsafe` block here is one syscall.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use cradle_core::Pid;

use crate::Signal;

/// Reset every caught signal to its default in the child, so no handler of
/// the parent's ever runs there before `exec` (Linux 5.5). libc declares it
/// as an `int`, which truncates it to 0.
pub(crate) const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
/// Start the child in the cgroup whose directory fd is in `cgroup`
/// (Linux 5.7, cgroup2 only). libc's constant truncates to 0 as well.
pub(crate) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
/// Return a pidfd for the child (Linux 5.2).
pub(crate) const CLONE_PIDFD: u64 = libc::CLONE_PIDFD as u64;
/// Make the child the caller's sibling: a child of the caller's parent.
pub(crate) const CLONE_PARENT: u64 = libc::CLONE_PARENT as u64;

/// `struct clone_args` as of Linux 5.7 (`CLONE_ARGS_SIZE_VER2`). Every field
/// is a `u64` whatever the architecture, so the layout is the kernel's.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct CloneArgs {
    pub(crate) flags: u64,
    /// Where the kernel stores the pidfd (`CLONE_PIDFD`): a pointer to an
    /// `int`.
    pub(crate) pidfd: u64,
    pub(crate) child_tid: u64,
    pub(crate) parent_tid: u64,
    pub(crate) exit_signal: u64,
    pub(crate) stack: u64,
    pub(crate) stack_size: u64,
    pub(crate) tls: u64,
    pub(crate) set_tid: u64,
    pub(crate) set_tid_size: u64,
    /// A cgroup2 directory fd (`CLONE_INTO_CGROUP`).
    pub(crate) cgroup: u64,
}

/// Which side of a `clone3` this is.
#[derive(Debug)]
pub(crate) enum Cloned {
    /// The new process.
    Child,
    /// The caller, with the child's pid and pidfd.
    Parent { pid: Pid, pidfd: OwnedFd },
}

/// `clone3(flags | CLONE_PIDFD, exit_signal = SIGCHLD)`, on the caller's
/// stack, like `fork`. With [`CLONE_PARENT`] the child signals the caller's
/// parent as the caller does (the kernel refuses any other exit signal).
///
/// # Safety
///
/// As for `fork` in a multi-threaded program: in [`Cloned::Child`] the
/// caller may only make async-signal-safe calls (no allocation, no locks)
/// until it `exec`s or `_exit`s, and must never return into code that does.
/// `flags` must not include `CLONE_VM`, `CLONE_THREAD` or `CLONE_SETTLS`
/// (the child runs on a copy of the caller's stack), and `cgroup` must be a
/// valid fd when `flags` has [`CLONE_INTO_CGROUP`].
pub(crate) unsafe fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Cloned, Errno> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | CLONE_PIDFD,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: if flags & CLONE_PARENT == 0 {
            libc::SIGCHLD as u64
        } else {
            0
        },
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid `clone_args` of the size passed, and the
    // kernel writes the pidfd into `pidfd`, which outlives the call. The
    // caller upholds the fork-like contract above for the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Cloned::Child),
        pid => {
            // SAFETY: with CLONE_PIDFD the kernel stored a new fd that
            // nothing else owns.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            let pid = i32::try_from(pid).ok().and_then(Pid::new).ok_or(Errno::EINVAL)?;
            Ok(Cloned::Parent { pid, pidfd })
        }
    }
}

/// A pidfd for `pid` (close-on-exec; Linux 5.3).
pub(crate) fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process `pidfd` refers to; `ESRCH` once it has been
/// reaped, so a recycled pid is never hit. `None` only checks that it can be
/// signalled.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: Option<Signal>) -> Result<(), Errno> {
    let signal = signal.map_or(0, Signal::number);
    // SAFETY: a valid fd, a signal number, a null `siginfo` (the kernel
    // fills in the usual `kill` info) and no flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_fd().as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `NS_GET_PID_IN_PIDNS`, `_IOR(0xb7, 0x8, int)` (Linux 6.11; not in libc).
const NS_GET_PID_IN_PIDNS: nix::sys::ioctl::ioctl_num_type =
    nix::request_code_read!(0xb7, 0x8, size_of::<libc::c_int>());

/// The number that `pid` (of the caller's pid namespace) has in the pid
/// namespace `namespace` (an nsfs fd): `ESRCH` if it has none, that is if
/// the process is neither in that namespace nor in one below it; `ENOTTY`
/// before Linux 6.11. Unlike `/proc/<pid>/ns/pid` it needs no ptrace access
/// to the process.
pub(crate) fn pid_in_pid_namespace(namespace: BorrowedFd<'_>, pid: Pid) -> Result<Pid, Errno> {
    // SAFETY: an fd and an integer argument, passed by value; the kernel
    // writes nothing to our memory.
    let ret = unsafe { libc::ioctl(namespace.as_raw_fd(), NS_GET_PID_IN_PIDNS, pid.as_raw()) };
    Errno::result(ret).and_then(|raw| Pid::new(raw).ok_or(Errno::ESRCH))
}

/// Sets this process's core file size limit: `[soft, hard]`, as
/// `struct rlimit64` has them. Async-signal-safe: one raw syscall.
pub(crate) fn set_core_limit(limit: &[u64; 2]) -> Result<(), Errno> {
    // SAFETY: prlimit64 of this process (pid 0) reads the two `u64`s of
    // `limit`, which outlive the call, and returns no old limit (null).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_CORE,
            limit.as_ptr(),
            std::ptr::null_mut::<u64>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Sets the calling thread's real gid, its effective and saved ones left
/// as they are: the system call itself, which changes this thread alone
/// (the C library's `setresgid` changes every thread of the process).
pub(crate) fn set_thread_real_gid(gid: libc::gid_t) -> Result<(), Errno> {
    // SAFETY: setresgid with plain integers (`gid_t::MAX` is -1: left as
    // it is); no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_setresgid, gid, libc::gid_t::MAX, libc::gid_t::MAX) };
    Errno::result(ret).map(drop)
}

/// Whether descriptor `fd` of this process is open (`F_GETFD` finds it).
pub(crate) fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on a raw number only reads the descriptor's flags
    // (EBADF if nothing is open there); no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0 || Errno::last() != Errno::EBADF
}

/// Marks every fd from `first` up close-on-exec (Linux 5.11).
pub(crate) fn close_range_cloexec(first: RawFd) -> Result<(), Errno> {
    let first = libc::c_uint::try_from(first).map_err(|_| Errno::EBADF)?;
    // SAFETY: `CLOSE_RANGE_CLOEXEC` only sets flags; no fd is closed, so no
    // owner is invalidated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(ret).map(drop)
}

/// Resets `signal` to its default disposition with no flags and no mask,
/// through the kernel directly: the C library refuses to touch the signals
/// it reserves (32 and 33 with glibc), whose dispositions `exec` keeps all
/// the same when they are ignored.
pub(crate) fn reset_signal(signal: libc::c_int) -> Result<(), Errno> {
    // The kernel's `struct sigaction` with SIG_DFL (0), no flags, no
    // restorer and an empty mask is all zeros, whatever the architecture's
    // field order; 64 bytes cover its size everywhere.
    let action = [0u64; 8];
    // The kernel's signal set, in bytes: one bit per signal.
    let set_size = usize::try_from(libc::SIGRTMAX() + 1).unwrap_or(64) / 8;
    // SAFETY: `action` is readable for the kernel's struct size; the old
    // action is not asked for (null).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            action.as_ptr(),
            std::ptr::null_mut::<libc::c_void>(),
            set_size,
        )
    };
    Errno::result(ret).map(drop)
}

/// Every signal, as a kernel signal set: bit `n - 1` for signal `n`, 1..=64.
/// `SIGKILL` and `SIGSTOP` are in it, but the kernel never blocks them nor
/// waits for them.
pub(crate) const ALL_SIGNALS: u64 = u64::MAX;
/// The size of the kernel's signal set in bytes (`_NSIG / 8`).
const KERNEL_SIGSET_SIZE: usize = size_of::<u64>();

/// Sets this thread's signal mask to `mask` (a kernel signal set, as
/// [`ALL_SIGNALS`]); the mask it had. Through the kernel directly: the C
/// library leaves the signals it reserves (32 and 33 with glibc) out of
/// any mask it is given.
pub(crate) fn set_signal_mask(mask: u64) -> Result<u64, Errno> {
    change_signal_mask(libc::SIG_SETMASK, mask)
}

/// Adds `set` to this thread's signal mask; the mask it had.
pub(crate) fn block_signals(set: u64) -> Result<u64, Errno> {
    change_signal_mask(libc::SIG_BLOCK, set)
}

/// `rt_sigprocmask(how, set)`: the mask the thread had.
fn change_signal_mask(how: libc::c_int, set: u64) -> Result<u64, Errno> {
    let mut old: u64 = 0;
    // SAFETY: both sets are `u64`s of the size passed; the kernel reads
    // `set` and writes `old`, which outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &set as *const u64,
            &mut old as *mut u64,
            KERNEL_SIGSET_SIZE,
        )
    };
    Errno::result(ret).map(|_| old)
}

/// Waits, with no deadline, for a signal of `set` (which the caller has
/// blocked), takes it off the pending ones and returns its number.
pub(crate) fn wait_signal(set: u64) -> Result<libc::c_int, Errno> {
    timed_wait_signal(set, None)
}

/// Takes a pending signal of `set` (which the caller has blocked) off the
/// pending ones, without waiting; its number, or `None` if none is.
pub(crate) fn take_pending_signal(set: u64) -> Result<Option<libc::c_int>, Errno> {
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match timed_wait_signal(set, Some(&now)) {
        Ok(signal) => Ok(Some(signal)),
        Err(Errno::EAGAIN) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// `rt_sigtimedwait` of `set`, for at most `timeout` (`None`: no
/// deadline; the call fails with `EAGAIN` when it passes).
fn timed_wait_signal(set: u64, timeout: Option<&libc::timespec>) -> Result<libc::c_int, Errno> {
    let timeout = timeout.map_or(std::ptr::null(), |timeout| timeout as *const libc::timespec);
    // SAFETY: `set` is a `u64` of the size passed and `timeout` null or a
    // `timespec`, both outliving the call, which the kernel only reads;
    // the info is not asked for (null).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigtimedwait,
            &set as *const u64,
            std::ptr::null_mut::<libc::siginfo_t>(),
            timeout,
            KERNEL_SIGSET_SIZE,
        )
    };
    Errno::result(ret).and_then(|signal| libc::c_int::try_from(signal).map_err(|_| Errno::EINVAL))
}

/// `kill(pid, signal)` with a signal number: nix's `Signal` has no
/// real-time signals.
pub(crate) fn kill_number(pid: libc::pid_t, signal: libc::c_int) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::kill(pid, signal) };
    Errno::result(ret).map(drop)
}

/// Reaps one child that has exited, of any kind (`__WALL`): its pid and
/// wait status. `None` when `block` is false and children remain but none
/// has exited; `ECHILD` once none remain. (nix's `waitpid` fails on a
/// child killed by a real-time signal, and loses its status.)
pub(crate) fn reap_child(block: bool) -> Result<Option<(libc::pid_t, libc::c_int)>, Errno> {
    let mut status: libc::c_int = 0;
    let flags = libc::__WALL | if block { 0 } else { libc::WNOHANG };
    // SAFETY: the kernel writes the status into `status`, which outlives
    // the call; no rusage is asked for (null).
    let pid = unsafe { libc::wait4(-1, &mut status, flags, std::ptr::null_mut()) };
    match Errno::result(pid)? {
        0 => Ok(None),
        pid => Ok(Some((pid, status))),
    }
}

/// Closes every descriptor from `first` up (Linux 5.9).
///
/// # Safety
///
/// As [`close_range`].
pub(crate) unsafe fn close_from(first: RawFd) -> Result<(), Errno> {
    // SAFETY: the caller's promise, for the same range.
    unsafe { close_range(first, RawFd::MAX) }
}

/// Closes the descriptors `first` to `last` (Linux 5.9); one not open is
/// passed over. Async-signal-safe: one raw syscall.
///
/// # Safety
///
/// No `OwnedFd` (or other owner) of a descriptor in that range may be used
/// or dropped afterwards: the caller has no further use for any of them
/// and never returns into code that would drop them.
pub(crate) unsafe fn close_range(first: RawFd, last: RawFd) -> Result<(), Errno> {
    let first = libc::c_uint::try_from(first).map_err(|_| Errno::EBADF)?;
    let last = libc::c_uint::try_from(last).map_err(|_| Errno::EBADF)?;
    // SAFETY: integer arguments; the caller vouches that nothing owns the
    // descriptors closed.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    Errno::result(ret).map(drop)
}

/// Ends the process with `code` at once (`exit_group`): no handler of
/// `atexit` runs and nothing is flushed, as after a `fork`.
pub(crate) fn exit_now(code: libc::c_int) -> ! {
    // SAFETY: `_exit` takes an integer and never returns; it skips the C
    // library's exit handlers, which a forked process must not run twice.
    unsafe { libc::_exit(code) }
}

/// `open_tree`: make a detached copy of the mount at `path`.
const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `open_tree`, `mount_setattr`: the whole subtree.
const AT_RECURSIVE: libc::c_uint = 0x8000;
/// `move_mount`: the source is the fd itself.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// A detached copy of the mount tree at `path` (its submounts too when
/// `recursive`), as an fd (Linux 5.2). The copy belongs to no mount
/// namespace, so it survives the caller's old root being unmounted and can
/// be attached anywhere with [`move_mount`].
pub(crate) fn open_tree_clone(path: &CStr, recursive: bool) -> Result<OwnedFd, Errno> {
    open_tree_clone_at(nix::fcntl::AT_FDCWD, path, recursive)
}

/// An `ifreq` naming the interface `name` (shorter than `IFNAMSIZ`).
fn interface_request(name: &CStr) -> Result<libc::ifreq, Errno> {
    let bytes = name.to_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `ifreq` is plain data (a name and a union of integers,
    // addresses and a pointer), for which all zeros is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, &byte) in request.ifr_name.iter_mut().zip(bytes) {
        *slot = byte as libc::c_char;
    }
    Ok(request)
}

/// The flags (`IFF_*`) of the interface `name`, by `SIOCGIFFLAGS` on
/// `socket`, in the socket's network namespace.
pub(crate) fn interface_flags(socket: BorrowedFd<'_>, name: &CStr) -> Result<libc::c_short, Errno> {
    let mut request = interface_request(name)?;
    // SAFETY: a valid fd and an `ifreq` the kernel fills in, which
    // outlives the call.
    let ret = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCGIFFLAGS as libc::Ioctl,
            &mut request,
        )
    };
    Errno::result(ret)?;
    // SAFETY: SIOCGIFFLAGS filled the union's flags member.
    Ok(unsafe { request.ifr_ifru.ifru_flags })
}

/// Sets the flags of the interface `name` to `flags`, by `SIOCSIFFLAGS`
/// on `socket`.
pub(crate) fn set_interface_flags(
    socket: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_short,
) -> Result<(), Errno> {
    let mut request = interface_request(name)?;
    request.ifr_ifru.ifru_flags = flags;
    // SAFETY: a valid fd and an `ifreq` the kernel only reads, which
    // outlives the call.
    let ret = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as libc::Ioctl, &request) };
    Errno::result(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_args_has_the_kernel_size() {
        // CLONE_ARGS_SIZE_VER2
        assert_eq!(std::mem::size_of::<CloneArgs>(), 88);
    }

    #[test]
    fn the_64_bit_flags_are_not_truncated() {
        assert_eq!(CLONE_INTO_CGROUP, 1 << 33);
        assert_eq!(CLONE_CLEAR_SIGHAND, 1 << 32);
    }
}

/// `struct mount_attr` (Linux 5.12).
#[repr(C)]
#[derive(Debug, Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `MOUNT_ATTR_RDONLY`.
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// Makes the detached mount `tree` (from [`open_tree_clone`]) read-only.
pub(crate) fn mount_setattr_readonly_fd(tree: BorrowedFd<'_>) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    // SAFETY: a valid fd, an empty C string and a `struct mount_attr` of
    // the size passed; all outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Makes the mount at `path` read-only, and every mount below it when
/// `recursive`: a remount with `MS_RDONLY` reaches only the top mount, and
/// a writable one below (a cgroup tree under `/sys`) would stay writable.
pub(crate) fn mount_setattr_readonly(path: &CStr, recursive: bool) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `path` is a C string and `attr` a `struct mount_attr` of the
    // size passed; both outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// The `struct sock_filter` records of `program`, for
/// [`seccomp_set_mode_filter`].
pub(crate) fn sock_filters(program: &cradle_core::confinement::SeccompProgram) -> Vec<libc::sock_filter> {
    program
        .instructions
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

/// Installs `filter` (classic BPF, `struct sock_filter` records) as this
/// thread's seccomp filter, with the `SECCOMP_FILTER_FLAG_*` bits in
/// `flags`. The caller has set `no_new_privs` or holds `CAP_SYS_ADMIN`.
pub(crate) fn seccomp_set_mode_filter(filter: &[libc::sock_filter], flags: u32) -> Result<(), Errno> {
    let program = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| Errno::E2BIG)?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `program` points at `filter`, whose length it gives; both
    // outlive the call, and the kernel copies the program without writing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &program as *const libc::sock_fprog,
        )
    };
    Errno::result(ret).map(drop)
}

/// The three per-thread capability sets, one bit per capability number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CapSets {
    pub(crate) effective: u64,
    pub(crate) permitted: u64,
    pub(crate) inheritable: u64,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two 32-bit halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
#[derive(Debug)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// This thread's capability sets.
pub(crate) fn capget() -> Result<CapSets, Errno> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a version-3 header and the two data structs it asks for;
    // the kernel writes only into `data`.
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) };
    Errno::result(ret)?;
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// Sets this thread's capability sets.
pub(crate) fn capset(sets: CapSets) -> Result<(), Errno> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |set: u64, high: bool| if high { (set >> 32) as u32 } else { set as u32 };
    let data = [false, true].map(|high| CapData {
        effective: half(sets.effective, high),
        permitted: half(sets.permitted, high),
        inheritable: half(sets.inheritable, high),
    });
    // SAFETY: a version-3 header and the two data structs it asks for,
    // which the kernel only reads.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// Whether capability `cap` is in this thread's bounding set; `EINVAL`
/// when the kernel does not know it.
pub(crate) fn capbset_read(cap: u32) -> Result<bool, Errno> {
    // SAFETY: PR_CAPBSET_READ takes the capability number and touches no
    // memory of ours.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) };
    Errno::result(ret).map(|r| r == 1)
}

/// Drops capability `cap` from this thread's bounding set (needs
/// `CAP_SETPCAP`).
pub(crate) fn capbset_drop(cap: u32) -> Result<(), Errno> {
    // SAFETY: PR_CAPBSET_DROP takes the capability number and touches no
    // memory of ours.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// Empties this thread's ambient set.
pub(crate) fn ambient_clear_all() -> Result<(), Errno> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointer.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// Raises capability `cap` in this thread's ambient set (it must be
/// permitted and inheritable).
pub(crate) fn ambient_raise(cap: u32) -> Result<(), Errno> {
    // SAFETY: PR_CAP_AMBIENT_RAISE takes the capability number and no
    // pointer.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `struct open_how` (Linux 5.6).
#[repr(C)]
#[derive(Debug, Default)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2`: fail on crossing a mount point (`EXDEV`), including a
/// mount over the file itself.
pub(crate) const RESOLVE_NO_XDEV: u64 = 0x01;
/// `openat2`: fail on any symlink in the path.
pub(crate) const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// `openat2`: fail on leaving `dirfd` (`..` above it, an absolute path or
/// symlink).
pub(crate) const RESOLVE_BENEATH: u64 = 0x08;
/// `openat2`: fail on magic links (`/proc/<pid>/fd/*`, `exe`, `root`...).
pub(crate) const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// `openat2`: resolve as if `dirfd` were `/`: `..` and absolute symlinks
/// stay inside it.
pub(crate) const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2(dirfd, path, flags, resolve)`: a new descriptor, close-on-exec.
pub(crate) fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow {
        flags: u64::try_from(flags | libc::O_CLOEXEC).map_err(|_| Errno::EINVAL)?,
        mode: 0,
        resolve,
    };
    // SAFETY: `path` is a C string and `how` a `struct open_how` of the
    // size passed; both outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `AT_EMPTY_PATH`: the call acts on the descriptor itself.
const AT_EMPTY_PATH: libc::c_uint = 0x1000;
/// `move_mount`: the target is the descriptor itself.
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// A detached recursive copy of the mount tree at the directory `dir`
/// (by descriptor: no path is looked up).
pub(crate) fn open_tree_clone_fd(dir: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let flags = OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: a valid fd and an empty C string; the fd returned is new.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, dir.as_raw_fd(), c"".as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attaches the detached mount `tree` on the directory `onto`, both by
/// descriptor.
pub(crate) fn move_mount_onto(tree: BorrowedFd<'_>, onto: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: two valid fds and empty C strings; no pointer is kept.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            onto.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

/// A new filesystem context for `fstype` (`fsopen`, Linux 5.2): configured
/// with [`fsconfig_set`] and [`fsconfig_create`], mounted detached with
/// [`fsmount`].
pub(crate) fn fsopen(fstype: &CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: `fstype` is a C string that outlives the call; the fd
    // returned is new.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets one parameter of the filesystem context `fs`: `key=value`, or the
/// flag `key` when `value` is `None` (as `mount(2)` passes each
/// comma-separated option of its data).
pub(crate) fn fsconfig_set(fs: BorrowedFd<'_>, key: &CStr, value: Option<&CStr>) -> Result<(), Errno> {
    let (command, value) = match value {
        Some(value) => (libc::FSCONFIG_SET_STRING, value.as_ptr()),
        None => (libc::FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: a valid fd, a C string key and a C string value (or null for
    // a flag) that outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            command,
            key.as_ptr(),
            value,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// Creates (or finds, for a filesystem with one superblock per namespace)
/// the superblock the context `fs` describes.
pub(crate) fn fsconfig_create(fs: BorrowedFd<'_>) -> Result<(), Errno> {
    let command = libc::FSCONFIG_CMD_CREATE;
    // SAFETY: a valid fd and null key and value, as the command takes none.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            command,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// A detached mount of the superblock of the context `fs`, with the
/// `MOUNT_ATTR_*` bits of `attributes`, to attach with [`move_mount_onto`].
pub(crate) fn fsmount(fs: BorrowedFd<'_>, attributes: u64) -> Result<OwnedFd, Errno> {
    let attributes = libc::c_uint::try_from(attributes).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid fd and integer flags; the fd returned is new.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attributes,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What [`mount_setattr`] changes on a mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MountChange {
    /// `MOUNT_ATTR_*` bits to set.
    pub(crate) set: u64,
    /// `MOUNT_ATTR_*` bits to clear (`MOUNT_ATTR__ATIME` to change the
    /// atime mode).
    pub(crate) clear: u64,
    /// `MS_PRIVATE`, `MS_SHARED`, `MS_SLAVE` or `MS_UNBINDABLE`; 0 keeps
    /// the propagation.
    pub(crate) propagation: u64,
}

impl MountChange {
    /// Whether it changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        *self == MountChange::default()
    }
}

/// Applies `change` to the mount whose root `tree` is (attached or
/// detached), and to every mount below it when `recursive` (Linux 5.12).
pub(crate) fn mount_setattr(tree: BorrowedFd<'_>, change: MountChange, recursive: bool) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: change.set,
        attr_clr: change.clear,
        propagation: change.propagation,
        userns_fd: 0,
    };
    let flags = AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: a valid fd, an empty C string and a `struct mount_attr` of
    // the size passed; all outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// A detached copy of the mount tree at `path` below the directory `dir`
/// (its submounts too when `recursive`); `dir` must be attached in the
/// caller's mount namespace.
pub(crate) fn open_tree_clone_at(
    dir: BorrowedFd<'_>,
    path: &CStr,
    recursive: bool,
) -> Result<OwnedFd, Errno> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: a valid fd and a C string that outlives the call; the fd
    // returned is new.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, dir.as_raw_fd(), path.as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The slave end of the pseudo-terminal whose master is `master`, opened
/// through the master rather than by its name in `/dev/pts` (Linux 4.13),
/// read-write, not as a controlling terminal, close-on-exec.
pub(crate) fn open_pty_peer(master: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as an int argument and
    // returns a new descriptor; no memory of ours is touched.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let fd = Errno::result(fd)?;
    // SAFETY: the ioctl made `fd`, a new descriptor; this is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets the window size of the terminal `fd`.
pub(crate) fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), Errno> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `struct winsize`, which outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    Errno::result(rc).map(drop)
}

/// Makes the terminal `fd` the controlling terminal of the caller's
/// session (the caller leads a session without one).
pub(crate) fn take_controlling_terminal(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal it from
    // another session) and touches no memory of ours.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(rc).map(drop)
}
