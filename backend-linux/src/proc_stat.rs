//! `/proc/<pid>/stat`, read for the fields cradle needs: the command name,
//! the state, the parent and the start time. (All stay readable while the
//! process is a zombie.)
//!
//! A pid names a process only as long as it runs: once it has exited and
//! been reaped, the kernel can give the pid to another process. The pid
//! *and* the start time name one process for good, which is what a
//! program keeps in a file to find a process again; [`is_running`] asks
//! whether that process still runs.

use std::path::PathBuf;

use cradle_core::Pid;

use crate::error::Error;

/// The fields of `/proc/<pid>/stat` cradle reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// `comm`, field 2, without its parentheses: at most 15 bytes, any but
    /// NUL.
    pub(crate) name: Vec<u8>,
    /// `ppid`, field 4 (0 for a parent outside the reader's pid namespace).
    pub(crate) parent: i32,
    /// `starttime`, field 22: clock ticks since boot.
    pub(crate) start_time: u64,
}

/// When `pid` started, in clock ticks since boot (`starttime`, field 22):
/// with the pid, what names the process across pid reuse.
pub fn start_time(pid: Pid) -> Result<u64, Error> {
    read(pid).map(|stat| stat.start_time)
}

/// Whether the process `pid` that started at `start_time` still runs: it
/// exists, the pid has not passed to another process since, and it is not
/// a zombie (`Z`) or dead (`X`) in field 3, which a process that exited but
/// was not reaped yet still shows under its pid.
pub fn is_running(pid: Pid, start_time: u64) -> bool {
    // One read: the state and the start time are of the same process.
    let Ok((_, stat)) = read_line(pid) else {
        return false;
    };
    field::<u64>(&stat, 22) == Some(start_time)
        && field::<char>(&stat, 3).is_some_and(|state| !matches!(state, 'Z' | 'X'))
}

/// The name, parent and start time of `pid`, from one read.
pub(crate) fn read(pid: Pid) -> Result<Stat, Error> {
    let (path, stat) = read_line(pid)?;
    parse(&stat).ok_or(Error::Proc {
        path,
        reason: "no name in field 2, parent in field 4 or start time in field 22",
    })
}

/// How many threads this process has (`num_threads`, field 20).
pub(crate) fn own_thread_count() -> Result<u64, Error> {
    let (path, stat) = read_line("self")?;
    field(&stat, 20).ok_or(Error::Proc {
        path,
        reason: "no thread count in field 20",
    })
}

/// `/proc/<pid>/stat` (`pid` a number or `self`), and its path for errors.
fn read_line(pid: impl std::fmt::Display) -> Result<(PathBuf, Vec<u8>), Error> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let stat = crate::small_file::read(&path).map_err(Error::file(&path))?;
    Ok((path, stat))
}

fn parse(stat: &[u8]) -> Option<Stat> {
    let opening = stat.iter().position(|&b| b == b'(')? + 1;
    let closing = stat.iter().rposition(|&b| b == b')')?;
    Some(Stat {
        name: stat.get(opening..closing)?.to_vec(),
        parent: field(stat, 4)?,
        start_time: field(stat, 22)?,
    })
}

#[cfg(test)]
fn parse_start_time(stat: &[u8]) -> Option<u64> {
    field(stat, 22)
}

