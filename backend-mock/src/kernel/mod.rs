//! The simulated world: processes, sockets, cgroups, interfaces and a
//! virtual clock, on a host with one running container.
//!
//! - this module: the kernel's state, booting, and the calls a test (or a
//!   caller, after a launch) makes;
//! - [`syscalls`]: the calls the launcher's backend and the programs make;
//! - [`scheduler`]: running the programs, and the faults that strike them;
//! - [`deaths`]: killed processes, which exit as the clock moves on;
//! - [`leftovers`]: what a launch still holds.

mod deaths;
mod leftovers;
mod scheduler;
mod syscalls;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use cradle_core::{ExitStatus, NamespaceKind, Pid, Time};

pub use self::deaths::DYING_TIME;
pub use self::leftovers::{LeftProcess, Leftovers};
use crate::cgroup::{Cgroup, CgroupTree, ROOT};
use crate::faults::FaultScript;
use crate::net::{HostInterface, Net};
use crate::process::{NewProcess, Process, ProcessState, ProcessTable};
use crate::socket::{SocketId, SocketPair};

/// Linux's default `pid_max`.
pub const DEFAULT_PID_MAX: i32 = 32768;

/// `SIGKILL`.
pub const SIGKILL: i32 = 9;

/// Names one launch's objects in the kernel, so that what a launch leaves
/// behind can be found from the kernel's side alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LaunchId(pub(crate) u32);

impl fmt::Display for LaunchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "launch {}", self.0)
    }
}

/// A failed system call's error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno {}", self.0)
    }
}

impl std::error::Error for Errno {}

/// The container that runs from boot: the target of setns launches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Its init process, a child of the launcher.
    pub init: Pid,
    /// Its cgroup.
    pub cgroup: String,
}

const fn boot_pid(raw: i32) -> Pid {
    match Pid::new(raw) {
        Some(pid) => pid,
        None => panic!("boot pids are positive"),
    }
}

const HOST_INIT: Pid = boot_pid(1);
const LAUNCHER: Pid = boot_pid(2);
const CONTAINER_INIT: Pid = boot_pid(3);
const CONTAINER_CGROUP: &str = "/box";

/// The simulated kernel.
///
/// It boots with the host's init (pid 1), the launcher (pid 2: the process
/// that runs the launches, whose children launched processes are) and a
/// running container (its init, pid 3, a child of the launcher, in the
/// cgroup `/box`). Launched processes run simulated programs, which advance
/// only when asked ([`Kernel::run_until_idle`], or a backend's wait), one
/// step at a time, so every run is deterministic.
#[derive(Debug)]
pub struct Kernel {
    now: Time,
    processes: ProcessTable,
    sockets: BTreeMap<SocketId, SocketPair>,
    next_socket: u32,
    cgroups: CgroupTree,
    net: Net,
    next_launch: u32,
    /// Each launch's faults not yet spent: they belong to the world, so
    /// they still strike after the launch (a process that exits after
    /// `exec`, say).
    scripts: BTreeMap<LaunchId, FaultScript>,
    container: Container,
    /// The last process that ran, for round-robin scheduling.
    last_ran: Option<Pid>,
}

impl Default for Kernel {
    fn default() -> Kernel {
        Kernel::new()
    }
}

impl Kernel {
    /// A kernel with Linux's default `pid_max`.
    pub fn new() -> Kernel {
        Kernel::with_pid_max(DEFAULT_PID_MAX)
    }

