//! [`Process`]: a started container process, held by its pidfd.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::unistd::{getegid, geteuid};

use cradle_core::{ExitStatus, Interface, Kind, Launch, NamespaceKind, Pid, Plan, StepTime, Terminal};

use crate::cgroup::{Cgroup, CgroupError};
use crate::error::Error;
use crate::held::{HeldProcess, Meanwhile, StartAfter};
use crate::init::network;
use crate::launch::LinuxLaunch;
use crate::options::Options;
use crate::wait::{self, Collect};
use crate::Signal;
use crate::{clock, id_maps, net, proc_stat, sys};

/// A container process that reached `exec`.
///
/// It is the caller's child, held by a pidfd: signals go through the pidfd,
/// so once the process has been reaped no other process that got its pid can
/// be hit. Like [`std::process::Child`], dropping a `Process` neither kills
/// nor reaps it; [`wait`](Process::wait) or
/// [`terminate`](Process::terminate) does.
///
/// # When a container has ended
///
/// A container ends with its init process, and the waits report its exit
/// status only once nothing of the container is left running:
///
/// - In a pid namespace of its own, the kernel kills every other process
///   in it when the init exits.
/// - Sharing the caller's pid namespace, the init's descendants would live
///   on. If the launch made a cgroup, the waits kill whatever is left in it
///   once the init has exited (whatever its status) and report the exit
///   when the cgroup is empty (v2 `populated 0`, v1 no pid listed); the
///   processes left need not be the caller's children, and are never
///   waited for as such. Without a cgroup there is no telling the
///   container's processes from others: only the init is waited for.
///
/// A container the kernel's OOM killer hit shows as killed by `SIGKILL`;
/// [`oom_kills`](Process::oom_kills) tells that apart from any other
/// `SIGKILL`.
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    pidfd: OwnedFd,
    /// The init's status, set once reaped.
    status: Option<ExitStatus>,
    cgroup: Option<Cgroup>,
    own_pid_namespace: bool,
    /// Set once the container has ended: init reaped, and the cgroup
    /// emptied where that is cradle's to do.
    ended: bool,
    /// Read from the cgroup when the container ended.
    oom_kills: Option<u64>,
    /// The child's set-up steps, as it timed them.
    child_timings: Vec<StepTime>,
}

impl Process {
    /// Runs a launch of `plan` to its end: the process is running, or the
    /// launch failed and everything it made has been released.
    ///
    /// A plan for a cgroup needs a [`CgroupConfig`](crate::cgroup::CgroupConfig)
    /// in `options`, and `config.preserved_fds` must count the descriptors
    /// given with [`Options::preserve_fd`].
    ///
    /// Refused before anything is made: a network configuration that
    /// [`net::validate`](crate::net::validate) refuses ([`Error::Net`]);
    /// interfaces without a network namespace of the container's own, or a
    /// veth without a new one ([`Error::Plan`]); and, for a caller that is
    /// not root, anything but a container in a new user namespace mapping
    /// the caller's own uid and gid once, without a cgroup or a veth
    /// ([`Error::Unprivileged`]).
    ///
    /// A launch that fails because the OOM killer killed its process (its
    /// memory limit is too small for the init) is [`Error::OomKilled`];
    /// any other failure of the launch is [`Error::Launch`].
    ///
    /// A plan whose config holds is started as soon as it is held; see
    /// [`start_held`](Process::start_held) to record it first.
    pub fn start(plan: Plan, options: Options) -> Result<Process, Error> {
        if plan.config.hold {
            return Process::start_held(plan, options)?.start();
        }
        let (launch, backend, pid) = launch(plan, options)?;
        Ok(backend.into_process(pid)?.timed_by(&launch))
    }

    /// Runs a launch of `plan` until its process is set up and held before
    /// `exec` (the plan's config is made to hold): record it, then
    /// [`start`](HeldProcess::start) it. Fails as
    /// [`start`](Process::start) does, leaving nothing.
    pub fn start_held(plan: Plan, options: Options) -> Result<HeldProcess, Error> {
        Process::start_held_while(plan, options, |_| Ok(()))
    }

