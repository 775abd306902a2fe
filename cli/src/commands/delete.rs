//! `cradle delete`: remove a stopped container (with `--force`, kill a
//! running one first): its cgroup, its veth pairs, the mounts it made in
//! the caller's mount namespace, its state.
//!
//! Whatever its record says: a `creating` record (its `cradle` died during
//! the launch) names the cgroup and interfaces that may exist; a damaged
//! one (`--force` only) is replaced by cradle's own names for the id.
//! Either way nothing is signalled but through the container's cgroup,
//! proved by its name and place, or its init, proved by its start time and
//! cgroup. Deleting again finds nothing: it is idempotent in effect.

use std::time::Duration;

use cradle_linux::Signal;

use crate::error::CliError;
use crate::proof::CgroupCheck;
use crate::state::{ContainerState, Entry, Stage, StateRoot, Status};
use crate::{crash, proof, teardown};

/// How long `delete --force` waits for a killed init to go.
const KILL_BOUND: Duration = Duration::from_secs(5);
/// How long `delete` leaves the removal to a foreground `cradle run` that
/// is still there, before it removes the container itself.
const SUPERVISOR_BOUND: Duration = Duration::from_secs(10);

pub(crate) fn delete(states: &StateRoot, id: &str, force: bool) -> Result<(), CliError> {
    states.sweep();
    let entry = states.open(id)?;
    let mut state = match entry.read() {
        Ok(state) => state,
        Err(CliError::BadState { reason, .. }) if force => return delete_damaged(id, &reason, entry),
        Err(CliError::BadState { reason, .. }) => {
            return Err(CliError::Damaged {
                id: id.to_owned(),
                reason,
            })
        }
        Err(error) => return Err(error),
    };
    // Nothing the state names is acted on before it is proved the
    // container's: its cgroup, its init (in `init()`), its interfaces.
    let cgroup_gone = state.cgroup_check()? == Some(CgroupCheck::Gone);
    // Refused before anything is done, where its mounts cannot be reached.
    if let Some(mounts) = &state.shared_mounts {
        mounts.reachable(id)?;
    }
    if state.stage == Stage::Creating {
        if cgroup_gone {
            state.cgroup = None;
        }
        return delete_creating(id, state, entry);
    }
    let init = state.init()?;
    if cgroup_gone {
        // Not even looked for again: whatever is at its paths now is not
        // the container's.
        tracing::warn!(%id, "the container's cgroup is gone; removing its record");
        state.cgroup = None;
    }
    // Proved while the init runs: its network namespace holds the peers.
    let interfaces = proof::interfaces(id, &state.interfaces, init.as_ref());
    if let Some(init) = init {
        // Created counts as not stopped (the spec: deleting it without
        // --force is an error with no effect).
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
        crash::point("delete: killed");
    }
    // A foreground `cradle run` reports the exit and removes the container
    // itself: removing its cgroup under it would lose the exit status.
    if state.supervisor.is_some_and(|supervisor| supervisor.is_running()) {
        tracing::info!(%id, "leaving the removal to the foreground cradle run");
        if entry.await_removal(SUPERVISOR_BOUND) {
            return Ok(());
        }
        return match states.open(id) {
            Ok(entry) => teardown::remove(state.cgroup, &interfaces, state.shared_mounts.as_ref(), entry),
            Err(CliError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        };
    }
    let poststop = state.oci.as_ref().map(|oci| {
        (
            oci.poststop.clone(),
            crate::bundle::document_as(&state, Status::Stopped),
        )
    });
    teardown::remove(state.cgroup, &interfaces, state.shared_mounts.as_ref(), entry)?;
    if let Some((hooks, document)) = poststop.filter(|(hooks, _)| !hooks.is_empty()) {
        crate::hooks::run_all_warning("poststop", &hooks, &document);
    }
    Ok(())
}

/// A record whose launch never recorded a process (we hold its lock, so
/// its `cradle` is gone): what it names may or may not exist. Whatever
/// runs in its cgroup (a held init on its way out) goes with the cgroup.
fn delete_creating(id: &str, state: ContainerState, entry: Entry) -> Result<(), CliError> {
    tracing::info!(%id, "finishing a container whose launch was cut short");
    // Without an init, only interfaces by cradle's own name are proved;
    // any other went with the launch's network namespace.
    let interfaces = proof::interfaces(id, &state.interfaces, None);
    teardown::remove(state.cgroup, &interfaces, state.shared_mounts.as_ref(), entry)
}

/// A record too damaged to read: what cradle's own names for `id` find is
/// removed, then the record.
fn delete_damaged(id: &str, reason: &str, entry: Entry) -> Result<(), CliError> {
    tracing::warn!(%id, reason, "the record is damaged; removing what cradle's names for it find");
    let (cgroup, interfaces) = teardown::own_names(id)?;
    if let Some(paths) = &cgroup {
        proof::cgroup(paths, id, None)?;
    }
    teardown::remove(cgroup, &interfaces, None, entry)
}
