//! The cgroup view the benchmark runs in, and the removal of what the
//! runtimes left below this process's own cgroups.
//!
//! `bench/run` runs the benchmarks in three views: this host as it is, and
//! the private cgroup-v1-only and cgroup2-only views of
//! `bench/cgroup-view`. Every cgroup a runtime makes here goes below this
//! process's own cgroup in each hierarchy (cradle's by default, runc's and
//! crun's through a relative `cgroupsPath`), so everything below it that
//! bears this run's tag is this run's to remove.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cradle_linux::cgroup::{Layout, Mode, Version};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::BenchError;

/// How long a leftover cgroup is given to empty after its processes are
/// killed.
const EMPTY_WAIT: Duration = Duration::from_secs(2);

/// Which cgroup layout this process sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// v1 hierarchies and cgroup2 beside them: this host as it is.
    Hybrid,
    /// Only v1 hierarchies (`bench/cgroup-view v1`).
    V1Only,
    /// Only cgroup2 (`bench/cgroup-view v2`).
    V2Only,
}

impl View {
    /// The view of `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub(crate) fn detect() -> Result<View, BenchError> {
        Ok(match Layout::detect()?.mode() {
            Some(Mode::Hybrid) => View::Hybrid,
            Some(Mode::Legacy) => View::V1Only,
            Some(Mode::Unified) | None => View::V2Only,
        })
    }

    /// A heading for the view's table.
    pub(crate) fn title(self) -> &'static str {
        match self {
            View::Hybrid => "hybrid (this host as it is: v1 hierarchies and cgroup2)",
            View::V1Only => "cgroup v1 only (bench/cgroup-view v1)",
            View::V2Only => "cgroup2 only (bench/cgroup-view v2)",
        }
    }

    /// What the containers' cgroups can do in this view, in a sentence.
    pub(crate) fn describe(self) -> Result<String, BenchError> {
        Ok(match self {
            View::Hybrid => {
                "cgroups in every v1 hierarchy and in cgroup2 (crun 1.8 refuses this layout)".to_owned()
            }
            View::V1Only => "the v1 hierarchies only, each rooted at a cgroup of this run".to_owned(),
            View::V2Only => {
                let controllers = v2_controllers()?;
                if controllers.is_empty() {
                    "a lone cgroup2 mount at /sys/fs/cgroup, rooted at a cgroup of this run; \
                     its controllers: none (on this hybrid host every controller is bound to a \
                     v1 hierarchy, so the containers' cgroups are made, joined and removed but \
                     hold no limit)"
                        .to_owned()
                } else {
                    format!(
                        "a lone cgroup2 mount at /sys/fs/cgroup, rooted at a cgroup of this run; \
                         its controllers: {controllers}"
                    )
                }
            }
        })
    }
}

/// The controllers this process's cgroup2 cgroup offers its children.
fn v2_controllers() -> Result<String, BenchError> {
    let layout = Layout::detect()?.only(Version::V2);
    let Some(dir) = own_dirs_of(&layout).into_iter().next() else {
        return Ok(String::new());
    };
    let path = dir.join("cgroup.controllers");
    let text = fs::read_to_string(&path).map_err(BenchError::io(&path))?;
    Ok(text.trim().to_owned())
}

/// This process's own cgroup directory in every hierarchy it sees.
pub(crate) fn own_dirs() -> Result<Vec<PathBuf>, BenchError> {
    Ok(own_dirs_of(&Layout::detect()?))
}

fn own_dirs_of(layout: &Layout) -> Vec<PathBuf> {
    layout
        .hierarchies()
        .iter()
        .filter_map(|hierarchy| hierarchy.dir(&hierarchy.own_cgroup))
        .collect()
}

/// Removes every cgroup directly below `own` whose name `is_ours` says is
/// this run's, with its subtree, deepest first; the processes still in
/// them (a runtime's, so this run's) are killed first. Returns what was
/// found there: nothing when the runtimes cleaned up after themselves.
pub(crate) fn sweep(own: &[PathBuf], is_ours: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for dir in own {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if path.is_dir() && is_ours(&name) {
                found.extend(remove_tree(&path));
            }
        }
    }
    found
}

/// A [`sweep`] when dropped, however the benchmark ends, of the cgroups
/// below this process's own that `is_ours` names; what it found there is
/// printed, under the benchmark's `name`. (The views benchmark checks more
/// at its end, in its own cleanup.)
#[allow(dead_code)]
pub(crate) struct SweepOnDrop {
    name: &'static str,
    own_dirs: Vec<PathBuf>,
    is_ours: Box<dyn Fn(&str) -> bool>,
}

#[allow(dead_code)]
impl SweepOnDrop {
    /// Reads this process's own cgroups now, while the layout is known
    /// good.
    pub(crate) fn new(
        name: &'static str,
        is_ours: impl Fn(&str) -> bool + 'static,
    ) -> Result<SweepOnDrop, BenchError> {
        Ok(SweepOnDrop {
            name,
            own_dirs: own_dirs()?,
            is_ours: Box::new(is_ours),
        })
    }
}

impl Drop for SweepOnDrop {
    fn drop(&mut self) {
        for line in sweep(&self.own_dirs, &self.is_ours) {
            println!("bench {}: left behind: {line}", self.name);
        }
    }
}

/// Kills what is in the cgroup `root` and below, then removes them,
/// deepest first. What it found and could not remove, as messages.
fn remove_tree(root: &Path) -> Vec<String> {
    let mut dirs = Vec::new();
    collect_dirs(root, &mut dirs);
    let mut found = Vec::new();
    for dir in &dirs {
        let pids = pids_in(dir);
        if !pids.is_empty() {
            found.push(format!("{}: processes {pids:?} killed", dir.display()));
            thaw(dir);
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    // Deepest first: children were pushed after their parents.
    for dir in dirs.iter().rev() {
        let deadline = Instant::now() + EMPTY_WAIT;
        loop {
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(error) if Instant::now() >= deadline => {
                    found.push(format!("{}: not removed: {error}", dir.display()));
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    found
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&entry.path(), out);
        }
    }
}

fn pids_in(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// A frozen cgroup's processes cannot die: thaw it (v1 and cgroup2).
fn thaw(dir: &Path) {
    let _ = fs::write(dir.join("freezer.state"), "THAWED");
    let _ = fs::write(dir.join("cgroup.freeze"), "0");
}