    /// [`start_held`](Process::start_held), calling `meanwhile` with the
    /// child's pid once the parent has done its part of the set-up (the
    /// cgroup, the interfaces, the config), while the child does its own:
    /// work that needs the pid, such as recording it, then overlaps the
    /// child's set-up instead of following it. The process holds before
    /// `exec` until started, whenever `meanwhile` ends. If `meanwhile`
    /// fails, the launch is undone and its error is returned as
    /// [`Error::Meanwhile`].
    pub fn start_held_while(
        mut plan: Plan,
        options: Options,
        meanwhile: impl FnOnce(Pid) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<HeldProcess, Error> {
        plan.config.hold = true;
        let on_step = options.on_step;
        let (launch, backend, pid) =
            launch_while(plan, options, Some((Box::new(meanwhile), StartAfter::Held)))?;
        if !launch.is_held() {
            return Err(Error::OutOfOrder {
                reason: "a launch that holds ended without holding",
            });
        }
        Ok(HeldProcess::new(launch, backend, pid, on_step))
    }

    /// Runs a launch of `plan` to its end, as [`start`](Process::start)
    /// does, calling `meanwhile` with the child's pid while the child sets
    /// itself up, as [`start_held_while`](Process::start_held_while) does:
    /// the process holds before `exec` until `meanwhile` has returned, and
    /// then `exec`s as soon as it is ready, without waiting at its hold
    /// for its `ready` to reach the parent and a start to come back. For a
    /// caller that records the process and has nothing to decide once it
    /// is set up. If `meanwhile` fails, the launch is undone and its error
    /// is returned as [`Error::Meanwhile`].
    pub fn start_recorded_while(
        mut plan: Plan,
        options: Options,
        meanwhile: impl FnOnce(Pid) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<Process, Error> {
        plan.config.hold = true;
        let on_step = options.on_step;
        let (launch, backend, pid) =
            launch_while(plan, options, Some((Box::new(meanwhile), StartAfter::Work)))?;
        if launch.is_held() {
            // The launch refused the start before `ready` (it does only
            // once the child has ended, and then it does not hold): a
            // hold is started the usual way all the same.
            return HeldProcess::new(launch, backend, pid, on_step).start();
        }
        Ok(backend.into_process(pid)?.timed_by(&launch))
    }

    /// `own_pid_namespace`: the init was cloned into a new pid namespace.
    pub(crate) fn new(pid: Pid, pidfd: OwnedFd, cgroup: Option<Cgroup>, own_pid_namespace: bool) -> Process {
        Process {
            pid,
            pidfd,
            status: None,
            cgroup,
            own_pid_namespace,
            ended: false,
            oom_kills: None,
            child_timings: Vec::new(),
        }
    }

    /// The process, with how long `launch`'s child took at each set-up step.
    pub(crate) fn timed_by(mut self, launch: &Launch) -> Process {
        self.child_timings = launch.child_timings().to_vec();
        self
    }

    /// How long each of the child's set-up steps took, when the config
    /// asked ([`Config::report_timings`](cradle_core::Config::report_timings));
    /// empty otherwise.
    pub fn child_timings(&self) -> &[StepTime] {
        &self.child_timings
    }

    /// Its pid, in the caller's pid namespace.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Lets go of the process, which runs on, neither signalled nor waited
    /// for; its pid. It stays the caller's child until the caller exits,
    /// then it is its subreaper's (`PR_SET_CHILD_SUBREAPER`), or the
    /// host's init's, to reap: how `exec --detach` hands a process to an
    /// engine. The pidfd is closed; a cgroup the launch created is left as
    /// it is.
    pub fn detach(self) -> Pid {
        self.pid
    }

    /// The cgroup its launch created, if any: the caller's to
    /// [`destroy`](Cgroup::destroy) once the container is done.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// Waits for the container to end (see [When a container has
    /// ended](Process#when-a-container-has-ended)) and returns the init's
    /// exit status. A container's life has no natural bound, so neither
    /// has this wait; see [`wait_timeout`](Process::wait_timeout).
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        loop {
            if let Some(status) = self.wait_timeout(Duration::from_secs(3600))? {
                return Ok(status);
            }
        }
    }

    /// Waits up to `timeout` for the container to end, reaping the init
    /// and emptying the cgroup as [`wait`](Process::wait) does. `None` if
    /// it has not ended by then; the next call goes on from where this one
    /// stopped.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        // One bound for both waits, on the two clocks they take.
        let (deadline, cgroup_deadline) = (clock::now() + timeout, Instant::now() + timeout);
        if self.status.is_none()
            && !wait::until_ready(self.pidfd.as_fd(), PollFlags::POLLIN, Some(deadline))
                .map_err(Error::syscall("ppoll"))?
        {
            return Ok(None);
        }
        self.end(cgroup_deadline)
    }

