//! `cradle start`: lets a created container's process run. The process
//! is not this command's child: it connects to the hold's socket in the
//! container's state directory, and hears there whether `exec` succeeded.

use std::time::Duration;

use crate::bundle;
use crate::commands::create::HOLD_SOCKET;
use crate::error::CliError;
use crate::state::{Stage, StateRoot, Status};
use crate::{exit, hooks};

/// How long the process may take from its start to `exec`.
const START_BOUND: Duration = Duration::from_secs(10);

pub(crate) fn start(states: &StateRoot, id: &str) -> Result<(), CliError> {
    let entry = states.open(id)?;
    let mut state = entry.read()?;
    let status = state.status();
    if status != Status::Created {
        return Err(CliError::WrongStatus {
            id: id.to_owned(),
            status: status.as_str(),
            wanted: "created",
        });
    }
    // Proved before anything is sent: its start time, and its cgroup.
    state
        .init()?
        .ok_or_else(|| CliError::NotRunning { id: id.to_owned() })?;
    let pid = cradle_core::Pid::new(state.pid).ok_or_else(|| CliError::NotRunning { id: id.to_owned() })?;
    let hold = entry.path_of(HOLD_SOCKET);
    let started = cradle_linux::resume(pid, state.start_time, &hold, START_BOUND);
    // Started either way: a failed `exec` has ended the process, and the
    // state says `stopped` from now on.
    state.stage = Stage::Started;
    entry.write(&state)?;
    let program = state.command.first().cloned().unwrap_or_default();
    started.map_err(|error| exit::launch_error(&program, error))?;
    tracing::info!(%id, pid = state.pid, "started");
    if let Some(oci) = &state.oci {
        let document = bundle::document_as(&state, Status::Running);
        hooks::run_all_warning("poststart", &oci.poststart, &document);
    }
    Ok(())
}
