//! `cradle kill`: a signal to the container's init, through a pidfd; with
//! `--all`, to every process in its cgroup.

use std::time::{Duration, Instant};

use cradle_linux::cgroup::Cgroup;
use cradle_linux::Signal;

use crate::error::CliError;
use crate::state::StateRoot;

/// How long `kill --all` waits for the container's cgroup to freeze
/// (after which it signals what it finds all the same).
const KILL_ALL_BOUND: Duration = Duration::from_secs(2);

pub(crate) fn kill(states: &StateRoot, id: &str, signal: Signal, all: bool) -> Result<(), CliError> {
    let entry = states.open(id)?;
    let state = entry.read()?;
    let init = state
        .init()?
        .ok_or_else(|| CliError::NotRunning { id: id.to_owned() })?;
    if all {
        if let Some(paths) = &state.cgroup {
            // The cgroup is proved the container's (by `init()`): what runs
            // in it is the container's, each process checked again as it is
            // signalled.
            tracing::info!(%id, ?signal, "signalling every process of the container");
            return Cgroup::open(paths.clone())
                .and_then(|cgroup| cgroup.signal_all(signal, Instant::now() + KILL_ALL_BOUND))
                .map_err(|error| CliError::Backend(error.into()));
        }
    }
    tracing::info!(%id, pid = state.pid, ?signal, "signalling the container's init");
    init.signal(signal).map_err(CliError::Backend)
}
