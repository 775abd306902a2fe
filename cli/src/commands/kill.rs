//! `cradle kill`: a signal to the container's init, through a pidfd.

use nix::sys::signal::Signal;

use crate::error::CliError;
use crate::state::StateRoot;

pub(crate) fn kill(states: &StateRoot, id: &str, signal: Signal) -> Result<(), CliError> {
    let entry = states.open(id)?;
    let state = entry.read()?;
    let init = state
        .init()?
        .ok_or_else(|| CliError::NotRunning { id: id.to_owned() })?;
    tracing::info!(%id, pid = state.pid, ?signal, "signalling the container's init");
    init.signal(signal).map_err(CliError::Backend)
}
