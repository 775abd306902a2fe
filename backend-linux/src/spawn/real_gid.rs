//! A child born among a pid namespace's processes (a setns process, an
//! init that joins a pid namespace by path) is born with a real gid apart
//! from its effective one, until its user step sets the config's gid as
//! all three (`init::setup`; a hook it runs before gets its effective gid
//! as its real one: `init::hooks`).
//!
//! The processes already there may have its uid and gid (root in a
//! container without a user namespace), and the kernel lets a process of
//! the same ids change another's resource limits (`prlimit`): it could
//! stop the newborn, raise its core limit and starve its memory, and have
//! the kernel write its core (the host's paths and pids in its memory)
//! in the container's root. With the real gid apart no process of
//! theirs matches all of its ids, so none but one holding
//! `CAP_SYS_RESOURCE` may touch its limits; and its `exec` of the init
//! binary, which sees ids apart, leaves it not dumpable from its first
//! instruction: the kernel then writes no core of it, or only to the
//! host's absolute `core_pattern` or pipe (`fs.suid_dumpable` 0 or 2; 1
//! is a debugging setting that dumps every process).
//!
//! The same `exec` is a secure one (`AT_SECURE`): the kernel clears the
//! parent-death signal and caps the stack's soft limit at 8 MiB, which
//! the init's role, first thing, sets back (`init::LaunchersLimits`).
//!
//! The launching thread takes the gid for the clone alone: the child
//! copies its credentials, and the raw system call changes this thread's
//! only, not the rest of the launcher's.

use std::marker::PhantomData;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::unistd::getresgid;

use crate::error::Error;
use crate::sys;

/// Real gids to take, the first that is none of the thread's own: the
/// overflow gid (`nogroup`), mapped wherever a launcher usually runs, and
/// one below it.
const APART: [libc::gid_t; 2] = [65534, 65533];

/// The calling thread has a real gid apart from its effective one until
/// this is left or dropped.
#[derive(Debug)]
pub(super) struct RealGidApart {
    /// The thread's own real gid; taken when it is set back.
    own: Option<libc::gid_t>,
    /// The raw call changes the calling thread only: set back on another,
    /// it would leave this one apart.
    _this_thread: PhantomData<*const ()>,
}

impl RealGidApart {
    /// Takes a real gid apart, or `None` where this launcher cannot, and
    /// its children go without it:
    /// - without `CAP_SETGID`, or where neither of [`APART`] is mapped in
    ///   its user namespace;
    /// - with `no_new_privs`, under which older kernels (before that
    ///   check's rework of 2025) set the effective gid to the real one at
    ///   the `exec`, and the init would make its files with it.
    pub(super) fn take() -> Result<Option<RealGidApart>, Error> {
        if prctl::get_no_new_privs().map_err(Error::syscall("prctl(PR_GET_NO_NEW_PRIVS)"))? {
            return Ok(None);
        }
        let own = getresgid().map_err(Error::syscall("getresgid"))?;
        let ids = [own.real, own.effective, own.saved].map(|gid| gid.as_raw());
        // None of its own, so that the thread needed `CAP_SETGID` to take
        // it, and has it still to set its own back.
        for apart in APART.into_iter().filter(|gid| !ids.contains(gid)) {
            match sys::set_thread_real_gid(apart) {
                Ok(()) => {
                    return Ok(Some(RealGidApart {
                        own: Some(ids[0]),
                        _this_thread: PhantomData,
                    }))
                }
                Err(Errno::EPERM) => return Ok(None),
                // Not mapped in this user namespace.
                Err(Errno::EINVAL) => {}
                Err(errno) => return Err(Error::syscall("setresgid of a real gid apart")(errno)),
            }
        }
        Ok(None)
    }

    /// Sets the thread's own real gid back; an error if it could not.
    pub(super) fn leave(mut self) -> Result<(), Error> {
        match self.own.take() {
            Some(own) => sys::set_thread_real_gid(own)
                .map_err(Error::syscall("setresgid of the launcher's own real gid")),
            None => Ok(()),
        }
    }
}

impl Drop for RealGidApart {
    /// Back, where the clone failed (and [`leave`](RealGidApart::leave)
    /// was not called): there is no error to report but the clone's.
    fn drop(&mut self) {
        if let Some(own) = self.own.take() {
            let _ = sys::set_thread_real_gid(own);
        }
    }
}
