//! The cgroup tree: directories with a frozen flag. Membership lives on the
//! processes (each in exactly one cgroup while alive), so a directory is
//! populated exactly when a live process names it.

use std::collections::BTreeMap;

use crate::kernel::LaunchId;

/// The root of the tree, where the host's processes are.
pub const ROOT: &str = "/";

/// One cgroup directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    pub(crate) launch: Option<LaunchId>,
    pub(crate) frozen: bool,
}

impl Cgroup {
    /// The launch that created it.
    pub fn launch(&self) -> Option<LaunchId> {
        self.launch
    }

    /// Its processes are frozen: they do not run.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }
}

/// The directories, by path.
#[derive(Debug)]
pub(crate) struct CgroupTree {
    dirs: BTreeMap<String, Cgroup>,
}

impl CgroupTree {
    pub(crate) fn new() -> CgroupTree {
        let root = Cgroup {
            launch: None,
            frozen: false,
        };
        CgroupTree {
            dirs: BTreeMap::from([(ROOT.to_owned(), root)]),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Cgroup> {
        self.dirs.get(path)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Cgroup)> {
        self.dirs.iter().map(|(path, cgroup)| (path.as_str(), cgroup))
    }

    /// `mkdir`: the parent must exist, the path must not.
    pub(crate) fn mkdir(&mut self, path: &str, launch: Option<LaunchId>) -> Result<(), i32> {
        let parent = match path.rfind('/') {
            Some(0) => ROOT,
            Some(slash) => &path[..slash],
            None => return Err(libc::EINVAL),
        };
        if path == ROOT || path.ends_with('/') {
            return Err(libc::EINVAL);
        }
        if !self.dirs.contains_key(parent) {
            return Err(libc::ENOENT);
        }
        if self.dirs.contains_key(path) {
            return Err(libc::EEXIST);
        }
        self.dirs.insert(
            path.to_owned(),
            Cgroup {
                launch,
                frozen: false,
            },
        );
        Ok(())
    }

    /// `rmdir`, refused while `populated` or while it has children.
    pub(crate) fn rmdir(&mut self, path: &str, populated: bool) -> Result<(), i32> {
        if !self.dirs.contains_key(path) {
            return Err(libc::ENOENT);
        }
        let prefix = format!("{path}/");
        if path == ROOT || populated || self.dirs.keys().any(|p| p.starts_with(&prefix)) {
            return Err(libc::EBUSY);
        }
        self.dirs.remove(path);
        Ok(())
    }

    pub(crate) fn set_frozen(&mut self, path: &str, frozen: bool) -> Result<(), i32> {
        let cgroup = self.dirs.get_mut(path).ok_or(libc::ENOENT)?;
        cgroup.frozen = frozen;
        Ok(())
    }
}
