//! Waiting on pidfds and sockets: `ppoll` with a deadline, `waitid` on a
//! pidfd. No `SIGCHLD` handler is involved anywhere.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};

use cradle_core::{ExitStatus, Time};

use crate::clock;
use crate::error::Error;
use crate::{sys, Signal};

/// What to do with an exited process when asking for its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Collect {
    /// Leave it a zombie (`WNOWAIT`): its pid stays ours.
    Peek,
    /// Reap it.
    Reap,
}

/// The exit status of the process behind `pidfd`, or `None` while it runs.
/// Never blocks.
pub(crate) fn exit_status(pidfd: BorrowedFd<'_>, collect: Collect) -> Result<Option<ExitStatus>, Errno> {
    let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
    if collect == Collect::Peek {
        flags |= WaitPidFlag::WNOWAIT;
    }
    loop {
        return match waitid(Id::PIDFd(pidfd), flags) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(ExitStatus::Exited(code))),
            Ok(WaitStatus::Signaled(_, signal, _)) => Ok(Some(ExitStatus::Signaled(signal as i32))),
            // WEXITED alone reports nothing else: this is "still running".
            Ok(_) => Ok(None),
            Err(Errno::EINTR) => continue,
            Err(errno) => Err(errno),
        };
    }
}

/// Waits until `fd` has any of `events`, or `deadline` passes (`None`:
/// without a bound). True if it has.
pub(crate) fn until_ready(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Option<Time>,
) -> Result<bool, Errno> {
    let mut fds = [PollFd::new(fd, events)];
    ready(&mut fds, deadline).map(|n| n > 0)
}

/// `ppoll` until something is ready or `deadline` passes, retrying on
/// `EINTR`; the number of ready descriptors (0: the deadline passed).
pub(crate) fn ready(fds: &mut [PollFd<'_>], deadline: Option<Time>) -> Result<usize, Errno> {
    loop {
        match ppoll(fds, clock::timeout_until(deadline), None) {
            Ok(n) => return Ok(usize::try_from(n).unwrap_or(0)),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// Reaps the process behind `pidfd` once it has exited, waiting at most
/// `bound` for that (it was killed, or has exited already): its exit
/// status, `None` for one reaped by someone else (`ECHILD`), which is gone
/// either way.
pub(crate) fn reap_within(pidfd: BorrowedFd<'_>, bound: Duration) -> Result<Option<ExitStatus>, Error> {
    let timed_out = || Error::TimedOut {
        call: "waitid(P_PIDFD)",
        after: bound,
    };
    let deadline = clock::now() + bound;
    if !until_ready(pidfd, PollFlags::POLLIN, Some(deadline)).map_err(Error::syscall("ppoll"))? {
        return Err(timed_out());
    }
    match exit_status(pidfd, Collect::Reap) {
        Ok(Some(status)) => Ok(Some(status)),
        Err(Errno::ECHILD) => Ok(None),
        Ok(None) => Err(timed_out()),
        Err(errno) => Err(Error::syscall("waitid(P_PIDFD)")(errno)),
    }
}

/// Kills the process behind `pidfd` and reaps it within `bound`, best
/// effort (one that has exited already is reaped all the same): its exit
/// status, if it was reaped here.
pub(crate) fn kill_and_reap(pidfd: BorrowedFd<'_>, bound: Duration) -> Option<ExitStatus> {
    let _ = sys::pidfd_send_signal(pidfd, Some(Signal::SIGKILL));
    reap_within(pidfd, bound).ok().flatten()
}

/// Whether `poll` reported `fd` ready to read (or closed, or failed: a read
/// then says which).
pub(crate) fn readable(fd: &PollFd<'_>) -> bool {
    fd.revents()
        .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::time::Duration;

    use cradle_core::Pid;

    use super::*;
    use crate::sys;

    #[test]
    fn an_exit_is_peeked_then_reaped_through_the_pidfd() {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("spawn sh");
        let pid = Pid::new(i32::try_from(child.id()).expect("pid")).expect("pid");
        let pidfd = sys::pidfd_open(pid).expect("pidfd_open");
        let deadline = clock::now() + Duration::from_secs(10);
        assert!(until_ready(pidfd.as_fd(), PollFlags::POLLIN, Some(deadline)).expect("ppoll"));
        let exited = Some(ExitStatus::Exited(7));
        assert_eq!(exit_status(pidfd.as_fd(), Collect::Peek), Ok(exited));
        assert_eq!(
            exit_status(pidfd.as_fd(), Collect::Peek),
            Ok(exited),
            "still a zombie"
        );
        assert_eq!(exit_status(pidfd.as_fd(), Collect::Reap), Ok(exited));
        assert_eq!(exit_status(pidfd.as_fd(), Collect::Reap), Err(Errno::ECHILD));
        // Reaped: the pidfd refuses signals, whoever has the pid now.
        assert_eq!(sys::pidfd_send_signal(pidfd.as_fd(), None), Err(Errno::ESRCH));
        assert!(child.wait().is_err(), "reaped through the pidfd already");
    }

    #[test]
    fn a_deadline_in_the_past_does_not_block() {
        let (read, _write) = nix::unistd::pipe().expect("pipe");
        let ready = until_ready(read.as_fd(), PollFlags::POLLIN, Some(clock::now()));
        assert_eq!(ready, Ok(false));
    }
}
