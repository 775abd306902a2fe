//! A foreground container: wait for it to exit while passing signals on
//! and relaying its terminal, all from one `poll`.
//!
//! No `SIGCHLD` handler: the process's pidfd becomes readable when it
//! exits, and [`Process::wait_timeout`] reaps it.

use std::os::fd::AsFd;
use std::time::Duration;

use cradle_core::ExitStatus;
use cradle_linux::{Process, Signal};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::CliError;
use crate::signals::Signals;
use crate::tty::Terminal;

/// One round of waiting: a container has no natural end, so the wait is a
/// loop of bounded polls rather than one unbounded one.
const ROUND: Duration = Duration::from_secs(3600);
/// How long one try at ending the container (reaping the init, emptying the
/// cgroup) may take before the loop goes round again.
const END_BOUND: Duration = Duration::from_secs(1);

/// Waits for `process` to exit and reaps it, passing on signals and, with a
/// terminal, relaying it.
pub(crate) fn until_exit(
    process: &mut Process,
    signals: &mut Signals,
    mut terminal: Option<&mut Terminal>,
) -> Result<ExitStatus, CliError> {
    let mut output_open = terminal.is_some();
    loop {
        let reads_stdin = terminal.as_ref().is_some_and(|t| t.reads_stdin());
        let (exited, signalled, output, input) = {
            let mut fds = vec![
                PollFd::new(process.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            if let Some(terminal) = terminal.as_deref() {
                if output_open {
                    fds.push(PollFd::new(terminal.master(), PollFlags::POLLIN));
                }
            }
            let stdin = std::io::stdin();
            if reads_stdin {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::try_from(ROUND).unwrap_or(PollTimeout::MAX)) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(CliError::syscall("poll")(errno)),
            }
            let ready = |fd: &PollFd<'_>| {
                fd.revents().is_some_and(|events| {
                    events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                })
            };
            let mut rest = fds.iter().skip(2);
            let output = output_open && rest.next().is_some_and(ready);
            let input = reads_stdin && rest.next().is_some_and(ready);
            (ready(&fds[0]), ready(&fds[1]), output, input)
        };
        if signalled {
            while let Some(signal) = signals.next()? {
                pass_on(process, terminal.as_deref(), signal);
            }
        }
        if let Some(terminal) = terminal.as_deref_mut() {
            if output {
                output_open = terminal.relay_output();
            }
            if input {
                terminal.relay_input();
            }
        }
        if exited {
            // The init has exited: what is left in the container is killed
            // and waited for, after which nothing needs passing on.
            if let Some(status) = process.wait_timeout(END_BOUND)? {
                if let Some(terminal) = terminal.as_deref_mut() {
                    terminal.drain();
                }
                return Ok(status);
            }
        }
    }
}

/// `SIGWINCH` resizes the container's terminal; the others go to its init.
fn pass_on(process: &Process, terminal: Option<&Terminal>, signal: Signal) {
    if signal == Signal::SIGWINCH {
        if let Some(terminal) = terminal {
            terminal.resize();
        }
        return;
    }
    tracing::debug!(?signal, pid = %process.pid(), "passing a signal on to the container's init");
    // It may have exited already; its exit is what comes next.
    if let Err(error) = process.signal(signal) {
        tracing::debug!(%error, ?signal, "passing a signal on");
    }
}
