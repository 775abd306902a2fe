//! What a launch asks its backend to do.

use std::path::PathBuf;

use bytes::Bytes;

use crate::config::{Interface, NamespaceKind};
use crate::launch::plan::IdMaps;
use crate::process::Pid;

/// One thing for the backend to carry out, then report with
/// [`Launch::handle_spawned`](super::Launch::handle_spawned) (for
/// [`Command::Spawn`]) or [`Launch::handle_done`](super::Launch::handle_done).
///
/// A command that fails must have acquired nothing: the backend rolls back
/// its own partial work, so the launch's cleanup only has to undo commands
/// that succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Create the container's cgroup (before the spawn, so a backend can
    /// clone straight into it).
    CreateCgroup,
    /// Create the launch socket and start the child.
    Spawn(Spawn),
    /// Write the child's `uid_map`, `setgroups` and `gid_map`.
    WriteIdMaps {
        /// The child.
        pid: Pid,
        /// What to write.
        maps: IdMaps,
    },
    /// Let the held child go on to `exec` the init binary.
    Release {
        /// The child.
        pid: Pid,
    },
    /// Let the process, set up and held after `ready`, `exec` the
    /// command. (Which is not [`Command::Release`]: that one lets a child
    /// held before its set-up go on to it.)
    Start {
        /// The process.
        pid: Pid,
    },
    /// Make the held process's hold its own: from now on it waits for a
    /// start from any launcher (see [`Launch::resume`](super::Launch::resume))
    /// and no longer ends when this launch goes away. What the launch
    /// acquired passes to its caller.
    HandOff {
        /// The process.
        pid: Pid,
    },
    /// Put the init process in the cgroup made by
    /// [`Command::CreateCgroup`] (a no-op where the spawn already did), or
    /// see that it joins it itself before its first set-up step (Linux's
    /// init joins its v1 hierarchies, [`ChildStep::Cgroup`](crate::ChildStep::Cgroup)).
    ApplyCgroup {
        /// The process.
        pid: Pid,
    },
    /// Create the host side of a network interface and move its peer into
    /// the child's network namespace.
    CreateInterface {
        /// The child whose namespace gets the peer.
        pid: Pid,
        /// Position in the config's `networks`.
        index: usize,
        /// What to create.
        interface: Interface,
    },
    /// Check that `pid`, as the setns helper reported it, is a child of ours
    /// that the helper created, and take hold of it (a pidfd). If the check
    /// passes but taking hold fails, the backend kills and reaps the process
    /// before it reports the failure, so a failed `Adopt` leaves nothing.
    Adopt {
        /// The helper that reported it.
        helper: Pid,
        /// The reported process.
        pid: Pid,
    },
    /// Reap a process that has exited (bounded: a backend that cannot reap
    /// it in time reports a failure).
    Reap {
        /// The process.
        pid: Pid,
    },
    /// Kill and reap every process the setns `helper` forked that the
    /// launch has not adopted (cleanup, bounded like [`Command::Reap`]).
    ///
    /// A helper that dies, or misbehaves, between its fork and its report
    /// leaves the launcher a child whose pid nobody told it. The launch
    /// issues this once the helper cannot fork any more (it was killed or
    /// has exited) and before it is reaped, so its pid still names it and
    /// the backend can tell its forks from any other process.
    ReapStrays {
        /// The helper, dead but not reaped.
        helper: Pid,
    },
    /// Put a setns process into the running container's cgroups.
    EnterCgroup {
        /// The process.
        pid: Pid,
    },
    /// Write all of `bytes` to the socket.
    Send {
        /// One encoded message.
        bytes: Bytes,
    },
    /// Shut down the parent's writing half of the socket.
    ShutdownWrite,
    /// Send `SIGKILL` (cleanup).
    Kill {
        /// The process.
        pid: Pid,
    },
    /// Remove the host side of an interface (cleanup).
    RemoveInterface {
        /// Position in the config's `networks`.
        index: usize,
        /// What was created.
        interface: Interface,
    },
    /// Kill whatever is left in the cgroup and remove it (cleanup).
    DestroyCgroup,
    /// Close the parent's end of the socket. Always the last command.
    Close,
}

/// How to start the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spawn {
    /// Init process, setns helper or setns process.
    pub role: Role,
    /// Namespaces to create at clone time (init only).
    pub namespaces: Vec<NamespaceKind>,
    /// The pid namespace to clone the child into, joined by path (init
    /// only): joining one moves only the joiner's future children, and the
    /// init `exec`s its command rather than forking it, so the parent
    /// joins it for the clone.
    pub pid_namespace: Option<PathBuf>,
    /// The child waits for [`Command::Release`] before `exec`.
    pub hold: bool,
    /// After `ready`, the child waits for [`Command::Start`] before the
    /// `exec` of its command (and exits without it if the parent's side of
    /// that channel goes away).
    pub awaits_start: bool,
    /// The plan puts the child in a cgroup: the one
    /// [`Command::CreateCgroup`] made (init) or the running container's
    /// (setns). A backend that can clone the child straight into it does;
    /// without this, it must not.
    pub cgroup: bool,
}

/// Which program the child becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The container's init.
    Init,
    /// The helper that joins a running container and forks the process.
    SetnsHelper,
    /// A process of a running container, cloned into its pid namespace
    /// ([`SetnsEntry::Clone`](crate::launch::SetnsEntry::Clone)): it joins
    /// the container's other namespaces itself, and is the process.
    SetnsProcess,
}