    /// Whether the container has ended, without blocking: reaps the init
    /// if it has exited, then kills what is left of the container and
    /// reports the exit once its cgroup is empty (a later call, as a rule,
    /// where processes were left).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        self.end(Instant::now())
    }

    /// Reaps the init if it has exited, then empties the cgroup by
    /// `deadline` where that is cradle's to do; the status once both are
    /// done.
    fn end(&mut self, deadline: Instant) -> Result<Option<ExitStatus>, Error> {
        if self.ended {
            return Ok(self.status);
        }
        if self.status.is_none() {
            self.status = wait::exit_status(self.pidfd.as_fd(), Collect::Reap)
                .map_err(Error::syscall("waitid(P_PIDFD)"))?;
        }
        let Some(status) = self.status else {
            return Ok(None);
        };
        if let Some(cgroup) = &self.cgroup {
            if !self.own_pid_namespace {
                match cgroup.kill_all_and_wait(deadline) {
                    Ok(()) => {}
                    Err(CgroupError::Timeout { .. }) => return Ok(None),
                    // Removed already (a `delete` raced the wait): nothing
                    // is left in it to wait for.
                    Err(error) if error.errno() == Some(libc::ENOENT) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            self.oom_kills = cgroup.oom_kills()?;
        }
        self.ended = true;
        Ok(Some(status))
    }

    /// Once the container has ended: how many of its processes the
    /// kernel's OOM killer killed over its cgroup's life. `None` before
    /// that, and for a container without a cgroup or without memory
    /// accounting in it.
    pub fn oom_kills(&self) -> Option<u64> {
        self.oom_kills
    }

    /// Sends `signal` through the pidfd: `ESRCH` once the process has been
    /// reaped, never a signal to whoever has its pid now.
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        if self.status.is_some() {
            return Err(Error::Reaped { pid: self.pid });
        }
        sys::pidfd_send_signal(self.pidfd.as_fd(), Some(signal)).map_err(Error::syscall("pidfd_send_signal"))
    }

    /// Kills it (`SIGKILL`) and waits for the container to end as
    /// [`wait`](Process::wait) does, at most a few seconds.
    pub fn terminate(&mut self) -> Result<ExitStatus, Error> {
        if self.status.is_none() {
            match sys::pidfd_send_signal(self.pidfd.as_fd(), Some(Signal::SIGKILL)) {
                // ESRCH: it has exited already and is waiting to be reaped.
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(errno) => return Err(Error::syscall("pidfd_send_signal")(errno)),
            }
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

/// Checks `plan` and `options`, then drives a launch of them until it runs
/// or holds (the pid it reports), or fails having released everything.
fn launch(plan: Plan, options: Options) -> Result<(Launch, LinuxLaunch, Pid), Error> {
    launch_while(plan, options, None)
}

/// [`launch`], calling `meanwhile` once the parent awaits `ready`, then
/// starting the process as it says.
fn launch_while(
    plan: Plan,
    options: Options,
    meanwhile: Option<(Meanwhile<'_>, StartAfter)>,
) -> Result<(Launch, LinuxLaunch, Pid), Error> {
    check_options(&plan, &options)?;
    let on_step = options.on_step;
    let mut launch = Launch::new(plan, clock::now())?;
    let mut backend = LinuxLaunch::new(options)?;
    let mut failed = None;
    let driven = match meanwhile {
        Some(work) => crate::held::drive_meanwhile(&mut launch, &mut backend, on_step, work, &mut failed),
        None => crate::held::drive(&mut launch, &mut backend, on_step),
    };
    match (driven, failed) {
        (Ok(pid), None) => Ok((launch, backend, pid)),
        // The launch was cancelled, and so undone, because the work failed.
        (Err(_), Some(error)) => Err(Error::Meanwhile(error)),
        (Ok(pid), Some(error)) => {
            // A launch cancelled as it ended: undone all the same (a held
            // process is, when dropped), rather than left unrecorded.
            drop(HeldProcess::new(launch, backend, pid, None));
            Err(Error::Meanwhile(error))
        }
        (Err(error), None) => Err(backend.failure(error)),
    }
}

/// What [`Process::start`] can check of the options before anything is made.
pub(crate) fn check_options(plan: &Plan, options: &Options) -> Result<(), Error> {
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
        // The converse: cgroups the plan never uses are a caller's mistake
        // (a limit that would silently not apply), refused, not ignored.
        Kind::Init if !wants_cgroup && options.cgroup.is_some() => {
            return Err(Error::Options {
                reason: "the options configure a cgroup but the plan does not ask for one",
            })
        }
        Kind::Setns if !wants_cgroup && options.container_cgroups.is_some() => {
            return Err(Error::Options {
                reason: "the options name the container's cgroups but the plan does not enter them",
            })
        }
        _ => {}
    }
    match (plan.kind, &options.container) {
        (Kind::Init, Some(_)) => {
            return Err(Error::Options {
                reason: "an init process starts a container; the options name one to join",
            })
        }
        (Kind::Setns, None) => {
            return Err(Error::Options {
                reason: "a setns process needs the container to join (Options::container)",
            })
        }
        _ => {}
    }
    match (plan.config.terminal, &options.console) {
        (Terminal::Console { .. }, None) => {
            return Err(Error::Options {
                reason: "the config makes a console but the options give no socket to send it on",
            })
        }
        (Terminal::None | Terminal::Stdin, Some(_)) => {
            return Err(Error::Options {
                reason: "the options give a console socket but the config makes no console",
            })
        }
        _ => {}
    }
    if usize::try_from(plan.config.preserved_fds).ok() != Some(options.preserved.len()) {
        return Err(Error::Options {
            reason: "config.preserved_fds does not count the descriptors the options preserve",
        });
    }
    net::validate(&plan.config.networks)?;
    if let Some(reason) = network::misplaced(&plan.config) {
        return Err(Error::Plan { reason });
    }
    if !geteuid().is_root() {
        check_unprivileged(plan)?;
    }
    Ok(())
}

/// What a caller without privileges over the host can launch: a container
/// in a user namespace of its own that maps the caller's own uid and gid
/// once (as the kernel allows such a caller), with no cgroup and no
/// interface on the host side.
fn check_unprivileged(plan: &Plan) -> Result<(), Error> {
    let config = &plan.config;
    let refuse = |reason| Err(Error::Unprivileged { reason });
    if plan.cgroup {
        return refuse("a cgroup");
    }
    if config.networks.iter().any(Interface::has_host_side) {
        return refuse("network interfaces other than loopback");
    }
    if config.new_namespaces().next().is_some() && !config.creates(NamespaceKind::User) {
        return refuse("new namespaces without a new user namespace");
    }
    match &plan.id_maps {
        Some(maps) => id_maps::check_own_ids(maps, geteuid().as_raw(), getegid().as_raw()),
        None => Ok(()),
    }
}
