//! Cloning a child into a v1 cgroup. v1 has no `CLONE_INTO_CGROUP`, and a
//! process moved into a v1 pids cgroup is held to no limit, where one
//! forked there is. So the launching thread moves itself into the cgroup
//! for the clone, and back after: a write of `0` to a `tasks` file moves
//! the writing thread alone, and takes no lock on every thread group
//! (nor the RCU grace period its first taker after an idle spell waits
//! for). The kernel then charges the clone to the container's cgroup and
//! refuses it (`EAGAIN`) when that, or a cgroup above, is full.

use std::marker::PhantomData;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::unistd;

use crate::error::Error;

/// The calling thread is in another v1 cgroup until this is dropped,
/// which moves it back into its own.
#[derive(Debug)]
pub(super) struct ThreadInCgroup<'a> {
    own: BorrowedFd<'a>,
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
            own,
            _this_thread: PhantomData,
        })
    }
}

impl Drop for ThreadInCgroup<'_> {
    /// Back into the cgroup the thread came from, which it may re-enter
    /// as it left it.
    fn drop(&mut self) {
        let _ = move_here(self.own);
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
