//! The backend of one launch: the launcher's system calls, carried out on
//! the simulated kernel, with the fault script striking where it says.
//!
//! - this module: the backend's state, and how a command begins;
//! - [`commands`]: the commands;
//! - [`wait`]: waiting on the child;
//! - [`options`]: how it is set up.

mod commands;
mod options;
mod wait;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io;

use cradle_core::backend::Clock;
use cradle_core::{Command, CommandError, Pid, Time};

pub use self::commands::{DESTROY_BOUND, REAP_BOUND};
pub use self::options::{Options, Schedule, SOCKET_BUFFER};
use crate::cgroup::HIERARCHIES;
use crate::faults::{At, CommandKind, Fault, FaultScript};
use crate::kernel::{Kernel, LaunchId, Leftovers};
use crate::process::Process;
use crate::socket::{SocketId, SocketPair};

/// The backend of one launch over a [`Kernel`], which it owns for the
/// launch's duration ([`MockBackend::into_kernel`] gives it back).
///
/// It implements every [`cradle_core::backend`] trait, so
/// [`cradle_core::driver::drive`] runs over it unchanged. It records every
/// command it receives, and holds its processes as pidfds would: it
/// reports their exits, and kills or reaps nothing else.
///
/// The launch's children advance only while the parent waits: [`Wait::wait`]
/// returns what is there (an exit, bytes, end of stream) or lets the
/// programs take one step at a time until something is; when nothing can
/// happen before the deadline, the clock jumps to it.
#[derive(Debug)]
pub struct MockBackend {
    kernel: Kernel,
    launch: LaunchId,
    options: Options,
    cgroup: String,
    commands: Vec<Command>,
    socket: Option<SocketId>,
    helper: Option<Pid>,
    /// Processes spawned or adopted, until reaped.
    held: Vec<Held>,
    /// Host interfaces created, by index in the config's `networks`.
    interfaces: BTreeMap<usize, String>,
    cgroup_created: bool,
    /// The handed-off process this backend's launch resumes.
    resuming: Option<Pid>,
}

/// A process the backend holds, as a pidfd holds exactly one process even
/// once its pid is reused.
#[derive(Debug)]
struct Held {
    pid: Pid,
    serial: u64,
    exit_reported: bool,
}

impl MockBackend {
    /// A backend for a new launch on `kernel`, with `faults` to strike.
    pub fn new(mut kernel: Kernel, options: Options, faults: impl IntoIterator<Item = Fault>) -> MockBackend {
        let launch = kernel.new_launch(FaultScript::new(faults));
        let cgroup = options
            .cgroup
            .clone()
            .unwrap_or_else(|| format!("/cradle-{}", launch.0));
        MockBackend {
            kernel,
            launch,
            options,
            cgroup,
            commands: Vec::new(),
            socket: None,
            helper: None,
            held: Vec::new(),
            interfaces: BTreeMap::new(),
            cgroup_created: false,
            resuming: None,
        }
    }

    /// A backend for a launch that [resumes](cradle_core::Launch::resume)
    /// `pid`, a process another launch handed off: it holds `pid` as a
    /// pidfd would (it reports its exit, and may kill it, but is not its
    /// parent), and its start opens a new channel to it.
    pub fn resume(
        kernel: Kernel,
        options: Options,
        faults: impl IntoIterator<Item = Fault>,
        pid: Pid,
    ) -> MockBackend {
        let mut backend = MockBackend::new(kernel, options, faults);
        backend.resuming = Some(pid);
        backend.hold(pid);
        backend
    }

