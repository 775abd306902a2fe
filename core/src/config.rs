//! The container process's configuration: everything the child needs to
//! become the container process. Sent by the parent as the `config` message.

use core::net::IpAddr;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::confinement::{Capabilities, DeviceNode, SeccompProgram};

/// Version of the wire protocol. A child refuses a `config` of another
/// version rather than guessing at it.
pub const PROTOCOL_VERSION: u32 = 1;

/// What the child needs to become the container process.
///
/// Field order follows the order in which the child applies them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Always [`PROTOCOL_VERSION`] when built by this crate.
    pub version: u32,
    /// Namespaces the process runs in: new ones (no path) or existing ones
    /// joined by path.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    /// Host name, set in a new UTS namespace.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Resource limits, set before anything of the user's runs.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// `/proc/self/oom_score_adj`, -1000..=1000.
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    /// Network interfaces as the parent prepared them; the child finishes
    /// them (renames, addresses, routes, up).
    #[serde(default)]
    pub networks: Vec<Interface>,
    /// The container's root filesystem; `None` keeps the host's.
    #[serde(default)]
    pub rootfs: Option<PathBuf>,
    /// With a rootfs, mount cradle's own `/proc`, `/dev` (a tmpfs with the
    /// standard nodes) and read-only `/sys` before `mounts`. Off for an OCI
    /// bundle, whose `mounts` are the whole table: they are then made inside
    /// the rootfs before the pivot (each destination resolved in it, as
    /// `openat2(RESOLVE_IN_ROOT)` does), and the standard nodes go into
    /// whatever `/dev` they leave.
    #[serde(default = "yes")]
    pub default_mounts: bool,
    /// Mounts made inside the container, in order.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Propagation of the container's `/` and every mount below it, as
    /// `mount(8)` spells it (`rprivate`, `rslave`, `shared`, ...); `None`
    /// is `rprivate`: nothing mounted inside reaches the host.
    #[serde(default)]
    pub rootfs_propagation: Option<String>,
    /// Device nodes made in the container's new `/dev`, beside the
    /// standard ones.
    #[serde(default)]
    pub devices: Vec<DeviceNode>,
    /// Namespaced sysctls (`net.ipv4.ip_forward` = `1`), written under
    /// `/proc/sys` before it is made read-only.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Paths remounted read-only.
    #[serde(default)]
    pub readonly_paths: Vec<PathBuf>,
    /// Paths hidden (a file gets `/dev/null`, a directory an empty tmpfs).
    #[serde(default)]
    pub masked_paths: Vec<PathBuf>,
    /// Remount the root read-only once everything is mounted.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Who the process runs as.
    #[serde(default)]
    pub user: User,
    /// The file mode creation mask (`umask`); `None` keeps the parent's.
    #[serde(default)]
    pub umask: Option<u32>,
    /// The capability sets; `None` leaves them as the process has them
    /// (all of root's: unconfined).
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
    /// Working directory, resolved inside the container.
    #[serde(default = "root_dir")]
    pub cwd: PathBuf,
    /// Environment, each entry `KEY=VALUE`. Empty means the defaults
    /// (`PATH`, `HOME`, `HOSTNAME`).
    #[serde(default)]
    pub env: Vec<String>,
    /// Set `no_new_privs` before `exec`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// The process's terminal, if it has one: it becomes the controlling
    /// terminal of the process's new session, so that job control and the
    /// terminal's signals (^C) reach it.
    #[serde(default)]
    pub terminal: Terminal,
    /// How many descriptors after stdio are passed on (`3..3 + n`); every
    /// other descriptor is closed on `exec`.
    #[serde(default)]
    pub preserved_fds: u32,
    /// The seccomp filter, installed last before `exec` (with
    /// `no_new_privileges`, or while `CAP_SYS_ADMIN` is still held).
    #[serde(default)]
    pub seccomp: Option<SeccompProgram>,
    /// Programs the child runs itself, inside the container's namespaces,
    /// each to its end before it goes on: the OCI runtime spec's
    /// `createContainer` hooks (once the mounts are made, before the
    /// pivot: their paths resolve in the runtime's filesystem) and
    /// `startContainer` hooks (after the start, just before `exec`: their
    /// paths resolve in the container's). Each reads [`hook_state`] on
    /// stdin; a hook that fails or outlives its timeout fails the launch.
    ///
    /// [`hook_state`]: Config::hook_state
    #[serde(default)]
    pub hooks: Vec<Hook>,
    /// The container's state document for [`hooks`](Config::hooks): a
    /// JSON object to which the child adds `pid` (its own, as the
    /// runtime's pid namespace numbers it) and `status` (`creating`, then
    /// `created`).
    #[serde(default)]
    pub hook_state: Option<String>,
    /// Pid 1 is a small reaper rather than the command (init only): it
    /// forks the command, forwards the signals it gets to it, reaps every
    /// orphan that the container's processes leave, and exits as the
    /// command did. Without one, the command is pid 1: the kernel then
    /// drops every signal it has no handler for (`SIGINT`, `SIGTERM`), and
    /// nothing reaps orphans unless the command does.
    #[serde(default)]
    pub reaper: bool,
    /// The child reports how long each of its set-up steps took, with its
    /// `ready` ([`Launch::child_timings`](crate::Launch::child_timings)):
    /// for a caller that accounts for a start's time (`run --timings`).
    #[serde(default)]
    pub report_timings: bool,
    /// After `ready`, wait for the parent's start before `exec` (init
    /// only), so that the parent can record the process before anything of
    /// the user's runs; exit instead if the parent goes away first.
    #[serde(default)]
    pub hold: bool,
    /// The command: `args[0]` is the program, looked up in `PATH` when it
    /// has no `/`.
    pub args: Vec<String>,
}

