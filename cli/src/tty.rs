//! `run -t`: the container's stdio is the slave side of a new
//! pseudo-terminal, made inside the container from its own `/dev/ptmx`
//! (so that `tty` there names `/dev/pts/0` of its devpts); cradle gets the
//! master side over a console channel and relays between it and its own
//! stdin and stdout, with the caller's terminal in raw mode (so that keys
//! like Ctrl-C reach the container's line discipline) and the window size
//! passed on at start and on every `SIGWINCH`. The caller's terminal
//! settings come back when the [`Terminal`] is dropped, however cradle ends.

use std::io::{self, IsTerminal as _, Read as _, Write as _};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};

use cradle_core::WindowSize;
use cradle_linux::console::ConsoleReceiver;

use crate::error::CliError;

/// How long the output left in the terminal is drained after the container
/// exits.
const DRAIN_BOUND: Duration = Duration::from_millis(500);
/// What a terminal in canonical mode takes as end of input (Ctrl-D).
const EOF_CHARACTER: u8 = 4;

/// The master side of the container's terminal, and the caller's terminal
/// settings to restore.
#[derive(Debug)]
pub(crate) struct Terminal {
    master: std::fs::File,
    saved: Option<Termios>,
    stdin_open: bool,
}

/// How long the container's terminal may take to arrive once its launch
/// has reached `ready` (it is sent before, so it is there at once).
const CONSOLE_BOUND: Duration = Duration::from_secs(1);

/// Refuses a terminal relayed to a caller whose stdin is not one (`echo |
/// cradle run -t`), as docker does: the keys of a terminal session could
/// not be typed, and raw mode and the window size would be silently lost.
/// An OCI caller's `--console-socket` takes the terminal instead, so this
/// is only for a terminal cradle relays itself.
pub(crate) fn require_caller_terminal() -> Result<(), CliError> {
    if io::stdin().is_terminal() {
        return Ok(());
    }
    Err(CliError::Usage(
        "--tty: the input device is not a TTY (run without -t, or from a terminal)".to_owned(),
    ))
}

/// The caller's window size, for the terminal the container makes; `None`
/// if stdin is not a terminal.
pub(crate) fn caller_size() -> Option<WindowSize> {
    let size = rustix::termios::tcgetwinsize(io::stdin()).ok()?;
    Some(WindowSize {
        rows: size.ws_row,
        cols: size.ws_col,
    })
}

impl Terminal {
    /// Takes the container's terminal from its console channel and, if
    /// stdin is a terminal, puts stdin in raw mode.
    pub(crate) fn attach(console: ConsoleReceiver) -> Result<Terminal, CliError> {
        let console = console.receive(CONSOLE_BOUND)?;
        tracing::debug!(name = %console.name, "the container's terminal");
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        let terminal = Terminal {
            master: std::fs::File::from(console.master),
            saved,
            stdin_open: true,
        };
        terminal.resize();
        if let Some(saved) = &terminal.saved {
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
                .map_err(CliError::syscall("tcsetattr(stdin, raw)"))?;
        }
        Ok(terminal)
    }

    /// Gives the container's terminal the caller's window size (if stdin
    /// is a terminal).
    pub(crate) fn resize(&self) {
        if let Ok(size) = rustix::termios::tcgetwinsize(io::stdin()) {
            if let Err(error) = rustix::termios::tcsetwinsize(&self.master, size) {
                tracing::debug!(%error, "passing the window size on");
            }
        }
    }

    /// The master side, readable when the container wrote.
    pub(crate) fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// Whether cradle's stdin is still relayed.
    pub(crate) fn reads_stdin(&self) -> bool {
        self.stdin_open
    }

    /// Relays what stdin has to the container. At the end of stdin, sends
    /// the terminal's end-of-file character, as a person typing Ctrl-D. A
    /// failure ends the relaying of input, not the container.
    pub(crate) fn relay_input(&mut self) {
        let mut buf = [0; 4096];
        let read = io::stdin().lock().read(&mut buf);
        let written = match read {
            Ok(0) => {
                self.stdin_open = false;
                self.master.write_all(&[EOF_CHARACTER])
            }
            Ok(n) => self.master.write_all(buf.get(..n).unwrap_or_default()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "reading stdin; no more input goes to the container");
                self.stdin_open = false;
                Ok(())
            }
        };
        if let Err(error) = written {
            tracing::warn!(%error, "writing to the container's terminal");
            self.stdin_open = false;
        }
    }

    /// Relays what the container wrote to stdout; `false` once there is no
    /// more to relay (the container's side is closed, or stdout failed).
    pub(crate) fn relay_output(&mut self) -> bool {
        let mut buf = [0; 4096];
        match self.master.read(&mut buf) {
            // EIO: every slave descriptor is closed.
            Ok(0) => false,
            Err(error) if error.raw_os_error() == Some(Errno::EIO as i32) => false,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => true,
            Err(error) => {
                tracing::warn!(%error, "reading the container's terminal");
                false
            }
            Ok(n) => {
                let mut stdout = io::stdout().lock();
                let written = stdout
                    .write_all(buf.get(..n).unwrap_or_default())
                    .and_then(|()| stdout.flush());
                if let Err(error) = written {
                    tracing::warn!(%error, "writing the container's output to stdout");
                    return false;
                }
                true
            }
        }
    }

    /// After the container exited: relays what is left in the terminal,
    /// for at most [`DRAIN_BOUND`].
    pub(crate) fn drain(&mut self) {
        let deadline = Instant::now() + DRAIN_BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            let timeout =
                PollTimeout::try_from(left.min(Duration::from_millis(20))).unwrap_or(PollTimeout::ZERO);
            match poll(&mut fds, timeout) {
                Ok(0) => return,
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
            if !self.relay_output() || left.is_zero() {
                return;
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}
