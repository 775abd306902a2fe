//! What a setns process cloned into the container's pid namespace enters
//! before its `exec` of the init binary, and whether it can.
//!
//! The process is seen by the container's processes from its clone on;
//! one of them may stop it and read what anyone may read of it (its mount
//! table, its network tables). Entered before the `exec` (born inside, or
//! a few system calls after its clone: `spawn::in_container`), those are
//! the container's. It can where:
//! - the init binary is static: `exec`d from the container's root, a
//!   dynamic one would load the container's `ld.so`, as the host's root;
//! - the launcher may join the container's mount namespace and `chroot`
//!   without first joining its user namespace (`CAP_SYS_ADMIN` and
//!   `CAP_SYS_CHROOT` in its own).
//!
//! The user namespace is left for after the `exec`: a binary `exec`d in it
//! would be traceable by whoever holds `CAP_SYS_PTRACE` there, the
//! container's processes among them. Elsewhere the process joins it all
//! after its `exec` (`init::setns`).

use std::os::fd::OwnedFd;

use cradle_core::{Capability, NamespaceKind};

use super::{namespaces_apart, Container};
use crate::error::Error;
use crate::spawn::{namespace_flag, open_dir};
use crate::sys;

/// What the process joins before its `exec`.
#[derive(Debug)]
pub(crate) struct BeforeExec {
    /// The `CLONE_NEW*` flags of the container's own namespaces but its
    /// user and pid ones (the process is born in the latter).
    pub(crate) namespaces: u64,
    /// The container's root: its init's, open.
    pub(crate) root: OwnedFd,
    /// The container has a user namespace of its own, joined after the
    /// `exec`.
    pub(crate) user_left: bool,
}

/// What a process cloned into `container` joins before its `exec` of an
/// init binary that is static (`static_init`) or not; `None` where it
/// cannot join before.
pub(crate) fn prepare(container: &Container, static_init: bool) -> Result<Option<BeforeExec>, Error> {
    if !static_init || !may_enter_first()? {
        return Ok(None);
    }
    let pid = container.pid();
    let kinds =
        namespaces_apart(pid).map_err(|(path, source)| gone_or(container, Error::file(path)(source)))?;
    let namespaces = kinds
        .iter()
        .filter(|kind| !matches!(kind, NamespaceKind::User | NamespaceKind::Pid))
        .fold(0, |flags, &kind| flags | namespace_flag(kind));
    let root_path = format!("/proc/{pid}/root");
    let root = open_dir(&root_path).map_err(|error| gone_or(container, error))?;
    // The namespaces and root were read by pid: still the init's if it
    // has not exited since (its pid cannot have been reused meanwhile).
    container.check_running()?;
    Ok(Some(BeforeExec {
        namespaces,
        root,
        user_left: kinds.contains(&NamespaceKind::User),
    }))
}

/// Whether this process may join another mount namespace and `chroot`
/// without joining a user namespace first.
fn may_enter_first() -> Result<bool, Error> {
    let effective = sys::capget().map_err(Error::syscall("capget"))?.effective;
    let holds = |capability: Capability| effective & (1 << capability.number()) != 0;
    Ok(holds(Capability::SysAdmin) && holds(Capability::SysChroot))
}

/// `error`, or that the container is gone if its init has exited.
fn gone_or(container: &Container, error: Error) -> Error {
    match container.check_running() {
        Ok(()) => error,
        Err(gone) => gone,
    }
}
