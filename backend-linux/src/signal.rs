//! [`Signal`]: a signal number, named as `kill -l` names it.

use std::fmt;

/// A signal the kernel can deliver: one of the standard signals
/// (`Signal::SIGTERM`), or a real-time one by number (glibc's and Go's
/// `SIGRTMIN+n`, up to `SIGRTMAX`). Its own type rather than nix's, so that
/// this crate's API does not tie its callers to a nix version; and nix's
/// has no real-time signals, which a container's init may well handle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// The standard signals, by name.
const STANDARD: &[(&str, Signal)] = &[
    ("SIGHUP", Signal::SIGHUP),
    ("SIGINT", Signal::SIGINT),
    ("SIGQUIT", Signal::SIGQUIT),
    ("SIGILL", Signal::SIGILL),
    ("SIGTRAP", Signal::SIGTRAP),
    ("SIGABRT", Signal::SIGABRT),
    ("SIGBUS", Signal::SIGBUS),
    ("SIGFPE", Signal::SIGFPE),
    ("SIGKILL", Signal::SIGKILL),
    ("SIGUSR1", Signal::SIGUSR1),
    ("SIGSEGV", Signal::SIGSEGV),
    ("SIGUSR2", Signal::SIGUSR2),
    ("SIGPIPE", Signal::SIGPIPE),
    ("SIGALRM", Signal::SIGALRM),
    ("SIGTERM", Signal::SIGTERM),
    #[cfg(not(any(
        target_arch = "mips",
        target_arch = "mips32r6",
        target_arch = "mips64",
        target_arch = "mips64r6",
        target_arch = "sparc64"
    )))]
    ("SIGSTKFLT", Signal::SIGSTKFLT),
    ("SIGCHLD", Signal::SIGCHLD),
    ("SIGCONT", Signal::SIGCONT),
    ("SIGSTOP", Signal::SIGSTOP),
    ("SIGTSTP", Signal::SIGTSTP),
    ("SIGTTIN", Signal::SIGTTIN),
    ("SIGTTOU", Signal::SIGTTOU),
    ("SIGURG", Signal::SIGURG),
    ("SIGXCPU", Signal::SIGXCPU),
    ("SIGXFSZ", Signal::SIGXFSZ),
    ("SIGVTALRM", Signal::SIGVTALRM),
    ("SIGPROF", Signal::SIGPROF),
    ("SIGWINCH", Signal::SIGWINCH),
    ("SIGIO", Signal::SIGIO),
    ("SIGPWR", Signal::SIGPWR),
    ("SIGSYS", Signal::SIGSYS),
];

impl Signal {
    /// Hangup.
    pub const SIGHUP: Signal = Signal(libc::SIGHUP);
    /// Interrupt (Ctrl-C).
    pub const SIGINT: Signal = Signal(libc::SIGINT);
    /// Quit (Ctrl-\\).
    pub const SIGQUIT: Signal = Signal(libc::SIGQUIT);
    /// Illegal instruction.
    pub const SIGILL: Signal = Signal(libc::SIGILL);
    /// Trace or breakpoint trap.
    pub const SIGTRAP: Signal = Signal(libc::SIGTRAP);
    /// Abort.
    pub const SIGABRT: Signal = Signal(libc::SIGABRT);
    /// Bus error.
    pub const SIGBUS: Signal = Signal(libc::SIGBUS);
    /// Arithmetic exception.
    pub const SIGFPE: Signal = Signal(libc::SIGFPE);
    /// Kill: cannot be caught or ignored.
    pub const SIGKILL: Signal = Signal(libc::SIGKILL);
    /// User-defined 1.
    pub const SIGUSR1: Signal = Signal(libc::SIGUSR1);
    /// Invalid memory reference.
    pub const SIGSEGV: Signal = Signal(libc::SIGSEGV);
    /// User-defined 2.
    pub const SIGUSR2: Signal = Signal(libc::SIGUSR2);
    /// Write to a pipe with no reader.
    pub const SIGPIPE: Signal = Signal(libc::SIGPIPE);
    /// Timer from `alarm`.
    pub const SIGALRM: Signal = Signal(libc::SIGALRM);
    /// Termination.
    pub const SIGTERM: Signal = Signal(libc::SIGTERM);
    /// Stack fault on a coprocessor (unused).
    #[cfg(not(any(
        target_arch = "mips",
        target_arch = "mips32r6",
        target_arch = "mips64",
        target_arch = "mips64r6",
        target_arch = "sparc64"
    )))]
    pub const SIGSTKFLT: Signal = Signal(libc::SIGSTKFLT);
    /// A child stopped or ended.
    pub const SIGCHLD: Signal = Signal(libc::SIGCHLD);
    /// Continue if stopped.
    pub const SIGCONT: Signal = Signal(libc::SIGCONT);
    /// Stop: cannot be caught or ignored.
    pub const SIGSTOP: Signal = Signal(libc::SIGSTOP);
    /// Stop from the terminal (Ctrl-Z).
    pub const SIGTSTP: Signal = Signal(libc::SIGTSTP);
    /// Terminal input for a background process.
    pub const SIGTTIN: Signal = Signal(libc::SIGTTIN);
    /// Terminal output for a background process.
    pub const SIGTTOU: Signal = Signal(libc::SIGTTOU);
    /// Urgent data on a socket.
    pub const SIGURG: Signal = Signal(libc::SIGURG);
    /// CPU time limit exceeded.
    pub const SIGXCPU: Signal = Signal(libc::SIGXCPU);
    /// File size limit exceeded.
    pub const SIGXFSZ: Signal = Signal(libc::SIGXFSZ);
    /// Virtual timer expired.
    pub const SIGVTALRM: Signal = Signal(libc::SIGVTALRM);
    /// Profiling timer expired.
    pub const SIGPROF: Signal = Signal(libc::SIGPROF);
    /// The terminal's window size changed.
    pub const SIGWINCH: Signal = Signal(libc::SIGWINCH);
    /// I/O is possible.
    pub const SIGIO: Signal = Signal(libc::SIGIO);
    /// Power failure.
    pub const SIGPWR: Signal = Signal(libc::SIGPWR);
    /// Bad system call (and seccomp's `SCMP_ACT_TRAP`).
    pub const SIGSYS: Signal = Signal(libc::SIGSYS);

    /// The signal numbered `number`: 1 to `SIGRTMAX` (64 on most
    /// architectures). `None` for 0, which is no signal, and for anything
    /// outside that range.
    pub fn from_number(number: i32) -> Option<Signal> {
        (1..=libc::SIGRTMAX()).contains(&number).then_some(Signal(number))
    }

    /// The signal called `name`, in any case, with or without the `SIG`
    /// prefix: `SIGTERM`, `term`; real-time ones as `RTMIN`, `RTMIN+3`,
    /// `RTMAX-2`, `RTMAX`. `None` for any other name.
    pub fn from_name(name: &str) -> Option<Signal> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, signal)) = STANDARD.iter().find(|(known, _)| known[3..] == *bare) {
            return Some(signal);
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let number = match bare {
            "RTMIN" => min,
            "RTMAX" => max,
            _ => {
                if let Some(offset) = bare.strip_prefix("RTMIN+") {
                    min.checked_add(plain_number(offset)?)?
                } else {
                    max.checked_sub(plain_number(bare.strip_prefix("RTMAX-")?)?)?
                }
            }
        };
        (min..=max).contains(&number).then_some(Signal(number))
    }

    /// The signal's number, as `kill(2)` takes it.
    pub fn number(self) -> i32 {
        self.0
    }

    /// The standard name, `SIGTERM`; `None` for a real-time signal, which
    /// has only a number (`Display` writes it as `SIGRTMIN+n`).
    pub fn name(self) -> Option<&'static str> {
        STANDARD
            .iter()
            .find(|(_, signal)| *signal == self)
            .map(|&(name, _)| name)
    }
}

