//! A container process in the shape of `std::process::Command`: one value
//! holds everything a launch needs (the command, its stdio, the
//! container's namespaces, root, limits, network and confinement), is
//! checked whole before anything is created, and [`spawn`](Command::spawn)s
//! a [`Child`] that releases what the container holds (its processes and
//! cgroup) when it is waited for or dropped.
//!
//! ```no_run
//! use cradle_linux::command::{Command, Stdio};
//!
//! # fn main() -> Result<(), cradle_linux::Error> {
//! let output = Command::new("/bin/sh")
//!     .args(["-c", "echo hello from $(hostname)"])
//!     .hostname("box")
//!     .memory_limit(64 << 20)
//!     .pids_limit(32)
//!     .output()?;
//! assert_eq!(output.stdout, b"hello from box\n");
//!
//! let mut container = Command::new("/bin/sleep").arg("60").stdin(Stdio::null()).spawn()?;
//! let status = container.exec("/bin/true").status()?;
//! assert!(status.success());
//! container.kill()?;
//! container.wait()?;
//! # Ok(())
//! # }
//! ```
//!
//! With the `tokio` feature, the same without blocking the runtime's
//! thread (many launches on one task):
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), cradle_linux::Error> {
//! use cradle_linux::command::{Command, Stdio};
//!
//! let output = Command::new("/bin/echo").arg("hello").output_async().await?;
//! assert_eq!(output.stdout, b"hello\n");
//!
//! let mut container = Command::new("/bin/sleep")
//!     .arg("60")
//!     .memory_limit(64 << 20)
//!     .stdin(Stdio::null())
//!     .spawn_async()
//!     .await?;
//! let exec = container.exec("/bin/true").output_async().await?;
//! assert!(exec.status.success());
//! container.kill_async().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The lower-level [`Process`](crate::Process) with a
//! [`Plan`] and [`Options`] stays for
//! what this does not cover.

mod child;
mod confinement;
mod stdio;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use cradle_core::config::{Interface, Mount};
use cradle_core::{Config, Namespace, Plan};

use crate::cgroup::{CgroupConfig, Resources};
use crate::{Error, Options};

pub use self::child::{Child, ExecCommand, Output};
use self::stdio::Direction;
pub use self::stdio::Stdio;
// What an embedder needs beside this module, from the crates below it, so
// that depending on cradle-linux suffices.
pub use cradle_core::confinement::Capability;
pub use cradle_core::{ExitStatus, NamespaceKind, Pid};

/// How a container is confined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confinement {
    /// What podman and docker give a container: their capability set
    /// (plus [`Command::cap_add`]'s), their seccomp allow list, masked and
    /// read-only `/proc` paths, a read-only `/sys`, the OCI device allow
    /// list.
    #[default]
    Default,
    /// None: every capability, no seccomp filter, no masked path, every
    /// device. Root inside is root on the host.
    Privileged,
}

/// The container's network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Network {
    /// A network namespace of its own with `lo` up, and nothing else.
    #[default]
    Loopback,
    /// The host's network namespace.
    Host,
}

/// A container to start: a command in new pid, mount, UTS and IPC
/// namespaces (and a network namespace with `lo` up, unless
/// [`Network::Host`]), confined by default, in a cgroup of its own when
/// the caller may make one (root) or when limits ask for it.
#[derive(Debug)]
pub struct Command {
    process: ProcessSpec,
    hostname: Option<String>,
    rootfs: Option<PathBuf>,
    readonly_rootfs: bool,
    mounts: Vec<Mount>,
    network: Network,
    /// Namespace kinds taken from the caller rather than made new.
    shared: BTreeSet<NamespaceKind>,
    resources: Resources,
    cgroup_parent: Option<PathBuf>,
}

/// What a container process and a process started in a running container
/// share: the command, its environment, user, stdio, confinement and the
/// launch's deadline.
#[derive(Debug)]
struct ProcessSpec {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    user: Option<(u32, u32, Vec<u32>)>,
    stdio: [Stdio; 3],
    confinement: Confinement,
    cap_add: BTreeSet<Capability>,
    timeout: Duration,
    /// The program the child runs as its init, if not this one.
    init_binary: Option<PathBuf>,
}

impl ProcessSpec {
    fn new(program: String) -> ProcessSpec {
        ProcessSpec {
            args: vec![program],
            env: Vec::new(),
            cwd: None,
            user: None,
            stdio: Default::default(),
            confinement: Confinement::Default,
            cap_add: BTreeSet::new(),
            timeout: Plan::DEFAULT_TIMEOUT,
            init_binary: None,
        }
    }

