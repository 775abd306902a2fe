//! `cradle delete`: remove a stopped container (with `--force`, kill a
//! running one first): its cgroup, its veth pairs, its state.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::error::CliError;
use crate::proof;
use crate::state::StateRoot;
use crate::teardown;

/// How long `delete --force` waits for a killed init to go.
const KILL_BOUND: Duration = Duration::from_secs(5);
/// How long `delete` leaves the removal to a foreground `cradle run` that
/// is still there, before it removes the container itself.
const SUPERVISOR_BOUND: Duration = Duration::from_secs(10);

pub(crate) fn delete(states: &StateRoot, id: &str, force: bool) -> Result<(), CliError> {
    let entry = states.open(id)?;
    let state = entry.read()?;
    // Nothing the state names is acted on before it is proved the
    // container's: its cgroup, its init (in `init()`), its interfaces.
    if let Some(paths) = &state.cgroup {
        proof::cgroup(paths, id)?;
    }
    let init = state.init()?;
    // Proved while the init runs: its network namespace holds the peers.
    let interfaces = proof::interfaces(id, &state.interfaces, init.as_ref());
    if let Some(init) = init {
        if !force {
            return Err(CliError::StillRunning { id: id.to_owned() });
        }
        tracing::info!(%id, pid = state.pid, "killing the container's init");
        init.signal(Signal::SIGKILL)?;
        if !init.wait_exit(KILL_BOUND)? {
            return Err(CliError::Unkillable {
                id: id.to_owned(),
                seconds: KILL_BOUND.as_secs(),
            });
        }
    }
    // A foreground `cradle run` reports the exit and removes the container
    // itself: removing its cgroup under it would lose the exit status.
    if state.supervisor.is_some_and(|supervisor| supervisor.is_running()) {
        tracing::info!(%id, "leaving the removal to the foreground cradle run");
        if entry.await_removal(SUPERVISOR_BOUND) {
            return Ok(());
        }
        return match states.open(id) {
            Ok(entry) => {
                teardown::remove(state.cgroup, &interfaces, entry);
                Ok(())
            }
            Err(CliError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        };
    }
    teardown::remove(state.cgroup, &interfaces, entry);
    Ok(())
}
