//! Removing a container that has stopped: its cgroup (and anything still
//! in it), its veth pairs, the mounts it made in the caller's mount
//! namespace, its state directory. Also what a damaged record leaves to
//! go by: cradle's own names for the id.

use cradle_core::config::Veth;
use cradle_linux::cgroup::{Cgroup, CgroupConfig, CgroupPaths};
use cradle_linux::net;

use crate::error::CliError;
use crate::shared_mounts::SharedMounts;
use crate::state::Entry;

/// Removes each part even if another could not be; failures are logged,
/// as the container has ended either way. Its mounts in the caller's
/// namespace (`mounts`, after the cgroup: nothing of it runs any more)
/// are the exception: mounts that cannot be detached would outlive every
/// record of them, so the record is kept for a later `delete` and the
/// error returned.
pub(crate) fn remove(
    cgroup: Option<CgroupPaths>,
    interfaces: &[Veth],
    mounts: Option<&SharedMounts>,
    entry: Entry,
) -> Result<(), CliError> {
    if let Some(paths) = cgroup {
        destroy_cgroup(paths, entry.id());
    }
    // One a launch killed half-way never made, or that went with its
    // network namespace, is not there to remove.
    let present = |veth: &&Veth| {
        std::path::Path::new("/sys/class/net")
            .join(&veth.host_name)
            .exists()
    };
    for veth in interfaces.iter().filter(present) {
        if let Err(error) = net::host::remove(veth) {
            tracing::warn!(%error, id = entry.id(), "removing the container's veth pair");
        }
    }
    if let Some(mounts) = mounts {
        mounts.remove(entry.id())?;
    }
    if let Err(error) = entry.remove() {
        tracing::warn!(%error, "removing the container's state");
    }
    Ok(())
}

/// What a failed launch leaves to its caller (the launch has undone its
/// process and cgroup): the mounts it made in the caller's namespace, and
/// the record, which stays if they cannot be detached, for `delete
/// --force` to finish.
pub(crate) fn after_failed_launch(mounts: Option<&SharedMounts>, entry: Entry) {
    if let Some(Err(error)) = mounts.map(|mounts| mounts.remove(entry.id())) {
        tracing::error!(%error, id = entry.id(), "the container's mounts are left: delete --force removes them");
        return;
    }
    let _ = entry.remove();
}

/// Kills what is in the cgroup `paths` and removes its directories: those
/// that exist (a launch killed half-way may have made some, or none; a
/// reboot takes them all). Not looked for first: each `rmdir` says.
fn destroy_cgroup(paths: CgroupPaths, id: &str) {
    if paths.dirs.is_empty() {
        return;
    }
    if let Err(error) = Cgroup::destroy_at(paths) {
        tracing::warn!(%error, id, "removing the container's cgroup");
    }
}

/// What cradle's own names for container `id` find, for a record too
/// damaged to say: the cgroup `cradle-<id>` under cradle's parent in each
/// hierarchy (where `run` makes it, so it is the container's by its name
/// and place), and the veth whose host end is cradle's name for the id.
/// Nothing else is touched: a process is reached only through that cgroup.
pub(crate) fn own_names(id: &str) -> Result<(Option<CgroupPaths>, Vec<Veth>), CliError> {
    let config = CgroupConfig {
        adopt_empty: false,
        name: format!("cradle-{id}"),
        ..CgroupConfig::default()
    };
    // The layout the proof of these paths reads too.
    let layout = crate::proof::own_layout()?;
    let cgroup = Cgroup::paths_in(layout, &config).map_err(|error| CliError::Backend(error.into()))?;
    let host_name = crate::config::host_name(id);
    let interfaces = if std::path::Path::new("/sys/class/net").join(&host_name).exists() {
        vec![Veth {
            host_name,
            ..Veth::default()
        }]
    } else {
        Vec::new()
    };
    Ok((Some(cgroup), interfaces))
}
