//! `root` and `mounts`: the container's root filesystem, checked to be a
//! directory that a relative `root.path` does not leave the bundle for,
//! and the mount table, which is the whole table (cradle adds none of its
//! own mounts to a bundle's).

use std::path::{Path, PathBuf};

use cradle_core::config::Mount;
use oci_spec::runtime::Spec;

use crate::OciError;

/// The propagation types `linux.rootfsPropagation` may name.
const PROPAGATIONS: [&str; 8] = [
    "private",
    "rprivate",
    "slave",
    "rslave",
    "shared",
    "rshared",
    "unbindable",
    "runbindable",
];

/// Mount options of the runtime-spec's mount extensions that cradle does
/// not implement.
const IDMAP_OPTIONS: [&str; 2] = ["idmap", "ridmap"];

/// `root.path`, resolved: relative to `bundle` (which must be canonical)
/// or absolute, with every symlink followed. A relative path that ends up
/// outside the bundle, through `..` or a symlink, is refused: a bundle's
/// rootfs is its own. The result has no symlink in it, as the child wants.
pub(crate) fn rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf, OciError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| OciError::invalid("root", "missing: cradle needs the container's root filesystem"))?;
    let given = root.path();
    if given.as_os_str().is_empty() {
        return Err(OciError::invalid("root.path", "empty"));
    }
    let joined = bundle.join(given);
    let real = std::fs::canonicalize(&joined)
        .map_err(|error| OciError::invalid("root.path", format!("{}: {error}", joined.display())))?;
    if given.is_relative() && !real.starts_with(bundle) {
        return Err(OciError::invalid(
            "root.path",
            format!(
                "{} leaves the bundle {} (it resolves to {})",
                given.display(),
                bundle.display(),
                real.display()
            ),
        ));
    }
    match std::fs::symlink_metadata(&real) {
        Ok(metadata) if metadata.is_dir() => Ok(real),
        Ok(_) => Err(OciError::invalid(
            "root.path",
            format!("{}: not a directory", real.display()),
        )),
        Err(error) => Err(OciError::invalid(
            "root.path",
            format!("{}: {error}", real.display()),
        )),
    }
}

/// `root.readonly`.
pub(crate) fn readonly_rootfs(spec: &Spec) -> bool {
    spec.root()
        .as_ref()
        .and_then(|root| root.readonly())
        .unwrap_or(false)
}

/// `mounts`, in order. A mount is a bind mount when its options have
/// `bind` or `rbind`, or its type is `bind` or `none` (then `bind` is
/// added to its options, which is how cradle tells); a bind mount has no
/// filesystem type, and a relative source is relative to the bundle.
/// Options pass as they are. A relative destination, which runtime-spec
/// 1.0 allowed, is taken from `/`; later versions refuse it.
pub(crate) fn mounts(bundle: &Path, spec: &Spec, minor_version: u32) -> Result<Vec<Mount>, OciError> {
    let Some(mounts) = spec.mounts() else {
        return Ok(Vec::new());
    };
    mounts
        .iter()
        .enumerate()
        .map(|(index, mount)| {
            let at = |field: &str| format!("mounts[{index}].{field}");
            let destination = mount.destination();
            if destination.as_os_str().is_empty() {
                return Err(OciError::invalid(at("destination"), "empty"));
            }
            let destination = if destination.is_absolute() {
                destination.clone()
            } else if minor_version == 0 {
                Path::new("/").join(destination)
            } else {
                return Err(OciError::invalid(
                    at("destination"),
                    format!("{:?}: not an absolute path", destination.display()),
                ));
            };
            let mut options = mount.options().clone().unwrap_or_default();
            if let Some(position) = options.iter().position(|o| IDMAP_OPTIONS.contains(&o.as_str())) {
                return Err(OciError::unsupported(
                    format!("mounts[{index}].options[{position}]"),
                    "no idmapped mounts",
                ));
            }
            let fstype = mount.typ().as_deref().filter(|t| !t.is_empty());
            let bind_option = options.iter().any(|o| o == "bind" || o == "rbind");
            let bind_type = matches!(fstype, Some("bind" | "none"));
            let is_bind = bind_option || bind_type;
            if bind_type && !bind_option {
                options.insert(0, "bind".to_owned());
            }
            if !is_bind && fstype.is_none() {
                return Err(OciError::invalid(
                    at("type"),
                    "missing: a mount that is not a bind mount needs a filesystem type",
                ));
            }
            let source = mount
                .source()
                .as_ref()
                .filter(|source| !source.as_os_str().is_empty())
                .map(|source| match is_bind && source.is_relative() {
                    true => bundle.join(source),
                    false => source.clone(),
                });
            if is_bind && source.is_none() {
                return Err(OciError::invalid(
                    at("source"),
                    "missing: a bind mount needs a source",
                ));
            }
            Ok(Mount {
                source,
                destination,
                fstype: if is_bind { None } else { fstype.map(str::to_owned) },
                options,
            })
        })
        .collect()
}

/// `linux.rootfsPropagation`, checked to be a propagation type.
pub(crate) fn rootfs_propagation(spec: &Spec) -> Result<Option<String>, OciError> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty());
    match given {
        None => Ok(None),
        Some(propagation) if PROPAGATIONS.contains(&propagation) => Ok(Some(propagation.to_owned())),
        Some(other) => Err(OciError::invalid(
            "linux.rootfsPropagation",
            format!("{other:?}: not one of {}", PROPAGATIONS.join(", ")),
        )),
    }
}