/// Decimal digits only: `+3` and ` 3` are not offsets.
fn plain_number(digits: &str) -> Option<i32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl fmt::Display for Signal {
    /// `SIGTERM`; `SIGRTMIN+3` or `SIGRTMAX` for a real-time signal;
    /// `SIG32` for the two below glibc's `SIGRTMIN`, which glibc keeps for
    /// itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.name() {
            return f.write_str(name);
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        match self.0 {
            number if number == max => f.write_str("SIGRTMAX"),
            number if number == min => f.write_str("SIGRTMIN"),
            number if number > min => write!(f, "SIGRTMIN+{}", number - min),
            number => write!(f, "SIG{number}"),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} ({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_signals_go_by_name_and_number() {
        for name in ["SIGTERM", "TERM", "term", "SigTerm"] {
            assert_eq!(Signal::from_name(name), Some(Signal::SIGTERM), "{name}");
        }
        assert_eq!(Signal::from_number(9), Some(Signal::SIGKILL));
        assert_eq!(Signal::SIGUSR1.number(), libc::SIGUSR1);
        assert_eq!(Signal::SIGKILL.name(), Some("SIGKILL"));
        assert_eq!(Signal::SIGWINCH.to_string(), "SIGWINCH");
        assert_eq!(format!("{:?}", Signal::SIGTERM), "SIGTERM (15)");
        for &(name, signal) in STANDARD {
            assert_eq!(signal.name(), Some(name));
            assert_eq!(Signal::from_name(name), Some(signal));
            assert_eq!(Signal::from_name(&name[3..]), Some(signal));
            assert_eq!(Signal::from_number(signal.number()), Some(signal));
        }
    }

    #[test]
    fn real_time_signals_go_by_number_and_offset() {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let third = Signal::from_number(min + 3).expect("SIGRTMIN+3");
        assert_eq!(third.name(), None);
        assert_eq!(third.to_string(), "SIGRTMIN+3");
        assert_eq!(Signal::from_name("RTMIN+3"), Some(third));
        assert_eq!(Signal::from_name("sigrtmin+3"), Some(third));
        assert_eq!(Signal::from_name("RTMIN").map(Signal::number), Some(min));
        assert_eq!(Signal::from_name("SIGRTMAX").map(Signal::number), Some(max));
        assert_eq!(Signal::from_name("RTMAX-1").map(Signal::number), Some(max - 1));
        assert_eq!(
            Signal::from_number(max).map(|s| s.to_string()).as_deref(),
            Some("SIGRTMAX")
        );
        // Below glibc's SIGRTMIN: valid to the kernel, nameless.
        assert_eq!(
            Signal::from_number(32).map(|s| s.to_string()).as_deref(),
            Some("SIG32")
        );
    }

    #[test]
    fn unknown_names_and_numbers_are_refused() {
        for name in [
            "", "SIG", "NOPE", "SIGTERMX", "15", "RTMIN+", "RTMIN++1", "RTMIN+ 1", "RTMIN+99", "RTMAX-99",
            "RTMAX+1",
        ] {
            assert_eq!(Signal::from_name(name), None, "{name:?}");
        }
        for number in [0, -9, libc::SIGRTMAX() + 1, i32::MAX] {
            assert_eq!(Signal::from_number(number), None, "{number}");
        }
    }
}