/// Field `n` (from 1) of a `stat` line, from field 3 on. The command name
/// (field 2) is in parentheses and may hold anything but NUL, spaces and
/// parentheses included, so the fields are counted from the *last* `)`.
fn field<T: std::str::FromStr>(stat: &[u8], n: usize) -> Option<T> {
    let after_name = stat.iter().rposition(|&b| b == b')')? + 1;
    let field = stat
        .get(after_name..)?
        .split(u8::is_ascii_whitespace)
        .filter(|field| !field.is_empty())
        // `state` (field 3) comes first after the name.
        .nth(n.checked_sub(3)?)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_count_is_field_20() {
        assert_eq!(field::<u64>(&stat_line("a) 7 (b", 99), 20), Some(1));
        // The test harness runs this on a thread of its own.
        assert!(own_thread_count().expect("count") >= 2);
    }

    fn stat_line(name: &str, start: u64) -> Vec<u8> {
        format!(
            "4242 ({name}) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} \
             2396160 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_plain_name() {
        assert_eq!(parse_start_time(&stat_line("sleep", 123_456)), Some(123_456));
    }

    #[test]
    fn names_with_spaces_and_parentheses() {
        for name in ["a b", "x) (y z", ") 1 2 3 (", "((", "))", "a\nb", ""] {
            assert_eq!(parse_start_time(&stat_line(name, 987)), Some(987), "{name:?}");
        }
    }

    #[test]
    fn a_name_that_is_not_utf8() {
        let mut line = b"7 (\xff\xfe) ".to_vec();
        line.extend_from_slice(&stat_line("x", 55)[b"4242 (x) ".len()..]);
        assert_eq!(parse_start_time(&line), Some(55));
    }

    #[test]
    fn truncated_or_garbled_lines_are_refused() {
        assert_eq!(parse_start_time(b""), None);
        assert_eq!(parse_start_time(b"1 (init) S 0 1"), None);
        // No parentheses: the fields cannot be counted.
        assert_eq!(
            parse_start_time(b"1 init S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77"),
            None
        );
        let negative = String::from_utf8(stat_line("x", 77))
            .expect("utf-8")
            .replace(" 77 ", " -77 ");
        assert_eq!(parse_start_time(negative.as_bytes()), None);
    }

    #[test]
    fn the_parent_is_field_4() {
        let stat = parse(&stat_line("x) 9 (y", 31)).expect("parsed");
        assert_eq!(
            stat,
            Stat {
                name: b"x) 9 (y".to_vec(),
                parent: 1,
                start_time: 31
            }
        );
        let me = Pid::new(std::process::id() as i32).expect("pid");
        let parent = read(me).expect("stat").parent;
        assert_eq!(i64::from(parent), i64::from(std::os::unix::process::parent_id()));
    }

    #[test]
    fn the_name_is_everything_between_the_first_and_the_last_parenthesis() {
        for name in ["sleep", "a b", ") (", "(x)", ""] {
            let stat = parse(&stat_line(name, 5)).expect("parsed");
            assert_eq!(stat.name, name.as_bytes(), "{name:?}");
        }
    }

    #[test]
    fn this_process_has_a_start_time() {
        let me = Pid::new(std::process::id() as i32).expect("pid");
        assert!(start_time(me).expect("start time") > 0);
    }

    #[test]
    fn the_state_is_field_3() {
        for name in ["sleep", "x) Z (y", ") R ("] {
            let line = stat_line(name, 5);
            assert_eq!(field::<char>(&line, 3), Some('S'), "{name:?}");
        }
        assert_eq!(field::<char>(b"1 (x) ZX 0", 3), None, "one letter");
    }

    #[test]
    fn this_process_runs_and_a_changed_start_time_does_not() {
        let me = Pid::new(std::process::id() as i32).expect("pid");
        let started = start_time(me).expect("start time");
        assert!(is_running(me, started));
        assert!(!is_running(me, started + 1));
    }

    #[test]
    fn a_zombie_does_not_run() {
        let mut child = std::process::Command::new("/bin/true")
            .spawn()
            .expect("spawn true");
        let pid = Pid::new(i32::try_from(child.id()).expect("pid")).expect("pid");
        let started = start_time(pid).expect("start time");
        // Not reaped: it stays a zombie, under its pid, until the wait below.
        let zombie = (0..1000).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            read_line(pid).is_ok_and(|(_, stat)| field::<char>(&stat, 3) == Some('Z'))
        });
        assert!(zombie, "true did not exit within 5 s");
        assert!(!is_running(pid, started));
        child.wait().expect("reap true");
        assert!(!is_running(pid, started), "reaped");
    }
}
