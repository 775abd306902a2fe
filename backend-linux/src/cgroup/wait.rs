//! Waiting for a cgroup to change, always with a deadline: woken by the
//! kernel on v2 (`cgroup.events`), by bounded polling on v1.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::error::CgroupError;
use super::fs::keyed_value;
use super::hierarchy::Hierarchy;

/// Longest sleep between two v1 checks.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(16);
/// Longest wait on `cgroup.events` before reading it again anyway: a guard
/// against a missed notification, not the way changes are seen.
const EVENTS_RECHECK: Duration = Duration::from_millis(250);

/// Waits until `key` in the v2 directory's `cgroup.events` reads `want`.
/// The kernel flags the file for `POLLPRI` whenever it changes.
pub(crate) fn wait_for_event(
    dir: &Path,
    key: &str,
    want: &str,
    what: &'static str,
    deadline: Instant,
) -> Result<(), CgroupError> {
    let hierarchy = Hierarchy::V2;
    let path = dir.join("cgroup.events");
    let read_error = |source| CgroupError::Read {
        hierarchy: Hierarchy::V2,
        path: path.clone(),
        source,
    };
    let mut file = File::open(&path).map_err(|source| CgroupError::Open {
        hierarchy: hierarchy.clone(),
        path: path.clone(),
        source,
    })?;
    let mut text = String::new();
    loop {
        // Reading re-arms the notification: read, then poll.
        text.clear();
        file.seek(SeekFrom::Start(0)).map_err(read_error)?;
        file.read_to_string(&mut text).map_err(read_error)?;
        match keyed_value(&text, key) {
            Some(value) if value == want => return Ok(()),
            Some(_) => {}
            None => {
                return Err(CgroupError::Malformed {
                    hierarchy,
                    path,
                    content: text,
                })
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(CgroupError::Timeout {
                hierarchy,
                path,
                what,
            });
        }
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
        match poll(&mut fds, poll_timeout(remaining.min(EVENTS_RECHECK))) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(read_error(errno.into())),
        }
    }
}

/// Calls `done` until it says yes or `deadline` passes, sleeping between
/// calls (1 ms, doubling up to 16 ms). `Ok(false)` when time ran out.
pub(crate) fn poll_until(
    deadline: Instant,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let mut interval = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(true);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(false);
        }
        std::thread::sleep(interval.min(remaining));
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// `duration` in whole milliseconds, rounded up so that a wait never ends
/// before the deadline it was computed from.
fn poll_timeout(duration: Duration) -> PollTimeout {
    let millis = duration.as_micros().div_ceil(1000);
    PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(poll_timeout(Duration::from_micros(1)), PollTimeout::from(1u16));
        assert_eq!(
            poll_timeout(Duration::from_millis(250)),
            PollTimeout::from(250u16)
        );
        assert_eq!(poll_timeout(Duration::from_secs(1 << 40)), PollTimeout::MAX);
    }

    #[test]
    fn polling_stops_at_the_deadline() {
        let start = Instant::now();
        let mut calls = 0;
        let done = poll_until(start + Duration::from_millis(20), || {
            calls += 1;
            Ok(false)
        });
        assert!(!done.expect("no error"));
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(calls >= 2, "checked again before giving up ({calls} calls)");
    }

    #[test]
    fn polling_ends_as_soon_as_done() {
        let mut calls = 0;
        let done = poll_until(Instant::now() + Duration::from_secs(5), || {
            calls += 1;
            Ok(calls == 3)
        });
        assert!(done.expect("no error"));
        assert_eq!(calls, 3);
    }
}
