//! A process found again from a state file: is it still the container's
//! init (same pid *and* start time), and a pidfd to signal and watch it.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags};

use crate::error::CliError;

/// What `/proc/<pid>/stat` says of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    /// Field 3: `R`, `S`, `Z`, ...
    state: u8,
    /// Field 22: clock ticks since boot.
    start_time: u64,
}

/// Reads `pid`'s stat line; `None` when there is no such process.
fn stat(pid: i32) -> Option<Stat> {
    let line = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&line)
}

/// The command name (field 2) is in parentheses and may hold anything, so
/// fields are counted from the last `)`.
fn parse_stat(line: &[u8]) -> Option<Stat> {
    let after_name = line.iter().rposition(|&b| b == b')')? + 1;
    let mut fields = line
        .get(after_name..)?
        .split(u8::is_ascii_whitespace)
        .filter(|field| !field.is_empty());
    let state = *fields.next()?.first()?;
    // Field 3 was the first; field 22 is 19 further on.
    let start_time = std::str::from_utf8(fields.nth(22 - 4)?).ok()?.parse().ok()?;
    Some(Stat { state, start_time })
}

/// When the live process `pid` started.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|stat| stat.start_time)
}

/// Whether the process `pid` that started at `start_time` is alive: not
/// gone, not a zombie, and not another process that got its pid since.
pub(crate) fn is_running(pid: i32, start_time: u64) -> bool {
    stat(pid).is_some_and(|stat| stat.start_time == start_time && !matches!(stat.state, b'Z' | b'X'))
}

/// A container's init, held by a pidfd opened while it was checked to be
/// the recorded process: nothing sent through it can reach a process that
/// reused the pid.
#[derive(Debug)]
pub(crate) struct Init {
    pidfd: OwnedFd,
}

impl Init {
    /// The init `pid` that started at `start_time`, if it still runs.
    pub(crate) fn find(pid: i32, start_time: u64) -> Result<Option<Init>, CliError> {
        let Some(raw) = Pid::from_raw(pid) else {
            return Ok(None);
        };
        let pidfd = match pidfd_open(raw, PidfdFlags::empty()) {
            Ok(pidfd) => pidfd,
            Err(rustix::io::Errno::SRCH) => return Ok(None),
            Err(errno) => {
                return Err(CliError::Syscall {
                    call: "pidfd_open",
                    source: errno.into(),
                })
            }
        };
        // Checked after the open: if the pid is the container's now, the
        // pidfd is the container's for good.
        Ok(is_running(pid, start_time).then_some(Init { pidfd }))
    }

    /// Sends `signal`; a process that has just exited is not an error.
    pub(crate) fn signal(&self, signal: Signal) -> Result<(), CliError> {
        let Some(signal) = rustix::process::Signal::from_named_raw(signal as i32) else {
            return Err(CliError::Usage(format!("signal {signal} cannot be sent")));
        };
        match pidfd_send_signal(&self.pidfd, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(errno) => Err(CliError::Syscall {
                call: "pidfd_send_signal",
                source: errno.into(),
            }),
        }
    }

    /// Waits up to `timeout` for it to exit; whether it did.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> Result<bool, CliError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(CliError::syscall("poll(pidfd)")(errno)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names() {
        for name in ["sleep", "a b", ") 1 2 (", ""] {
            let line = format!(
                "42 ({name}) Z 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 \
                 2396160 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
            );
            assert_eq!(
                parse_stat(line.as_bytes()),
                Some(Stat {
                    state: b'Z',
                    start_time: 777
                }),
                "{name:?}"
            );
        }
        assert_eq!(parse_stat(b"1 (x) S 0"), None);
    }

    #[test]
    fn this_process_runs_and_a_changed_start_time_does_not() {
        let me = std::process::id() as i32;
        let started = stat(me).expect("own stat").start_time;
        assert!(is_running(me, started));
        assert!(!is_running(me, started + 1));
    }
}
