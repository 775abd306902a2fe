//! What keeps a container's root from owning the host, as the command line
//! sets it: by default what podman and docker give a container (their
//! capability set, a seccomp allow list, masked and read-only `/proc`
//! paths, a read-only `/sys`, the OCI device allow list), and the flags
//! that widen or narrow it. `exec` gets the container's confinement, kept
//! in its state, unless told otherwise.

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use clap::Args;
use cradle_core::config::Mount;
use cradle_core::confinement::{self, Capabilities, Capability, DeviceKind, DeviceNode};
use cradle_core::{Config, NamespaceKind};
use cradle_linux::cgroup::{DeviceAccess, DeviceRule, DeviceType};
use cradle_linux::seccomp::Policy;
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::seccomp_cache::Compiler;

/// The confinement flags of `cradle run`.
#[derive(Debug, Default, Args)]
pub(crate) struct RunConfinement {
    /// Turn confinement off: all capabilities, no seccomp filter, no masked
    /// or read-only paths, and every host device (as podman's
    /// --privileged; a rootfs's /sys stays read-only).
    #[arg(long)]
    pub(crate) privileged: bool,
    /// Add a capability to the default set (repeatable; ALL for every
    /// one). The seccomp profile allows the calls it needs.
    /// Example: --cap-add NET_ADMIN
    #[arg(long, value_name = "CAP", value_parser = parse_capability)]
    pub(crate) cap_add: Vec<CapabilityName>,
    /// Remove a capability from the default set (repeatable; ALL for every
    /// one). Example: --cap-drop ALL --cap-add CHOWN
    #[arg(long, value_name = "CAP", value_parser = parse_capability)]
    pub(crate) cap_drop: Vec<CapabilityName>,
    /// seccomp=unconfined (no filter), seccomp=PROFILE.json (an OCI or
    /// podman/docker profile), or no-new-privileges (setuid binaries gain
    /// nothing). Example: --security-opt seccomp=/etc/cradle/strict.json
    #[arg(long, value_name = "OPT", value_parser = parse_security_opt)]
    pub(crate) security_opt: Vec<SecurityOpt>,
    /// Mount the container's root read-only.
    #[arg(long)]
    pub(crate) read_only: bool,
    /// A namespaced sysctl (repeatable): net.* (with a net namespace),
    /// kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* (ipc).
    /// Example: --sysctl net.ipv4.ip_forward=1
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_sysctl)]
    pub(crate) sysctl: Vec<(String, String)>,
    /// Give the container a host device: HOST[:CONTAINER][:rwm]
    /// (repeatable). Example: --device /dev/fuse:rw
    #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
    pub(crate) device: Vec<DeviceSpec>,
    /// The container's OOM score adjustment, -1000..=1000.
    /// Example: --oom-score-adj 500
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(-1000..=1000))]
    pub(crate) oom_score_adj: Option<i32>,
}

/// The confinement flags of `cradle exec`.
#[derive(Debug, Default, Args)]
pub(crate) struct ExecConfinement {
    /// Run the process with all capabilities and no seccomp filter (it
    /// stays in the container's cgroup, with its device rules).
    #[arg(long)]
    pub(crate) privileged: bool,
    /// Add a capability to the container's set (or to the sets of
    /// --process), for this process (repeatable; --cap and -c as runc
    /// spells it). Example: --cap-add SYS_PTRACE
    #[arg(long, short = 'c', visible_alias = "cap", value_name = "CAP", value_parser = parse_capability)]
    pub(crate) cap_add: Vec<CapabilityName>,
    /// Remove a capability from the container's set (or from every set
    /// of --process), for this process (repeatable; ALL for every one).
    /// Example: --cap-drop NET_RAW
    #[arg(long, value_name = "CAP", value_parser = parse_capability)]
    pub(crate) cap_drop: Vec<CapabilityName>,
    /// Set no_new_privs: setuid binaries gain nothing (whatever the
    /// container or --process says).
    #[arg(long)]
    pub(crate) no_new_privs: bool,
}

/// A capability, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CapabilityName {
    All,
    One(Capability),
}

/// One `--security-opt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SecurityOpt {
    SeccompUnconfined,
    SeccompProfile(PathBuf),
    NoNewPrivileges,
}

/// One `--device`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeviceSpec {
    host: PathBuf,
    container: PathBuf,
    access: DeviceAccess,
}

