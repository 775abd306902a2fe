//! Removing a container that has stopped: its cgroup (and anything still
//! in it), its veth pairs, its state directory.

use cradle_core::config::Veth;
use cradle_linux::cgroup::{Cgroup, CgroupPaths};
use cradle_linux::net;

use crate::state::Entry;

/// Removes each part even if another could not be; failures are logged,
/// as the container has ended either way.
pub(crate) fn remove(cgroup: Option<CgroupPaths>, interfaces: &[Veth], entry: Entry) {
    // A cgroup no directory of which is left (removed by hand, or lost to a
    // reboot) is done with.
    if let Some(paths) = cgroup.filter(|paths| paths.dirs.iter().any(|dir| dir.path.exists())) {
        if let Err(error) = Cgroup::open(paths).and_then(|cgroup| cgroup.destroy()) {
            tracing::warn!(%error, id = entry.id(), "removing the container's cgroup");
        }
    }
    for veth in interfaces {
        if let Err(error) = net::host::remove(veth) {
            tracing::warn!(%error, id = entry.id(), "removing the container's veth pair");
        }
    }
    if let Err(error) = entry.remove() {
        tracing::warn!(%error, "removing the container's state");
    }
}
