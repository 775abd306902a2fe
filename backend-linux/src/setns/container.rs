//! [`Container`]: the running container a setns process joins, named by
//! its init.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;

use cradle_core::{Pid, SetnsEntry};

use crate::cgroup::{self, CgroupPaths};
use crate::error::Error;
use crate::process::Process;
use crate::{clock, proc_stat, sys, wait, Signal};

/// A running container, held by a pidfd on its init process: a setns
/// process joins the init's namespaces and root (see
/// [`Options::container`](crate::Options::container)).
///
/// A pid alone could name another process once the init has exited and its
/// pid has been reused; the pidfd cannot, and [`open`](Container::open)
/// checks the init's start time before it trusts a pid read from a file.
#[derive(Debug)]
pub struct Container {
    pid: Pid,
    pidfd: OwnedFd,
    start_time: u64,
}

impl Container {
    /// The container whose init is `pid` and started at `start_time` (as
    /// [`Process::start_time`] gave it): what a state file keeps. Refused if
    /// that process has exited, or if the pid now belongs to another one.
    pub fn open(pid: Pid, start_time: u64) -> Result<Container, Error> {
        let pidfd = sys::pidfd_open(pid).map_err(|errno| match errno {
            Errno::ESRCH => Error::ContainerGone {
                pid,
                reason: "has exited",
            },
            errno => Error::syscall("pidfd_open")(errno),
        })?;
        // The pidfd holds whichever process had the pid when it was opened.
        // If the pid's process now has the init's start time, that was the
        // init: it held the pid all along.
        let now_started = proc_stat::start_time(pid).map_err(|_| Error::ContainerGone {
            pid,
            reason: "has exited",
        })?;
        if now_started != start_time {
            return Err(Error::ContainerGone {
                pid,
                reason: "has exited, and its pid belongs to another process now",
            });
        }
        let container = Container {
            pid,
            pidfd,
            start_time,
        };
        container.check_running()?;
        Ok(container)
    }

    /// The container whose init is `init`, a process this program started.
    pub fn of(init: &Process) -> Result<Container, Error> {
        let pidfd = init.as_fd().try_clone_to_owned().map_err(|error| {
            let errno = Errno::from_raw(error.raw_os_error().unwrap_or(libc::EBADF));
            Error::syscall("fcntl(F_DUPFD_CLOEXEC) of the init's pidfd")(errno)
        })?;
        let container = Container {
            pid: init.pid(),
            pidfd,
            start_time: init.start_time()?,
        };
        container.check_running()?;
        Ok(container)
    }

    /// The init's pid, in the caller's pid namespace.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// When the init started, in clock ticks since boot: with the pid, what
    /// names it across pid reuse (for [`open`](Container::open)).
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// Sends `signal` to the init, through the pidfd: never to a process
    /// that got the pid since. An init that has just exited is not an
    /// error (the signal came too late to matter).
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        match sys::pidfd_send_signal(self.pidfd.as_fd(), Some(signal)) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(errno) => Err(Error::syscall("pidfd_send_signal")(errno)),
        }
    }

    /// Waits up to `timeout` for the init to exit; whether it did. (Not
    /// reaped here: that is for its parent.)
    pub fn wait_exit(&self, timeout: Duration) -> Result<bool, Error> {
        let deadline = clock::now() + timeout;
        // A pidfd turns readable when its process exits.
        wait::until_ready(self.pidfd.as_fd(), PollFlags::POLLIN, Some(deadline))
            .map_err(Error::syscall("ppoll"))
    }

    /// Whether the init still runs (checked now; it can exit at any time).
    pub fn is_running(&self) -> bool {
        self.check_running().is_ok()
    }

    /// How a setns process launched from the calling thread, entering the
    /// container's `cgroups` (if any), gets into the container's pid
    /// namespace: [`SetnsEntry::Clone`], the faster, where the thread can
    /// enter that namespace for a clone (it tries, and sets itself back);
    /// else through a helper.
    ///
    /// Either way the process is held to the container's pids limit: a
    /// clone into a cgroup2 directory is held to its `pids.max`, and under
    /// a v1 limit the clone is made from the container's v1 pids cgroup,
    /// as the helper's fork is, which the thread must be able to reach
    /// and leave (see `cgroup::fork_into_v1_pids`; where it cannot, the
    /// helper is taken).
    pub fn setns_entry(&self, cgroups: Option<&CgroupPaths>) -> SetnsEntry {
        let forks_in = cgroups.map_or(Ok(None), cgroup::fork_into_v1_pids);
        if forks_in.is_ok() && crate::spawn::can_clone_into(self.pidfd()) {
            SetnsEntry::Clone
        } else {
            SetnsEntry::Helper
        }
    }

    /// The pidfd on the init.
    pub(crate) fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Refuses a container whose init has exited: there is nothing left to
    /// join (its pid namespace, if it had one, is gone with it).
    pub(crate) fn check_running(&self) -> Result<(), Error> {
        // A pidfd turns readable when its process exits; never blocks.
        let exited = wait::until_ready(self.pidfd.as_fd(), PollFlags::POLLIN, Some(clock::now()))
            .map_err(Error::syscall("ppoll"))?;
        if exited {
            return Err(Error::ContainerGone {
                pid: self.pid,
                reason: "has exited",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command};

    use super::*;

    /// A `sleep` standing in for a container's init; killed and reaped when
    /// dropped, so that a failed test leaves nothing behind.
    struct Sleeper(Child);

    impl Sleeper {
        fn start() -> Sleeper {
            Sleeper(Command::new("sleep").arg("60").spawn().expect("spawn sleep"))
        }

        fn container(&self) -> Container {
            let pid = Pid::new(i32::try_from(self.0.id()).expect("pid")).expect("pid");
            Container::open(pid, proc_stat::start_time(pid).expect("start time")).expect("open")
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            // Either may fail only because the sleep is gone already.
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_signalled_init_exits_and_no_longer_runs() {
        let sleeper = Sleeper::start();
        let container = sleeper.container();
        assert!(container.is_running());
        container.signal(Signal::SIGTERM).expect("signal");
        assert!(container.wait_exit(Duration::from_secs(5)).expect("wait"));
        assert!(!container.is_running());
        // Exited (a zombie until the sleeper is dropped): not an error.
        container.signal(Signal::SIGTERM).expect("signal an exited init");
    }

    #[test]
    fn a_running_init_is_waited_for_until_the_timeout() {
        let sleeper = Sleeper::start();
        let container = sleeper.container();
        let started = std::time::Instant::now();
        assert!(!container.wait_exit(Duration::from_millis(50)).expect("wait"));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(container.is_running());
    }

    #[test]
    fn a_reaped_init_cannot_be_opened() {
        let mut sleeper = Sleeper::start();
        let pid = Pid::new(i32::try_from(sleeper.0.id()).expect("pid")).expect("pid");
        let started = proc_stat::start_time(pid).expect("start time");
        sleeper.0.kill().expect("kill");
        sleeper.0.wait().expect("reap");
        assert!(matches!(
            Container::open(pid, started),
            Err(Error::ContainerGone { .. })
        ));
        assert!(!proc_stat::is_running(pid, started));
    }
}
