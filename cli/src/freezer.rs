//! `pause` and `resume`: a container's cgroup frozen and thawed, through
//! the v1 `freezer` hierarchy or cgroup2's `cgroup.freeze`.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use cradle_linux::cgroup::{CgroupDir, CgroupPaths};

use crate::error::CliError;

/// How long a freeze may take to settle (v1 goes through `FREEZING`).
const SETTLE_BOUND: Duration = Duration::from_secs(5);
const SETTLE_POLL: Duration = Duration::from_millis(5);

/// Where the freezer of `paths` is: the v1 `freezer` hierarchy, else
/// cgroup2 when it has the container's cgroup.
fn freezer(paths: &CgroupPaths) -> Option<(&CgroupDir, bool)> {
    let v1 = paths.dirs.iter().find(|dir| dir.hierarchy.is_v1_with("freezer"));
    match v1 {
        Some(dir) => Some((dir, true)),
        None => paths.v2().map(|dir| (dir, false)),
    }
}

/// Whether the cgroup is frozen (unreadable: no).
pub(crate) fn is_frozen(paths: &CgroupPaths) -> bool {
    match freezer(paths) {
        Some((dir, true)) => {
            fs::read_to_string(dir.file("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
        }
        Some((dir, false)) => fs::read_to_string(dir.file("cgroup.freeze")).is_ok_and(|s| s.trim() == "1"),
        None => false,
    }
}

/// Freezes (`true`) or thaws the cgroup, and waits until the kernel says
/// it is done.
pub(crate) fn set(id: &str, paths: &CgroupPaths, frozen: bool) -> Result<(), CliError> {
    let (dir, v1) = freezer(paths).ok_or_else(|| {
        CliError::Usage(format!(
            "container {id} has no freezer: neither a v1 freezer hierarchy nor cgroup2 holds its cgroup"
        ))
    })?;
    let (file, value) = match (v1, frozen) {
        (true, true) => ("freezer.state", "FROZEN"),
        (true, false) => ("freezer.state", "THAWED"),
        (false, true) => ("cgroup.freeze", "1"),
        (false, false) => ("cgroup.freeze", "0"),
    };
    let path = dir.file(file);
    fs::write(&path, value).map_err(CliError::file(&path))?;
    let deadline = Instant::now() + SETTLE_BOUND;
    while is_frozen(paths) != frozen {
        if Instant::now() >= deadline {
            return Err(CliError::Usage(format!(
                "container {id}: the freezer did not settle within {} s",
                SETTLE_BOUND.as_secs()
            )));
        }
        // v1 may stay FREEZING while a task resists; writing again retries.
        if v1 && frozen {
            let _ = fs::write(&path, value);
        }
        thread::sleep(SETTLE_POLL);
    }
    Ok(())
}
