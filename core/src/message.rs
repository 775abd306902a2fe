//! The wire messages, one JSON object a line, tagged by `type`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// A message on the launch socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Parent → child: the configuration.
    Config(Box<Config>),
    /// Setns helper → parent: the pid of the process it forked.
    Pid {
        /// As the helper reports it; the parent checks it before use.
        pid: i32,
    },
    /// Child → parent: set-up is done, `exec` is next; with how long each
    /// set-up step took, when the config asked
    /// ([`Config::report_timings`]).
    Ready {
        /// Each step walked, in the order first walked, with its whole
        /// duration (a step walked in parts is summed); empty unless asked
        /// for (and then absent from the wire: `{"type":"ready"}`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        timings: Vec<StepTime>,
    },
    /// Child → parent: set-up failed.
    Error(ChildError),
}

impl Message {
    /// `ready`, without timings.
    pub fn ready() -> Message {
        Message::Ready { timings: Vec::new() }
    }

    /// The message's `type` tag.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Config(_) => MessageKind::Config,
            Message::Pid { .. } => MessageKind::Pid,
            Message::Ready { .. } => MessageKind::Ready,
            Message::Error(_) => MessageKind::Error,
        }
    }
}

/// The `type` of a message, without its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `config`
    Config,
    /// `pid`
    Pid,
    /// `ready`
    Ready,
    /// `error`
    Error,
}

impl MessageKind {
    /// The tag as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Config => "config",
            MessageKind::Pid => "pid",
            MessageKind::Ready => "ready",
            MessageKind::Error => "error",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long the child took over one set-up step, on its monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTime {
    /// The step.
    pub step: ChildStep,
    /// Its duration, in nanoseconds.
    pub nanos: u64,
}

/// Why the child could not become the container process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (step: {step}{})", errno.map(|e| format!(", errno {e}")).unwrap_or_default())]
pub struct ChildError {
    /// What went wrong, for a person.
    pub message: String,
    /// Where in the child's set-up it went wrong.
    pub step: ChildStep,
    /// The `errno` of the failed syscall, where there was one.
    #[serde(default)]
    pub errno: Option<i32>,
}

/// The child's set-up steps, in the order it runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildStep {
    /// Receiving and checking the config.
    Config,
    /// The setns helper joining the container's namespaces.
    Setns,
    /// The setns helper forking the process.
    Fork,
    /// The setns helper reporting the pid of the process it forked.
    Report,
    /// An init joining the cgroups that the parent made for it, through
    /// the descriptors of their `tasks` files that came with the config.
    Cgroup,
    /// `setsid`.
    Setsid,
    /// Joining namespaces by path.
    Namespaces,
    /// Setting the host name.
    Hostname,
    /// Setting resource limits.
    Rlimits,
    /// Writing `oom_score_adj`.
    OomScoreAdj,
    /// Finishing network interfaces.
    Network,
    /// Mount propagation, mounts, `/proc`, `/dev`.
    Mounts,
    /// `pivot_root` into the rootfs.
    Rootfs,
    /// The config's device nodes in the new `/dev`.
    Devices,
    /// Running the `createContainer` hooks.
    CreateContainerHooks,
    /// Writing namespaced sysctls under `/proc/sys`.
    Sysctls,
    /// Read-only and masked paths.
    Paths,
    /// Remounting the root read-only.
    ReadonlyRootfs,
    /// Making the terminal of [`Terminal::Console`](crate::config::Terminal::Console)
    /// and sending its master end to the parent.
    Console,
    /// Supplementary groups, gid, uid.
    User,
    /// The capability sets: bounding, then permitted, effective,
    /// inheritable, ambient.
    Capabilities,
    /// Changing to the working directory.
    Cwd,
    /// `no_new_privs`.
    NoNewPrivileges,
    /// Closing inherited descriptors.
    Fds,
    /// Installing the seccomp filter.
    Seccomp,
    /// `execve` of the command.
    Exec,
    /// A step this version does not know (sent by a newer child).
    #[serde(other)]
    Other,
}

impl ChildStep {
    /// Every step, in the order the child runs them, and `Other` last. (A
    /// setns helper joins the container's cgroups, `Cgroup`, before its
    /// `exec`, so before `Setns`; an init, after its config.)
    pub const ALL: [ChildStep; 27] = [
        ChildStep::Config,
        ChildStep::Setns,
        ChildStep::Fork,
        ChildStep::Report,
        ChildStep::Cgroup,
        ChildStep::Setsid,
        ChildStep::Namespaces,
        ChildStep::Hostname,
        ChildStep::Rlimits,
        ChildStep::OomScoreAdj,
        ChildStep::Network,
        ChildStep::Mounts,
        ChildStep::Rootfs,
        ChildStep::Devices,
        ChildStep::CreateContainerHooks,
        ChildStep::Sysctls,
        ChildStep::Paths,
        ChildStep::ReadonlyRootfs,
        ChildStep::Console,
        ChildStep::User,
        ChildStep::Capabilities,
        ChildStep::Cwd,
        ChildStep::NoNewPrivileges,
        ChildStep::Fds,
        ChildStep::Seccomp,
        ChildStep::Exec,
        ChildStep::Other,
    ];

    /// The step's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ChildStep::Config => "config",
            ChildStep::Setns => "setns",
            ChildStep::Fork => "fork",
            ChildStep::Report => "report",
            ChildStep::Cgroup => "cgroup",
            ChildStep::Setsid => "setsid",
            ChildStep::Namespaces => "namespaces",
            ChildStep::Hostname => "hostname",
            ChildStep::Rlimits => "rlimits",
            ChildStep::OomScoreAdj => "oom_score_adj",
            ChildStep::Network => "network",
            ChildStep::Mounts => "mounts",
            ChildStep::Rootfs => "rootfs",
            ChildStep::Devices => "devices",
            ChildStep::CreateContainerHooks => "create_container_hooks",
            ChildStep::Sysctls => "sysctls",
            ChildStep::Paths => "paths",
            ChildStep::ReadonlyRootfs => "readonly_rootfs",
            ChildStep::Console => "console",
            ChildStep::User => "user",
            ChildStep::Capabilities => "capabilities",
            ChildStep::Cwd => "cwd",
            ChildStep::NoNewPrivileges => "no_new_privileges",
            ChildStep::Fds => "fds",
            ChildStep::Seccomp => "seccomp",
            ChildStep::Exec => "exec",
            ChildStep::Other => "other",
        }
    }
}

impl fmt::Display for ChildStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
