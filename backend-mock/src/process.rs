//! The process table: pids, parents, creators, zombies.

use std::collections::BTreeMap;

use cradle_core::{ExitStatus, IdMaps, NamespaceKind, Pid, Time};

use crate::child::Program;
use crate::kernel::LaunchId;
use crate::socket::SocketId;

/// Whether a process runs, is on its way out, or waits to be reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Alive (perhaps stalled, frozen or held, but not ended).
    Running,
    /// Killed, and not yet exited: as on Linux, where a `SIGKILL` takes
    /// effect only once the process leaves the kernel (or, in `D` state,
    /// its uninterruptible sleep). It runs nothing more, but it is still
    /// there: in `/proc` and in its cgroup, holding its socket ends, and
    /// not reapable.
    Dying {
        /// What it will exit with.
        status: ExitStatus,
        /// When, in the kernel's virtual time, it becomes a zombie.
        exits_at: Time,
    },
    /// Ended with this status; its parent has not reaped it.
    Zombie(ExitStatus),
}

impl ProcessState {
    /// Not ended: running or dying, as `/proc` and `kill(pid, 0)` see it.
    pub fn is_alive(self) -> bool {
        !matches!(self, ProcessState::Zombie(_))
    }
}

/// One entry of the process table.
#[derive(Debug)]
pub struct Process {
    pub(crate) pid: Pid,
    /// Unique for the kernel's lifetime: pids repeat, serials do not.
    pub(crate) serial: u64,
    pub(crate) name: &'static str,
    /// Who gets its exit status; `None` only for the host's init.
    pub(crate) parent: Option<Pid>,
    /// Who forked it, by pid and serial. Differs from the parent under
    /// `CLONE_PARENT`.
    pub(crate) creator: Option<(Pid, u64)>,
    /// The launch that made it (inherited through forks).
    pub(crate) launch: Option<LaunchId>,
    pub(crate) state: ProcessState,
    /// The namespaces created for it at clone time.
    pub(crate) new_namespaces: Vec<NamespaceKind>,
    /// Waiting for a release before `exec`.
    pub(crate) held: bool,
    /// The parent has let it `exec` its command after `ready`
    /// ([`Command::Start`](cradle_core::Command::Start)).
    pub(crate) started: bool,
    /// Its hold was handed off ([`Command::HandOff`](cradle_core::Command::HandOff)):
    /// it waits for a start from any launcher, its parent's or not.
    pub(crate) handed_off: bool,
    /// The channel a resuming launcher opened with its start: where the
    /// process reports from then on.
    pub(crate) resumed_on: Option<SocketId>,
    pub(crate) id_maps: Option<IdMaps>,
    /// Its cgroup while it is alive; the dead are in none.
    pub(crate) cgroup: Option<String>,
    /// What it does when scheduled; `None` for processes that only exist.
    pub(crate) program: Option<Program>,
}

impl Process {
    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// What it is, for people: `"init"`, `"setns helper"`, ...
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The process that gets its exit status.
    pub fn parent(&self) -> Option<Pid> {
        self.parent
    }

    /// The process that forked it, as it was then (that pid may have been
    /// reaped and reused since).
    pub fn creator(&self) -> Option<Pid> {
        self.creator.map(|(pid, _)| pid)
    }

    /// The launch that made it.
    pub fn launch(&self) -> Option<LaunchId> {
        self.launch
    }

    /// Running, dying or zombie.
    pub fn state(&self) -> ProcessState {
        self.state
    }

    /// Not ended: running, or killed and not yet exited.
    pub fn is_alive(&self) -> bool {
        self.state.is_alive()
    }

    /// Running its program: neither killed nor ended.
    pub fn is_running(&self) -> bool {
        self.state == ProcessState::Running
    }

    /// When a killed process will exit; `None` unless it is dying.
    pub fn exits_at(&self) -> Option<Time> {
        match self.state {
            ProcessState::Dying { exits_at, .. } => Some(exits_at),
            _ => None,
        }
    }

    /// The namespaces created for it.
    pub fn new_namespaces(&self) -> &[NamespaceKind] {
        &self.new_namespaces
    }

    /// Still waiting for its release.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Whether the parent has let it `exec` its command after `ready`.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Whether its hold was handed off, to wait for any launcher's start.
    pub fn is_handed_off(&self) -> bool {
        self.handed_off
    }

    /// The id maps written for its user namespace.
    pub fn id_maps(&self) -> Option<&IdMaps> {
        self.id_maps.as_ref()
    }

    /// The cgroup it is in, while alive (dying included).
    pub fn cgroup(&self) -> Option<&str> {
        self.cgroup.as_deref()
    }
}

/// What a new process starts with.
#[derive(Debug)]
pub(crate) struct NewProcess {
    pub(crate) name: &'static str,
    pub(crate) parent: Option<Pid>,
    pub(crate) creator: Option<(Pid, u64)>,
    pub(crate) launch: Option<LaunchId>,
    pub(crate) new_namespaces: Vec<NamespaceKind>,
    pub(crate) held: bool,
    pub(crate) cgroup: String,
    pub(crate) program: Option<Program>,
}

/// The table, with Linux's pid allocation: the next free pid after the
/// last one handed out, wrapping at `pid_max`, so a reaped pid comes back.
#[derive(Debug)]
pub(crate) struct ProcessTable {
    by_pid: BTreeMap<Pid, Process>,
    last_pid: i32,
    pid_max: i32,
    next_serial: u64,
}

impl ProcessTable {
    pub(crate) fn new(pid_max: i32) -> ProcessTable {
        ProcessTable {
            by_pid: BTreeMap::new(),
            last_pid: 0,
            pid_max,
            next_serial: 1,
        }
    }

    /// Adds a process; `None` when every pid is taken (`fork` fails with
    /// `EAGAIN`).
    pub(crate) fn insert(&mut self, new: NewProcess) -> Option<Pid> {
        let pid = self.allocate()?;
        let serial = self.next_serial;
        self.next_serial += 1;
        self.by_pid.insert(
            pid,
            Process {
                pid,
                serial,
                name: new.name,
                parent: new.parent,
                creator: new.creator,
                launch: new.launch,
                state: ProcessState::Running,
                new_namespaces: new.new_namespaces,
                held: new.held,
                started: false,
                handed_off: false,
                resumed_on: None,
                id_maps: None,
                cgroup: Some(new.cgroup),
                program: new.program,
            },
        );
        Some(pid)
    }

    fn allocate(&mut self) -> Option<Pid> {
        let after = (self.last_pid + 1..=self.pid_max).chain(1..=self.last_pid);
        let pid = after
            .filter_map(Pid::new)
            .find(|pid| !self.by_pid.contains_key(pid))?;
        self.last_pid = pid.as_raw();
        Some(pid)
    }

    /// A pid no process has, if there is one.
    pub(crate) fn vacant(&self) -> Option<Pid> {
        (1..=self.pid_max)
            .rev()
            .filter_map(Pid::new)
            .find(|pid| !self.by_pid.contains_key(pid))
    }

    pub(crate) fn get(&self, pid: Pid) -> Option<&Process> {
        self.by_pid.get(&pid)
    }

    pub(crate) fn get_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.by_pid.get_mut(&pid)
    }

    pub(crate) fn remove(&mut self, pid: Pid) -> Option<Process> {
        self.by_pid.remove(&pid)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Process> {
        self.by_pid.values()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Process> {
        self.by_pid.values_mut()
    }
}
