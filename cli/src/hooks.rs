//! OCI hooks: a program run with the container's state JSON on its stdin,
//! bounded by its `timeout`, failing its stage when it fails.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::CliError;
use crate::state::HookRecord;

/// How long a hook without a `timeout` may run: a stuck hook never hangs
/// the command that runs it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(2);

/// Runs `hooks` in order with `state` (the OCI state document) on each
/// one's stdin; the first failure ends the run and is returned.
pub(crate) fn run_all(
    stage: &'static str,
    hooks: &[HookRecord],
    state: &serde_json::Value,
) -> Result<(), CliError> {
    let Some(first) = hooks.first() else {
        return Ok(());
    };
    let input = serde_json::to_vec(state).map_err(|error| failure(stage, first, error.to_string()))?;
    for hook in hooks {
        run(stage, hook, &input)?;
    }
    Ok(())
}

/// Runs `hooks`, logging each failure instead of returning it (as the
/// spec has it for `poststart` and `poststop`).
pub(crate) fn run_all_warning(stage: &'static str, hooks: &[HookRecord], state: &serde_json::Value) {
    let Ok(input) = serde_json::to_vec(state) else {
        return;
    };
    for hook in hooks {
        if let Err(error) = run(stage, hook, &input) {
            tracing::warn!(%error, "a hook failed");
        }
    }
}

fn failure(stage: &'static str, hook: &HookRecord, reason: String) -> CliError {
    CliError::Hook {
        stage,
        path: hook.path.clone(),
        reason,
    }
}

fn run(stage: &'static str, hook: &HookRecord, input: &[u8]) -> Result<(), CliError> {
    let mut command = Command::new(&hook.path);
    // `args[0]` is the program's argv[0], as execve takes it.
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command
        .env_clear()
        .envs(hook.env.iter().filter_map(|entry| entry.split_once('=')));
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|error| failure(stage, hook, error.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is no failure.
        let _ = stdin.write_all(input);
    }
    let bound = hook.timeout_secs.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(failure(stage, hook, format!("exited with {status}"))),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failure(
                    stage,
                    hook,
                    format!("timed out after {} s", bound.as_secs()),
                ));
            }
            Ok(None) => thread::sleep(POLL),
            Err(error) => return Err(failure(stage, hook, error.to_string())),
        }
    }
}
