//! Cloning a setns process inside the running container.
//!
//! A process cloned into the container's pid namespace is seen by the
//! container's processes from its clone on. One of them (the same uid) may
//! stop it and read the `/proc/<pid>` files anyone may read: its mount
//! table, its network tables. Born in the launcher's namespaces and root,
//! those would be the host's until it joined. So the launching thread
//! enters the container's mount, UTS, IPC, network and cgroup namespaces
//! and its root for the clone, and returns: the child is born inside, as
//! runc's and crun's processes are (after their fork).
//!
//! `setns` changes the calling thread only, but joining a mount namespace
//! or changing root needs a filesystem context (root, working directory,
//! umask) that no other thread shares: only a single-threaded launcher
//! has one without `unshare(CLONE_FS)`, which would detach the thread's
//! working directory from the others' for good. A multi-threaded launcher
//! leaves the entering to the child, before its `exec`
//! (`pre_exec::Enter`). The time namespace, which a thread of a
//! multi-threaded process cannot join and which would change the
//! launcher's clocks, and the user namespace, joined after the `exec`, are
//! the child's either way.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;

use cradle_core::NamespaceKind;
use nix::sched::{setns, CloneFlags};
use nix::unistd;

use super::namespace_flag;
use crate::error::Error;

/// The calling thread is in the container's namespaces and root until this
/// is dropped, which sets it back.
#[derive(Debug)]
pub(super) struct ThreadInContainer {
    /// The thread's own namespaces of the kinds it entered, the mount one
    /// first (joining it resets the root, which is set back after).
    own: Vec<(File, CloneFlags)>,
    own_root: OwnedFd,
    own_cwd: OwnedFd,
    /// `setns` changes the calling thread only: set back on another, it
    /// would leave this one in the container.
    _this_thread: PhantomData<*const ()>,
}

impl ThreadInContainer {
    /// Enters the namespaces `namespaces` (`CLONE_NEW*` flags, never user,
    /// pid or time) of the process behind `pidfd`, and the root `root`.
    /// The caller is a single-threaded process.
    pub(super) fn enter(
        pidfd: BorrowedFd<'_>,
        namespaces: u64,
        root: BorrowedFd<'_>,
    ) -> Result<ThreadInContainer, Error> {
        // The way back first.
        let mut own = Vec::new();
        for kind in [
            NamespaceKind::Mount,
            NamespaceKind::Uts,
            NamespaceKind::Ipc,
            NamespaceKind::Net,
            NamespaceKind::Cgroup,
        ] {
            let flag = namespace_flag(kind);
            if namespaces & flag == 0 {
                continue;
            }
            let path = format!("/proc/thread-self/ns/{}", kind.proc_name());
            let file = File::open(&path).map_err(Error::file(&path))?;
            own.push((file, clone_flags(flag)?));
        }
        let guard = ThreadInContainer {
            own,
            own_root: open_dir("/")?,
            own_cwd: open_dir(".")?,
            _this_thread: PhantomData,
        };
        // A failure on the way leaves the thread to be set back by `drop`.
        if namespaces != 0 {
            setns(pidfd, clone_flags(namespaces)?).map_err(Error::syscall(
                "setns(pidfd of the container's init) for the clone",
            ))?;
        }
        unistd::fchdir(root).map_err(Error::syscall("fchdir to the container's root"))?;
        unistd::chroot(".").map_err(Error::syscall("chroot to the container's root"))?;
        Ok(guard)
    }

    /// Sets the thread back; whether it could.
    fn leave(&self) -> Result<(), nix::errno::Errno> {
        for (own, flag) in &self.own {
            setns(own.as_fd(), *flag)?;
        }
        unistd::fchdir(&self.own_root)?;
        unistd::chroot(".")?;
        unistd::fchdir(&self.own_cwd)
    }
}

impl Drop for ThreadInContainer {
    /// The calls [`enter`](ThreadInContainer::enter) made, the other way,
    /// on the same thread with the same capabilities. A thread that stays
    /// in the container would go on as the host's root in its files: the
    /// process is ended instead.
    fn drop(&mut self) {
        if let Err(errno) = self.leave() {
            let _ = writeln!(
                std::io::stderr(),
                "cradle: could not leave the container's namespaces after a clone ({errno}): aborting"
            );
            std::process::abort();
        }
    }
}

/// The directory `path` of this thread's view, as an `O_PATH` descriptor.
fn open_dir(path: &str) -> Result<OwnedFd, Error> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
        .map_err(Error::file(path))?;
    Ok(dir.into())
}

fn clone_flags(flags: u64) -> Result<CloneFlags, Error> {
    let flags = i32::try_from(flags).map_err(|_| Error::Options {
        reason: "unreachable: a namespace flag above 32 bits",
    })?;
    Ok(CloneFlags::from_bits_retain(flags))
}