/// A program the child runs inside the container (see
/// [`Config::hooks`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// When it runs.
    pub stage: HookStage,
    /// The program, absolute.
    pub path: PathBuf,
    /// Its arguments, `argv[0]` included; empty means just the path.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its whole environment, `KEY=VALUE`.
    #[serde(default)]
    pub env: Vec<String>,
    /// How long it may run, in seconds; `None` for no bound but the
    /// launch's own deadline.
    #[serde(default)]
    pub timeout: Option<u32>,
}

/// When a [`Hook`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookStage {
    /// Once the mounts are made, before the pivot into the rootfs.
    CreateContainer,
    /// After the start, just before `exec`.
    StartContainer,
}

/// Where the process's terminal comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminal {
    /// None of its own: its stdio is whatever the parent gave it.
    #[default]
    None,
    /// Its stdin is a terminal the parent opened.
    Stdin,
    /// A new terminal, made by the child from the `/dev/ptmx` of the
    /// container's own root once its mounts are in place (so that `tty`
    /// inside names `/dev/pts/0` of the container's devpts): the child
    /// sends the master end to the parent over the console channel (with
    /// `SCM_RIGHTS`, as runc's `--console-socket` does) and makes the slave
    /// its stdin, stdout and stderr.
    Console {
        /// The window size it starts with; `None` leaves the kernel's
        /// (0x0) until the parent sets it on the master.
        #[serde(default)]
        size: Option<WindowSize>,
    },
}

impl Terminal {
    /// Whether the process has a terminal.
    pub fn is_some(self) -> bool {
        self != Terminal::None
    }
}

/// A terminal's size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

fn yes() -> bool {
    true
}

fn root_dir() -> PathBuf {
    PathBuf::from("/")
}

impl Config {
    /// A config that runs `args` with everything else left at its default.
    pub fn new<I, S>(args: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Config {
            version: PROTOCOL_VERSION,
            namespaces: Vec::new(),
            hostname: None,
            rlimits: Vec::new(),
            oom_score_adj: None,
            networks: Vec::new(),
            rootfs: None,
            mounts: Vec::new(),
            devices: Vec::new(),
            default_mounts: true,
            rootfs_propagation: None,
            sysctls: BTreeMap::new(),
            readonly_paths: Vec::new(),
            masked_paths: Vec::new(),
            readonly_rootfs: false,
            user: User::default(),
            umask: None,
            capabilities: None,
            cwd: root_dir(),
            env: Vec::new(),
            no_new_privileges: false,
            terminal: Terminal::None,
            preserved_fds: 0,
            seccomp: None,
            hooks: Vec::new(),
            hook_state: None,
            reaper: false,
            report_timings: false,
            hold: false,
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// The namespace kinds this config creates (those without a path).
    pub fn new_namespaces(&self) -> impl Iterator<Item = NamespaceKind> + '_ {
        self.namespaces
            .iter()
            .filter(|ns| ns.path.is_none())
            .map(|ns| ns.kind)
    }

    /// Whether this config creates a new namespace of `kind`.
    pub fn creates(&self, kind: NamespaceKind) -> bool {
        self.new_namespaces().any(|k| k == kind)
    }

    /// The namespace of `kind` this config joins by path, if it joins one.
    pub fn joins(&self, kind: NamespaceKind) -> Option<&Path> {
        self.namespaces
            .iter()
            .find(|ns| ns.kind == kind)
            .and_then(|ns| ns.path.as_deref())
    }

    /// Whether this config creates or joins a namespace of `kind`.
    pub fn has_namespace(&self, kind: NamespaceKind) -> bool {
        self.namespaces.iter().any(|ns| ns.kind == kind)
    }
}

/// A namespace: new (no path) or joined by path (`/proc/<pid>/ns/<kind>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// Which namespace type.
    pub kind: NamespaceKind,
    /// Join this one instead of creating a new one.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

impl Namespace {
    /// A new namespace of `kind`.
    pub fn new(kind: NamespaceKind) -> Namespace {
        Namespace { kind, path: None }
    }

