//! The Linux part of a bundle that the child applies: namespaces and the
//! host name, user-namespace id maps, device nodes, sysctls, masked and
//! read-only paths, and what a container without a mount namespace
//! cannot have.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use cradle_core::config::Interface;
use cradle_core::confinement::{self, DeviceKind, DeviceNode};
use cradle_core::{Config, IdMap, IdMaps, Namespace, NamespaceKind};
use oci_spec::runtime::{Linux, LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::OciError;

/// `linux.namespaces` (a `path` joins, none creates; each type once), a
/// loopback interface in a new network namespace, and `hostname`, which
/// needs a new UTS namespace.
pub(crate) fn namespaces(spec: &Spec, config: &mut Config) -> Result<(), OciError> {
    let mut seen = HashSet::new();
    let given = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.namespaces().as_ref());
    for (index, namespace) in given.into_iter().flatten().enumerate() {
        let kind = namespace_kind(namespace.typ());
        if !seen.insert(kind) {
            return Err(OciError::invalid(
                format!("linux.namespaces[{index}].type"),
                format!("{} given twice", kind.proc_name()),
            ));
        }
        let joined = namespace.path().as_ref().filter(|p| !p.as_os_str().is_empty());
        config.namespaces.push(match joined {
            Some(path) if path.is_absolute() => Namespace::join(kind, path),
            Some(path) => {
                return Err(OciError::invalid(
                    format!("linux.namespaces[{index}].path"),
                    format!("{:?}: not an absolute path", path.display()),
                ))
            }
            None => Namespace::new(kind),
        });
    }
    if config.creates(NamespaceKind::Net) {
        config.networks = vec![Interface::Loopback];
    }
    if let Some(hostname) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        // A new one, or one joined by path (set there, as runc does).
        if !config.namespaces.iter().any(|ns| ns.kind == NamespaceKind::Uts) {
            return Err(OciError::invalid(
                "hostname",
                "setting it needs a uts namespace (linux.namespaces)",
            ));
        }
        config.hostname = Some(hostname.clone());
    }
    Ok(())
}

/// Without a mount namespace (none listed: the runtime's is inherited,
/// as the spec says) the mount table is made in the runtime's namespace,
/// below the rootfs, and the root entered with `chroot`. Refused there,
/// as runc refuses the paths: masked and read-only paths, which would
/// hide nothing from a container that shares the host's mounts (its
/// `/proc` reaches the host's root), and a root propagation, as `/` is
/// the runtime's.
pub(crate) fn without_mount_namespace(config: &Config) -> Result<(), OciError> {
    if config.has_namespace(NamespaceKind::Mount) {
        return Ok(());
    }
    let needs_one = [
        ("linux.maskedPaths", !config.masked_paths.is_empty()),
        ("linux.readonlyPaths", !config.readonly_paths.is_empty()),
        ("linux.rootfsPropagation", config.rootfs_propagation.is_some()),
    ];
    match needs_one.into_iter().find(|(_, given)| *given) {
        Some((path, _)) => Err(OciError::invalid(
            path,
            "needs a mount namespace (linux.namespaces): without one the container shares the runtime's mounts",
        )),
        None => Ok(()),
    }
}

fn namespace_kind(kind: LinuxNamespaceType) -> NamespaceKind {
    match kind {
        LinuxNamespaceType::Mount => NamespaceKind::Mount,
        LinuxNamespaceType::Cgroup => NamespaceKind::Cgroup,
        LinuxNamespaceType::Uts => NamespaceKind::Uts,
        LinuxNamespaceType::Ipc => NamespaceKind::Ipc,
        LinuxNamespaceType::User => NamespaceKind::User,
        LinuxNamespaceType::Pid => NamespaceKind::Pid,
        LinuxNamespaceType::Network => NamespaceKind::Net,
        LinuxNamespaceType::Time => NamespaceKind::Time,
    }
}