    /// The kernel's name for this launch.
    pub fn launch_id(&self) -> LaunchId {
        self.launch
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The kernel, to change the world between steps.
    pub fn kernel_mut(&mut self) -> &mut Kernel {
        &mut self.kernel
    }

    /// Gives the kernel back.
    pub fn into_kernel(self) -> Kernel {
        self.kernel
    }

    /// Every command received, in order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The faults that have not struck.
    pub fn pending_faults(&self) -> &[Fault] {
        self.kernel.pending_faults(self.launch)
    }

    /// The cgroup an init launch creates.
    pub fn cgroup_path(&self) -> &str {
        &self.cgroup
    }

    /// What the launch holds in the kernel now.
    pub fn leftovers(&self) -> Leftovers {
        self.kernel.leftovers(self.launch)
    }

    /// Records `command`, then lets the faults keyed on it strike: a slow
    /// command's time passes, the launch's newest process suffers what is
    /// scripted at it, and a failing command fails before doing anything.
    fn begin(&mut self, command: Command, kind: CommandKind) -> Result<(), CommandError> {
        self.commands.push(command);
        if let Some(by) = self.kernel.script_mut(self.launch).delay(kind) {
            self.kernel.advance(by);
        }
        if let Some(victim) = self.newest_live_process() {
            let at = At::Command(kind);
            let strikes = |f: &Fault, kernel: &Kernel| f.at() == Some(at) && kernel.can_suffer(victim, f);
            if let Some(fault) = self.kernel.take_fault(self.launch, strikes) {
                self.kernel.suffer(victim, &fault);
            }
        }
        match self.kernel.script_mut(self.launch).failure(kind) {
            Some(errno) => Err(error(format_args!("{kind:?} (scripted)"), errno)),
            None => Ok(()),
        }
    }

    /// Where the cgroup command `kind`, one part per hierarchy, is
    /// scripted to fail partway ([`Fault::FailPartway`]): the part and its
    /// errno.
    fn failing_part(&mut self, kind: CommandKind) -> Option<(usize, i32)> {
        self.kernel
            .script_mut(self.launch)
            .failing_part(kind, HIERARCHIES)
    }

    /// The launch's newest process that still runs its program: the one a
    /// fault at a command strikes.
    fn newest_live_process(&self) -> Option<Pid> {
        self.kernel
            .processes()
            .filter(|p| p.launch == Some(self.launch) && p.is_running())
            .max_by_key(|p| p.serial)
            .map(Process::pid)
    }

    fn hold(&mut self, pid: Pid) {
        if let Some(process) = self.kernel.process(pid) {
            self.held.push(Held {
                pid,
                serial: process.serial,
                exit_reported: false,
            });
        }
    }

    /// Blocks, as a reap does, until `pid` has exited, for at most
    /// [`REAP_BOUND`]: whether it has. A dying process exits as the clock
    /// moves on; nothing runs while the parent is in a command, so a
    /// process that was not killed waits out the bound.
    fn await_exit(&mut self, pid: Pid) -> bool {
        let bound = self.kernel.now() + REAP_BOUND;
        self.kernel
            .block_until(bound, |kernel| kernel.process(pid).is_none_or(|p| !p.is_alive()))
    }

    /// The process `pid` if the backend holds it, alive or not.
    fn held_process(&self, pid: Pid) -> Result<&Process, CommandError> {
        self.held
            .iter()
            .find(|h| h.pid == pid)
            .and_then(|h| self.kernel.process(pid).filter(|p| p.serial == h.serial))
            .ok_or_else(|| error(format_args!("no pidfd for {pid}"), libc::EBADF))
    }

    /// The process `pid`, held and alive; `ESRCH` for `call` if it ended.
    fn live_process(&mut self, pid: Pid, call: impl Display) -> Result<&mut Process, CommandError> {
        if !self.held_process(pid)?.is_alive() {
            return Err(error(call, libc::ESRCH));
        }
        self.kernel
            .processes_mut()
            .get_mut(pid)
            .ok_or_else(|| error(format_args!("no pidfd for {pid}"), libc::EBADF))
    }

    /// The process `pid`, held and not reaped: `Some` while it runs,
    /// `None` once it is a zombie; `ESRCH` for `call` if it is gone.
    fn unreaped_process(
        &mut self,
        pid: Pid,
        call: impl Display,
    ) -> Result<Option<&mut Process>, CommandError> {
        if !self.held_process(pid)?.is_alive() {
            return Ok(None);
        }
        self.live_process(pid, call).map(Some)
    }

    fn socket(&mut self, call: &str) -> Result<&mut SocketPair, CommandError> {
        let id = self.socket.ok_or_else(|| error(call, libc::EBADF))?;
        self.kernel.socket_mut(id).ok_or_else(|| error(call, libc::EBADF))
    }
}

/// A failed call, as the core takes it: what failed, with its errno.
fn error(call: impl Display, errno: i32) -> CommandError {
    let message = format!("{call}: {}", io::Error::from_raw_os_error(errno));
    CommandError::new(message, Some(errno))
}

impl Clock for MockBackend {
    fn now(&mut self) -> Time {
        self.kernel.now()
    }
}
