//! [`HeldProcess`]: a container process set up and held before `exec`,
//! so that its caller can record it before anything of the user's runs.

use cradle_core::backend::{Wait, Wake};
use cradle_core::{driver, Launch, LaunchError, Pid, Step, StepTime};

use crate::cgroup::Cgroup;
use crate::error::Error;
use crate::launch::LinuxLaunch;
use crate::process::Process;
use crate::{clock, proc_stat};

/// A launch that has reached [`Event::Held`](cradle_core::Event::Held): the
/// init is set up (namespaces, cgroup, interfaces, mounts, confinement),
/// has replied `ready`, and waits for [`start`](HeldProcess::start) before
/// it `exec`s its command.
///
/// The launch's deadline still runs: start it (or drop it) within the
/// plan's timeout. Dropping a held process undoes the launch: the process
/// is killed and reaped, its interfaces and cgroup removed. A held process
/// whose launcher dies (killed at any instant) exits by itself when its
/// start pipe reaches end of file, never running its command.
#[derive(Debug)]
pub struct HeldProcess {
    launch: Launch,
    /// Taken by [`start`](HeldProcess::start).
    backend: Option<LinuxLaunch>,
    pid: Pid,
    on_step: Option<fn(Step)>,
}

impl HeldProcess {
    pub(crate) fn new(
        launch: Launch,
        backend: LinuxLaunch,
        pid: Pid,
        on_step: Option<fn(Step)>,
    ) -> HeldProcess {
        HeldProcess {
            launch,
            backend: Some(backend),
            pid,
            on_step,
        }
    }

    /// Its pid, in the caller's pid namespace.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// When it started, in clock ticks since boot: with the pid, it names
    /// the process across pid reuse (see [`Process::start_time`]).
    pub fn start_time(&self) -> Result<u64, Error> {
        // Our child, not reaped: /proc/<pid> is this process.
        proc_stat::start_time(self.pid)
    }

    /// How long each of the child's set-up steps took, when the config
    /// asked ([`Config::report_timings`](cradle_core::Config::report_timings));
    /// empty otherwise.
    pub fn child_timings(&self) -> &[StepTime] {
        self.launch.child_timings()
    }

    /// The cgroup the launch created, if any.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.backend.as_ref().and_then(LinuxLaunch::cgroup)
    }

    /// Takes the backend (once: `twice` says why a second take is
    /// refused) and feeds the launch what happened while the caller
    /// recorded: the process may have died (an OOM kill, say), and the
    /// launch should say how it ended rather than that the start (or the
    /// hand-off) could not be written.
    fn caught_up(&mut self, twice: &'static str) -> Result<LinuxLaunch, Error> {
        let mut backend = self.backend.take().ok_or(Error::OutOfOrder { reason: twice })?;
        let mut buf = vec![0; driver::READ_CHUNK];
        while self.launch.is_held() {
            let wake = backend.wait(Some(clock::now()), self.launch.wants_read(), &mut buf);
            if wake == Wake::Deadline {
                break;
            }
            let _ = driver::handle_wake(&mut self.launch, clock::now(), wake, &buf);
        }
        Ok(backend)
    }

    /// Lets it `exec` its command, and waits until it has (or failed to:
    /// then everything is released, as for any failed launch).
    pub fn start(mut self) -> Result<Process, Error> {
        let mut backend = self.caught_up("a held process is started once")?;
        // Refused only if the hold has ended (the process died, or the
        // deadline passed): then the drive below reports why.
        let _ = self.launch.handle_start(clock::now());
        match drive(&mut self.launch, &mut backend, self.on_step) {
            Ok(pid) => Ok(backend.into_process(pid)?.timed_by(&self.launch)),
            Err(error) => Err(backend.failure(error)),
        }
    }

    /// Hands its hold off (the OCI `create`): it goes on holding, set up,
    /// after this launcher has gone, until a launcher connects to the
    /// listener the options gave ([`Options::hand_off_listener`](crate::Options::hand_off_listener))
    /// and starts it ([`resume`](crate::resume)); a signal is the only
    /// other end of its wait. The process and the cgroup are the caller's
    /// from now on.
    pub fn hand_off(mut self) -> Result<CreatedProcess, Error> {
        let mut backend = self.caught_up("a held process is handed off once")?;
        // Refused only if the hold has ended: the drive below says why.
        let _ = self.launch.handle_hand_off(clock::now());
        match drive(&mut self.launch, &mut backend, self.on_step) {
            Ok(pid) => {
                let (pid, cgroup) = backend.into_created(pid)?;
                Ok(CreatedProcess { pid, cgroup })
            }
            Err(error) => Err(backend.failure(error)),
        }
    }
}