/// A container's confinement, as its state keeps it for `exec`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Recorded {
    /// Started with `--privileged` (or by a cradle before confinement,
    /// whose state has no record of it).
    pub(crate) privileged: bool,
    /// The capability set of its processes.
    pub(crate) capabilities: BTreeSet<Capability>,
    /// Its seccomp profile.
    pub(crate) seccomp: SeccompChoice,
    pub(crate) no_new_privileges: bool,
}

impl Default for Recorded {
    /// What a state file without a record means: a container started
    /// before cradle confined them, which was not confined.
    fn default() -> Recorded {
        Recorded {
            privileged: true,
            capabilities: BTreeSet::new(),
            seccomp: SeccompChoice::Unconfined,
            no_new_privileges: false,
        }
    }
}

/// Which seccomp profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum SeccompChoice {
    /// cradle's default, widened for the capability set.
    Default,
    /// None.
    Unconfined,
    /// A profile file's contents, read when the container was created.
    Profile { profile: serde_json::Value },
}

/// What `run` confines the container with: the config's fields, the
/// cgroup's device rules (when it has a cgroup) and the record for
/// `exec`. Refuses what cannot be applied, before anything exists.
pub(crate) fn apply_run(
    flags: &RunConfinement,
    config: &mut Config,
    device_rules: &mut Option<Vec<DeviceRule>>,
    compiler: &Compiler<'_>,
) -> Result<Recorded, CliError> {
    for (key, value) in &flags.sysctl {
        confinement::check_sysctl(key, |kind| config.creates(kind))
            .map_err(|e| usage(format!("--sysctl: {e}")))?;
        config.sysctls.insert(key.clone(), value.clone());
    }
    config.oom_score_adj = flags.oom_score_adj;
    config.readonly_rootfs = flags.read_only;
    if flags.read_only && !config.creates(NamespaceKind::Mount) {
        return Err(usage("--read-only needs a new mount namespace (see --ns)"));
    }
    let no_new_privileges = flags.security_opt.contains(&SecurityOpt::NoNewPrivileges);
    config.no_new_privileges = no_new_privileges;
    let devices = flags
        .device
        .iter()
        .map(|spec| host_device(spec).map(|node| (spec, node)))
        .collect::<Result<Vec<_>, _>>()?;
    if config.rootfs.is_some() {
        config.devices = devices.iter().map(|(_, node)| node.clone()).collect();
    }

    if flags.privileged {
        let refused = [
            (
                !flags.cap_add.is_empty() || !flags.cap_drop.is_empty(),
                "--cap-add and --cap-drop",
            ),
            (
                !flags
                    .security_opt
                    .iter()
                    .all(|o| *o == SecurityOpt::NoNewPrivileges),
                "--security-opt seccomp=",
            ),
        ];
        if let Some((_, what)) = refused.iter().find(|(set, _)| *set) {
            return Err(usage(format!(
                "--privileged has every capability and no filter: {what} would be ignored"
            )));
        }
        if config.rootfs.is_some() {
            // The host's devices over the minimal ones of the rootfs.
            config.mounts.push(Mount {
                source: Some(PathBuf::from("/dev")),
                destination: PathBuf::from("/dev"),
                fstype: None,
                options: vec!["rbind".to_owned(), "nosuid".to_owned()],
            });
        }
        return Ok(Recorded {
            privileged: true,
            capabilities: Capability::ALL.iter().copied().collect(),
            seccomp: SeccompChoice::Unconfined,
            no_new_privileges,
        });
    }

    if !config.creates(NamespaceKind::Mount) {
        return Err(usage(
            "a confined container hides and protects /proc and /sys paths in a mount namespace of its own: \
             add mount to --ns, or give --privileged",
        ));
    }
    let capabilities = capability_set(
        Capability::DEFAULT.iter().copied().collect(),
        &flags.cap_add,
        &flags.cap_drop,
    );
    let seccomp = seccomp_choice(&flags.security_opt, compiler)?;
    config.capabilities = Some(Capabilities::of(capabilities.iter().copied()));
    config.seccomp = compile(&seccomp, &capabilities, compiler)?;
    config.masked_paths = confinement::MASKED_PATHS.iter().map(PathBuf::from).collect();
    config.readonly_paths = confinement::READONLY_PATHS.iter().map(PathBuf::from).collect();
    if config.rootfs.is_none() {
        // The host's /sys, and the cgroup trees mounted below it: a new
        // sysfs (in the rootfs) is read-only already.
        config.readonly_paths.push(PathBuf::from("/sys"));
    }
    let mut rules = DeviceRule::container_default();
    // `--device` nodes are the host's character and block devices
    // (`host_device`): never a FIFO, which no cgroup rule governs.
    rules.extend(devices.iter().filter_map(|(spec, node)| {
        let kind = match node.kind {
            DeviceKind::Char => DeviceType::Char,
            DeviceKind::Block => DeviceType::Block,
            DeviceKind::Fifo => return None,
        };
        Some(DeviceRule {
            allow: true,
            kind,
            major: Some(node.major),
            minor: Some(node.minor),
            access: spec.access,
        })
    }));
    *device_rules = Some(rules);
    Ok(Recorded {
        privileged: false,
        capabilities,
        seccomp,
        no_new_privileges,
    })
}

