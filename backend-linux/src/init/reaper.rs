//! Pid 1 as a small reaper ([`Config::reaper`]): at the `exec` point the
//! init forks; the child `exec`s the command as an init without a reaper
//! would, and the init stays behind to pass every signal it gets on to the
//! command and to reap every child that exits (the command's orphans, which
//! the kernel hands to pid 1), until the command exits. Then the reaper
//! exits as the command did.
//!
//! Why: the kernel drops a signal sent to the init of a pid namespace that
//! has no handler for it (from inside the namespace, and from outside for
//! all but `SIGKILL` and `SIGSTOP`), so a command that is pid 1 ignores
//! `SIGINT` and `SIGTERM` unless it handles them. The reaper blocks every
//! signal and takes them with `rt_sigtimedwait`: a blocked signal is
//! queued, never dropped.
//!
//! The seccomp filter and the capabilities apply to the reaper as to the
//! command (they were set before the fork). Its loop needs only
//! `rt_sigtimedwait`, `kill`, `wait4` and `exit_group`, which cradle's
//! default profile allows every process, and allocates nothing.

use std::ffi::CStr;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::unistd::{self, ForkResult, Pid};

use cradle_core::{ChildError, ChildStep, Config};

use super::failed;
use crate::sys;

/// What `ps` shows for the reaper (its `comm`: at most 15 bytes).
const NAME: &CStr = c"cradle-reaper";

/// The side of the fork this process is on.
#[derive(Debug)]
pub(super) enum Side {
    /// The command's process: it goes on to `exec` the command.
    Command,
    /// The reaper, with the command's pid.
    Reaper(Pid),
}

/// Forks the command's process off the init.
///
/// Before the fork the init names itself, becomes a child subreaper when
/// it is not pid 1 (no pid namespace of its own: orphans would go past it)
/// and blocks every signal, so that none is dropped or acted on before the
/// reaper waits for them. The command's process gets a process group of
/// its own, made the terminal's foreground group when there is one (so
/// that the terminal's `^C` reaches the command once, not the reaper too),
/// and the signal mask the init had.
pub(super) fn fork(config: &Config) -> Result<Side, ChildError> {
    let step = ChildStep::Exec;
    prctl::set_name(NAME).map_err(failed(step, "prctl(PR_SET_NAME)"))?;
    if unistd::getpid() != Pid::from_raw(1) {
        prctl::set_child_subreaper(true).map_err(failed(step, "prctl(PR_SET_CHILD_SUBREAPER)"))?;
    }
    let mask = sys::set_signal_mask(sys::ALL_SIGNALS).map_err(failed(step, "rt_sigprocmask(all)"))?;
    // SAFETY: the init is single-threaded (no thread is ever started in
    // it), so the child is a whole copy of it, free to allocate, report
    // over the launch socket and `exec` as the init would.
    match unsafe { unistd::fork() }.map_err(failed(step, "fork of the command"))? {
        ForkResult::Parent { child } => Ok(Side::Reaper(child)),
        ForkResult::Child => {
            unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))
                .map_err(failed(step, "setpgid of the command"))?;
            if config.terminal.is_some() {
                // Allowed from a background group while SIGTTOU is blocked.
                unistd::tcsetpgrp(std::io::stdin(), unistd::getpid())
                    .map_err(failed(step, "tcsetpgrp of the command on stdin"))?;
            }
            sys::set_signal_mask(mask).map_err(failed(step, "rt_sigprocmask(restore)"))?;
            Ok(Side::Command)
        }
    }
}

/// The reaper's loop, until `command` exits; then the reaper exits with
/// the command's exit code, or with 128+N if signal N killed it (as a
/// shell reports it: pid 1 cannot be killed by a signal it sends itself).
///
/// The caller has closed its launch socket; the reaper closes every other
/// descriptor it still has, stdio included, as it reads and writes
/// nothing: a pipe the command closes ends at its reader, and no
/// descriptor of the host's stays open in the container for as long as it
/// runs.
pub(super) fn reap(command: Pid) -> ! {
    // SAFETY: the reaper never returns and exits with `_exit`, so no
    // descriptor owner of the init's is used or dropped after this. It
    // cannot fail on these arguments, and nothing would need it to.
    let _ = unsafe { sys::close_from(0) };
    let command = command.as_raw();
    loop {
        match sys::wait_signal(sys::ALL_SIGNALS) {
            Ok(libc::SIGCHLD) => {
                if let Some(status) = reap_exited(command) {
                    sys::exit_now(exit_code(status));
                }
            }
            Ok(signal) => {
                // ESRCH: the command has exited, and its SIGCHLD is next.
                let _ = sys::kill_number(command, signal);
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            // A seccomp profile of the user's that refuses the wait: the
            // signals cannot be passed on, but the children can still be
            // reaped, and the command's end still ends the container.
            Err(_) => sys::exit_now(exit_code(reap_until(command))),
        }
    }
}

/// Reaps every child that has exited so far; the command's wait status if
/// it was one of them.
fn reap_exited(command: libc::pid_t) -> Option<libc::c_int> {
    let mut command_status = None;
    // Until none is left to reap now (`None`), or none at all (`ECHILD`).
    while let Ok(Some((pid, status))) = sys::reap_child(false) {
        if pid == command {
            command_status = Some(status);
        }
    }
    command_status
}

/// Reaps children, blocking, until the command has exited; its wait
/// status.
fn reap_until(command: libc::pid_t) -> libc::c_int {
    loop {
        match sys::reap_child(true) {
            Ok(Some((pid, status))) if pid == command => return status,
            Ok(_) | Err(Errno::EINTR) => {}
            // No child left, yet the command was not seen to exit: nothing
            // can tell how it ended.
            Err(_) => return EXIT_LOST << 8,
        }
    }
}

/// The exit code of a reaper whose command's status was lost.
const EXIT_LOST: libc::c_int = 125;

/// The reaper's exit code for a command that ended with wait status
/// `status`: its exit code, or 128+N if signal N killed it.
fn exit_code(status: libc::c_int) -> libc::c_int {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::Command;

    use super::*;

    /// The wait status of `sh -c script`, as the kernel reports it.
    fn wait_status(script: &str) -> libc::c_int {
        Command::new("/bin/sh")
            .args(["-c", script])
            .status()
            .expect("run sh")
            .into_raw()
    }

    #[test]
    fn an_exit_code_passes_through() {
        assert_eq!(exit_code(wait_status("exit 0")), 0);
        assert_eq!(exit_code(wait_status("exit 3")), 3);
        assert_eq!(exit_code(wait_status("exit 255")), 255);
    }

    #[test]
    fn a_signal_gives_128_plus_its_number() {
        // Not SIGINT: a test run in the background may have it ignored.
        assert_eq!(exit_code(wait_status("kill -TERM $$")), 143);
        assert_eq!(exit_code(wait_status("kill -KILL $$")), 137);
        let rt = libc::SIGRTMIN() + 1;
        assert_eq!(exit_code(wait_status(&format!("kill -{rt} $$"))), 128 + rt);
    }
}
