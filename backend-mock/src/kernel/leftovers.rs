//! What a launch still holds in the kernel, found from the kernel's side
//! alone: every object carries the launch that made it.

use cradle_core::Pid;

use super::{Kernel, LaunchId};
use crate::process::ProcessState;
use crate::socket::SocketId;

/// What a launch still holds in the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Its processes, running, dying or zombie.
    pub processes: Vec<LeftProcess>,
    /// Its socketpairs with an end still open.
    pub sockets: Vec<SocketId>,
    /// The cgroups it created.
    pub cgroups: Vec<String>,
    /// The host interfaces it created.
    pub interfaces: Vec<String>,
}

impl Leftovers {
    /// Nothing is left.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.sockets.is_empty()
            && self.cgroups.is_empty()
            && self.interfaces.is_empty()
    }
}

/// A process a launch left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftProcess {
    /// Its pid.
    pub pid: Pid,
    /// What it is.
    pub name: &'static str,
    /// Running, dying or zombie.
    pub state: ProcessState,
}

impl Kernel {
    /// Everything `launch` still holds.
    pub fn leftovers(&self, launch: LaunchId) -> Leftovers {
        Leftovers {
            processes: self
                .processes
                .iter()
                .filter(|p| p.launch == Some(launch))
                .map(|p| LeftProcess {
                    pid: p.pid,
                    name: p.name,
                    state: p.state,
                })
                .collect(),
            sockets: self
                .sockets
                .iter()
                .filter(|(_, s)| s.launch == launch)
                .map(|(&id, _)| id)
                .collect(),
            cgroups: self
                .cgroups
                .iter()
                .filter(|(_, c)| c.launch == Some(launch))
                .map(|(path, _)| path.to_owned())
                .collect(),
            interfaces: self
                .net
                .iter()
                .filter(|(_, i)| i.launch == Some(launch))
                .map(|(name, _)| name.to_owned())
                .collect(),
        }
    }
}