/// Confines a process that `exec` starts in a container as the container
/// is confined, or as its own flags say.
pub(crate) fn apply_exec(
    flags: &ExecConfinement,
    recorded: &Recorded,
    config: &mut Config,
    compiler: &Compiler<'_>,
) -> Result<(), CliError> {
    config.no_new_privileges = recorded.no_new_privileges || flags.no_new_privs;
    if flags.privileged || recorded.privileged {
        if !flags.cap_add.is_empty() || !flags.cap_drop.is_empty() {
            return Err(usage(
                "a privileged process has every capability: --cap-add and --cap-drop would be ignored",
            ));
        }
        return Ok(());
    }
    let capabilities = capability_set(recorded.capabilities.clone(), &flags.cap_add, &flags.cap_drop);
    config.capabilities = Some(Capabilities::of(capabilities.iter().copied()));
    config.seccomp = compile(&recorded.seccomp, &capabilities, compiler)?;
    Ok(())
}

/// Confines a process of `exec --process`: with the capability sets of
/// its file, when it gives them (`config.capabilities`), changed by the
/// flags, and the container's seccomp profile for its bounding set; as
/// [`apply_exec`] does otherwise. Its `noNewPrivileges` stands, or the
/// flag's.
pub(crate) fn apply_exec_process(
    flags: &ExecConfinement,
    recorded: &Recorded,
    config: &mut Config,
    compiler: &Compiler<'_>,
) -> Result<(), CliError> {
    let no_new_privileges = config.no_new_privileges || flags.no_new_privs;
    let Some(mut capabilities) = config.capabilities.take() else {
        apply_exec(flags, recorded, config, compiler)?;
        config.no_new_privileges = no_new_privileges;
        return Ok(());
    };
    config.no_new_privileges = no_new_privileges;
    if flags.privileged {
        return Err(usage(
            "--privileged: the --process file gives the capabilities; add them with --cap",
        ));
    }
    change_sets(&mut capabilities, &flags.cap_add, &flags.cap_drop);
    config.seccomp = compile(&recorded.seccomp, &capabilities.bounding, compiler)?;
    config.capabilities = Some(capabilities);
    Ok(())
}

/// The five sets with `drop` taken out of each, then `add` put in the
/// bounding, effective and permitted sets (as `runc exec --cap`): the sets
/// stay as consistent as the kernel needs them.
fn change_sets(sets: &mut Capabilities, add: &[CapabilityName], drop: &[CapabilityName]) {
    let every = [
        &mut sets.bounding,
        &mut sets.effective,
        &mut sets.permitted,
        &mut sets.inheritable,
        &mut sets.ambient,
    ];
    for set in every {
        *set = capability_set(std::mem::take(set), &[], drop);
    }
    for set in [&mut sets.bounding, &mut sets.effective, &mut sets.permitted] {
        *set = capability_set(std::mem::take(set), add, &[]);
    }
}

/// `base`, with `drop` taken out, then `add` put in (as podman: `--cap-drop
/// ALL --cap-add CHOWN` is CHOWN alone).
fn capability_set(
    mut base: BTreeSet<Capability>,
    add: &[CapabilityName],
    drop: &[CapabilityName],
) -> BTreeSet<Capability> {
    for name in drop {
        match name {
            CapabilityName::All => base.clear(),
            CapabilityName::One(cap) => {
                base.remove(cap);
            }
        }
    }
    for name in add {
        match name {
            CapabilityName::All => base.extend(Capability::ALL.iter().copied()),
            CapabilityName::One(cap) => {
                base.insert(*cap);
            }
        }
    }
    base
}

