//! The signals cradle passes on to the container's init, read from a
//! signalfd: they are blocked in cradle (so they never kill it half-way
//! through a launch or a cleanup) and picked up in the same `poll` that
//! watches the container. The container's init unblocks every signal before
//! it `exec`s, so the mask set here does not leak into the container.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::CliError;

/// Passed on to the init, as docker and podman do.
pub(crate) const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The forwarded signals, and `SIGWINCH` for a terminal, as a readable fd.
#[derive(Debug)]
pub(crate) struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks [`FORWARDED`] (and `SIGWINCH`) and opens a signalfd for them.
    /// Call it before the launch: a Ctrl-C during the launch is then passed
    /// on once the container runs, instead of killing cradle.
    pub(crate) fn block() -> Result<Signals, CliError> {
        let mut set = SigSet::empty();
        for signal in FORWARDED {
            set.add(signal);
        }
        set.add(Signal::SIGWINCH);
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
            .map_err(CliError::syscall("sigprocmask(SIG_BLOCK)"))?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(CliError::syscall("signalfd"))?;
        Ok(Signals { fd })
    }

    /// The next pending signal, if any, as the container is sent it;
    /// never blocks.
    pub(crate) fn next(&mut self) -> Result<Option<cradle_linux::Signal>, CliError> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Ok(i32::try_from(info.ssi_signo)
                .ok()
                .and_then(cradle_linux::Signal::from_number)),
            Ok(None) => Ok(None),
            Err(errno) => Err(CliError::syscall("read(signalfd)")(errno)),
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
