//! The cgroup tree: directories with a frozen flag, each made in some of
//! the host's [`HIERARCHIES`]. Membership lives on the processes (each in
//! exactly one cgroup while alive, in every hierarchy at once), so a
//! directory is populated exactly when a live process names it.
//!
//! A cgroup is one directory per hierarchy, as on a hybrid Linux host, so
//! that a command over all of them can stop partway: a create that made
//! three directories of nine, a removal that left one.

use std::collections::BTreeMap;

use crate::kernel::LaunchId;

/// The root of the tree, where the host's processes are.
pub const ROOT: &str = "/";

/// How many hierarchies the host mounts: a hybrid host's v1 controllers
/// beside the cgroup2 tree. Every multi-part cgroup command walks them in
/// order, `0` first.
pub const HIERARCHIES: usize = 9;

/// One cgroup: its directory in each hierarchy that has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    pub(crate) launch: Option<LaunchId>,
    pub(crate) frozen: bool,
    /// Which hierarchies have the directory.
    pub(crate) made_in: [bool; HIERARCHIES],
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

    /// The hierarchies that have its directory, in order.
    pub fn hierarchies(&self) -> Vec<usize> {
        (0..HIERARCHIES).filter(|&h| self.made_in[h]).collect()
    }

    /// Whether every hierarchy has its directory.
    pub fn is_whole(&self) -> bool {
        self.made_in.iter().all(|&made| made)
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
            made_in: [true; HIERARCHIES],
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

    fn has(&self, path: &str, hierarchy: usize) -> bool {
        self.dirs.get(path).is_some_and(|c| c.made_in[hierarchy])
    }

    /// `mkdir` in every hierarchy, stopping at the first that refuses and
    /// removing what it made before (as the Linux backend's create does).
    pub(crate) fn mkdir_all(&mut self, path: &str, launch: Option<LaunchId>) -> Result<(), i32> {
        for hierarchy in 0..HIERARCHIES {
            if let Err(errno) = self.mkdir(path, hierarchy, launch) {
                self.undo_mkdir(path, hierarchy);
                return Err(errno);
            }
        }
        Ok(())
    }

    /// Removes the directories of `path` a create made in the hierarchies
    /// before `failed`, newest first: just made, they are empty.
    pub(crate) fn undo_mkdir(&mut self, path: &str, failed: usize) {
        for hierarchy in (0..failed).rev() {
            let _ = self.rmdir(path, hierarchy, false);
        }
    }

    /// `mkdir` in one hierarchy: the parent must have its directory there,
    /// the path must not.
    pub(crate) fn mkdir(
        &mut self,
        path: &str,
        hierarchy: usize,
        launch: Option<LaunchId>,
    ) -> Result<(), i32> {
        let parent = match path.rfind('/') {
            Some(0) => ROOT,
            Some(slash) => &path[..slash],
            None => return Err(libc::EINVAL),
        };
        if path == ROOT || path.ends_with('/') || hierarchy >= HIERARCHIES {
            return Err(libc::EINVAL);
        }
        if !self.has(parent, hierarchy) {
            return Err(libc::ENOENT);
        }
        if self.has(path, hierarchy) {
            return Err(libc::EEXIST);
        }
        let cgroup = self.dirs.entry(path.to_owned()).or_insert(Cgroup {
            launch,
            frozen: false,
            made_in: [false; HIERARCHIES],
        });
        cgroup.made_in[hierarchy] = true;
        Ok(())
    }

    /// `rmdir` in one hierarchy, refused while `populated` or while it has
    /// children there. The cgroup is gone with its last directory.
    pub(crate) fn rmdir(&mut self, path: &str, hierarchy: usize, populated: bool) -> Result<(), i32> {
        if hierarchy >= HIERARCHIES || !self.has(path, hierarchy) {
            return Err(libc::ENOENT);
        }
        let prefix = format!("{path}/");
        let has_children = self
            .dirs
            .iter()
            .any(|(p, c)| p.starts_with(&prefix) && c.made_in[hierarchy]);
        if path == ROOT || populated || has_children {
            return Err(libc::EBUSY);
        }
        let cgroup = self.dirs.get_mut(path).ok_or(libc::ENOENT)?;
        cgroup.made_in[hierarchy] = false;
        if !cgroup.made_in.iter().any(|&made| made) {
            self.dirs.remove(path);
        }
        Ok(())
    }

    pub(crate) fn set_frozen(&mut self, path: &str, frozen: bool) -> Result<(), i32> {
        let cgroup = self.dirs.get_mut(path).ok_or(libc::ENOENT)?;
        cgroup.frozen = frozen;
        Ok(())
    }
}