    /// The launch's options so far: the init binary.
    fn options(&self) -> Options {
        match &self.init_binary {
            Some(path) => Options::new().init_binary(path),
            None => Options::new(),
        }
    }

    /// The config's process fields.
    fn config(&self) -> Config {
        let mut config = Config::new(self.args.clone());
        config.env = self
            .env
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        if let Some(cwd) = &self.cwd {
            config.cwd.clone_from(cwd);
        }
        if let Some((uid, gid, groups)) = &self.user {
            config.user.uid = *uid;
            config.user.gid = *gid;
            config.user.additional_gids.clone_from(groups);
        }
        config
    }

    /// The stdio, taken out (a descriptor given is used once); the
    /// process's ends into `options`, the caller's pipe ends returned.
    fn take_stdio(&mut self, mut options: Options) -> Result<(Options, [Option<std::fs::File>; 3]), Error> {
        let [stdin, stdout, stderr] = std::mem::take(&mut self.stdio);
        let stdin = stdin.prepare(Direction::In)?;
        let stdout = stdout.prepare(Direction::Out)?;
        let stderr = stderr.prepare(Direction::Out)?;
        if let Some(fd) = stdin.child {
            options = options.stdin(fd);
        }
        if let Some(fd) = stdout.child {
            options = options.stdout(fd);
        }
        if let Some(fd) = stderr.child {
            options = options.stderr(fd);
        }
        Ok((options, [stdin.parent, stdout.parent, stderr.parent]))
    }

    /// Puts in place, for [`Command::output`], pipes for the output
    /// streams left as the caller's own, and `/dev/null` for stdin.
    fn capture_output(&mut self) {
        let [stdin, stdout, stderr] = &mut self.stdio;
        if stdin.is_inherit() {
            *stdin = Stdio::null();
        }
        for stream in [stdout, stderr] {
            if stream.is_inherit() {
                *stream = Stdio::piped();
            }
        }
    }
}

/// The setters a container process and a process started in a running
/// container share, on the type's `process: ProcessSpec`.
macro_rules! process_setters {
    () => {
        /// Adds an argument.
        pub fn arg(&mut self, arg: impl Into<String>) -> &mut Self {
            self.process.args.push(arg.into());
            self
        }

        /// Adds arguments.
        pub fn args<I, S>(&mut self, args: I) -> &mut Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.process.args.extend(args.into_iter().map(Into::into));
            self
        }

        /// Sets an environment variable. Without any, the process gets
        /// `PATH`, `HOME` and `HOSTNAME`; the caller's environment is
        /// never passed on.
        pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
            self.process.env.push((key.into(), value.into()));
            self
        }

        /// Sets environment variables.
        pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
        where
            I: IntoIterator<Item = (K, V)>,
            K: Into<String>,
            V: Into<String>,
        {
            for (key, value) in vars {
                self.env(key, value);
            }
            self
        }

        /// The working directory, inside the container (default `/`).
        pub fn current_dir(&mut self, dir: impl Into<std::path::PathBuf>) -> &mut Self {
            self.process.cwd = Some(dir.into());
            self
        }

        /// The user and group the command runs as, numeric, with its
        /// supplementary groups (default root, none).
        pub fn user(&mut self, uid: u32, gid: u32, groups: &[u32]) -> &mut Self {
            self.process.user = Some((uid, gid, groups.to_vec()));
            self
        }

        /// Its stdin (default: the caller's).
        pub fn stdin(&mut self, stdio: impl Into<$crate::command::Stdio>) -> &mut Self {
            self.process.stdio[0] = stdio.into();
            self
        }

        /// Its stdout (default: the caller's).
        pub fn stdout(&mut self, stdio: impl Into<$crate::command::Stdio>) -> &mut Self {
            self.process.stdio[1] = stdio.into();
            self
        }

        /// Its stderr (default: the caller's).
        pub fn stderr(&mut self, stdio: impl Into<$crate::command::Stdio>) -> &mut Self {
            self.process.stdio[2] = stdio.into();
            self
        }

        /// Adds a capability to the default set (ignored when
        /// privileged).
        pub fn cap_add(&mut self, capability: cradle_core::confinement::Capability) -> &mut Self {
            self.process.cap_add.insert(capability);
            self
        }

        /// The deadline of the launch, from the clone to the command's
        /// `exec` (default 10 s): a child stuck on the way is killed and
        /// the launch fails with a timeout naming the step.
        pub fn timeout(&mut self, timeout: std::time::Duration) -> &mut Self {
            self.process.timeout = timeout;
            self
        }

        /// The program the child runs first, as its init, which calls
        /// [`init`]($crate::init) before anything else (default: this
        /// program itself). For a caller that ships a separate init
        /// binary.
        pub fn init_binary(&mut self, path: impl Into<std::path::PathBuf>) -> &mut Self {
            self.process.init_binary = Some(path.into());
            self
        }

        /// Runs the command to its end with stdin on `/dev/null` and its
        /// output captured (where not set otherwise).
        pub fn output(&mut self) -> Result<$crate::command::Output, $crate::Error> {
            self.process.capture_output();
            self.spawn()?.wait_with_output()
        }

        /// Runs the command to its end; its exit status.
        pub fn status(&mut self) -> Result<cradle_core::ExitStatus, $crate::Error> {
            self.spawn()?.wait()
        }
    };
}
pub(crate) use process_setters;

