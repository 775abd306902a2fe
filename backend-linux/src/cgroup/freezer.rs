//! Freezing and thawing: v2 `cgroup.freeze` (confirmed by `cgroup.events`),
//! else the v1 freezer hierarchy's `freezer.state`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::detect::MOUNTINFO;
use super::error::CgroupError;
use super::fs;
use super::hierarchy::{CgroupPaths, Hierarchy};
use super::manager::Cgroup;
use super::wait::{poll_until, wait_for_event};

/// Where a cgroup is frozen or thawed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Freezer {
    /// The v2 directory, where the kernel has `cgroup.freeze` (5.2+).
    V2(PathBuf),
    /// The directory in the v1 `freezer` hierarchy.
    V1 { hierarchy: Hierarchy, dir: PathBuf },
}

/// Whether a cgroup's processes can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezerState {
    /// They run.
    Thawed,
    /// A freeze was asked for; some still run.
    Freezing,
    /// All are stopped.
    Frozen,
}

impl Freezer {
    /// The freezer of the cgroup at `paths`: the v2 one where there is one
    /// (woken by events rather than polled), else v1.
    pub(crate) fn of(paths: &CgroupPaths) -> Option<Freezer> {
        let v2 = paths.v2().filter(|dir| dir.file("cgroup.freeze").exists());
        if let Some(dir) = v2 {
            return Some(Freezer::V2(dir.path.clone()));
        }
        // A directory gone (removed as empty) freezes nothing.
        paths
            .v1_with("freezer")
            .filter(|dir| dir.path.exists())
            .map(|dir| Freezer::V1 {
                hierarchy: dir.hierarchy.clone(),
                dir: dir.path.clone(),
            })
    }

    /// Freezes, and waits until every process is stopped. If that fails or
    /// `deadline` passes, thaws again before returning the error: a failed
    /// freeze never leaves the cgroup frozen (or, should the thaw fail too,
    /// says so with the thaw's error).
    pub(crate) fn freeze(&self, deadline: Instant) -> Result<(), CgroupError> {
        let frozen = match self {
            Freezer::V2(dir) => fs::write(&Hierarchy::V2, &dir.join("cgroup.freeze"), "1")
                .and_then(|()| wait_for_event(dir, "frozen", "1", "frozen", deadline)),
            Freezer::V1 { hierarchy, dir } => freeze_v1(hierarchy, dir, deadline),
        };
        match frozen {
            Ok(()) => Ok(()),
            Err(error) => self.thaw().and(Err(error)),
        }
    }

    /// Lets the processes run again. The kernel wakes them during the write.
    pub(crate) fn thaw(&self) -> Result<(), CgroupError> {
        match self {
            Freezer::V2(dir) => fs::write(&Hierarchy::V2, &dir.join("cgroup.freeze"), "0"),
            Freezer::V1 { hierarchy, dir } => fs::write(hierarchy, &dir.join("freezer.state"), "THAWED"),
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> Result<FreezerState, CgroupError> {
        match self {
            Freezer::V2(dir) => {
                let events_path = dir.join("cgroup.events");
                let events = fs::read(&Hierarchy::V2, &events_path)?;
                let asked = fs::read(&Hierarchy::V2, &dir.join("cgroup.freeze"))?;
                match (fs::keyed_value(&events, "frozen"), asked.trim()) {
                    (Some("1"), _) => Ok(FreezerState::Frozen),
                    (Some("0"), "1") => Ok(FreezerState::Freezing),
                    (Some("0"), _) => Ok(FreezerState::Thawed),
                    _ => Err(CgroupError::Malformed {
                        hierarchy: Hierarchy::V2,
                        path: events_path,
                        content: events,
                    }),
                }
            }
            Freezer::V1 { hierarchy, dir } => v1_state(hierarchy, dir),
        }
    }
}

impl Cgroup {
    /// Freezes every process, waiting until all are stopped; a freeze that
    /// fails or outlives `deadline` thaws again before it returns.
    pub fn freeze(&self, deadline: Instant) -> Result<(), CgroupError> {
        self.freezer()?.freeze(deadline)
    }

    /// Lets the processes run again.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.freezer()?.thaw()
    }

    /// Whether the processes can run.
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        self.freezer()?.state()
    }

    fn freezer(&self) -> Result<Freezer, CgroupError> {
        if let Some(freezer) = Freezer::of(&self.paths) {
            return Ok(freezer);
        }
        // Name the v2 directory that lacks `cgroup.freeze`, else any.
        let dir = self.paths.v2().or(self.paths.dirs.first());
        Err(dir.map_or(
            CgroupError::NoHierarchy {
                path: PathBuf::from(MOUNTINFO),
            },
            |dir| CgroupError::NoFreezer {
                hierarchy: dir.hierarchy.clone(),
                path: dir.path.clone(),
            },
        ))
    }
}

/// v1 freezes in the background: `freezer.state` reads `FREEZING` until
/// every task is stopped, and gives no notification.
fn freeze_v1(hierarchy: &Hierarchy, dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    let state = dir.join("freezer.state");
    fs::write(hierarchy, &state, "FROZEN")?;
    if poll_until(deadline, || Ok(v1_state(hierarchy, dir)? == FreezerState::Frozen))? {
        return Ok(());
    }
    Err(CgroupError::Timeout {
        hierarchy: hierarchy.clone(),
        path: state,
        what: "frozen",
    })
}

fn v1_state(hierarchy: &Hierarchy, dir: &Path) -> Result<FreezerState, CgroupError> {
    let path = dir.join("freezer.state");
    let text = fs::read(hierarchy, &path)?;
    match text.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        _ => Err(CgroupError::Malformed {
            hierarchy: hierarchy.clone(),
            path,
            content: text,
        }),
    }
}