/// `linux.uidMappings` and `linux.gidMappings`: both for a new user
/// namespace, neither without one. `setgroups` is left allowed: cradle
/// writes the maps as root.
pub(crate) fn id_maps(spec: &Spec, config: &Config) -> Result<Option<IdMaps>, OciError> {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().as_deref())
        .unwrap_or_default();
    let gid = linux
        .and_then(|l| l.gid_mappings().as_deref())
        .unwrap_or_default();
    if !config.creates(NamespaceKind::User) {
        for (name, maps) in [("linux.uidMappings", uid), ("linux.gidMappings", gid)] {
            if !maps.is_empty() {
                return Err(OciError::invalid(
                    name,
                    "id mappings need a new user namespace (linux.namespaces)",
                ));
            }
        }
        return Ok(None);
    }
    Ok(Some(IdMaps {
        uid: id_map_lines("linux.uidMappings", uid)?,
        gid: id_map_lines("linux.gidMappings", gid)?,
        deny_setgroups: false,
    }))
}

fn id_map_lines(path: &str, mappings: &[LinuxIdMapping]) -> Result<Vec<IdMap>, OciError> {
    if mappings.is_empty() {
        return Err(OciError::invalid(
            path,
            "missing: a new user namespace needs them",
        ));
    }
    mappings
        .iter()
        .enumerate()
        .map(|(index, mapping)| {
            if mapping.size() == 0 {
                return Err(OciError::invalid(
                    format!("{path}[{index}].size"),
                    "must be positive",
                ));
            }
            Ok(IdMap {
                container: mapping.container_id(),
                host: mapping.host_id(),
                count: mapping.size(),
            })
        })
        .collect()
}

/// `linux.devices`: nodes made in the container's `/dev`. Character
/// (`c`, `u`) and block (`b`) devices; a FIFO (`p`) cannot be made.
pub(crate) fn device_nodes(spec: &Spec) -> Result<Vec<DeviceNode>, OciError> {
    let given = spec.linux().as_ref().and_then(|linux| linux.devices().as_ref());
    given
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, device)| {
            let at = |field: &str| format!("linux.devices[{index}].{field}");
            let path = device.path();
            if !inside_dev(path) {
                return Err(OciError::invalid(
                    at("path"),
                    format!("{:?}: not a path under /dev", path.display()),
                ));
            }
            let kind = match device.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
                LinuxDeviceType::B => DeviceKind::Block,
                LinuxDeviceType::P => DeviceKind::Fifo,
                LinuxDeviceType::A => {
                    return Err(OciError::invalid(
                        at("type"),
                        "\"a\" is no device node type (c, b, u or p)",
                    ))
                }
            };
            Ok(DeviceNode {
                path: path.clone(),
                kind,
                major: device_number(device.major(), &at("major"))?,
                minor: device_number(device.minor(), &at("minor"))?,
                // Only the permission bits: the type is `kind`.
                mode: device.file_mode().map_or(0o666, |mode| mode & 0o7777),
                uid: device.uid().unwrap_or(0),
                gid: device.gid().unwrap_or(0),
            })
        })
        .collect()
}

/// A device number, which the kernel keeps in 32 bits.
pub(crate) fn device_number(number: i64, path: &str) -> Result<u32, OciError> {
    u32::try_from(number).map_err(|_| OciError::invalid(path, format!("{number} is not a device number")))
}

/// Under `/dev`, with no `..`: where the child makes device nodes.
fn inside_dev(path: &Path) -> bool {
    path.starts_with("/dev/")
        && path.components().count() > 2
        && path.components().all(|c| !matches!(c, Component::ParentDir))
}

/// `linux.sysctl`, each key namespaced and its namespace new;
/// `linux.maskedPaths` and `linux.readonlyPaths`, absolute.
pub(crate) fn confinement(linux: &Linux, config: &mut Config) -> Result<(), OciError> {
    for (key, value) in linux.sysctl().iter().flatten() {
        confinement::check_sysctl(key, |kind| config.creates(kind))
            .map_err(|error| OciError::invalid(format!("linux.sysctl[{key:?}]"), error.to_string()))?;
        config.sysctls.insert(key.clone(), value.clone());
    }
    config.masked_paths = absolute_paths("linux.maskedPaths", linux.masked_paths().as_deref())?;
    config.readonly_paths = absolute_paths("linux.readonlyPaths", linux.readonly_paths().as_deref())?;
    Ok(())
}

fn absolute_paths(name: &str, paths: Option<&[String]>) -> Result<Vec<PathBuf>, OciError> {
    paths
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, path)| match Path::new(path).is_absolute() {
            true => Ok(PathBuf::from(path)),
            false => Err(OciError::invalid(
                format!("{name}[{index}]"),
                format!("{path:?}: not an absolute path"),
            )),
        })
        .collect()
}
