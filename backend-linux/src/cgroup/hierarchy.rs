//! Naming hierarchies and a cgroup's directories in them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The two cgroup versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// cgroup v1: one hierarchy per controller set.
    V1,
    /// cgroup v2: the unified hierarchy.
    V2,
}

/// One cgroup hierarchy of the host.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum Hierarchy {
    /// A v1 hierarchy, named by its controllers as `/proc/self/cgroup` lists
    /// them (`["cpu", "cpuacct"]`, or `["name=systemd"]` for a named one).
    V1 {
        /// Its controllers.
        controllers: Vec<String>,
    },
    /// The v2 (unified) hierarchy.
    V2,
}

impl Hierarchy {
    /// Its version.
    pub fn version(&self) -> Version {
        match self {
            Hierarchy::V1 { .. } => Version::V1,
            Hierarchy::V2 => Version::V2,
        }
    }

    /// Whether this is a v1 hierarchy with `controller` bound to it.
    pub fn is_v1_with(&self, controller: &str) -> bool {
        match self {
            Hierarchy::V1 { controllers } => controllers.iter().any(|c| c == controller),
            Hierarchy::V2 => false,
        }
    }
}

impl fmt::Display for Hierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hierarchy::V1 { controllers } => write!(f, "cgroup v1 ({})", controllers.join(",")),
            Hierarchy::V2 => f.write_str("cgroup v2"),
        }
    }
}

/// A cgroup's directory in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    /// The hierarchy.
    pub hierarchy: Hierarchy,
    /// The cgroup's path from the hierarchy's root, as `/proc/<pid>/cgroup`
    /// shows it.
    pub cgroup: PathBuf,
    /// The absolute directory where it is mounted.
    pub path: PathBuf,
}

impl CgroupDir {
    /// The path of `file` in this directory.
    pub fn file(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }

    pub(crate) fn is_v2(&self) -> bool {
        self.hierarchy == Hierarchy::V2
    }
}

/// The directories of one cgroup, one per hierarchy; what a state file keeps
/// so that later processes can [`enter`](super::enter) the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPaths {
    /// One entry per hierarchy.
    pub dirs: Vec<CgroupDir>,
}

impl CgroupPaths {
    /// The directory in the v2 hierarchy, if the cgroup has one.
    pub fn v2(&self) -> Option<&CgroupDir> {
        self.dirs.iter().find(|dir| dir.is_v2())
    }

    /// The directory in the v1 hierarchy that has `controller`.
    pub fn v1_with(&self, controller: &str) -> Option<&CgroupDir> {
        self.dirs.iter().find(|dir| dir.hierarchy.is_v1_with(controller))
    }

    /// The directory in the v2 hierarchy alone.
    pub(crate) fn without_v1(&self) -> CgroupPaths {
        CgroupPaths {
            dirs: self.v2().into_iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_survive_a_state_file() {
        let paths = CgroupPaths {
            dirs: vec![
                CgroupDir {
                    hierarchy: Hierarchy::V1 {
                        controllers: vec!["cpu".to_owned(), "cpuacct".to_owned()],
                    },
                    cgroup: PathBuf::from("/c1"),
                    path: PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c1"),
                },
                CgroupDir {
                    hierarchy: Hierarchy::V2,
                    cgroup: PathBuf::from("/c1"),
                    path: PathBuf::from("/sys/fs/cgroup/unified/c1"),
                },
            ],
        };
        let json = serde_json::to_string(&paths).expect("serialize");
        assert!(
            json.contains(r#"{"version":"v1","controllers":["cpu","cpuacct"]}"#),
            "{json}"
        );
        assert!(json.contains(r#"{"version":"v2"}"#), "{json}");
        assert_eq!(
            serde_json::from_str::<CgroupPaths>(&json).expect("deserialize"),
            paths
        );
        assert_eq!(
            paths.v2().map(|dir| &dir.path),
            Some(&PathBuf::from("/sys/fs/cgroup/unified/c1"))
        );
        assert_eq!(
            paths.v1_with("cpuacct").map(|dir| &dir.cgroup),
            Some(&PathBuf::from("/c1"))
        );
        assert!(paths.v1_with("memory").is_none());
    }
}