/// A container process whose hold was handed off: set up and waiting,
/// before `exec`, for a start from any launcher ([`resume`](crate::resume)).
/// Nothing of it is undone on drop.
#[derive(Debug)]
pub struct CreatedProcess {
    /// Its pid, in the caller's pid namespace.
    pub pid: Pid,
    /// The cgroup its launch created, if any.
    pub cgroup: Option<Cgroup>,
}

impl Drop for HeldProcess {
    /// Undoes the launch, unless it has ended (started, or failed).
    fn drop(&mut self) {
        let Some(backend) = self.backend.as_mut() else {
            return;
        };
        if !self.launch.is_finished() {
            self.launch.handle_cancel(clock::now());
            let _ = driver::drive(&mut self.launch, backend);
        }
    }
}

/// Work of the caller's that overlaps the child's set-up
/// ([`Process::start_held_while`](crate::Process::start_held_while)).
pub(crate) type Meanwhile<'a> =
    Box<dyn FnOnce(Pid) -> Result<(), Box<dyn std::error::Error + Send + Sync>> + 'a>;

/// When a held process is started, once the caller's work is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartAfter {
    /// After its `ready`, by the caller ([`HeldProcess::start`]).
    Held,
    /// As soon as it is ready: the start is given when the work ends
    /// ([`Launch::handle_start_when_ready`]).
    Work,
}

/// [`drive`], calling `meanwhile` with the child's pid once, when all the
/// parent has left to do is await `ready`, then, with [`StartAfter::Work`],
/// starting the process. If it fails, the launch is cancelled (and so
/// undone) and its error kept in `failed`.
pub(crate) fn drive_meanwhile(
    launch: &mut Launch,
    backend: &mut LinuxLaunch,
    on_step: Option<fn(Step)>,
    (meanwhile, start): (Meanwhile<'_>, StartAfter),
    failed: &mut Option<Box<dyn std::error::Error + Send + Sync>>,
) -> Result<Pid, LaunchError> {
    let mut meanwhile = Some(meanwhile);
    driver::drive_with(launch, backend, |launch, _| {
        if let Some(hook) = on_step {
            hook(launch.step());
        }
        if launch.step() != Step::AwaitReady || launch.is_finished() {
            return;
        }
        let (Some(pid), Some(work)) = (launch.pid(), meanwhile.take()) else {
            return;
        };
        match work(pid) {
            Err(error) => {
                *failed = Some(error);
                launch.handle_cancel(clock::now());
            }
            // Refused only if the child has ended (or is ready already,
            // for a start after its `ready`): the launch goes on to say how.
            Ok(()) if start == StartAfter::Work => {
                // The hook sees the start's step too, before its command.
                if launch.handle_start_when_ready(clock::now()).is_ok() {
                    if let Some(hook) = on_step {
                        hook(launch.step());
                    }
                }
            }
            Ok(()) => {}
        }
    })
}

/// [`driver::drive`], calling `on_step` with the launch's step before each
/// of its moves.
pub(crate) fn drive(
    launch: &mut Launch,
    backend: &mut LinuxLaunch,
    on_step: Option<fn(Step)>,
) -> Result<Pid, LaunchError> {
    match on_step {
        Some(hook) => driver::drive_with(launch, backend, |launch, _| hook(launch.step())),
        None => driver::drive(launch, backend),
    }
}
