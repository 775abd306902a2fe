//! A bundle: its `config.json` read, checked and mapped once, at load;
//! then the container cradle launches for a given id.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use cradle_core::{Capability, Config, IdMaps, NamespaceKind, Plan};
use cradle_linux::cgroup::{CgroupConfig, Resources};
use cradle_linux::seccomp::Policy;
use cradle_linux::strict_json::Strict;
use oci_spec::runtime::Spec;
use serde::Deserialize as _;
use serde_json::Value;

use crate::cgroup_path::CgroupPlace;
use crate::{linux, mounts, process, raw, resources, version, Hooks, OciError};

/// The file of a bundle that describes it.
const CONFIG_FILE: &str = "config.json";

/// An OCI runtime bundle whose `config.json` cradle can launch.
#[derive(Debug)]
pub struct Bundle {
    /// Absolute, canonical.
    dir: PathBuf,
    spec: Spec,
    mapped: Mapped,
    warnings: Vec<String>,
}

/// What cradle launches for a container of the bundle.
#[derive(Clone, Debug)]
pub struct Container {
    /// `Plan::init` of the container's config, with its id maps and a
    /// cgroup. `config.hold` is false and `config.seccomp` `None`: the
    /// caller compiles [`seccomp`](Container::seccomp) and decides the hold.
    pub plan: Plan,
    /// The filter of `linux.seccomp`, to compile.
    pub seccomp: Option<Policy>,
    /// The container's cgroup. Always there for a bundle (as runc makes
    /// one for every container); the caller may drop it, as the CLI does
    /// for a caller who cannot make cgroups.
    pub cgroup: Option<CgroupConfig>,
    /// The bundle's hooks, for the caller to run.
    pub hooks: Hooks,
}

/// The bundle mapped, all but what depends on the container's id.
#[derive(Clone, Debug)]
struct Mapped {
    config: Config,
    id_maps: Option<IdMaps>,
    seccomp: Option<Policy>,
    cgroup: CgroupPlace,
    resources: Resources,
    hooks: Hooks,
}

impl Bundle {
    /// The most of `config.json` that is read.
    pub const CONFIG_CAP: u64 = 4 << 20;

    /// Reads `<dir>/config.json`, checks its `ociVersion` (1.0.x, 1.1.x,
    /// 1.2.x, pre-releases included) and maps it. Every field cradle does
    /// not implement, and every value it cannot apply, is refused with an
    /// error naming its JSON path.
    pub fn load(dir: &Path) -> Result<Bundle, OciError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| OciError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let file = dir.join(CONFIG_FILE);
        let bytes = read_capped(&file, Bundle::CONFIG_CAP)?;
        let document: Value =
            serde_json::from_slice(&bytes).map_err(|source| OciError::NotJson { path: file, source })?;
        Bundle::from_document(dir, document)
    }

    /// The bundle at `dir` (canonical) whose `config.json` is `document`.
    fn from_document(dir: PathBuf, mut document: Value) -> Result<Bundle, OciError> {
        let given_version = match document.get("ociVersion") {
            Some(Value::String(text)) => text.as_str(),
            Some(_) => return Err(OciError::invalid("ociVersion", "not a string")),
            None => return Err(OciError::invalid("ociVersion", "missing")),
        };
        let minor_version = version::check(given_version)?;
        raw::check(&document)?;
        let mut warnings = raw::drop_unknown_capabilities(&mut document);
        warnings.extend(raw::drop_unraisable_ambient(&mut document));
        // Strictly: an object where the spec has one, as Go reads it.
        // Tracking the path costs on every field: only a document that
        // fails is read again to name where.
        let spec = Spec::deserialize(Strict(&document)).or_else(|_| {
            serde_path_to_error::deserialize::<_, Spec>(Strict(&document)).map_err(|error| {
                let path = error.path().to_string();
                OciError::invalid(path, error.into_inner().to_string())
            })
        })?;
        // The spec's read of `linux.seccomp` checks it as OCI's (`names` in
        // each rule, no docker `name`); the backend's reader makes the
        // policy from the same JSON.
        let profile = document.pointer("/linux/seccomp");
        let mapped = map(&dir, &spec, profile, minor_version)?;
        let config = &mapped.config;
        let may_chroot = config
            .capabilities
            .as_ref()
            .is_none_or(|caps| caps.bounding.contains(&Capability::SysChroot));
        if config.rootfs.is_some()
            && !config.namespaces.iter().any(|ns| ns.kind == NamespaceKind::Mount)
            && may_chroot
        {
            warnings.push(
                "linux.namespaces: no mount namespace, so the rootfs is entered by chroot, which a process \
                 with CAP_SYS_CHROOT can leave for the host's files (as with runc and crun)"
                    .to_owned(),
            );
        }
        Ok(Bundle {
            dir,
            spec,
            mapped,
            warnings,
        })
    }

    /// What was ignored in the bundle, one line each, naming its path (an
    /// unknown capability name, as runc and crun ignore them).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The bundle's directory, absolute.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `config.json`.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// `annotations`.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.spec
            .annotations()
            .iter()
            .flatten()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// What cradle launches for container `id`: its cgroup is named after
    /// the id unless `linux.cgroupsPath` names it.
    pub fn container(&self, id: &str) -> Result<Container, OciError> {
        let mapped = self.mapped.clone();
        let name = mapped.cgroup.name_for(id)?;
        let mut plan = Plan::init(mapped.config);
        plan.id_maps = mapped.id_maps;
        plan.cgroup = true;
        Ok(Container {
            plan,
            seccomp: mapped.seccomp,
            cgroup: Some(CgroupConfig {
                name,
                parent: mapped.cgroup.parent,
                // The engine names the cgroup: an empty existing one is
                // taken, as runc takes it.
                adopt_empty: true,
                resources: mapped.resources,
            }),
            hooks: mapped.hooks,
        })
    }
}