impl Command {
    /// A container that runs `program` (looked up in the container's
    /// `PATH` when it has no `/`).
    pub fn new(program: impl Into<String>) -> Command {
        Command {
            process: ProcessSpec::new(program.into()),
            hostname: None,
            rootfs: None,
            readonly_rootfs: false,
            mounts: Vec::new(),
            network: Network::Loopback,
            shared: BTreeSet::new(),
            resources: Resources::default(),
            cgroup_parent: None,
        }
    }

    process_setters!();

    /// The container's host name (a UTS namespace of its own always).
    pub fn hostname(&mut self, name: impl Into<String>) -> &mut Self {
        self.hostname = Some(name.into());
        self
    }

    /// A root filesystem: the container gets its own `/`, with a new
    /// `/proc`, a `/dev` of the standard nodes and a read-only `/sys`.
    /// Without one it sees the host's files (confined, yet no filesystem
    /// boundary).
    pub fn rootfs(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.rootfs = Some(dir.into());
        self
    }

    /// Mounts the root read-only once everything is in place.
    pub fn readonly_rootfs(&mut self, readonly: bool) -> &mut Self {
        self.readonly_rootfs = readonly;
        self
    }

    /// Bind-mounts the host's `source` at `destination` inside.
    pub fn bind(
        &mut self,
        source: impl Into<PathBuf>,
        destination: impl Into<PathBuf>,
        readonly: bool,
    ) -> &mut Self {
        let mut options = vec!["rbind".to_owned()];
        if readonly {
            options.push("ro".to_owned());
        }
        self.mounts.push(Mount {
            source: Some(source.into()),
            destination: destination.into(),
            fstype: None,
            options,
        });
        self
    }

    /// Mounts a new tmpfs at `destination`, of at most `size` bytes.
    pub fn tmpfs(&mut self, destination: impl Into<PathBuf>, size: u64) -> &mut Self {
        self.mounts.push(Mount {
            source: Some(PathBuf::from("tmpfs")),
            destination: destination.into(),
            fstype: Some("tmpfs".to_owned()),
            options: vec![format!("size={size}"), "nosuid".to_owned(), "nodev".to_owned()],
        });
        self
    }

    /// The container's network (default: its own, with `lo` up).
    pub fn network(&mut self, network: Network) -> &mut Self {
        self.network = network;
        self
    }

    /// Shares the caller's namespace of `kind` instead of making a new one
    /// (pid, UTS, IPC, cgroup; the network through
    /// [`network`](Command::network)). The mount namespace cannot be
    /// shared by a confined container: its masked paths are mounts.
    pub fn share_namespace(&mut self, kind: NamespaceKind) -> &mut Self {
        if kind == NamespaceKind::Net {
            self.network = Network::Host;
        } else {
            self.shared.insert(kind);
        }
        self
    }

    /// How it is confined (default: as podman confines a container).
    pub fn confinement(&mut self, confinement: Confinement) -> &mut Self {
        self.process.confinement = confinement;
        self
    }

    /// The most memory its processes may use, bytes.
    pub fn memory_limit(&mut self, bytes: u64) -> &mut Self {
        self.resources.memory_max = Some(bytes);
        self
    }

    /// The most processes it may have at once.
    pub fn pids_limit(&mut self, count: u64) -> &mut Self {
        self.resources.pids_max = Some(count);
        self
    }

    /// The most CPU time it may use, in CPUs (`0.5`: half of one).
    pub fn cpu_limit(&mut self, cpus: f64) -> &mut Self {
        const PERIOD_US: u64 = 100_000;
        // Rounded to whole microseconds; at least one.
        let quota = (cpus * PERIOD_US as f64).round().max(1.0) as i64;
        self.resources.cpu_quota_us = Some(quota);
        self.resources.cpu_period_us = Some(PERIOD_US);
        self
    }

