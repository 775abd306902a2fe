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

/// Checks that `maps` are what the kernel lets a caller without
/// `CAP_SETUID`/`CAP_SETGID` over the host write: one line each, mapping
/// only the caller's own effective `uid` and `gid`, with `setgroups`
/// denied first (or the kernel refuses the `gid_map`).
pub(crate) fn check_own_ids(maps: &IdMaps, uid: u32, gid: u32) -> Result<(), Error> {
    let own = |lines: &[IdMap], id: u32| matches!(lines, [line] if line.host == id && line.count == 1);
    if !own(&maps.uid, uid) || !own(&maps.gid, gid) {
        return Err(Error::Unprivileged {
            reason: "id maps other than a single mapping of the caller's own uid and gid",
        });
    }
    if !maps.deny_setgroups {
        return Err(Error::Unprivileged {
            reason: "a gid map without setgroups denied",
        });
    }
    Ok(())
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

    fn single(container: u32, host: u32, count: u32) -> Vec<IdMap> {
        vec![IdMap {
            container,
            host,
            count,
        }]
    }

    #[test]
    fn without_privileges_only_the_callers_own_ids_map() {
        let own = IdMaps {
            uid: single(0, 1000, 1),
            gid: single(0, 1001, 1),
            deny_setgroups: true,
        };
        assert!(check_own_ids(&own, 1000, 1001).is_ok());
        let refused =
            |maps: IdMaps| matches!(check_own_ids(&maps, 1000, 1001), Err(Error::Unprivileged { .. }));
        assert!(refused(IdMaps {
            uid: single(0, 100_000, 65_536),
            ..own.clone()
        }));
        assert!(refused(IdMaps {
            gid: single(0, 0, 1),
            ..own.clone()
        }));
        let mut two_lines = own.clone();
        two_lines.uid.extend(single(1, 100_000, 1));
        assert!(refused(two_lines));
        assert!(refused(IdMaps {
            deny_setgroups: false,
            ..own
        }));
    }

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