    /// The existing namespace at `path`.
    pub fn join(kind: NamespaceKind, path: impl Into<PathBuf>) -> Namespace {
        Namespace {
            kind,
            path: Some(path.into()),
        }
    }
}

/// The Linux namespace types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceKind {
    /// Users and groups (`CLONE_NEWUSER`).
    User,
    /// Mount table (`CLONE_NEWNS`).
    Mount,
    /// Host and domain name (`CLONE_NEWUTS`).
    Uts,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Process ids (`CLONE_NEWPID`).
    Pid,
    /// Network stack (`CLONE_NEWNET`).
    Net,
    /// cgroup root (`CLONE_NEWCGROUP`).
    Cgroup,
    /// Monotonic and boot clocks (`CLONE_NEWTIME`).
    Time,
}

impl NamespaceKind {
    /// Every kind, user first: the order in which namespaces are joined.
    pub const ALL: [NamespaceKind; 8] = [
        NamespaceKind::User,
        NamespaceKind::Mount,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
        NamespaceKind::Pid,
        NamespaceKind::Net,
        NamespaceKind::Cgroup,
        NamespaceKind::Time,
    ];

    /// The kind's name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            NamespaceKind::User => "user",
            NamespaceKind::Mount => "mnt",
            NamespaceKind::Uts => "uts",
            NamespaceKind::Ipc => "ipc",
            NamespaceKind::Pid => "pid",
            NamespaceKind::Net => "net",
            NamespaceKind::Cgroup => "cgroup",
            NamespaceKind::Time => "time",
        }
    }
}

/// Who the container process runs as.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User id.
    #[serde(default)]
    pub uid: u32,
    /// Primary group id.
    #[serde(default)]
    pub gid: u32,
    /// Supplementary groups.
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

/// One resource limit (`setrlimit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// Which resource.
    pub resource: RlimitResource,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// The resources `setrlimit` knows.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RlimitResource {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

/// A mount made inside the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// What is mounted: a path for bind mounts, a name for pseudo
    /// filesystems.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// Where, inside the container.
    pub destination: PathBuf,
    /// Filesystem type; `None` for bind mounts.
    #[serde(default)]
    pub fstype: Option<String>,
    /// Flags and data, as `mount(8)` spells them (`ro`, `nosuid`, `bind`,
    /// `rbind`, `size=64k`, ...).
    #[serde(default)]
    pub options: Vec<String>,
}

/// A network interface, by strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Interface {
    /// `lo`, brought up inside the container. Nothing on the host side.
    Loopback,
    /// A veth pair: one end on the host, the peer in the container.
    Veth(Veth),
}

impl Interface {
    /// Whether the parent creates something on the host for it (and so must
    /// remove it if the launch fails).
    pub fn has_host_side(&self) -> bool {
        matches!(self, Interface::Veth(_))
    }
}

/// A veth pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Veth {
    /// The host end's name.
    pub host_name: String,
    /// The name the peer has when created in the container's network
    /// namespace; the child renames it to `name`.
    pub peer_name: String,
    /// The peer's name inside the container (`eth0`).
    pub name: String,
    /// Attach the host end to this existing bridge.
    #[serde(default)]
    pub bridge: Option<String>,
    /// MTU of both ends.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// MAC address of the peer (`aa:bb:cc:dd:ee:ff`).
    #[serde(default)]
    pub mac: Option<String>,
    /// Addresses of the peer.
    #[serde(default)]
    pub addresses: Vec<IpNet>,
    /// Default IPv4 gateway inside the container.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// Default IPv6 gateway inside the container.
    #[serde(default)]
    pub gateway6: Option<IpAddr>,
}

/// An address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpNet {
    /// The address.
    pub address: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}