/// The profile `--security-opt` names: the last `seccomp=` wins.
fn seccomp_choice(opts: &[SecurityOpt], compiler: &Compiler<'_>) -> Result<SeccompChoice, CliError> {
    let chosen = opts
        .iter()
        .rev()
        .find(|opt| !matches!(opt, SecurityOpt::NoNewPrivileges));
    match chosen {
        None => Ok(SeccompChoice::Default),
        Some(SecurityOpt::SeccompUnconfined) => Ok(SeccompChoice::Unconfined),
        Some(SecurityOpt::SeccompProfile(path)) => {
            let shown = path.display();
            let bytes =
                std::fs::read(path).map_err(|e| usage(format!("--security-opt seccomp={shown}: {e}")))?;
            let profile = serde_json::from_slice(&bytes)
                .map_err(|e| usage(format!("--security-opt seccomp={shown}: not JSON: {e}")))?;
            let choice = SeccompChoice::Profile { profile };
            // Refuse a profile that does not parse now, not at launch.
            compile(&choice, &BTreeSet::new(), compiler)
                .map_err(|e| usage(format!("--security-opt seccomp={shown}: {e}")))?;
            Ok(choice)
        }
        Some(SecurityOpt::NoNewPrivileges) => Ok(SeccompChoice::Default),
    }
}

/// The BPF program of `choice` for a process with `capabilities`.
fn compile(
    choice: &SeccompChoice,
    capabilities: &BTreeSet<Capability>,
    compiler: &Compiler<'_>,
) -> Result<Option<cradle_core::confinement::SeccompProgram>, CliError> {
    let policy = match choice {
        SeccompChoice::Unconfined => return Ok(None),
        SeccompChoice::Default => return compiler.compile_default(capabilities).map(Some),
        SeccompChoice::Profile { profile } => {
            Policy::from_value(profile, capabilities).map_err(|e| usage(e.to_string()))?
        }
    };
    compiler.compile(&policy).map(Some)
}

/// The node `--device` names, checked on the host.
fn host_device(spec: &DeviceSpec) -> Result<DeviceNode, CliError> {
    let shown = spec.host.display();
    let metadata = std::fs::metadata(&spec.host).map_err(|e| usage(format!("--device {shown}: {e}")))?;
    let kind = if metadata.file_type().is_char_device() {
        DeviceKind::Char
    } else if metadata.file_type().is_block_device() {
        DeviceKind::Block
    } else {
        return Err(usage(format!("--device {shown}: not a device node")));
    };
    let rdev = metadata.rdev();
    Ok(DeviceNode {
        path: spec.container.clone(),
        kind,
        major: nix::sys::stat::major(rdev) as u32,
        minor: nix::sys::stat::minor(rdev) as u32,
        mode: metadata.mode() & 0o777,
        uid: metadata.uid(),
        gid: metadata.gid(),
    })
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

pub(crate) fn parse_capability(value: &str) -> Result<CapabilityName, String> {
    if value.eq_ignore_ascii_case("all") {
        return Ok(CapabilityName::All);
    }
    value
        .parse()
        .map(CapabilityName::One)
        .map_err(|e: confinement::UnknownCapability| e.to_string())
}

pub(crate) fn parse_security_opt(value: &str) -> Result<SecurityOpt, String> {
    match value.split_once(['=', ':']) {
        None if value == "no-new-privileges" => Ok(SecurityOpt::NoNewPrivileges),
        Some(("no-new-privileges", "true")) => Ok(SecurityOpt::NoNewPrivileges),
        Some(("seccomp", "unconfined")) => Ok(SecurityOpt::SeccompUnconfined),
        Some(("seccomp", path)) if !path.is_empty() => Ok(SecurityOpt::SeccompProfile(PathBuf::from(path))),
        _ => Err("expected seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges".to_owned()),
    }
}

pub(crate) fn parse_sysctl(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, value)) if !key.is_empty() => {
            confinement::sysctl_namespace(key).map_err(|e| e.to_string())?;
            Ok((key.to_owned(), value.to_owned()))
        }
        _ => Err("expected KEY=VALUE, e.g. net.ipv4.ip_forward=1".to_owned()),
    }
}

