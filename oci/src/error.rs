//! Why a bundle cannot be launched: each error names the file, or the JSON
//! path in `config.json` (`linux.resources.memory.swap`), and says why, in
//! one line.

use std::io;
use std::path::PathBuf;

use cradle_linux::seccomp::SeccompError;

/// A bundle cradle cannot launch. Nothing was created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// `config.json` could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// `config.json` is over the size cradle reads.
    #[error("{path}: larger than {cap} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        cap: u64,
    },
    /// `config.json` is not JSON.
    #[error("{path}: not JSON: {source}")]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// An `ociVersion` cradle does not implement.
    #[error("ociVersion {version:?}: not supported (cradle implements 1.0.x, 1.1.x and 1.2.x)")]
    Version {
        /// The version given.
        version: String,
    },
    /// A field whose value is wrong or missing.
    #[error("{path}: {reason}")]
    Invalid {
        /// The JSON path: `process.cwd`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field cradle does not implement, set.
    #[error("{path}: not supported: {why}")]
    Unsupported {
        /// The JSON path: `linux.intelRdt`.
        path: String,
        /// Why not.
        why: String,
    },
    /// `linux.seccomp` is not a profile cradle can read.
    #[error("linux.seccomp: {0}")]
    Seccomp(#[source] SeccompError),
    /// A container id that cannot name the container's cgroup.
    #[error("container id {id:?}: {reason}")]
    ContainerId {
        /// The id given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl OciError {
    /// A field with a wrong or missing value.
    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> OciError {
        OciError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A field cradle does not implement.
    pub(crate) fn unsupported(path: impl Into<String>, why: impl Into<String>) -> OciError {
        OciError::Unsupported {
            path: path.into(),
            why: why.into(),
        }
    }

    /// The JSON path the error names, where it names one.
    pub fn json_path(&self) -> Option<&str> {
        match self {
            OciError::Invalid { path, .. } | OciError::Unsupported { path, .. } => Some(path),
            OciError::Version { .. } => Some("ociVersion"),
            OciError::Seccomp(_) => Some("linux.seccomp"),
            _ => None,
        }
    }
}
