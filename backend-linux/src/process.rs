//! [`Process`]: a started container process, held by its pidfd.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::signal::Signal;

use cradle_core::{driver, ExitStatus, Kind, Launch, Pid, Plan};

use crate::cgroup::Cgroup;
use crate::error::Error;
use crate::launch::LinuxLaunch;
use crate::options::Options;
use crate::wait::{self, Collect};
use crate::{clock, proc_stat, sys};

/// A container process that reached `exec`.
///
/// It is the caller's child, held by a pidfd: signals go through the pidfd,
/// so once the process has been reaped no other process that got its pid can
/// be hit. Like [`std::process::Child`], dropping a `Process` neither kills
/// nor reaps it; [`wait`](Process::wait) or
/// [`terminate`](Process::terminate) does.
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    pidfd: OwnedFd,
    /// Set once reaped.
    status: Option<ExitStatus>,
    cgroup: Option<Cgroup>,
}

impl Process {
    /// Runs a launch of `plan` to its end: the process is running, or the
    /// launch failed and everything it made has been released.
    ///
    /// A plan for a cgroup needs a [`CgroupConfig`](crate::cgroup::CgroupConfig)
    /// in `options`, and `config.preserved_fds` must count the descriptors
    /// given with [`Options::preserve_fd`].
    pub fn start(plan: Plan, options: Options) -> Result<Process, Error> {
        check_options(&plan, &options)?;
        let mut launch = Launch::new(plan, clock::now())?;
        let mut backend = LinuxLaunch::new(options)?;
        let pid = driver::drive(&mut launch, &mut backend)?;
        backend.into_process(pid)
    }

    pub(crate) fn new(pid: Pid, pidfd: OwnedFd, cgroup: Option<Cgroup>) -> Process {
        Process {
            pid,
            pidfd,
            status: None,
            cgroup,
        }
    }

    /// Its pid, in the caller's pid namespace.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The cgroup its launch created, if any: the caller's to
    /// [`destroy`](Cgroup::destroy) once the container is done.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// Waits for it to exit and reaps it. A container's life has no
    /// natural bound, so neither has this wait; see
    /// [`wait_timeout`](Process::wait_timeout).
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        loop {
            if let Some(status) = self.wait_timeout(Duration::from_secs(3600))? {
                return Ok(status);
            }
        }
    }

    /// Waits up to `timeout` for it to exit, and reaps it if it did.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let deadline = clock::now() + timeout;
        if !wait::until_ready(self.pidfd.as_fd(), PollFlags::POLLIN, Some(deadline))
            .map_err(Error::syscall("ppoll"))?
        {
            return Ok(None);
        }
        self.try_wait()
    }

    /// Reaps it if it has exited; never blocks.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = wait::exit_status(self.pidfd.as_fd(), Collect::Reap)
            .map_err(Error::syscall("waitid(P_PIDFD)"))?;
        self.status = status;
        Ok(status)
    }

    /// Sends `signal` through the pidfd: `ESRCH` once the process has been
    /// reaped, never a signal to whoever has its pid now.
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        if self.status.is_some() {
            return Err(Error::Reaped { pid: self.pid });
        }
        sys::pidfd_send_signal(self.pidfd.as_fd(), Some(signal)).map_err(Error::syscall("pidfd_send_signal"))
    }

    /// Kills it (`SIGKILL`) and reaps it, waiting at most a few seconds for
    /// the kernel to finish it off.
    pub fn terminate(&mut self) -> Result<ExitStatus, Error> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        match sys::pidfd_send_signal(self.pidfd.as_fd(), Some(Signal::SIGKILL)) {
            // ESRCH: it has exited already and is waiting to be reaped.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => return Err(Error::syscall("pidfd_send_signal")(errno)),
        }
        self.wait_timeout(crate::launch::REAP_BOUND)?
            .ok_or(Error::TimedOut {
                call: "waitid(P_PIDFD)",
                after: crate::launch::REAP_BOUND,
            })
    }

    /// When it started, in clock ticks since boot (`starttime` of
    /// `/proc/<pid>/stat`; `sysconf(_SC_CLK_TCK)` ticks a second). With the
    /// pid, it names the process uniquely over the machine's uptime.
    pub fn start_time(&self) -> Result<u64, Error> {
        // Until it is reaped the pid is ours, so /proc/<pid> is this process.
        if self.status.is_some() {
            return Err(Error::Reaped { pid: self.pid });
        }
        proc_stat::start_time(self.pid)
    }
}

impl AsFd for Process {
    /// The pidfd: readable once the process has exited.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

/// What [`Process::start`] can check of the options before anything is made.
fn check_options(plan: &Plan, options: &Options) -> Result<(), Error> {
    let wants_cgroup = plan.cgroup;
    match plan.kind {
        Kind::Init if wants_cgroup && options.cgroup.is_none() => {
            return Err(Error::Options {
                reason: "the plan asks for a cgroup but the options name none",
            })
        }
        Kind::Setns if wants_cgroup && options.container_cgroups.is_none() => {
            return Err(Error::Options {
                reason: "the plan asks to enter the container's cgroups but the options name none",
            })
        }
        _ => {}
    }
    if usize::try_from(plan.config.preserved_fds).ok() != Some(options.preserved.len()) {
        return Err(Error::Options {
            reason: "config.preserved_fds does not count the descriptors the options preserve",
        });
    }
    Ok(())
}
