//! Cloning the init into a pid namespace joined by path.
//!
//! `setns(CLONE_NEWPID)` moves no process: it sets the pid namespace the
//! caller's *future children* are born in (`pid_for_children`), and only
//! on the calling thread, which a multi-threaded launcher may do (the
//! target must be its own pid namespace or a descendant of it). The init
//! `exec`s its command rather than forking it, so the launcher sets it
//! around the clone and then sets it back to its own active pid namespace;
//! a setns process cloned into a running container's pid namespace is
//! born there the same way.

use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::BorrowedFd;

use nix::sched::{setns, CloneFlags};

use crate::error::Error;

/// Where the calling thread's active pid namespace is.
const OWN: &str = "/proc/thread-self/ns/pid";

/// The calling thread's children are born in a joined pid namespace until
/// this is dropped, which sets them back to be born in the thread's own.
#[derive(Debug)]
pub(super) struct ChildrenInJoined {
    own: File,
    /// `setns` changes the calling thread only: set back on another, it
    /// would leave this one in the joined namespace.
    _this_thread: PhantomData<*const ()>,
}

impl ChildrenInJoined {
    /// The calling thread's next children are born in the pid namespace
    /// `joined` (an open `/proc/<pid>/ns/pid` or `pid_for_children`, or a
    /// pidfd of a process in it).
    pub(super) fn enter(joined: BorrowedFd<'_>) -> Result<ChildrenInJoined, Error> {
        let own = File::open(OWN).map_err(Error::file(OWN))?;
        // The way back first: a launcher without `CAP_SYS_ADMIN` over the
        // user namespace that owns its own pid namespace (one in a user
        // namespace it made) could join a descendant but never return, and
        // would clone every later child into the container's namespace.
        setns(&own, CloneFlags::CLONE_NEWPID).map_err(Error::syscall(
            "setns(CLONE_NEWPID) of the launcher's own pid namespace",
        ))?;
        setns(joined, CloneFlags::CLONE_NEWPID)
            .map_err(Error::syscall("setns(CLONE_NEWPID) of the pid namespace to join"))?;
        Ok(ChildrenInJoined {
            own,
            _this_thread: PhantomData,
        })
    }
}

/// Whether the calling thread can have children born in the pid namespace
/// of the process behind `pidfd`: it enters it and sets itself back. (The
/// kernel's conditions, `CAP_SYS_ADMIN` over both namespaces and a target
/// below the thread's own, are its to judge.)
pub(crate) fn can_clone_into(pidfd: BorrowedFd<'_>) -> bool {
    ChildrenInJoined::enter(pidfd).is_ok()
}

impl Drop for ChildrenInJoined {
    /// The same call [`enter`](ChildrenInJoined::enter) made first, on the
    /// same thread with the same capabilities: the kernel allows it again.
    fn drop(&mut self) {
        let _ = setns(&self.own, CloneFlags::CLONE_NEWPID);
    }
}