/// Reads `file`, refusing one over `cap` bytes.
pub(crate) fn read_capped(file: &Path, cap: u64) -> Result<Vec<u8>, OciError> {
    let read_error = |source| OciError::Read {
        path: file.to_owned(),
        source,
    };
    let opened = std::fs::File::open(file).map_err(read_error)?;
    // Sized as the file says, read in one call rather than in doubling
    // steps from 32 bytes; the cap still bounds what is read.
    let size = opened.metadata().map_or(0, |metadata| metadata.len()).min(cap);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    opened.take(cap + 1).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() as u64 > cap {
        return Err(OciError::TooLarge {
            path: file.to_owned(),
            cap,
        });
    }
    Ok(bytes)
}

/// The whole mapping, in the order the child applies the config.
fn map(dir: &Path, spec: &Spec, profile: Option<&Value>, minor_version: u32) -> Result<Mapped, OciError> {
    let mut config = Config::new(Vec::<String>::new());
    linux::namespaces(spec, &mut config)?;
    let id_maps = linux::id_maps(spec, &config)?;
    process::apply(spec, &mut config)?;
    config.rootfs = Some(mounts::rootfs(dir, spec)?);
    config.readonly_rootfs = mounts::readonly_rootfs(spec);
    config.default_mounts = false;
    config.mounts = mounts::mounts(dir, spec, minor_version)?;
    config.rootfs_propagation = mounts::rootfs_propagation(spec)?;
    config.devices = linux::device_nodes(spec)?;
    if let Some(given) = spec.linux() {
        linux::confinement(given, &mut config)?;
    }
    linux::without_mount_namespace(&config)?;
    let resources = resources::resources(spec, &config.devices)?;
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.cgroups_path().as_ref())
        .map(|path| {
            path.to_str()
                .ok_or_else(|| OciError::invalid("linux.cgroupsPath", "not UTF-8"))
        })
        .transpose()?;
    let cgroup = CgroupPlace::parse(cgroups_path)?;
    let seccomp = seccomp(profile, &config)?;
    let hooks = Hooks::from_spec(spec)?;
    Ok(Mapped {
        config,
        id_maps,
        seccomp,
        cgroup,
        resources,
        hooks,
    })
}

/// `linux.seccomp` (`profile`), read by the backend's profile reader from
/// the JSON as the bundle wrote it, for a process whose bounding set is the
/// config's (every capability when the bundle leaves them as root has
/// them).
fn seccomp(profile: Option<&Value>, config: &Config) -> Result<Option<Policy>, OciError> {
    let Some(profile) = profile.filter(|p| !p.is_null()) else {
        return Ok(None);
    };
    let bounding: BTreeSet<Capability> = match &config.capabilities {
        Some(capabilities) => capabilities.bounding.clone(),
        None => Capability::ALL.iter().copied().collect(),
    };
    Policy::from_value(profile, &bounding)
        .map(Some)
        .map_err(OciError::Seccomp)
}
