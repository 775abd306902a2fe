//! Cloning a child into a v1 cgroup. v1 has no `CLONE_INTO_CGROUP`, and a
//! process moved into a v1 pids cgroup is held to no limit, where one
//! forked there is. So the launching thread moves itself into the cgroup
//! for the clone, and back after: a write of `0` to a `tasks` file moves
//! the writing thread alone, and takes no lock on every thread group
//! (nor the RCU grace period its first taker after an idle spell waits
//! for, on a kernel that migrates a single thread without it: Linux 6.18
//! here does). The kernel then charges the clone to the container's
//! cgroup and refuses it (`EAGAIN`) when that, or a cgroup above, is full.
//!
//! Meanwhile the launcher is listed in the container's `cgroup.procs`:
//! cradle's own kill of the container's cgroup passes over the process
//! that kills (`Cgroup::kill_all`), but another process killing it then
//! kills the launcher with it.

use std::marker::PhantomData;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::unistd;

use crate::error::Error;

/// The calling thread is in another v1 cgroup until this is dropped,
/// which moves it back into its own.
#[derive(Debug)]
pub(super) struct ThreadInCgroup<'a> {
    /// The `tasks` file of the thread's own cgroup; taken when it left.
    own: Option<BorrowedFd<'a>>,
    /// A `tasks` write moves the writing thread: moved back on another, it
    /// would leave this one in the container's cgroup.
    _this_thread: PhantomData<*const ()>,
}

impl<'a> ThreadInCgroup<'a> {
    /// Moves the calling thread into the cgroup whose `tasks` file is
    /// `tasks`, to come back to the one whose `tasks` file is `own`.
    pub(super) fn enter(tasks: BorrowedFd<'_>, own: BorrowedFd<'a>) -> Result<ThreadInCgroup<'a>, Error> {
        move_here(tasks).map_err(Error::syscall("write of 0 to the container's v1 pids tasks file"))?;
        Ok(ThreadInCgroup {
            own: Some(own),
            _this_thread: PhantomData,
        })
    }
}

impl ThreadInCgroup<'_> {
    /// Moves the thread back into the cgroup it came from, which it may
    /// re-enter as it left it; an error if it could not.
    pub(super) fn leave(mut self) -> Result<(), Error> {
        match self.own.take() {
            Some(own) => move_here(own).map_err(Error::syscall(
                "write of 0 to the launcher's own v1 pids tasks file",
            )),
            None => Ok(()),
        }
    }
}

impl Drop for ThreadInCgroup<'_> {
    /// Back, where the clone failed (and [`leave`](ThreadInCgroup::leave)
    /// was not called): there is no error to report but the clone's.
    fn drop(&mut self) {
        if let Some(own) = self.own.take() {
            let _ = move_here(own);
        }
    }
}

/// Writes `0` to `tasks`: the calling thread moves into its cgroup.
fn move_here(tasks: BorrowedFd<'_>) -> Result<(), Errno> {
    loop {
        match unistd::write(tasks, b"0") {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(Errno::EIO),
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
}
