//! What a state file must prove before anything it names is acted on.
//!
//! A state root passes an ownership check, but a state file is still only
//! believed as far as the host confirms it:
//!
//! - **cgroup**: each directory is in a hierarchy this host mounts and the
//!   caller belongs to; its path is absolute with plain components only (no
//!   `..`); its parent is the caller's own cgroup in that hierarchy, where
//!   [`Cgroup::create`](cradle_linux::cgroup::Cgroup::create) places a
//!   container's cgroup (cradle gives it no other parent); its name is
//!   `cradle-<id>`; and its directory is exactly where the hierarchy's mount
//!   shows that cgroup. A command run from another cgroup (another login
//!   session's scope) is therefore refused too, unless none of the
//!   directories exists any more and the caller sees the system from the
//!   record writer's mount, cgroup and pid namespaces: then `state` shows
//!   the record and `delete` removes it, acting on no cgroup (see
//!   [`cgroup_unless_gone`]).
//! - **process**: the init's pid and start time name a running process
//!   (the pidfd of [`Container::open`]), and `/proc/<pid>/cgroup` puts it in
//!   the recorded, checked cgroup (or below it) in every hierarchy; checked
//!   again to be the same process after the read. Root's containers always
//!   have a cgroup, so for root a state without one proves nothing. A caller
//!   that is not root can only signal or join its own processes anyway.
//! - **interface**: the host end named `cr-<hash of the id>` (cradle's own
//!   name for it) is the container's by its name. Any other name (a
//!   `--net veth:host=NAME`) is the container's only if, while its init
//!   runs, it is a veth whose peer is in another network namespace and the
//!   init's network namespace holds that peer: a veth with the host end's
//!   peer index, whose own peer is the host end's index. Otherwise it is
//!   left alone: a veth pair goes with the container's network namespace.

use std::fs;
use std::os::fd::AsFd as _;
use std::path::{Component, Path};
use std::sync::OnceLock;

use cradle_core::config::Veth;
use cradle_linux::cgroup::{Cgroup, CgroupConfig, CgroupPaths, Layout};
use cradle_linux::net::inspect;
use cradle_linux::{small_file, Container};
use nix::sched::CloneFlags;
use nix::unistd::geteuid;

use crate::error::CliError;
use crate::state::{Placement, Viewpoint};

fn refuse(id: &str, reason: String) -> CliError {
    CliError::Untrusted {
        id: id.to_owned(),
        reason,
    }
}

/// Checks that `paths` can only be container `id`'s cgroup: cradle's
/// own (`cradle-<id>` below the caller's cgroup) or, for a container from
/// an OCI bundle, where its `linux.cgroupsPath` (`placed`) puts it.
pub(crate) fn cgroup(paths: &CgroupPaths, id: &str, placed: Option<&Placement>) -> Result<(), CliError> {
    let layout = own_layout()?;
    if let Some(placed) = placed {
        let config = CgroupConfig {
            adopt_empty: false,
            name: placed.name.clone(),
            parent: placed.parent.clone(),
            resources: Default::default(),
        };
        let planned = Cgroup::paths_in(layout, &config).map_err(|error| CliError::Backend(error.into()))?;
        if planned != *paths {
            return Err(refuse(
                id,
                format!(
                    "the state's cgroup is not where its bundle's cgroupsPath puts it ({:?})",
                    placed
                ),
            ));
        }
        return Ok(());
    }
    if paths.dirs.is_empty() {
        return Err(refuse(
            id,
            "the state names a cgroup with no directory".to_owned(),
        ));
    }
    let name = format!("cradle-{id}");
    for (index, dir) in paths.dirs.iter().enumerate() {
        if paths.dirs[..index]
            .iter()
            .any(|other| other.hierarchy == dir.hierarchy)
        {
            return Err(refuse(
                id,
                format!("the state names two cgroups in {}", dir.hierarchy),
            ));
        }
        let Some(mounted) = layout.hierarchies().iter().find(|m| m.hierarchy == dir.hierarchy) else {
            return Err(refuse(
                id,
                format!(
                    "the state's cgroup {:?} is in {}, which this process does not belong to",
                    dir.path, dir.hierarchy
                ),
            ));
        };
        let mut components = dir.cgroup.components();
        let plain = components.next() == Some(Component::RootDir)
            && components.all(|component| matches!(component, Component::Normal(_)));
        if !plain {
            return Err(refuse(
                id,
                format!("the state's cgroup {:?} is not a plain absolute path", dir.cgroup),
            ));
        }
        if dir.cgroup.file_name() != Some(name.as_ref()) {
            return Err(refuse(
                id,
                format!("the state's cgroup {:?} is not named {name:?}", dir.cgroup),
            ));
        }
        if dir.cgroup.parent() != Some(mounted.own_cgroup.as_path()) {
            return Err(refuse(
                id,
                format!(
                    "the state's cgroup {:?} is not below cradle's parent {:?} in {}",
                    dir.cgroup, mounted.own_cgroup, dir.hierarchy
                ),
            ));
        }
        if mounted.dir(&dir.cgroup).as_deref() != Some(dir.path.as_path()) {
            return Err(refuse(
                id,
                format!(
                    "the state's cgroup directory {:?} is not where {} is mounted ({:?})",
                    dir.path, dir.hierarchy, mounted.mount_point
                ),
            ));
        }
    }
    Ok(())
}

