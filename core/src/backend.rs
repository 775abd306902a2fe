//! What a backend provides: the traits the drivers run a launch over.
//!
//! One backend value serves one launch: it owns that launch's socket,
//! processes, cgroup and interfaces. Every method is bounded in time; none
//! waits on the child except [`Wait::wait`], which honours its deadline.

use crate::config::Interface;
use crate::launch::{CommandError, IdMaps, Spawn};
use crate::process::{ExitStatus, Pid};
use crate::time::Time;

/// The backend's monotonic clock.
pub trait Clock {
    /// Now.
    fn now(&mut self) -> Time;
}

/// Starting, checking and ending processes.
pub trait Processes {
    /// Creates the launch socket and starts the child, which holds before
    /// `exec` when `spawn.hold` is set.
    fn spawn(&mut self, spawn: &Spawn) -> Result<Pid, CommandError>;
    /// Writes the child's id maps.
    fn write_id_maps(&mut self, pid: Pid, maps: &IdMaps) -> Result<(), CommandError>;
    /// Lets the held child `exec`.
    fn release(&mut self, pid: Pid) -> Result<(), CommandError>;
    /// Lets the process, set up and waiting after `ready`, `exec` its
    /// command.
    fn start(&mut self, pid: Pid) -> Result<(), CommandError>;
    /// Makes the held process's hold independent of this launch: it waits
    /// for a start from a later launcher, and no longer ends when this one
    /// goes away.
    fn hand_off(&mut self, pid: Pid) -> Result<(), CommandError>;
    /// Checks that `pid` is our child, created by `helper`, and takes hold
    /// of it; fails for any other pid.
    fn adopt(&mut self, helper: Pid, pid: Pid) -> Result<(), CommandError>;
    /// Sends `SIGKILL`.
    fn kill(&mut self, pid: Pid) -> Result<(), CommandError>;
    /// Reaps an exited (or killed) process, within a bound.
    fn reap(&mut self, pid: Pid) -> Result<(), CommandError>;
    /// Kills and reaps, within a bound, every child of ours that `helper`
    /// (dead, not reaped) forked and this launch did not adopt.
    fn reap_strays(&mut self, helper: Pid) -> Result<(), CommandError>;
}

/// The container's cgroup.
pub trait Cgroups {
    /// Creates the cgroup for an init process.
    fn create_cgroup(&mut self) -> Result<(), CommandError>;
    /// Puts the init process in it, or leaves to the process what it
    /// joins itself before its first set-up step.
    fn apply_cgroup(&mut self, pid: Pid) -> Result<(), CommandError>;
    /// Puts a setns process in the running container's cgroups, in each
    /// it was not born in.
    fn enter_cgroup(&mut self, pid: Pid) -> Result<(), CommandError>;
    /// Kills what is left in the cgroup and removes it.
    fn destroy_cgroup(&mut self) -> Result<(), CommandError>;
}

/// The host side of network interfaces.
pub trait Interfaces {
    /// Creates `interface` for the child `pid`.
    fn create_interface(&mut self, pid: Pid, index: usize, interface: &Interface)
        -> Result<(), CommandError>;
    /// Removes what `create_interface` made.
    fn remove_interface(&mut self, index: usize, interface: &Interface) -> Result<(), CommandError>;
}

/// The parent's end of the launch socket.
pub trait Channel {
    /// Writes all of `bytes`, failing if that has not happened by
    /// `deadline` (a child that stops reading must not hang the parent).
    fn send(&mut self, bytes: &[u8], deadline: Time) -> Result<(), CommandError>;
    /// Shuts down the writing half.
    fn shutdown_write(&mut self) -> Result<(), CommandError>;
    /// Closes the socket (idempotent; nothing to do if none was made).
    fn close(&mut self) -> Result<(), CommandError>;
}

/// What woke a blocking wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// This many bytes were read into the buffer (at least one).
    Read(usize),
    /// The child's end of the socket is closed.
    Eof,
    /// Reading the socket failed. Not a reset: a reset (the child's end
    /// closed with the parent's bytes unread, as when it dies before reading
    /// its config) is reported as [`Wake::Eof`], so that the child's exit
    /// status, not the reset, says what happened.
    ReadFailed(CommandError),
    /// A process of this launch exited (it is not reaped).
    Exited {
        /// Which.
        pid: Pid,
        /// How.
        status: ExitStatus,
    },
    /// The deadline passed.
    Deadline,
}

/// Blocking until the launch has something to react to.
pub trait Wait {
    /// Waits until the socket is readable (only when `read` is set), a
    /// process of this launch exits, or `deadline` passes, and reports one
    /// of them. Order between an exit and the bytes the process wrote
    /// before it does not matter: the launch accepts either.
    fn wait(&mut self, deadline: Option<Time>, read: bool, buf: &mut [u8]) -> Wake;
}

/// Everything a driver needs of a backend.
pub trait Backend: Clock + Processes + Cgroups + Interfaces + Channel + Wait {}

impl<T: Clock + Processes + Cgroups + Interfaces + Channel + Wait + ?Sized> Backend for T {}
