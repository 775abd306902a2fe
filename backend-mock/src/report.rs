//! What a launch came to, and whether the world is as it must be after it.

use std::fmt;

use cradle_core::launch::CleanupFailure;
use cradle_core::{Command, Interface, LaunchError, Pid};

use crate::faults::Fault;
use crate::kernel::{Kernel, LaunchId, LeftProcess, Leftovers};
use crate::process::ProcessState;

/// The end of one launch, with the world it left.
#[derive(Debug)]
pub struct Report {
    /// What the launch said.
    pub result: Result<Pid, LaunchError>,
    /// Every command the backend received, in order.
    pub commands: Vec<Command>,
    /// Scripted faults that never struck.
    pub unspent: Vec<Fault>,
    /// Cleanup commands that failed.
    pub cleanup_failures: Vec<CleanupFailure>,
    /// The launch emitted its terminal event.
    pub finished: bool,
    /// What the launch holds in the kernel.
    pub leftovers: Leftovers,
    /// The kernel's name for the launch.
    pub launch: LaunchId,
    /// The kernel, as the launch left it.
    pub kernel: Kernel,
    /// What a running launch holds besides its process.
    pub(crate) expected: Expected,
}

/// The cgroup and host interfaces a running launch should hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) cgroups: Vec<String>,
    pub(crate) interfaces: Vec<String>,
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The launch never emitted its terminal event.
    #[error("the launch did not finish")]
    Unfinished,
    /// A failed launch left these behind, and no failed cleanup command
    /// accounts for them.
    #[error("the failed launch left {0:?}")]
    Leaked(Leftovers),
    /// A running launch holds something other than its process, its
    /// cgroup and its host interfaces, or lacks one of those.
    #[error("the running launch holds {found:?}, not {expected:?}")]
    Holdings {
        /// What it should hold.
        expected: Leftovers,
        /// What it holds.
        found: Leftovers,
    },
    /// Something that is not the launch's was harmed.
    #[error("bystander harmed: {0}")]
    Bystander(String),
}

impl Report {
    /// Every invariant the launch broke: a failed launch leaves nothing
    /// but what its failed cleanup commands should have removed, a running
    /// one holds exactly its process, cgroup and interfaces, and nobody
    /// else is touched.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        if !self.finished {
            found.push(Violation::Unfinished);
        }
        match self.result {
            Err(_) => {
                let unaccounted = self.unaccounted_leftovers();
                if !unaccounted.is_empty() {
                    found.push(Violation::Leaked(unaccounted));
                }
            }
            Ok(pid) => {
                let process = self.leftovers.processes.iter().filter(|p| p.pid == pid);
                let expected = Leftovers {
                    processes: process.cloned().collect(),
                    sockets: Vec::new(),
                    cgroups: self.expected.cgroups.clone(),
                    interfaces: self.expected.interfaces.clone(),
                };
                if expected.processes.len() != 1 || expected != self.leftovers {
                    found.push(Violation::Holdings {
                        expected,
                        found: self.leftovers.clone(),
                    });
                }
            }
        }
        found.extend(bystanders_harmed(&self.kernel).map(Violation::Bystander));
        found
    }
}

impl Report {
    /// What the launch left that no failed cleanup command accounts for.
    /// Each accounts for what it should have removed, and only that:
    ///
    /// - `Kill` of a process: that process, alive or a zombie;
    /// - `Reap` of a process: that process, killed (dying, perhaps stuck in
    ///   `D` state past the reap's bound) or a zombie;
    /// - `ReapStrays` of a helper: the processes the helper forked;
    /// - `RemoveInterface`: that host interface;
    /// - `DestroyCgroup`: the launch's cgroup, in any of its hierarchies;
    /// - the socket, while a process accounted for lives and holds its end.
    ///
    /// A failed `Close` accounts for nothing: the descriptor is gone even
    /// when `close` reports an error.
    pub fn unaccounted_leftovers(&self) -> Leftovers {
        let failed: Vec<&Command> = self.cleanup_failures.iter().map(|f| &f.command).collect();
        let accounted = |process: &LeftProcess| {
            failed.iter().any(|command| match **command {
                Command::Kill { pid } => pid == process.pid,
                Command::Reap { pid } => pid == process.pid && process.state != ProcessState::Running,
                Command::ReapStrays { helper } => {
                    self.kernel.process(process.pid).and_then(|p| p.creator()) == Some(helper)
                }
                _ => false,
            })
        };
        let (kept, processes): (Vec<LeftProcess>, Vec<LeftProcess>) =
            self.leftovers.processes.iter().cloned().partition(accounted);
        // A dying process holds its socket end until it exits.
        let holds_socket = kept.iter().any(|p| p.state.is_alive());
        let removal_failed = |name: &str| {
            failed.iter().any(|command| {
                matches!(command, Command::RemoveInterface { interface: Interface::Veth(veth), .. }
                    if veth.host_name == name)
            })
        };
        let destroy_failed = failed
            .iter()
            .any(|command| matches!(command, Command::DestroyCgroup));
        Leftovers {
            processes,
            sockets: if holds_socket {
                Vec::new()
            } else {
                self.leftovers.sockets.clone()
            },
            cgroups: if destroy_failed {
                Vec::new()
            } else {
                self.leftovers.cgroups.clone()
            },
            interfaces: self
                .leftovers
                .interfaces
                .iter()
                .filter(|name| !removal_failed(name))
                .cloned()
                .collect(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(pid) => write!(f, "running as {pid}")?,
            Err(error) => write!(f, "failed: {error}")?,
        }
        write!(f, " after {} commands", self.commands.len())
    }
}

/// How the processes and cgroups the kernel booted with were harmed.
fn bystanders_harmed(kernel: &Kernel) -> impl Iterator<Item = String> + '_ {
    let container = kernel.container();
    let alive = [
        (kernel.host_init(), "the host's init"),
        (kernel.launcher(), "the launcher"),
        (container.init, "the container's init"),
    ];
    let dead = alive
        .into_iter()
        .filter(|&(pid, _)| !kernel.process(pid).is_some_and(|p| p.is_alive()))
        .map(|(pid, what)| format!("{what} ({pid}) is dead"));
    let moved = kernel
        .process(container.init)
        .filter(|p| p.is_alive() && p.cgroup() != Some(container.cgroup.as_str()))
        .map(|_| "the container's init left its cgroup".to_owned());
    let removed = kernel
        .cgroup(&container.cgroup)
        .is_none()
        .then(|| format!("the container's cgroup {} is gone", container.cgroup));
    dead.chain(moved).chain(removed)
}
