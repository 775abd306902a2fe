//! A new user namespace's id maps, written from the parent while the child
//! holds before `exec`.

use std::fmt::Write as _;
use std::path::PathBuf;

use cradle_core::{IdMap, IdMaps, Pid};

use crate::error::Error;

/// Writes `uid_map`, then `setgroups` (when denied), then `gid_map` of
/// `pid`: the kernel needs `setgroups` settled before an unprivileged
/// writer's `gid_map`.
pub(crate) fn write(pid: Pid, maps: &IdMaps) -> Result<(), Error> {
    write_file(pid, "uid_map", &lines(&maps.uid))?;
    if maps.deny_setgroups {
        write_file(pid, "setgroups", "deny")?;
    }
    write_file(pid, "gid_map", &lines(&maps.gid))
}

/// A map file's content: one `inside outside count` line per map.
fn lines(maps: &[IdMap]) -> String {
    let mut text = String::new();
    for map in maps {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{} {} {}", map.container, map.host, map.count);
    }
    text
}

/// One `write` of `content`: the kernel takes a map in a single write only.
fn write_file(pid: Pid, name: &str, content: &str) -> Result<(), Error> {
    let path = PathBuf::from(format!("/proc/{pid}/{name}"));
    std::fs::write(&path, content).map_err(Error::file(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_map() {
        let maps = [
            IdMap {
                container: 0,
                host: 100_000,
                count: 65_536,
            },
            IdMap {
                container: 65_536,
                host: 0,
                count: 1,
            },
        ];
        assert_eq!(lines(&maps), "0 100000 65536\n65536 0 1\n");
    }
}