    /// A kernel that hands out pids up to `pid_max` (at least 3, for the
    /// processes it boots with), so that pids come back soon.
    pub fn with_pid_max(pid_max: i32) -> Kernel {
        let mut processes = ProcessTable::new(pid_max.max(CONTAINER_INIT.as_raw()));
        let mut cgroups = CgroupTree::new();
        // Booting an empty table: the pids are 1, 2 and 3, in that order.
        let booted = [
            ("host init", None, ROOT),
            ("launcher", Some(HOST_INIT), ROOT),
            ("container init", Some(LAUNCHER), CONTAINER_CGROUP),
        ];
        let _ = cgroups.mkdir_all(CONTAINER_CGROUP, None);
        for (name, parent, cgroup) in booted {
            let creator = parent
                .and_then(|pid| processes.get(pid))
                .map(|p| (p.pid, p.serial));
            let _ = processes.insert(NewProcess {
                name,
                parent,
                creator,
                launch: None,
                new_namespaces: if name == "container init" {
                    NamespaceKind::ALL.to_vec()
                } else {
                    Vec::new()
                },
                held: false,
                cgroup: cgroup.to_owned(),
                program: None,
            });
        }
        Kernel {
            now: Time::ZERO,
            processes,
            sockets: BTreeMap::new(),
            next_socket: 0,
            cgroups,
            net: Net::default(),
            next_launch: 0,
            scripts: BTreeMap::new(),
            container: Container {
                init: CONTAINER_INIT,
                cgroup: CONTAINER_CGROUP.to_owned(),
            },
            last_ran: None,
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Moves the clock on; the killed processes whose time has come exit.
    pub fn advance(&mut self, by: Duration) {
        self.advance_to(self.now + by);
    }

    /// Moves the clock to `time`, if that is later; the killed processes
    /// whose time has come exit, in the order they were due.
    pub fn advance_to(&mut self, time: Time) {
        while let Some((pid, exits_at)) = self.next_death().filter(|&(_, at)| at <= time) {
            self.now = self.now.max(exits_at);
            self.finish_dying(pid);
        }
        self.now = self.now.max(time);
    }

    /// The host's init.
    pub fn host_init(&self) -> Pid {
        HOST_INIT
    }

    /// The process that runs the launches.
    pub fn launcher(&self) -> Pid {
        LAUNCHER
    }

    /// The running container.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// The process with `pid`: running, dying or zombie.
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.processes.get(pid)
    }

    /// Every process, by pid.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.iter()
    }

    /// A socketpair with an end still open.
    pub fn socket(&self, id: SocketId) -> Option<&SocketPair> {
        self.sockets.get(&id)
    }

    /// The cgroup at `path`.
    pub fn cgroup(&self, path: &str) -> Option<&Cgroup> {
        self.cgroups.get(path)
    }

    /// `cgroup.procs`: the live processes in the cgroup at `path`, dying
    /// ones included (they leave it when they exit).
    pub fn cgroup_procs(&self, path: &str) -> Vec<Pid> {
        self.processes
            .iter()
            .filter(|p| p.cgroup() == Some(path))
            .map(Process::pid)
            .collect()
    }

    /// The host interface called `name`.
    pub fn interface(&self, name: &str) -> Option<&HostInterface> {
        self.net.get(name)
    }

    /// Starts a process of the launcher's that does nothing but exist.
    pub fn start_process(&mut self, name: &'static str) -> Result<Pid, Errno> {
        let creator = self.processes.get(LAUNCHER).map(|p| (p.pid, p.serial));
        self.processes
            .insert(NewProcess {
                name,
                parent: Some(LAUNCHER),
                creator,
                launch: None,
                new_namespaces: Vec::new(),
                held: false,
                cgroup: ROOT.to_owned(),
                program: None,
            })
            .ok_or(Errno(libc::EAGAIN))
    }

    /// Makes the cgroup `path` (its parent must exist) in every hierarchy,
    /// as another program would: no launch's, so no launch may remove it.
    pub fn make_cgroup(&mut self, path: &str) -> Result<(), Errno> {
        self.cgroups.mkdir_all(path, None).map_err(Errno)
    }

    /// Makes the directory of the cgroup `path` in `hierarchy` alone, as
    /// another program would: a launch that creates `path` meets it there,
    /// having made the directories of the hierarchies before.
    pub fn make_cgroup_in(&mut self, path: &str, hierarchy: usize) -> Result<(), Errno> {
        self.cgroups.mkdir(path, hierarchy, None).map_err(Errno)
    }

    /// Makes a host interface named `name` that no launch created, as
    /// another program would (`ip link add`).
    pub fn add_host_interface(&mut self, name: &str) -> Result<(), Errno> {
        let interface = HostInterface {
            peer: String::new(),
            peer_netns_of: HOST_INIT,
            launch: None,
        };
        self.net.create(name, interface).map_err(Errno)
    }

    /// `waitpid(pid, WNOHANG)` by the launcher: reaps its zombie child
    /// `pid`; `EAGAIN` while it runs or is still dying.
    pub fn reap(&mut self, pid: Pid) -> Result<ExitStatus, Errno> {
        let process = self.processes.get(pid).ok_or(Errno(libc::ECHILD))?;
        match (process.parent, process.state) {
            (Some(LAUNCHER), ProcessState::Zombie(status)) => {
                self.processes.remove(pid);
                Ok(status)
            }
            (Some(LAUNCHER), _) => Err(Errno(libc::EAGAIN)),
            _ => Err(Errno(libc::ECHILD)),
        }
    }
}