/// What [`cgroup_unless_gone`] found of a state's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CgroupCheck {
    /// Proved the container's, as [`cgroup`] proves it.
    Proved,
    /// Not provable from here, but none of its directories exists.
    Gone,
}

/// [`cgroup`], except that a cgroup none of whose directories exists is
/// [`Gone`](CgroupCheck::Gone) rather than refused: a container run from
/// another cgroup (a login session's scope) whose cgroups went with that
/// one, when the session ended. What does not exist cannot be acted on;
/// a process the state names still needs [`init`]'s proof.
///
/// Absent means absent only where the record was written: from another
/// mount, cgroup or pid namespace (`written_from` differs) the same paths
/// can miss a cgroup that exists, and the same pid a process that runs,
/// and the record of a running container would be dropped. There it is
/// refused, as [`cgroup`] refuses it. (A record without a viewpoint is
/// of an older cradle.)
pub(crate) fn cgroup_unless_gone(
    paths: &CgroupPaths,
    id: &str,
    placed: Option<&Placement>,
    written_from: Option<&Viewpoint>,
) -> Result<CgroupCheck, CliError> {
    match cgroup(paths, id, placed) {
        Ok(()) => Ok(CgroupCheck::Proved),
        Err(refused) if !seen_as_written(written_from) => Err(refused),
        Err(_) if !paths.dirs.is_empty() && paths.dirs.iter().all(|dir| is_absent(&dir.path)) => {
            Ok(CgroupCheck::Gone)
        }
        Err(refused) => Err(refused),
    }
}

/// Whether this process sees the system as the writer of a record did.
fn seen_as_written(written_from: Option<&Viewpoint>) -> bool {
    written_from.is_none_or(|written| Viewpoint::own().as_ref() == Some(written))
}

fn is_absent(path: &Path) -> bool {
    fs::symlink_metadata(path).is_err_and(|error| error.kind() == std::io::ErrorKind::NotFound)
}

/// The host's mount table, read once per command: a command's proofs
/// (an `exec` makes three, a `list` two per container) all read the same
/// table, and each read costs the kernel some 40 µs of formatting.
fn mountinfo() -> Option<&'static str> {
    static MOUNTINFO: OnceLock<Option<String>> = OnceLock::new();
    MOUNTINFO
        .get_or_init(|| small_file::read_lossy("/proc/self/mountinfo").ok())
        .as_deref()
}

/// This process's cgroups, from [`mountinfo`] and `/proc/self/cgroup`,
/// once per command (the process does not move meanwhile).
pub(crate) fn own_layout() -> Result<&'static Layout, CliError> {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    if let Some(layout) = LAYOUT.get() {
        return Ok(layout);
    }
    let membership = small_file::read_lossy("/proc/self/cgroup");
    let layout = match (mountinfo(), membership) {
        (Some(mountinfo), Ok(membership)) => Some(Layout::parse(mountinfo, &membership)),
        _ => None,
    };
    // Unreadable or without a hierarchy: detect says which, as an error.
    let layout = match layout.filter(|layout| !layout.hierarchies().is_empty()) {
        Some(layout) => layout,
        None => Layout::detect().map_err(|error| CliError::Backend(error.into()))?,
    };
    Ok(LAYOUT.get_or_init(|| layout))
}

/// Whether the process `pid` is in the cgroup `paths` (or below it) in
/// every hierarchy of it. Unreadable means no.
pub(crate) fn in_cgroup(pid: i32, paths: &CgroupPaths) -> bool {
    let Ok(membership) = small_file::read_lossy(format!("/proc/{pid}/cgroup")) else {
        return false;
    };
    let Some(mountinfo) = mountinfo() else {
        return false;
    };
    let layout = Layout::parse(mountinfo, &membership);
    !paths.dirs.is_empty()
        && paths.dirs.iter().all(|dir| {
            layout
                .hierarchies()
                .iter()
                .find(|m| m.hierarchy == dir.hierarchy)
                .is_some_and(|m| m.own_cgroup.starts_with(&dir.cgroup))
        })
}

