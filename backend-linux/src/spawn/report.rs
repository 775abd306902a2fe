//! `error` messages for failures between `clone3` and `exec`, formatted
//! before the clone so that the child only has to copy bytes.

use cradle_core::ChildStep;

/// Ends every report: the closing brace and the message's newline.
const SUFFIX: &[u8] = b"}\n";

/// One `error` message, all but its errno: the child writes
/// [`prefix`](Report::prefix), the errno's digits, then [`SUFFIX`].
#[derive(Debug)]
pub(crate) struct Report {
    prefix: Vec<u8>,
}

impl Report {
    /// The report of `message` at `step`.
    pub(crate) fn new(message: &str, step: ChildStep) -> Report {
        // A string always serializes; the fallback keeps the line valid JSON.
        let message = serde_json::to_string(message).unwrap_or_else(|_| "\"\"".to_owned());
        let prefix = format!(r#"{{"type":"error","message":{message},"step":"{step}","errno":"#);
        Report {
            prefix: prefix.into_bytes(),
        }
    }

    /// The three pieces of the message for `errno`, digits in `buf`. No
    /// allocation: safe to call between `clone3` and `exec`.
    pub(crate) fn pieces<'a>(&'a self, errno: i32, buf: &'a mut [u8; 11]) -> [&'a [u8]; 3] {
        [&self.prefix, decimal(errno, buf), SUFFIX]
    }
}

/// The reports the pre-exec child may need.
#[derive(Debug)]
pub(crate) struct Reports {
    pub(crate) place_fds: Report,
    pub(crate) close_inherited: Report,
    pub(crate) deny_core_files: Report,
    pub(crate) parent_death_signal: Report,
    pub(crate) release: Report,
    pub(crate) become_root: Report,
    pub(crate) enter_namespaces: Report,
    pub(crate) enter_root: Report,
    pub(crate) exec: Report,
}

impl Reports {
    /// The reports for a child that `exec`s `init`.
    pub(crate) fn new(init: &str) -> Reports {
        // ChildStep has no step for the time before the init binary runs;
        // `Other` stands in for the two steps that have no match.
        Reports {
            place_fds: Report::new("dup2 of the launch descriptors before exec", ChildStep::Fds),
            close_inherited: Report::new(
                "close_range of the inherited descriptors before exec",
                ChildStep::Fds,
            ),
            deny_core_files: Report::new("prlimit(RLIMIT_CORE, 0) before exec", ChildStep::Rlimits),
            parent_death_signal: Report::new("prctl(PR_SET_PDEATHSIG) before exec", ChildStep::Other),
            release: Report::new("read of the release byte before exec", ChildStep::Other),
            become_root: Report::new(
                "setresgid/setresuid to 0 in the new user namespace (is 0 mapped?)",
                ChildStep::User,
            ),
            enter_namespaces: Report::new(
                "setns(pidfd of the container's init) before exec",
                ChildStep::Setns,
            ),
            enter_root: Report::new(
                "fchdir and chroot to the container's root before exec",
                ChildStep::Setns,
            ),
            exec: Report::new(&format!("execve of the init binary {init}"), ChildStep::Exec),
        }
    }
}

/// `value` in decimal, in `buf`. An errno is never negative; a negative
/// value prints as 0 rather than as garbage.
fn decimal(value: i32, buf: &mut [u8; 11]) -> &[u8] {
    let mut value = value.max(0).unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use cradle_core::framing::{Decoder, Direction, Limits};
    use cradle_core::{ChildError, Message};

    use super::*;

    #[test]
    fn decimal_prints_every_width() {
        let mut buf = [0; 11];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(2, &mut buf), b"2");
        assert_eq!(decimal(133, &mut buf), b"133");
        assert_eq!(decimal(i32::MAX, &mut buf), b"2147483647");
        assert_eq!(decimal(-5, &mut buf), b"0");
    }

    #[test]
    fn a_report_is_a_valid_error_message() {
        let report = Report::new("execve of the init binary /tmp/a \"quoted\"\n", ChildStep::Exec);
        let mut buf = [0; 11];
        let bytes: Vec<u8> = report.pieces(libc::ENOENT, &mut buf).concat();
        let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
        let message = decoder.decode(&mut bytes.as_slice()).expect("decodes");
        let expected = Message::Error(ChildError {
            message: "execve of the init binary /tmp/a \"quoted\"\n".to_owned(),
            step: ChildStep::Exec,
            errno: Some(libc::ENOENT),
        });
        assert_eq!(message, Some(expected));
    }

    #[test]
    fn every_report_decodes() {
        let reports = Reports::new("/proc/self/exe");
        for report in [
            &reports.place_fds,
            &reports.parent_death_signal,
            &reports.release,
            &reports.become_root,
            &reports.enter_namespaces,
            &reports.enter_root,
            &reports.exec,
        ] {
            let mut buf = [0; 11];
            let bytes: Vec<u8> = report.pieces(libc::EBADF, &mut buf).concat();
            let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
            let decoded = decoder.decode(&mut bytes.as_slice());
            assert!(matches!(decoded, Ok(Some(Message::Error(_)))), "{decoded:?}");
        }
    }
}
