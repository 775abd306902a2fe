//! [`resume`]: the start of a process another launcher handed off (the
//! OCI `start` after `create`), from any process that can reach its hold.

use std::os::fd::AsFd as _;
use std::path::Path;
use std::time::Duration;

use cradle_core::{driver, Launch, Limits, Pid};
use nix::poll::PollFlags;

use crate::error::Error;
use crate::launch::LinuxLaunch;
use crate::{clock, proc_stat, sys};

/// Starts `pid`, a process handed off by
/// [`HeldProcess::hand_off`](crate::HeldProcess::hand_off) that listens at
/// `hold`, and waits, under `timeout`, until it has `exec`'d its command
/// or failed to.
///
/// `start_time` (clock ticks since boot, as recorded at its creation)
/// proves that `pid` still names that process before anything is sent or
/// signalled. On a failure (its `exec` failed, or the deadline passed) the
/// process is killed; it is not this caller's child, so its parent reaps
/// it, and its cgroup stays for its owner to remove. A start nobody
/// accepts (the process was started already, or is not holding) fails
/// with nothing killed.
pub fn resume(pid: Pid, start_time: u64, hold: &Path, timeout: Duration) -> Result<(), Error> {
    let pidfd = sys::pidfd_open(pid).map_err(Error::syscall("pidfd_open"))?;
    // After the pidfd: a pid reused since the check below cannot be the
    // one the pidfd holds.
    if proc_stat::start_time(pid)? != start_time {
        return Err(Error::ContainerGone {
            pid,
            reason: "is not the process recorded (its pid was reused)",
        });
    }
    // Still alive once proved: a pidfd of a process that has exited polls
    // readable.
    let exited = crate::wait::until_ready(pidfd.as_fd(), PollFlags::POLLIN, Some(clock::now()))
        .map_err(Error::syscall("ppoll"))?;
    if exited {
        return Err(Error::ContainerGone {
            pid,
            reason: "has exited",
        });
    }
    let mut backend = LinuxLaunch::resuming(pid, pidfd, hold)?;
    let mut launch = Launch::resume(pid, timeout, Limits::default(), clock::now());
    match driver::drive(&mut launch, &mut backend) {
        Ok(_) => Ok(()),
        Err(error) => Err(backend.failure(error)),
    }
}
