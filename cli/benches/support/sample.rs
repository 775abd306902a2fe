//! Whole processes, timed: wall time on the monotonic clock from before the
//! spawn (fork and exec) to after the reap, and the user+sys CPU time of
//! the process and of everything it reaped.
//!
//! The CPU time is the growth of `getrusage(RUSAGE_CHILDREN)` across the
//! reap: the kernel adds a reaped child's times, with those of the
//! descendants it reaped, to its parent's children counters, so with one
//! child at a time the growth is what `wait4` reports for that child.

use std::fs::File;
use std::io::{Read as _, Seek as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;

use super::error::BenchError;

/// One run of a process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// From before the spawn to after the reap.
    pub(crate) wall: Duration,
    /// User+sys of the process and of what it reaped.
    pub(crate) cpu: Duration,
}

/// A file that takes one run's stderr at a time, to say why it failed.
#[derive(Debug)]
pub(crate) struct ErrorLog {
    file: File,
}

impl ErrorLog {
    /// A new log at `path`.
    pub(crate) fn create(path: &Path) -> Result<ErrorLog, BenchError> {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(BenchError::io(path))?;
        Ok(ErrorLog { file })
    }

    fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()
    }

    fn contents(&mut self) -> String {
        let mut text = String::new();
        let _ = self.file.rewind();
        let _ = self.file.read_to_string(&mut text);
        text.trim().to_owned()
    }
}

/// The command line of `command`, for messages.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` to its end (stdin and stdout `/dev/null`, stderr into
/// `errors`) and times it; a failed run is an error with its stderr.
pub(crate) fn timed(command: &mut Command, errors: &mut ErrorLog) -> Result<Sample, BenchError> {
    let log = |source| BenchError::Spawn {
        command: describe(command),
        source,
    };
    errors.clear().map_err(log)?;
    let stderr = errors.file.try_clone().map_err(log)?;
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
    let cpu_before = children_cpu();
    let start = Instant::now();
    let status = command
        .spawn()
        .and_then(|mut child| child.wait())
        .map_err(|source| BenchError::Spawn {
            command: describe(command),
            source,
        })?;
    let wall = start.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    if status.success() {
        Ok(Sample { wall, cpu })
    } else {
        Err(BenchError::Failed {
            command: describe(command),
            status,
            stderr: errors.contents(),
        })
    }
}

/// Runs `command` to its end with stdin `/dev/null` and returns its stdout;
/// a failed run is an error with its stderr.
pub(crate) fn output(command: &mut Command) -> Result<String, BenchError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BenchError::Spawn {
            command: describe(command),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(BenchError::Failed {
            command: describe(command),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// User+sys time of every child reaped so far.
pub(crate) fn children_cpu() -> Duration {
    cpu_time(UsageWho::RUSAGE_CHILDREN)
}

/// User+sys time of `who` so far (this process, all its threads; or the
/// children it reaped).
pub(crate) fn cpu_time(who: UsageWho) -> Duration {
    // getrusage fails only for an unknown `who`.
    let Ok(usage) = getrusage(who) else {
        return Duration::ZERO;
    };
    let of = |t: TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    of(usage.user_time()) + of(usage.system_time())
}
