//! cgroups v1, v2 and hybrid: detection, a manager for the container's
//! cgroup, and entering a running container's cgroups.
//!
//! SCAFFOLD: the signatures below are fixed; the bodies are being written.

use std::os::fd::BorrowedFd;
use std::path::PathBuf;

/// Where and how to make a container's cgroup.
#[derive(Clone, Debug, Default)]
pub struct CgroupConfig {
    /// The directory name created in every hierarchy.
    pub name: String,
    /// Parent directory (relative to each hierarchy's root); `None` means
    /// the caller's own cgroup in each hierarchy.
    pub parent: Option<PathBuf>,
    /// Limits written at creation.
    pub resources: Resources,
}

/// Resource limits, each written in the hierarchy's own format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Hard memory limit, bytes.
    pub memory_max: Option<u64>,
    /// Swap limit, bytes (v2 `memory.swap.max`; v1 memsw = memory + swap).
    pub memory_swap_max: Option<u64>,
    /// Most processes.
    pub pids_max: Option<u64>,
    /// CPU quota per period, microseconds.
    pub cpu_quota_us: Option<i64>,
    /// CPU period, microseconds.
    pub cpu_period_us: Option<u64>,
    /// CPU weight, 1..=10000 (v1 shares are converted).
    pub cpu_weight: Option<u64>,
}

/// The directories of one cgroup, one per hierarchy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupPaths {
    /// Absolute directories.
    pub dirs: Vec<PathBuf>,
}

/// A cgroup cradle created.
#[derive(Debug)]
pub struct Cgroup {
    paths: CgroupPaths,
}

/// A cgroup operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// Reading or writing a cgroup file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
}

impl Cgroup {
    /// Creates the cgroup in every hierarchy and writes its limits; on
    /// failure removes what it made.
    pub fn create(config: &CgroupConfig) -> Result<Cgroup, CgroupError> {
        let _ = config;
        Ok(Cgroup {
            paths: CgroupPaths::default(),
        })
    }

    /// A directory fd for `clone3(CLONE_INTO_CGROUP)`, where the host's
    /// layout allows the child to be placed at clone time.
    pub fn clone_into(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Puts `pid` in the cgroup (every hierarchy).
    pub fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        let _ = pid;
        Ok(())
    }

    /// Kills everything in the cgroup, then removes it (bounded retries).
    /// Idempotent.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        Ok(())
    }

    /// Its directories.
    pub fn paths(&self) -> &CgroupPaths {
        &self.paths
    }
}

/// Puts `pid` in an existing container's cgroups (setns).
pub fn enter(paths: &CgroupPaths, pid: i32) -> Result<(), CgroupError> {
    let _ = (paths, pid);
    Ok(())
}
