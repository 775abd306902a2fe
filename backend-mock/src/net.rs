//! The host's network interfaces: the host ends of veth pairs.
//!
//! A real kernel deletes a veth pair when the namespace holding its peer
//! goes away, but only then, and only for veths: a launch must remove what
//! it created, so here a host end stays until it is removed.

use std::collections::BTreeMap;

use cradle_core::Pid;

use crate::kernel::LaunchId;

/// The host end of a veth pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInterface {
    pub(crate) peer: String,
    pub(crate) peer_netns_of: Pid,
    pub(crate) launch: Option<LaunchId>,
}

impl HostInterface {
    /// The peer's name in the other namespace.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The process into whose network namespace the peer was moved.
    pub fn peer_netns_of(&self) -> Pid {
        self.peer_netns_of
    }

    /// The launch that created it.
    pub fn launch(&self) -> Option<LaunchId> {
        self.launch
    }
}

/// The host's interfaces, by name.
#[derive(Debug, Default)]
pub(crate) struct Net {
    by_name: BTreeMap<String, HostInterface>,
}

impl Net {
    pub(crate) fn get(&self, name: &str) -> Option<&HostInterface> {
        self.by_name.get(name)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &HostInterface)> {
        self.by_name
            .iter()
            .map(|(name, interface)| (name.as_str(), interface))
    }

    pub(crate) fn create(&mut self, name: &str, interface: HostInterface) -> Result<(), i32> {
        if self.by_name.contains_key(name) {
            return Err(libc::EEXIST);
        }
        self.by_name.insert(name.to_owned(), interface);
        Ok(())
    }

    pub(crate) fn delete(&mut self, name: &str) -> Result<(), i32> {
        self.by_name.remove(name).map(drop).ok_or(libc::ENODEV)
    }
}
