//! The clone child's life before `exec`: close the launcher's descriptors
//! it does not use, place its own, set the parent-death signal, join the
//! cgroups it was given (a setns helper), a setns process the container's
//! namespaces and root where it can, wait for the release if asked, `exec`
//! the init binary.
//!
//! The child is a copy of a possibly multi-threaded parent, so it makes
//! async-signal-safe calls only: no allocation, no locks, no unwinding.
//! Everything it needs was prepared before the clone.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd;

use super::report::Report;
use super::InitProgram;
use crate::sys;

/// How the child exits when it failed before `exec` (after reporting why).
const EXIT_FAILED: i32 = 125;
/// How the child exits when the parent closed the socket instead of
/// releasing it: nobody is listening for a report.
const EXIT_ABANDONED: i32 = 124;

/// What the child needs between `clone3` and `exec`, prepared by the parent.
#[derive(Debug)]
pub(super) struct PreExec<'a> {
    pub(super) program: &'a InitProgram,
    /// What is `exec`d: `/proc/self/fd/<n>` of the sealed init binary.
    pub(super) binary: &'a CStr,
    /// That descriptor, `exec`d by itself once the child has entered the
    /// container (where `/proc` is the container's).
    pub(super) binary_fd: RawFd,
    pub(super) argv: [*const libc::c_char; 2],
    pub(super) envp: [*const libc::c_char; 2],
    /// `(from, to)`: `dup2(from, to)`. Every `from` is above every `to`, so
    /// no placement overwrites a later one's source.
    pub(super) placements: &'a [(RawFd, RawFd)],
    /// Every descriptor from 3 up that the child uses, ascending: the
    /// placements' sources, the binary, the container's root, the
    /// cgroups' `tasks` files. Everything else it closes first.
    pub(super) keep: &'a [RawFd],
    /// The launch socket (its copy above the placements): the release byte
    /// comes in on it and reports go out on it.
    pub(super) socket: BorrowedFd<'a>,
    /// Wait for the release byte before `exec`.
    pub(super) hold: bool,
    /// Born into a pid namespace with processes in it already (a setns
    /// process, or an init that joins one by path): the core file size
    /// limit to take at once, `[soft, hard]` (see [`PreExec::run`]).
    pub(super) core_limit: Option<[u64; 2]>,
    /// The child is in a new user namespace: once released (its id maps
    /// written), it becomes uid and gid 0 there, which `exec` needs to
    /// keep the namespace's capabilities. (A root parent's ids are not
    /// mapped in a namespace that maps a range: without this the init
    /// would run as nobody, with none.)
    pub(super) become_root: bool,
    /// The `tasks` files of v1 cgroups to join, before `exec`: the child
    /// has one thread, so writing `0` to each moves the whole process,
    /// without the lock on every thread group that a write of a pid takes
    /// (and the RCU grace period its first taker after an idle spell
    /// waits for).
    pub(super) join: &'a [(BorrowedFd<'a>, &'a Report)],
    /// A setns process that joins the container before its `exec`.
    pub(super) enter: Option<Enter>,
}

/// What a setns process joins before its `exec` (see `setns::before_exec`),
/// by descriptors above the placements.
#[derive(Debug)]
pub(super) struct Enter {
    /// The pidfd of the container's init.
    pub(super) pidfd: RawFd,
    /// `CLONE_NEW*` flags: those the child was not born in (the time
    /// namespace only, for a child born inside: see `in_container`).
    pub(super) namespaces: i32,
    /// The container's root, open, where the child was not born in it.
    pub(super) root: Option<RawFd>,
}

