//! The OCI hooks the child runs itself, inside the container's namespaces
//! ([`Config::hooks`]): `createContainer` before the pivot, where their
//! paths resolve in the runtime's filesystem, and `startContainer` just
//! before `exec`, in the container's. Each gets the state document on
//! stdin and must exit 0 within its timeout.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cradle_core::{ChildError, ChildStep, Config, HookStage};

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
    for hook in hooks {
        let what = format!("{name} hook {}", hook.path.display());
        let mut command = Command::new(&hook.path);
        if let Some((first, rest)) = hook.args.split_first() {
            command.arg0(first).args(rest);
        }
        command
            .env_clear()
            .envs(hook.env.iter().filter_map(|entry| entry.split_once('=')));
        // An init born among a pid namespace's processes has every signal
        // blocked until its command's `exec`: a hook gets none blocked.
        // SAFETY: the closure runs in the forked child before its `exec`,
        // and makes one system call, async-signal-safe, touching no memory
        // but its own stack.
        unsafe {
            command.pre_exec(|| sys::set_signal_mask(0).map(drop).map_err(std::io::Error::from));
        }
        let mut child = command
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|error| io_refused(step, &what, &error))?;
        if let Some(stdin) = child.stdin.take() {
            hand_state(stdin, &state);
        }
        let bound = hook.timeout.map(|secs| Duration::from_secs(secs.into()));
        let status = wait(&mut child, bound).map_err(|error| io_refused(step, &what, &error))?;
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

/// Writes the state document to a hook's stdin. A hook that does not read
/// it is not wrong, nor is the `EPIPE` of the write: its `SIGPIPE` is
/// blocked for the write and taken off the pending ones after, so that it
/// neither kills this process (after the command's preparation, every
/// signal has its default action) nor stays pending (before it, every
/// signal may be blocked) for that preparation to deliver.
fn hand_state(mut stdin: std::process::ChildStdin, state: &str) {
    let blocked = sys::set_signal_mask(sys::ALL_SIGNALS);
    if stdin.write_all(state.as_bytes()).is_err() {
        let _ = sys::take_pending_signal(1 << (libc::SIGPIPE - 1));
    }
    if let Ok(mask) = blocked {
        let _ = sys::set_signal_mask(mask);
    }
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

/// Waits for `child`, at most `bound`; `None` if it still runs then.
fn wait(child: &mut std::process::Child, bound: Option<Duration>) -> std::io::Result<Option<ExitStatus>> {
    let deadline = bound.map(|bound| Instant::now() + bound);
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