    /// Where its cgroup goes: absolute (`/a/b`) from each hierarchy's
    /// root, or relative below the caller's own cgroup (the default).
    pub fn cgroup_parent(&mut self, parent: impl Into<PathBuf>) -> &mut Self {
        self.cgroup_parent = Some(parent.into());
        self
    }

    /// Starts the container: returns once its command has `exec`'d (or
    /// with why not, nothing of it left). A descriptor given as stdio is
    /// used by this call only.
    pub fn spawn(&mut self) -> Result<Child, Error> {
        let prepared = self.prepare()?;
        let process = crate::Process::start(prepared.plan, prepared.options)?;
        Ok(Child::new(
            process,
            prepared.pipes,
            prepared.confined,
            prepared.init_binary,
        ))
    }

    /// [`spawn`](Command::spawn) without blocking the thread: the
    /// handshake's waits are tokio's. Dropping the future before it is
    /// done kills and removes whatever the launch had made.
    #[cfg(feature = "tokio")]
    pub async fn spawn_async(&mut self) -> Result<Child, Error> {
        let prepared = self.prepare()?;
        let process = crate::with_tokio::start(prepared.plan, prepared.options).await?;
        Ok(Child::new(
            process,
            prepared.pipes,
            prepared.confined,
            prepared.init_binary,
        ))
    }

    /// [`output`](Command::output), without blocking the thread.
    #[cfg(feature = "tokio")]
    pub async fn output_async(&mut self) -> Result<Output, Error> {
        self.process.capture_output();
        self.spawn_async().await?.wait_with_output_async().await
    }

    /// The plan and options of a launch, checked whole before anything is
    /// made.
    fn prepare(&mut self) -> Result<Prepared, Error> {
        if self.shared.contains(&NamespaceKind::Mount)
            && (self.process.confinement == Confinement::Default
                || self.rootfs.is_some()
                || !self.mounts.is_empty())
        {
            return Err(Error::Plan {
                reason: "the mount namespace cannot be shared by a confined container, or one with a rootfs \
                         or mounts: they are mounts of its own",
            });
        }
        if self.shared.contains(&NamespaceKind::Uts) && self.hostname.is_some() {
            return Err(Error::Plan {
                reason: "a host name needs a UTS namespace of its own: it would rename the host",
            });
        }
        let mut config = self.process.config();
        config.namespaces = [
            NamespaceKind::Pid,
            NamespaceKind::Mount,
            NamespaceKind::Uts,
            NamespaceKind::Ipc,
        ]
        .into_iter()
        .filter(|kind| !self.shared.contains(kind))
        .chain((self.network == Network::Loopback).then_some(NamespaceKind::Net))
        .map(|kind| Namespace { kind, path: None })
        .collect();
        if self.network == Network::Loopback {
            config.networks = vec![Interface::Loopback];
        }
        config.hostname.clone_from(&self.hostname);
        config.rootfs.clone_from(&self.rootfs);
        config.readonly_rootfs = self.readonly_rootfs;
        config.mounts.clone_from(&self.mounts);
        let confined = confinement::apply(&self.process.confinement, &self.process.cap_add, &mut config)?;
        // A caller without privileges gets a cgroup only by asking for
        // limits (and the error that says why it cannot have one).
        let with_cgroup = nix::unistd::geteuid().is_root() || self.resources != Resources::default();
        let mut resources = self.resources.clone();
        if confined.is_some() {
            resources.devices = Some(crate::cgroup::DeviceRule::container_default());
        }
        let mut plan = Plan::init(config);
        plan.timeout = self.process.timeout;
        plan.cgroup = with_cgroup;
        let mut options = self.process.options();
        if with_cgroup {
            options = options.cgroup(CgroupConfig {
                parent: self.cgroup_parent.clone(),
                resources,
                ..CgroupConfig::default()
            });
        }
        let (options, pipes) = self.process.take_stdio(options)?;
        Ok(Prepared {
            plan,
            options,
            pipes,
            confined,
            init_binary: self.process.init_binary.clone(),
        })
    }
}

/// A launch ready to run, and what its [`Child`] keeps.
struct Prepared {
    plan: Plan,
    options: Options,
    pipes: [Option<std::fs::File>; 3],
    confined: Option<confinement::Confined>,
    init_binary: Option<PathBuf>,
}
