//! What to launch: the input to [`Launch::new`](super::Launch::new), and
//! its validation.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, HookStage, Interface, NamespaceKind, PROTOCOL_VERSION};
use crate::confinement::{self, Capability, SysctlError};
use crate::framing::Limits;

/// Which kind of process a launch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A container's init process, in new namespaces.
    Init,
    /// A new process in a running container, in its namespaces (see
    /// [`SetnsEntry`] for how it gets into its pid namespace); it reports
    /// back through the same socket.
    Setns,
}

/// How a setns process gets into the running container's pid namespace:
/// joining one moves only the joiner's future children, so the process is
/// born in it, by a fork of a helper inside or by a clone of the launcher's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SetnsEntry {
    /// A helper joins the container's namespaces and forks the process,
    /// which it reports; the launcher checks the report and adopts the
    /// process. Any caller allowed to join the namespaces can.
    #[default]
    Helper,
    /// The launcher clones the process into the container's pid namespace,
    /// and the process joins the other namespaces itself: no helper, fork,
    /// report or adoption. The launcher needs `CAP_SYS_ADMIN` over its own
    /// pid namespace and the container's, which must be one of its
    /// descendants (as for an init joining a pid namespace by path).
    Clone,
}

/// One uid or gid mapping line: `count` ids from `container` inside map to
/// `host` outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the user namespace.
    pub container: u32,
    /// First id outside.
    pub host: u32,
    /// How many.
    pub count: u32,
}

/// The id maps of a new user namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMaps {
    /// `uid_map` lines.
    pub uid: Vec<IdMap>,
    /// `gid_map` lines.
    pub gid: Vec<IdMap>,
    /// Write `deny` to `setgroups` before `gid_map` (required of a caller
    /// without `CAP_SETGID` over the parent namespace).
    pub deny_setgroups: bool,
}

/// Everything a launch needs to know up front.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Init or setns.
    pub kind: Kind,
    /// Setns: how the process enters the container's pid namespace.
    pub setns_entry: SetnsEntry,
    /// Sent to the child.
    pub config: Config,
    /// Written for the child when `config` creates a user namespace.
    pub id_maps: Option<IdMaps>,
    /// Init: create a cgroup and put the process in it. Setns: enter the
    /// container's cgroups.
    pub cgroup: bool,
    /// The whole handshake must finish within this.
    pub timeout: Duration,
    /// Caps on what the child may send.
    pub limits: Limits,
}

impl Plan {
    /// The default handshake deadline.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// An init process running `config`, with no cgroup and no id maps.
    pub fn init(config: Config) -> Plan {
        Plan::new(Kind::Init, config)
    }

    /// A process in a running container, running `config`.
    pub fn setns(config: Config) -> Plan {
        Plan::new(Kind::Setns, config)
    }

    fn new(kind: Kind, config: Config) -> Plan {
        Plan {
            kind,
            setns_entry: SetnsEntry::default(),
            config,
            id_maps: None,
            cgroup: false,
            timeout: Plan::DEFAULT_TIMEOUT,
            limits: Limits::default(),
        }
    }

    /// Checks what can be checked before anything is created.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let config = &self.config;
        if config.version != PROTOCOL_VERSION {
            return Err(ConfigError::Version {
                version: config.version,
            });
        }
        if config.args.is_empty() {
            return Err(ConfigError::NoCommand);
        }
        let mut seen = HashSet::new();
        for ns in &config.namespaces {
            if !seen.insert(ns.kind) {
                return Err(ConfigError::DuplicateNamespace { kind: ns.kind });
            }
        }
        let new_userns = config.creates(NamespaceKind::User);
        match (&self.id_maps, new_userns) {
            (Some(_), false) => return Err(ConfigError::MapsWithoutUserNamespace),
            (None, true) => return Err(ConfigError::UserNamespaceWithoutMaps),
            _ => {}
        }
        if let Some(maps) = &self.id_maps {
            if maps.uid.is_empty() || maps.gid.is_empty() {
                return Err(ConfigError::UserNamespaceWithoutMaps);
            }
        }
        let mut names = HashSet::new();
        for (index, interface) in config.networks.iter().enumerate() {
            if let Interface::Veth(veth) = interface {
                for name in [&veth.host_name, &veth.peer_name, &veth.name] {
                    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
                        return Err(ConfigError::InterfaceName {
                            index,
                            name: name.clone(),
                        });
                    }
                }
                if !names.insert(veth.host_name.clone()) {
                    return Err(ConfigError::InterfaceName {
                        index,
                        name: veth.host_name.clone(),
                    });
                }
            }
        }
        self.validate_confinement()?;
        // The hooks would run as the host's root, before any confinement,
        // from a path looked up where the namespace's processes may have
        // mounted another program (or its interpreter, or a library).
        let has_create_container_hooks = config
            .hooks
            .iter()
            .any(|hook| hook.stage == HookStage::CreateContainer);
        if has_create_container_hooks && config.joins(NamespaceKind::Mount).is_some() {
            return Err(ConfigError::CreateContainerHooksInJoinedMountNamespace);
        }
        if self.kind == Kind::Setns {
            if let Some(kind) = config.new_namespaces().next() {
                return Err(ConfigError::SetnsCreatesNamespace { kind });
            }
            if !config.networks.is_empty() {
                return Err(ConfigError::SetnsWithInterfaces);
            }
            if config.hold {
                return Err(ConfigError::SetnsHold);
            }
        }
        Ok(())
    }
}

