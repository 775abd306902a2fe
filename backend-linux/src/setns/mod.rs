//! The parent's side of a setns process: naming the running container to
//! join ([`Container`]), checking the process its helper reports
//! ([`adopt`]) and, after a failure, sweeping up what the helper forked
//! and never reported ([`reap_strays`]); [`lineage`] tells a helper's forks
//! apart for both. The helper itself is the init binary in its setns role
//! (`init::setns`).

mod adopt;
pub(crate) mod before_exec;
mod container;
pub(crate) mod lineage;
mod strays;

use std::os::unix::fs::MetadataExt;

use cradle_core::{NamespaceKind, Pid};

pub(crate) use self::adopt::adopt;
pub use self::container::Container;
pub(crate) use self::strays::reap_strays;

/// Which namespace of `kind` the process `pid` (a number, or `self`) is in:
/// the device and inode of its `/proc/<pid>/ns/<kind>` link, which are equal
/// for two processes exactly when they share the namespace.
pub(crate) fn namespace_id(pid: &str, kind: NamespaceKind) -> std::io::Result<(u64, u64)> {
    let metadata = std::fs::metadata(format!("/proc/{pid}/ns/{}", kind.proc_name()))?;
    Ok((metadata.dev(), metadata.ino()))
}

/// The namespace types in which `pid`'s namespace is not the calling
/// thread's (a thread's may differ from its process's): what the container
/// has of its own. A type this kernel lacks is left out. On failure, the
/// `/proc` path that could not be read.
pub(crate) fn namespaces_apart(pid: Pid) -> Result<Vec<NamespaceKind>, (String, std::io::Error)> {
    let mut kinds = Vec::new();
    for kind in NamespaceKind::ALL {
        let own = match namespace_id("thread-self", kind) {
            Ok(own) => own,
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(error) => return Err((format!("/proc/thread-self/ns/{}", kind.proc_name()), error)),
        };
        let theirs = namespace_id(&pid.to_string(), kind)
            .map_err(|error| (format!("/proc/{pid}/ns/{}", kind.proc_name()), error))?;
        if own != theirs {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// How many pid namespaces `pid` has a number in, from the one of this
/// program's `/proc` down: the fields of `NSpid` in `/proc/<pid>/status`,
/// which, unlike `/proc/<pid>/ns`, anyone may read.
pub(crate) fn pid_namespace_depth(pid: cradle_core::Pid) -> std::io::Result<usize> {
    let status = crate::small_file::read_lossy(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))
        .map(|pids| pids.split_whitespace().count())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no NSpid line"))
}