impl PreExec<'_> {
    /// The child's whole life; it `exec`s or exits, never returns.
    pub(super) fn run(&self) -> ! {
        self.close_the_rest();
        // A child born into a pid namespace that has processes already (a
        // setns process, an init joining one by path) is seen by them, in
        // the host's root and working directory until it has joined (a
        // setns process that enters before its `exec`: until `enter`,
        // below), and they (the same uid) may signal it meanwhile. It was
        // born with every signal blocked (its launching thread's mask,
        // kept across `exec` until the command's), and with a real gid
        // apart where its launcher could give it one, so that they may
        // not change its limits (`spawn::real_gid`); a fault could still
        // dump its core: no core file until its role has made it not
        // dumpable and restored the launcher's limit (`init::setns`,
        // `init::run`). The hard limit is 0 too where that can be undone
        // (see `spawn::core_limit_until_set_up`); elsewhere, without the
        // gid apart, a process of the container could raise the soft one
        // to it.
        if let Some(limit) = &self.core_limit {
            if let Err(errno) = sys::set_core_limit(limit) {
                self.fail(&self.program.reports.deny_core_files, errno);
            }
        }
        for &(from, to) in self.placements {
            // SAFETY: dup2 onto a bare number. No `OwnedFd` of this process
            // copy is ever dropped (the child execs or exits), so replacing
            // whatever `to` held cannot cause a double close.
            if unsafe { libc::dup2(from, to) } < 0 {
                self.fail(&self.program.reports.place_fds, Errno::last());
            }
        }
        // The container must not outlive a launcher that dies mid-launch.
        // (The init resets this before it reports `ready`.)
        if let Err(errno) = prctl::set_pdeathsig(Signal::SIGKILL) {
            self.fail(&self.program.reports.parent_death_signal, errno);
        }
        for &(tasks, report) in self.join {
            self.join_cgroup(tasks, report);
        }
        if let Some(enter) = &self.enter {
            self.enter(enter);
        }
        if self.hold {
            self.await_release();
        }
        if self.become_root {
            self.set_ids_to_root();
        }
        if self.enter.is_some() {
            // SAFETY: `binary_fd` is open (close-on-exec, it goes with the
            // exec), the path is an empty C string, `argv` and `envp` are
            // null-terminated arrays of C strings that the parent keeps
            // alive (this is a copy of its memory). execveat returns only
            // on failure.
            unsafe {
                libc::syscall(
                    libc::SYS_execveat,
                    self.binary_fd,
                    c"".as_ptr(),
                    self.argv.as_ptr(),
                    self.envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            };
        } else {
            // SAFETY: `binary` is a C string, `argv` and `envp` are
            // null-terminated arrays of C strings that the parent keeps
            // alive (this is a copy of its memory). execve returns only on
            // failure.
            unsafe { libc::execve(self.binary.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        }
        self.fail(&self.program.reports.exec, Errno::last())
    }

    /// Joins what the child was not born in of the container's namespaces
    /// but the user one, through the init's pidfd, and its root: the
    /// process is inside before anything of its runs from a file. The user
    /// namespace is joined after the `exec`: a binary `exec`d in it would
    /// be traceable by the container's `CAP_SYS_PTRACE` there.
    fn enter(&self, enter: &Enter) {
        let reports = &self.program.reports;
        if enter.namespaces != 0 {
            // SAFETY: setns with a descriptor and flags; no memory is passed.
            if unsafe { libc::setns(enter.pidfd, enter.namespaces) } < 0 {
                self.fail(&reports.enter_namespaces, Errno::last());
            }
        }
        if let Some(root) = enter.root {
            // SAFETY: fchdir to an open directory; no memory is passed.
            if unsafe { libc::fchdir(root) } < 0 {
                self.fail(&reports.enter_root, Errno::last());
            }
            // SAFETY: chroot with a static C string.
            if unsafe { libc::chroot(c".".as_ptr()) } < 0 {
                self.fail(&reports.enter_root, Errno::last());
            }
        }
    }

    /// Closes every descriptor from 3 up but those in `keep`, before
    /// anything else, for two reasons.
    /// - The launcher's other descriptors must not reach the container:
    ///   one it inherited open across `exec` (a caller's open directory,
    ///   say) would lead out of its root through `/proc/self/fd/<n>`
    ///   (CVE-2024-21626).
    /// - This copy must not hold the launcher's other descriptors until
    ///   its `exec`, which may wait on cgroups or the release: another
    ///   launch's output pipe, say, whose reader would wait for its end of
    ///   file until then. (No other launch's child end of its socket is
    ///   open here: see `spawn::Spawning`.)
    ///
    /// What is left from 3 up is then the placements (below) and
    /// close-on-exec copies.
    fn close_the_rest(&self) {
        for (first, last) in gaps(self.keep) {
            self.close(first, last);
        }
    }

    /// Closes the descriptors `first` to `last`.
    fn close(&self, first: RawFd, last: RawFd) {
        // SAFETY: this copy of the parent drops no `OwnedFd` (it execs or
        // exits), and uses no descriptor but those in `keep`, which are
        // not in the range.
        if let Err(errno) = unsafe { sys::close_range(first, last) } {
            self.fail(&self.program.reports.close_inherited, errno);
        }
    }

    /// Moves this process into the cgroup whose `tasks` file is `tasks`;
    /// `report` says it could not.
    fn join_cgroup(&self, tasks: BorrowedFd<'_>, report: &Report) {
        loop {
            match unistd::write(tasks, b"0") {
                Ok(1) => return,
                Ok(_) => self.fail(report, Errno::EIO),
                Err(Errno::EINTR) => {}
                Err(errno) => self.fail(report, errno),
            }
        }
    }

    /// Blocks until the parent sends the release byte.
    fn await_release(&self) {
        let mut byte = [0u8; 1];
        loop {
            match unistd::read(self.socket, &mut byte) {
                Ok(1) => return,
                Ok(_) => exit(EXIT_ABANDONED),
                Err(Errno::EINTR) => {}
                Err(errno) => self.fail(&self.program.reports.release, errno),
            }
        }
    }

    /// `setresgid(0, 0, 0)` then `setresuid(0, 0, 0)`, as raw syscalls:
    /// libc's wrappers would try to reach the parent's other threads,
    /// which this copy does not have.
    fn set_ids_to_root(&self) {
        // SAFETY: setresgid with plain integers; no memory is passed.
        let gid = unsafe { libc::syscall(libc::SYS_setresgid, 0, 0, 0) };
        if gid < 0 {
            self.fail(&self.program.reports.become_root, Errno::last());
        }
        // SAFETY: setresuid with plain integers; no memory is passed.
        let uid = unsafe { libc::syscall(libc::SYS_setresuid, 0, 0, 0) };
        if uid < 0 {
            self.fail(&self.program.reports.become_root, Errno::last());
        }
    }

    /// Reports `errno` with `report` and exits.
    fn fail(&self, report: &Report, errno: Errno) -> ! {
        let mut digits = [0u8; 11];
        for piece in report.pieces(errno as i32, &mut digits) {
            self.write_all(piece);
        }
        exit(EXIT_FAILED)
    }

    /// Writes `bytes`, giving up silently if the parent is gone.
    fn write_all(&self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match unistd::write(self.socket, bytes) {
                Ok(0) => return,
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// The ranges of descriptors from 3 up that `keep` (ascending) leaves out,
/// `(first, last)` inclusive: what the child closes. No allocation.
fn gaps(keep: &[RawFd]) -> Gaps<'_> {
    Gaps {
        keep: keep.iter(),
        next: Some(3),
    }
}

struct Gaps<'a> {
    keep: std::slice::Iter<'a, RawFd>,
    /// The lowest descriptor not yet passed; `None` past the highest.
    next: Option<RawFd>,
}

impl Iterator for Gaps<'_> {
    type Item = (RawFd, RawFd);

    fn next(&mut self) -> Option<(RawFd, RawFd)> {
        loop {
            let first = self.next?;
            let Some(&kept) = self.keep.next() else {
                self.next = None;
                return Some((first, RawFd::MAX));
            };
            // One below 3, or kept already, changes nothing.
            if kept >= first {
                self.next = kept.checked_add(1);
            }
            if kept > first {
                return Some((first, kept - 1));
            }
        }
    }
}

/// `_exit`: no destructors, no atexit handlers, no stdio flush, none of
/// which is safe in a copy of a multi-threaded process.
fn exit(code: i32) -> ! {
    // SAFETY: `_exit` ends the process at once; it touches no memory of ours.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(keep: &[RawFd]) -> Vec<(RawFd, RawFd)> {
        gaps(keep).collect()
    }

    #[test]
    fn with_nothing_kept_everything_from_3_is_closed() {
        assert_eq!(all(&[]), [(3, RawFd::MAX)]);
    }

    #[test]
    fn the_gaps_leave_out_exactly_what_is_kept() {
        assert_eq!(all(&[10, 11, 20]), [(3, 9), (12, 19), (21, RawFd::MAX)]);
        assert_eq!(all(&[3, 4]), [(5, RawFd::MAX)]);
    }

    #[test]
    fn stdio_and_repeats_in_keep_change_nothing() {
        assert_eq!(all(&[1, 3, 3, 5]), [(4, 4), (6, RawFd::MAX)]);
    }

    #[test]
    fn the_highest_descriptor_kept_ends_the_gaps() {
        assert_eq!(all(&[3, RawFd::MAX]), [(4, RawFd::MAX - 1)]);
    }
}
