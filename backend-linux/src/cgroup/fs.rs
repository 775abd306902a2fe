//! Reading and writing cgroup files, with errors that name the file and the
//! hierarchy.

use std::io::{ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::hierarchy::Hierarchy;

/// Reads a whole cgroup file.
pub(crate) fn read(hierarchy: &Hierarchy, path: &Path) -> Result<String, CgroupError> {
    crate::small_file::read_to_string(path).map_err(|source| CgroupError::Read {
        hierarchy: hierarchy.clone(),
        path: path.to_owned(),
        source,
    })
}

/// Writes `value` to an existing cgroup file in one `write`, as the kernel
/// parses each write on its own.
pub(crate) fn write(hierarchy: &Hierarchy, path: &Path, value: &str) -> Result<(), CgroupError> {
    let error = |source| CgroupError::Write {
        hierarchy: hierarchy.clone(),
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(error)?;
    match file.write(value.as_bytes()) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(_) => Err(error(ErrorKind::WriteZero.into())),
        Err(source) => Err(error(source)),
    }
}

/// Moves `pid` (its whole thread group) into the cgroup at `dir`.
pub(crate) fn write_pid(hierarchy: &Hierarchy, dir: &Path, pid: i32) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    if pid <= 0 {
        // 0 means "the writer": it would move cradle itself.
        return Err(CgroupError::InvalidPid {
            hierarchy: hierarchy.clone(),
            path: procs,
            pid,
        });
    }
    write(hierarchy, &procs, &pid.to_string())
}

/// The `tasks` file of the v1 cgroup at `dir`, open for writing: for a
/// thread to write `0` to, which moves it (see `init::cgroups`).
pub(crate) fn open_tasks(hierarchy: &Hierarchy, dir: &Path) -> Result<OwnedFd, CgroupError> {
    let path = dir.join("tasks");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map(OwnedFd::from)
        .map_err(|source| CgroupError::Open {
            hierarchy: hierarchy.clone(),
            path,
            source,
        })
}

/// The processes in the cgroup at `dir` itself (not its descendants); none
/// when the directory is gone.
pub(crate) fn procs(hierarchy: &Hierarchy, dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let path = dir.join("cgroup.procs");
    let text = match crate::small_file::read_to_string(&path) {
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        result => result.map_err(|source| CgroupError::Read {
            hierarchy: hierarchy.clone(),
            path: path.clone(),
            source,
        })?,
    };
    parse_pids(&text).map_err(|content| CgroupError::Malformed {
        hierarchy: hierarchy.clone(),
        path,
        content,
    })
}

/// One pid a line; anything but a positive number is refused (a 0 or a
/// negative pid would make `kill` signal a group).
fn parse_pids(text: &str) -> Result<Vec<i32>, String> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.parse::<i32>()
                .ok()
                .filter(|pid| *pid > 0)
                .ok_or_else(|| line.to_owned())
        })
        .collect()
}

/// `dir` and every cgroup below it, deepest first (the order to remove
/// them in); empty when `dir` is gone.
pub(crate) fn subtree(hierarchy: &Hierarchy, dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut pending = vec![dir.to_owned()];
    let mut found = Vec::new();
    while let Some(next) = pending.pop() {
        let entries = match std::fs::read_dir(&next) {
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            result => result.map_err(|source| CgroupError::Read {
                hierarchy: hierarchy.clone(),
                path: next.clone(),
                source,
            })?,
        };
        for entry in entries {
            let entry = entry.map_err(|source| CgroupError::Read {
                hierarchy: hierarchy.clone(),
                path: next.clone(),
                source,
            })?;
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(entry.path());
            }
        }
        found.push(next);
    }
    // Parents were found before their children: reverse for deepest first.
    found.reverse();
    Ok(found)
}

/// The value after `key` in a flat keyed file such as `cgroup.events`
/// (`populated 1`, `frozen 0`).
pub(crate) fn keyed_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then_some(value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_positive_numbers() {
        assert_eq!(parse_pids("12\n7\n"), Ok(vec![12, 7]));
        assert_eq!(parse_pids(""), Ok(vec![]));
        assert_eq!(parse_pids("12\n0\n"), Err("0".to_owned()));
        assert_eq!(parse_pids("-1\n"), Err("-1".to_owned()));
        assert_eq!(parse_pids("x\n"), Err("x".to_owned()));
    }

    #[test]
    fn keyed_values_are_found_by_name() {
        let events = "populated 1\nfrozen 0\n";
        assert_eq!(keyed_value(events, "populated"), Some("1"));
        assert_eq!(keyed_value(events, "frozen"), Some("0"));
        assert_eq!(keyed_value(events, "froze"), None);
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed_value(oom_control, "oom_kill"), Some("2"));
    }
}
