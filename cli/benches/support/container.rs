//! A cradle container that sleeps, for the exec rows to exec into.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::error::BenchError;
use super::sample::{output, timed, ErrorLog};

/// What a container the exec rows run in does meanwhile.
pub(crate) const SLEEP: [&str; 2] = ["sleep", "86400"];

/// `cradle run --detach` of [`SLEEP`] in `rootfs` as container `id`, and
/// its init's pid (from `cradle state`). `cradle` gives the program with
/// its `--root`, afresh for each command.
pub(crate) fn start_sleeping(
    cradle: impl Fn() -> Command,
    id: &str,
    rootfs: &Path,
    errors: &mut ErrorLog,
) -> Result<u32, BenchError> {
    let mut run = cradle();
    run.args(["run", "--detach", "--name", id, "--rootfs"])
        .arg(rootfs)
        .arg("--")
        .args(SLEEP);
    timed(&mut run, errors)?;
    let state = output(cradle().args(["state", id]))?;
    let value: Value = serde_json::from_str(&state).map_err(|e| BenchError::Json {
        document: format!("cradle state {id}"),
        path: "",
        reason: e.to_string(),
    })?;
    value["pid"]
        .as_u64()
        .and_then(|pid| u32::try_from(pid).ok())
        .ok_or_else(|| BenchError::Json {
            document: format!("cradle state {id}"),
            path: "pid",
            reason: format!("not a pid: {}", value["pid"]),
        })
}