/// Whether process `pid` is exiting (`PF_EXITING` in the flags of
/// `/proc/<pid>/stat`), or gone.
fn is_exiting(pid: i32) -> bool {
    const PF_EXITING: u64 = 0x4;
    let Ok(stat) = small_file::read_lossy(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // Fields after the name (which may hold spaces and parentheses):
    // state is field 3, flags field 9.
    let flags = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(6))
        .and_then(|flags| flags.parse::<u64>().ok());
    flags.is_none_or(|flags| flags & PF_EXITING != 0)
}

/// Checks that `init`, opened from the state of container `id` that
/// records `cgroup`, is that container's init: `Ok(false)` when it ended
/// during the check.
pub(crate) fn init(
    id: &str,
    recorded: Option<&CgroupPaths>,
    placed: Option<&Placement>,
    init: &Container,
) -> Result<bool, CliError> {
    let pid = init.pid().as_raw();
    match recorded {
        Some(paths) => {
            cgroup(paths, id, placed)?;
            let inside = in_cgroup(pid, paths);
            // The pidfd still holds a running process with the recorded
            // start time: the /proc read was of that process.
            if !init.is_running() {
                return Ok(false);
            }
            // A process on its way out has left its cgroups already
            // (cgroup_exit comes before it turns zombie): it has ended.
            if !inside && is_exiting(pid) {
                return Ok(false);
            }
            // An engine may move an OCI container's process into a cgroup
            // of its own (runc lets it): the pidfd, opened by pid and start
            // time, names it still.
            if !inside && placed.is_none() {
                return Err(refuse(
                    id,
                    format!(
                        "process {pid} is not in the container's cgroup {:?}",
                        paths.dirs[0].cgroup
                    ),
                ));
            }
        }
        None if geteuid().is_root() => {
            return Err(refuse(
                id,
                format!("the state records no cgroup, so process {pid} cannot be proved the container's"),
            ));
        }
        None => {}
    }
    Ok(true)
}

/// The interfaces of container `id` that `delete` may remove: those with
/// cradle's name for the container, and, while `init` (checked) runs,
/// those proved to be its veths' host ends. Each other one is named in a
/// warning and left alone.
pub(crate) fn interfaces(id: &str, recorded: &[Veth], init: Option<&Container>) -> Vec<Veth> {
    let own_name = crate::config::host_name(id);
    let mut proven = Vec::new();
    let mut container_links = None;
    for veth in recorded {
        if veth.host_name == own_name {
            proven.push(veth.clone());
            continue;
        }
        let peer_of_host_end = init.and_then(|init| {
            let links = container_links.get_or_insert_with(|| links_of(init));
            host_end_pairs_with(&veth.host_name, links.as_deref()?).then_some(())
        });
        if peer_of_host_end.is_some() {
            proven.push(veth.clone());
        } else {
            tracing::warn!(
                "container {id:?}: interface {:?} is neither cradle's name for it ({own_name}) nor \
                 proved to be its veth: left alone",
                veth.host_name
            );
        }
    }
    proven
}

/// Whether the host's interface `name` is a veth whose peer is one of
/// `peers` (the links of the container's network namespace).
fn host_end_pairs_with(name: &str, peers: &[inspect::Link]) -> bool {
    let Ok(host_links) = inspect::links() else {
        return false;
    };
    let Some(host_end) = host_links.iter().find(|link| link.name == name) else {
        return false;
    };
    if host_end.kind.as_deref() != Some("veth") || host_end.peer_netns_id.is_none() {
        return false;
    }
    peers.iter().any(|peer| {
        peer.kind.as_deref() == Some("veth")
            && Some(peer.index) == host_end.peer
            && peer.peer == Some(host_end.index)
            && peer.peer_netns_id.is_some()
    })
}

/// The links of `init`'s network namespace, listed from a thread that
/// joins it; `None` when that fails or the init ended meanwhile.
fn links_of(init: &Container) -> Option<Vec<inspect::Link>> {
    let path = Path::new("/proc")
        .join(init.pid().as_raw().to_string())
        .join("ns/net");
    let netns = fs::File::open(path).ok()?;
    if !init.is_running() {
        return None;
    }
    std::thread::spawn(move || {
        nix::sched::setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).ok()?;
        inspect::links().ok()
    })
    .join()
    .ok()
    .flatten()
}
