//! Cloning a setns process inside the running container.
//!
//! A process cloned into the container's pid namespace is seen by the
//! container's processes from its clone on. One of them (the same uid) may
//! stop it and read the `/proc/<pid>` files anyone may read: its mount
//! table, its network tables. Born in the launcher's namespaces and root,
//! those would be the host's until it joined. So the launching thread
//! enters the container's mount, UTS, IPC and network namespaces and its
//! root for the clone, and returns: the child is born inside, as runc's
//! and crun's processes are (after their fork). It first joins its own
//! namespaces once, so that it enters only where the kernel lets it back.
//!
//! `setns` changes the calling thread only, but joining a mount namespace
//! or changing root needs a filesystem context (root, working directory,
//! umask) that no other thread shares: only a single-threaded launcher
//! has one without `unshare(CLONE_FS)`, which would detach the thread's
//! working directory from the others' for good. A multi-threaded launcher
//! leaves the entering to the child, before its `exec`
//! (`pre_exec::Enter`). The time namespace (a thread of a multi-threaded
//! process cannot join it, and it would change the launcher's clocks),
//! the cgroup namespace (a clone into a cgroup is checked from the
//! caller's, and under `nsdelegate` refused from the container's) and the
//! user namespace (joined after the `exec`) are the child's either way.

use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use cradle_core::NamespaceKind;
use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{raise, Signal};
use nix::unistd;

use super::{clone_flags, namespace_flag, open_dir};
use crate::error::Error;

/// The kinds a thread enters: the mount namespace first (joining it
/// resets the root, which is set after).
const KINDS: [NamespaceKind; 4] = [
    NamespaceKind::Mount,
    NamespaceKind::Uts,
    NamespaceKind::Ipc,
    NamespaceKind::Net,
];

/// The `CLONE_NEW*` flags a thread can enter for a clone: not the user,
/// pid, time or cgroup namespaces. (A clone into a cgroup is checked from
/// the caller's cgroup namespace: under `nsdelegate`, from the container's
/// it would be refused.)
pub(super) fn thread_flags() -> u64 {
    KINDS.iter().fold(0, |flags, &kind| flags | namespace_flag(kind))
}

/// The calling thread's own namespaces, root and working directory, and
/// the proof that it can return to them: until it has entered the
/// container, nothing has changed.
#[derive(Debug)]
pub(super) struct WayBack {
    /// The thread's own namespaces of the kinds it enters, the mount one
    /// first.
    own: Vec<(File, CloneFlags)>,
    own_root: OwnedFd,
    own_cwd: OwnedFd,
    /// `setns` changes the calling thread only: set back on another, it
    /// would leave this one in the container.
    _this_thread: PhantomData<*const ()>,
}

impl WayBack {
    /// The way back from the namespaces `namespaces` (of [`thread_flags`]):
    /// each joined once now, so that the kernel says whether the thread may
    /// (its capabilities over its own namespaces; a filesystem context no
    /// other process shares, which joining a mount namespace by its file
    /// requires). An error: the thread cannot enter, the child will.
    pub(super) fn prepare(namespaces: u64) -> Result<WayBack, Error> {
        let mut own = Vec::new();
        for kind in KINDS {
            let flag = namespace_flag(kind);
            if namespaces & flag == 0 {
                continue;
            }
            let path = format!("/proc/thread-self/ns/{}", kind.proc_name());
            let file = File::open(&path).map_err(Error::file(&path))?;
            own.push((file, clone_flags(flag)?));
        }
        let way_back = WayBack {
            own,
            own_root: open_dir("/")?,
            own_cwd: open_dir(".")?,
            _this_thread: PhantomData,
        };
        // Joining its own namespaces changes nothing but the root and
        // working directory, which a mount namespace's join resets.
        for (own, flag) in &way_back.own {
            setns(own.as_fd(), *flag).map_err(Error::syscall("setns of the launcher's own namespace"))?;
        }
        way_back
            .restore_root()
            .map_err(Error::syscall("fchdir and chroot back to the launcher's root"))?;
        Ok(way_back)
    }

    /// Enters the namespaces `namespaces` (of [`thread_flags`]) of the
    /// process behind `pidfd`, and the root `root`.
    pub(super) fn enter(
        self,
        pidfd: BorrowedFd<'_>,
        namespaces: u64,
        root: BorrowedFd<'_>,
    ) -> Result<ThreadInContainer, Error> {
        // A failure on the way leaves the thread to be set back by `drop`.
        let inside = ThreadInContainer { way_back: self };
        // The mount namespace alone first: with other flags the kernel
        // checks a copy of the filesystem context, not whether another
        // process shares it.
        let mount = namespaces & namespace_flag(NamespaceKind::Mount);
        for flags in [mount, namespaces & !mount] {
            if flags != 0 {
                setns(pidfd, clone_flags(flags)?).map_err(Error::syscall(
                    "setns(pidfd of the container's init) for the clone",
                ))?;
            }
        }
        unistd::fchdir(root).map_err(Error::syscall("fchdir to the container's root"))?;
        unistd::chroot(".").map_err(Error::syscall("chroot to the container's root"))?;
        Ok(inside)
    }

    fn restore_root(&self) -> Result<(), Errno> {
        unistd::fchdir(&self.own_root)?;
        unistd::chroot(".")?;
        unistd::fchdir(&self.own_cwd)
    }

    /// Sets the thread back.
    fn leave(&self) -> Result<(), Errno> {
        for (own, flag) in &self.own {
            setns(own.as_fd(), *flag)?;
        }
        self.restore_root()
    }
}

/// The calling thread is in the container's namespaces and root until this
/// is dropped, which sets it back.
#[derive(Debug)]
pub(super) struct ThreadInContainer {
    way_back: WayBack,
}

impl Drop for ThreadInContainer {
    /// The calls [`WayBack::prepare`] made and the kernel allowed, on the
    /// same thread with the same capabilities. A thread that stays in the
    /// container would go on as the host's root in its files: the process
    /// is killed instead (with no core, which would be written there).
    fn drop(&mut self) {
        if let Err(errno) = self.way_back.leave() {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "cradle: could not leave the container's namespaces after a clone ({errno}): killed"
            );
            let _ = raise(Signal::SIGKILL);
            std::process::abort();
        }
    }
}
