//! What can go wrong, naming the file and the hierarchy.

use std::io;
use std::path::PathBuf;

use super::hierarchy::Hierarchy;

/// A cgroup operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// Reading a `/proc` file that describes the host's cgroups failed.
    #[error("reading {path}: {source}")]
    Proc {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// No cgroup hierarchy that the caller belongs to is mounted.
    #[error("no cgroup hierarchy is mounted (per {path})")]
    NoHierarchy {
        /// The mount table read.
        path: PathBuf,
    },
    /// The container's name or parent is not a plain relative path.
    #[error("invalid cgroup {field} {value:?}: {reason}")]
    InvalidPath {
        /// `name` or `parent`.
        field: &'static str,
        /// What was given.
        value: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The cgroup lies outside the part of the hierarchy that is mounted.
    #[error("{hierarchy}: cgroup {cgroup:?} is not visible under the mount at {mount_point}")]
    Unreachable {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The cgroup, from the hierarchy's root.
        cgroup: PathBuf,
        /// Where the hierarchy is mounted.
        mount_point: PathBuf,
    },
    /// The directory exists already: cradle does not take over cgroups it did
    /// not create.
    #[error("{hierarchy}: {path} exists already; cradle only manages cgroups it creates")]
    Exists {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The directory.
        path: PathBuf,
    },
    /// A limit cannot be expressed in the hierarchy's format.
    #[error("{hierarchy}: invalid value {value:?} for {path}: {reason}")]
    InvalidLimit {
        /// The hierarchy the limit is meant for.
        hierarchy: Hierarchy,
        /// The file it would be written to.
        path: PathBuf,
        /// The value asked for.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A limit the hierarchy cannot take: its version has no such limit
    /// (v1-only files on cgroup2), or this kernel lacks the file or does not
    /// enforce what it is given.
    #[error("{hierarchy}: cannot set {limit} ({path}): {reason}")]
    LimitUnsupported {
        /// The hierarchy the limit is meant for.
        hierarchy: Hierarchy,
        /// The [`Resources`](super::Resources) field, as `memory_swappiness`.
        limit: &'static str,
        /// The file it would be written to, or the cgroup's directory where
        /// the version has no file for it.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A device rule that cannot be applied (an `a` rule for less than every
    /// device and access, or a rule with no access).
    #[error("device rule {index} ({rule}): {reason}")]
    InvalidDeviceRule {
        /// Its place in the list, from 0.
        index: usize,
        /// The rule, as `allow c 1:3 rwm`.
        rule: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A `bpf` syscall for the cgroup's v2 device program failed.
    #[error("cgroup v2: bpf({command}) for {path}: {source}{}", verifier_log(log))]
    Bpf {
        /// `BPF_PROG_LOAD`, `BPF_PROG_ATTACH` or `BPF_PROG_QUERY`.
        command: &'static str,
        /// The cgroup's directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
        /// The verifier's log when it refused the program, else empty.
        log: String,
    },
    /// A limit needs a controller that the cgroup's v2 directory lacks.
    #[error("{hierarchy}: the {controller} controller is not enabled ({path})")]
    ControllerUnavailable {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// Its cgroup2 name: `memory`, `pids`, `cpu`, `cpuset`, `io` or
        /// `hugetlb`.
        controller: &'static str,
        /// The `cgroup.controllers` file that lacks it.
        path: PathBuf,
    },
    /// A limit needs a controller that no mounted hierarchy offers.
    #[error("no mounted cgroup hierarchy has the {controller} controller (per {path})")]
    NoController {
        /// Its v1 name, as `/proc/self/cgroup` lists it (`net_cls`).
        controller: &'static str,
        /// The mount table read.
        path: PathBuf,
    },
    /// Neither `cgroup.freeze` nor a v1 freezer hierarchy is available.
    #[error("{hierarchy}: no freezer for {path}")]
    NoFreezer {
        /// The hierarchy looked at.
        hierarchy: Hierarchy,
        /// The cgroup's directory there.
        path: PathBuf,
    },
    /// A pid that names no single process (0 would move the writer itself).
    #[error("{hierarchy}: refusing to write pid {pid} to {path}")]
    InvalidPid {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The `cgroup.procs` file.
        path: PathBuf,
        /// The pid.
        pid: i32,
    },
    /// Creating a directory failed.
    #[error("{hierarchy}: mkdir {path}: {source}")]
    CreateDir {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// Removing a directory failed.
    #[error("{hierarchy}: rmdir {path}: {source}")]
    RemoveDir {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The directory.
        path: PathBuf,
        /// What the kernel said (`EBUSY` once the retries ran out).
        source: io::Error,
    },
    /// Opening a file or directory failed.
    #[error("{hierarchy}: open {path}: {source}")]
    Open {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The file or directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// Reading a file failed.
    #[error("{hierarchy}: read {path}: {source}")]
    Read {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// Writing a file failed.
    #[error("{hierarchy}: write {value:?} to {path}: {source}")]
    Write {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// What the kernel said.
        source: io::Error,
    },
    /// A file held something this module does not understand.
    #[error("{hierarchy}: {path}: unexpected content {content:?}")]
    Malformed {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The file.
        path: PathBuf,
        /// The offending part.
        content: String,
    },
    /// Signalling a process listed in the cgroup failed (`SIGKILL`, or
    /// `kill --all`'s signal).
    #[error("{hierarchy}: kill pid {pid} (listed in {path}): {source}")]
    Kill {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The `cgroup.procs` that listed it.
        path: PathBuf,
        /// The process.
        pid: i32,
        /// What the kernel said.
        source: io::Error,
    },
    /// The deadline passed before the cgroup reached the state waited for.
    #[error("{hierarchy}: timed out waiting for {what} ({path})")]
    Timeout {
        /// The hierarchy.
        hierarchy: Hierarchy,
        /// The file watched.
        path: PathBuf,
        /// `frozen`, `empty`, ...
        what: &'static str,
    },
}

impl CgroupError {
    /// The OS error number behind this error, where there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            CgroupError::Proc { source, .. }
            | CgroupError::CreateDir { source, .. }
            | CgroupError::RemoveDir { source, .. }
            | CgroupError::Open { source, .. }
            | CgroupError::Read { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::Kill { source, .. }
            | CgroupError::Bpf { source, .. } => source.raw_os_error(),
            CgroupError::Exists { .. } => Some(libc::EEXIST),
            CgroupError::Timeout { .. } => Some(libc::ETIMEDOUT),
            _ => None,
        }
    }
}

fn verifier_log(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; verifier log:\n{log}")
    }
}
