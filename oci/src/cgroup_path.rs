//! `linux.cgroupsPath` as the place of the container's cgroup: a parent
//! and a name.
//!
//! `/a/b/c` is `c` under `/a/b` from each hierarchy's root; `a/b/c` is `c`
//! under `a/b` below cradle's own cgroup; `/c` is `c` at the root, `c` is
//! `c` below cradle's own. Without a path the name is `cradle-<id>` below
//! cradle's own cgroup. systemd's `slice:prefix:name` is refused.

use std::path::PathBuf;

use crate::OciError;

/// Where the container's cgroup goes, before its name is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CgroupPlace {
    /// As [`CgroupConfig::parent`](cradle_linux::cgroup::CgroupConfig).
    pub(crate) parent: Option<PathBuf>,
    /// The last component; `None` for the id's default.
    pub(crate) name: Option<String>,
}

const FIELD: &str = "linux.cgroupsPath";

impl CgroupPlace {
    /// Reads `linux.cgroupsPath`; an empty one is none.
    pub(crate) fn parse(path: Option<&str>) -> Result<CgroupPlace, OciError> {
        let Some(path) = path.filter(|p| !p.is_empty()) else {
            return Ok(CgroupPlace {
                parent: None,
                name: None,
            });
        };
        if path.contains(':') {
            return Err(OciError::unsupported(
                FIELD,
                format!("{path:?}: systemd cgroups are not supported"),
            ));
        }
        let absolute = path.starts_with('/');
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.contains(&"..") {
            return Err(OciError::invalid(FIELD, format!("{path:?}: must not contain ..")));
        }
        if parts.iter().any(|p| p.contains('\0')) {
            return Err(OciError::invalid(FIELD, format!("{path:?}: has a NUL byte")));
        }
        let Some(name) = parts.pop() else {
            return Err(OciError::invalid(FIELD, format!("{path:?}: names no cgroup")));
        };
        let joined = parts.join("/");
        let parent = match (absolute, parts.is_empty()) {
            (true, _) => Some(PathBuf::from(format!("/{joined}"))),
            (false, true) => None,
            (false, false) => Some(PathBuf::from(joined)),
        };
        Ok(CgroupPlace {
            parent,
            name: Some(name.to_owned()),
        })
    }

    /// The directory name: the path's last component, or `cradle-<id>`.
    pub(crate) fn name_for(&self, id: &str) -> Result<String, OciError> {
        if let Some(name) = &self.name {
            return Ok(name.clone());
        }
        let refused = |reason| OciError::ContainerId {
            id: id.to_owned(),
            reason,
        };
        if id.is_empty() {
            return Err(refused("empty"));
        }
        if id.contains(['/', '\0']) {
            return Err(refused("a cgroup name cannot hold / or NUL"));
        }
        Ok(format!("cradle-{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(path: &str) -> (Option<String>, Option<String>) {
        let place = CgroupPlace::parse(Some(path)).expect("valid");
        (place.parent.map(|p| p.display().to_string()), place.name)
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn absolute_and_relative_paths_split_into_parent_and_name() {
        assert_eq!(place("/a/b/c"), (some("/a/b"), some("c")));
        assert_eq!(place("a/b/c"), (some("a/b"), some("c")));
        assert_eq!(place("/c"), (some("/"), some("c")));
        assert_eq!(place("c"), (None, some("c")));
        assert_eq!(place("//a//./b/"), (some("/a"), some("b")));
    }

    #[test]
    fn without_a_path_the_name_comes_from_the_id() {
        for given in [None, Some("")] {
            let place = CgroupPlace::parse(given).expect("none");
            assert_eq!(place.parent, None);
            assert_eq!(place.name_for("web").expect("valid id"), "cradle-web");
            assert!(place.name_for("a/b").is_err());
            assert!(place.name_for("").is_err());
        }
        let named = CgroupPlace::parse(Some("/x/y")).expect("valid");
        assert_eq!(named.name_for("web").expect("named"), "y");
    }

    #[test]
    fn dot_dot_systemd_and_empty_paths_are_refused() {
        for bad in ["/a/../b", "..", "system.slice:cradle:abc", "/", "//"] {
            let error = CgroupPlace::parse(Some(bad)).expect_err(bad);
            assert_eq!(error.json_path(), Some(FIELD), "{bad}");
        }
        let error = CgroupPlace::parse(Some("machine.slice:cradle:1")).expect_err("systemd");
        assert!(
            error.to_string().contains("systemd cgroups are not supported"),
            "{error}"
        );
    }
}