impl Plan {
    /// Capability sets the kernel would refuse, sysctls that would reach
    /// the host, an `oom_score_adj` out of range, a device node outside
    /// `/dev`.
    fn validate_confinement(&self) -> Result<(), ConfigError> {
        let config = &self.config;
        if let Some((capability, rule)) = config.capabilities.as_ref().and_then(|c| c.inconsistency()) {
            return Err(ConfigError::Capabilities { capability, rule });
        }
        for key in config.sysctls.keys() {
            confinement::check_sysctl(key, |kind| config.creates(kind))?;
        }
        if let Some(value) = config.oom_score_adj.filter(|v| !(-1000..=1000).contains(v)) {
            return Err(ConfigError::OomScoreAdj { value });
        }
        for device in &config.devices {
            let path = &device.path;
            let inside_dev = path.starts_with("/dev/")
                && path.components().count() > 2
                && path
                    .components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir));
            if !inside_dev {
                return Err(ConfigError::DevicePath { path: path.clone() });
            }
        }
        Ok(())
    }
}

/// A plan that cannot be launched. Nothing was created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `args` is empty.
    #[error("no command to run")]
    NoCommand,
    /// A protocol version this build does not speak.
    #[error("config version {version} is not {PROTOCOL_VERSION}")]
    Version {
        /// The version asked for.
        version: u32,
    },
    /// The same namespace type twice.
    #[error("namespace {kind:?} given twice")]
    DuplicateNamespace {
        /// The repeated type.
        kind: NamespaceKind,
    },
    /// A new user namespace needs uid and gid maps.
    #[error("a new user namespace needs uid and gid maps")]
    UserNamespaceWithoutMaps,
    /// Id maps given without a new user namespace.
    #[error("id maps given but no new user namespace")]
    MapsWithoutUserNamespace,
    /// An interface name that Linux would refuse, or one given twice.
    #[error("network interface {index}: bad or repeated name {name:?}")]
    InterfaceName {
        /// Position in `networks`.
        index: usize,
        /// The name.
        name: String,
    },
    /// A setns process joins the container's namespaces; it creates none.
    #[error("a setns process cannot create a {kind:?} namespace")]
    SetnsCreatesNamespace {
        /// The type asked for.
        kind: NamespaceKind,
    },
    /// A setns process uses the container's network.
    #[error("a setns process cannot have network interfaces of its own")]
    SetnsWithInterfaces,
    /// Only an init holds before `exec`: a setns process joins a container
    /// that is recorded already.
    #[error("a setns process cannot hold before exec")]
    SetnsHold,
    /// The encoded config is over the config cap.
    #[error("config of {len} bytes is over the cap of {cap}")]
    TooLarge {
        /// Its encoded size.
        len: usize,
        /// The cap.
        cap: usize,
    },
    /// The config cannot be encoded.
    #[error(transparent)]
    Encode(#[from] crate::framing::EncodeError),
    /// Capability sets the kernel would refuse.
    #[error("capability {capability} {rule}")]
    Capabilities {
        /// The first capability out of place.
        capability: Capability,
        /// What it breaks.
        rule: &'static str,
    },
    /// A sysctl that is not the container's to set.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// `oom_score_adj` outside -1000..=1000.
    #[error("oom_score_adj {value} is outside -1000..=1000")]
    OomScoreAdj {
        /// The value asked for.
        value: i32,
    },
    /// `createContainer` hooks run in the container's mount namespace:
    /// one joined by path is another's, where a hook's path may lead to
    /// another program.
    #[error(
        "createContainer hooks run in the container's mount namespace, and one joined by \
         path is shared with processes that could put another program at a hook's path"
    )]
    CreateContainerHooksInJoinedMountNamespace,
    /// A device node that would not be in the container's `/dev`.
    #[error("device node {path:?} is not under /dev")]
    DevicePath {
        /// The path asked for.
        path: PathBuf,
    },
}
