//! What a launch came to, and whether the world is as it must be after it.

use std::fmt;

use cradle_core::launch::CleanupFailure;
use cradle_core::{Command, LaunchError, Pid};

use crate::faults::Fault;
use crate::kernel::{Kernel, LaunchId, Leftovers};

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
    /// A failed launch left these behind, with no failed cleanup command
    /// to account for them.
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
    /// (unless a cleanup command failed), a running one holds exactly its
    /// process, cgroup and interfaces, and nobody else is touched.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        if !self.finished {
            found.push(Violation::Unfinished);
        }
        match self.result {
            Err(_) if !self.leftovers.is_empty() && self.cleanup_failures.is_empty() => {
                found.push(Violation::Leaked(self.leftovers.clone()));
            }
            Err(_) => {}
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