/// `HOST[:CONTAINER][:rwm]`, paths absolute and under `/dev` inside.
pub(crate) fn parse_device(value: &str) -> Result<DeviceSpec, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let is_access = |part: &str| !part.is_empty() && part.chars().all(|c| "rwm".contains(c));
    let (host, container, access) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, last] if is_access(last) => (*host, *host, *last),
        [host, container] => (*host, *container, "rwm"),
        [host, container, access] => (*host, *container, *access),
        _ => return Err("expected HOST[:CONTAINER][:rwm], e.g. /dev/fuse:rw".to_owned()),
    };
    let access: DeviceAccess = access.parse().map_err(|e| format!("{e}"))?;
    if !Path::new(host).is_absolute() {
        return Err(format!("{host}: expected an absolute path"));
    }
    let inside = Path::new(container);
    if !inside.starts_with("/dev/") || inside.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(format!("{container}: a device goes under /dev in the container"));
    }
    Ok(DeviceSpec {
        host: PathBuf::from(host),
        container: inside.to_owned(),
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_drop_all_then_add_leaves_only_the_added() {
        let set = capability_set(
            Capability::DEFAULT.iter().copied().collect(),
            &[CapabilityName::One(Capability::Chown)],
            &[CapabilityName::All],
        );
        assert_eq!(set, BTreeSet::from([Capability::Chown]));
        let set = capability_set(
            Capability::DEFAULT.iter().copied().collect(),
            &[CapabilityName::One(Capability::SysAdmin)],
            &[CapabilityName::One(Capability::NetRaw)],
        );
        assert!(set.contains(&Capability::SysAdmin) && !set.contains(&Capability::NetRaw));
        assert_eq!(set.len(), Capability::DEFAULT.len());
    }

    #[test]
    fn cap_adds_to_the_granting_sets_and_cap_drop_takes_from_all() {
        let mut sets = Capabilities {
            bounding: BTreeSet::from([Capability::Chown, Capability::Kill]),
            effective: BTreeSet::from([Capability::Chown, Capability::Kill]),
            permitted: BTreeSet::from([Capability::Chown, Capability::Kill]),
            inheritable: BTreeSet::from([Capability::Kill]),
            ambient: BTreeSet::from([Capability::Kill]),
        };
        change_sets(
            &mut sets,
            &[CapabilityName::One(Capability::SysAdmin)],
            &[CapabilityName::One(Capability::Kill)],
        );
        let granted = BTreeSet::from([Capability::Chown, Capability::SysAdmin]);
        assert_eq!(sets.bounding, granted);
        assert_eq!(sets.effective, granted);
        assert_eq!(sets.permitted, granted);
        assert!(sets.inheritable.is_empty() && sets.ambient.is_empty());
        assert_eq!(sets.inconsistency(), None);
    }

    #[test]
    fn security_opts_parse_as_docker_spells_them() {
        assert_eq!(
            parse_security_opt("seccomp=unconfined"),
            Ok(SecurityOpt::SeccompUnconfined)
        );
        assert_eq!(
            parse_security_opt("seccomp=/p.json"),
            Ok(SecurityOpt::SeccompProfile(PathBuf::from("/p.json")))
        );
        assert_eq!(
            parse_security_opt("no-new-privileges"),
            Ok(SecurityOpt::NoNewPrivileges)
        );
        assert_eq!(
            parse_security_opt("no-new-privileges:true"),
            Ok(SecurityOpt::NoNewPrivileges)
        );
        assert!(parse_security_opt("apparmor=x").is_err());
        assert!(parse_security_opt("seccomp=").is_err());
    }

    #[test]
    fn devices_parse_with_optional_parts() {
        let rw: DeviceAccess = "rw".parse().expect("rw");
        assert_eq!(
            parse_device("/dev/fuse:rw"),
            Ok(DeviceSpec {
                host: PathBuf::from("/dev/fuse"),
                container: PathBuf::from("/dev/fuse"),
                access: rw
            })
        );
        let spec = parse_device("/dev/sdb:/dev/xvdb:r").expect("three parts");
        assert_eq!(spec.container, PathBuf::from("/dev/xvdb"));
        assert!(parse_device("/dev/fuse:/etc/fuse").is_err());
        assert!(parse_device("/dev/fuse:/dev/../etc").is_err());
        assert!(parse_device("fuse").is_err());
        assert!(parse_device("/dev/fuse:rwx").is_err());
    }

    #[test]
    fn sysctls_that_are_not_namespaced_are_refused_by_name() {
        assert!(parse_sysctl("net.ipv4.ip_forward=1").is_ok());
        let error = parse_sysctl("vm.drop_caches=1").expect_err("host-wide");
        assert!(error.contains("vm.drop_caches"), "{error}");
    }

    #[test]
    fn a_state_without_a_record_is_an_unconfined_container() {
        let recorded: Recorded = serde_json::from_str(
            r#"{"privileged":false,"capabilities":["CAP_CHOWN"],"seccomp":{"kind":"default"},"no_new_privileges":false}"#,
        )
        .expect("decodes");
        assert_eq!(recorded.capabilities, BTreeSet::from([Capability::Chown]));
        assert!(Recorded::default().privileged);
    }
}
