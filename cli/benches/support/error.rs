//! The benchmarks' one error type: each variant names the command, file
//! or JSON path that failed.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why a benchmark step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BenchError {
    /// A file or directory could not be read, written or made.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A program could not be started.
    #[error("`{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    /// A program ran and failed; its stderr says why.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// A JSON document lacked what was expected at `path`.
    #[error("{document}: {path}: {reason}")]
    Json {
        document: String,
        path: &'static str,
        reason: String,
    },
    /// The cgroup layout could not be read.
    #[error("cgroups: {0}")]
    Cgroup(#[from] cradle_linux::cgroup::CgroupError),
    /// No static busybox to build the rootfs from.
    #[error("busybox is missing (/bin/busybox, /usr/bin/busybox): apt-get install busybox-static")]
    NoBusybox,
}

impl BenchError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }
}
