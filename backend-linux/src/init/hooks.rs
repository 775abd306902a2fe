//! The OCI hooks the child runs itself, inside the container's namespaces
//! ([`Config::hooks`]): `createContainer` before the pivot, where their
//! paths resolve in the runtime's filesystem, and `startContainer` just
//! before `exec`, in the container's. Each gets the state document on
//! stdin and must exit 0 within its timeout.

use std::os::fd::{AsFd as _, BorrowedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cradle_core::{ChildError, ChildStep, Config, HookStage};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd;

use super::refused;
use crate::sys;

/// This process's pid as the runtime's pid namespace numbers it: read
/// from the launcher's `/proc` before the init joins a mount namespace or
/// mounts anything, for the state document.
static RUNTIME_PID: OnceLock<Option<i64>> = OnceLock::new();

/// How often a running hook is looked at.
const POLL: Duration = Duration::from_millis(5);

/// Notes this process's pid in the runtime's pid namespace, while `/proc`
/// is still the launcher's (before the init joins a mount namespace or
/// mounts anything). Nothing for a config without hooks.
pub(super) fn remember_runtime_pid(config: &Config) {
    if config.hooks.is_empty() {
        return;
    }
    RUNTIME_PID.get_or_init(|| {
        std::fs::read_link("/proc/self")
            .ok()
            .and_then(|link| link.to_str()?.parse().ok())
    });
}

/// Runs the hooks of `stage`, in order, as step `step`; the first that
/// fails fails the step, naming it.
pub(super) fn run(config: &Config, stage: HookStage, step: ChildStep) -> Result<(), ChildError> {
    let hooks: Vec<_> = config.hooks.iter().filter(|hook| hook.stage == stage).collect();
    if hooks.is_empty() {
        return Ok(());
    }
    let (name, status) = match stage {
        HookStage::CreateContainer => ("createContainer", "creating"),
        HookStage::StartContainer => ("startContainer", "created"),
    };
    let state = state_document(config, status);
    // A hook has this process's gid as its real one too, not a gid apart
    // (`spawn::real_gid`), which would make its `exec` a secure one; and
    // no signal blocked (an init born among a pid namespace's processes
    // has every one blocked until its command's `exec`). The gid apart
    // ends at the user step, before startContainer hooks, which run under
    // the container's seccomp filter: nothing to ask of the kernel there.
    // Where it is held (an init born among a pid namespace's processes),
    // those processes can change a hook's limits as they could the
    // init's, and have the kernel write its core (a program of the
    // runtime's filesystem) in its working directory, the container's
    // rootfs: such a hook gets no core file size, hard limit too, which
    // only `CAP_SYS_RESOURCE` could raise again.
    let own_gid = match stage {
        HookStage::CreateContainer => {
            let gids =
                unistd::getresgid().map_err(|errno| refused(step, format!("getresgid: {}", errno.desc())))?;
            (gids.real != gids.effective).then_some(gids.effective.as_raw())
        }
        HookStage::StartContainer => None,
    };
    for hook in hooks {
        let what = format!("{name} hook {}", hook.path.display());
        let mut command = Command::new(&hook.path);
        if let Some((first, rest)) = hook.args.split_first() {
            command.arg0(first).args(rest);
        }
        command
            .env_clear()
            .envs(hook.env.iter().filter_map(|entry| entry.split_once('=')));
        // SAFETY: the closure runs in the forked child before its `exec`,
        // and makes raw system calls only, async-signal-safe, touching no
        // memory but its own stack.
        unsafe {
            command.pre_exec(move || {
                if let Some(gid) = own_gid {
                    sys::set_core_limit(&[0, 0])?;
                    sys::set_thread_real_gid(gid)?;
                }
                sys::set_signal_mask(0)?;
                Ok(())
            });
        }
        let mut child = command
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|error| io_refused(step, &what, &error))?;
        let deadline = hook
            .timeout
            .map(|secs| Instant::now() + Duration::from_secs(secs.into()));
        let handed = child
            .stdin
            .take()
            .is_none_or(|stdin| hand_state(stdin, &state, deadline));
        let status = match handed {
            true => wait(&mut child, deadline).map_err(|error| io_refused(step, &what, &error))?,
            false => None,
        };
        match status {
            Some(status) if status.success() => {}
            Some(status) => return Err(refused(step, format!("{what}: {status}"))),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let secs = hook.timeout.unwrap_or_default();
                return Err(refused(
                    step,
                    format!("{what}: still running after its timeout of {secs} s"),
                ));
            }
        }
    }
    Ok(())
}

/// Writes the state document to a hook's stdin, by `deadline`: false if it
/// passed first (the hook neither reads it nor ends). A hook that does not
/// read it is not wrong, nor is the `EPIPE` of the write: its `SIGPIPE`
/// is blocked for the write and taken off the pending ones after, so that
/// it neither kills this process (after the command's preparation, every
/// signal has its default action) nor stays pending (before it, every
/// signal may be blocked) for that preparation to deliver.
fn hand_state(stdin: ChildStdin, state: &str, deadline: Option<Instant>) -> bool {
    let sigpipe = 1 << (libc::SIGPIPE - 1);
    let mask = sys::block_signals(sigpipe);
    let handed = write_by(stdin.as_fd(), state.as_bytes(), deadline);
    let _ = sys::take_pending_signal(sigpipe);
    if let Ok(mask) = mask {
        let _ = sys::set_signal_mask(mask);
    }
    handed
}

/// Writes `bytes` to the pipe `fd`, by `deadline`: false if it passed
/// first. A reader gone ends the write as done. Where the pipe cannot be
/// made non-blocking or polled (a seccomp filter may refuse the calls to
/// a startContainer hook's init), the write blocks, and only the launch's
/// deadline bounds it.
fn write_by(fd: BorrowedFd<'_>, mut bytes: &[u8], deadline: Option<Instant>) -> bool {
    let mut bounded = fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).is_ok();
    while !bytes.is_empty() {
        match unistd::write(fd, bytes) {
            Ok(written) => bytes = bytes.get(written..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) if bounded => {
                let timeout = match deadline {
                    None => PollTimeout::NONE,
                    Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                        Some(left) => PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
                        None => return false,
                    },
                };
                match poll(&mut [PollFd::new(fd, PollFlags::POLLOUT)], timeout) {
                    Ok(0) => return false,
                    Ok(_) | Err(Errno::EINTR) => {}
                    // Blocking from here; where even that cannot be set,
                    // the hook gets what was written.
                    Err(_) => match fcntl(fd, FcntlArg::F_SETFL(OFlag::empty())) {
                        Ok(_) => bounded = false,
                        Err(_) => return true,
                    },
                }
            }
            Err(_) => return true,
        }
    }
    true
}

/// The config's state document with this process's pid and `status`.
fn state_document(config: &Config, status: &str) -> String {
    let mut document = config
        .hook_state
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    document["status"] = status.into();
    if let Some(Some(pid)) = RUNTIME_PID.get() {
        document["pid"] = (*pid).into();
    }
    document.to_string()
}

/// Waits for `child` until `deadline`; `None` if it still runs then.
fn wait(child: &mut std::process::Child, deadline: Option<Instant>) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

fn io_refused(step: ChildStep, what: &str, error: &std::io::Error) -> ChildError {
    ChildError {
        message: format!("{what}: {error}"),
        step,
        errno: error.raw_os_error(),
    }
}
