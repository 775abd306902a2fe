//! Launching a container's process held before `exec`, and recording it
//! while it sets itself up: the record names the process before the
//! process can run anything of the user's, and writing it costs the
//! launch no time of its own (the parent would only be waiting).

use cradle_core::{Pid, Plan};
use cradle_linux::cgroup::Cgroup;
use cradle_linux::{HeldProcess, Options, Process};

use crate::error::CliError;
use crate::state::{ContainerState, Entry, Stage};
use crate::{crash, exit, timings};

/// Launches `plan` up to its hold before `exec`, recording its pid and
/// start time in `entry` at `stage` as soon as the parent awaits its
/// `ready`. Fails as the launch does, or as the record's write: either way
/// the launch is undone.
pub(crate) fn start_recorded(
    plan: Plan,
    options: Options,
    state: &mut ContainerState,
    stage: Stage,
    entry: &Entry,
) -> Result<HeldProcess, CliError> {
    let program = plan.config.args.first().cloned().unwrap_or_default();
    let held = Process::start_held_while(plan, options, |pid| record(state, stage, entry, pid))
        .map_err(|error| launch_error(&program, error))?;
    // Before anything runs; dropping `held` on an error undoes the launch.
    recorded_cgroup(state, entry, held.cgroup())?;
    Ok(held)
}

/// Launches `plan` and lets it run once it is set up, recording its pid
/// and start time in `entry` (at [`Stage::Started`]) while it sets itself
/// up: it holds before `exec` until the record is written, then goes on
/// from its `ready` without waiting for its parent. For a run with nothing
/// to do between the set-up and the start (no hooks). Fails as
/// [`start_recorded`] does.
pub(crate) fn run_recorded(
    plan: Plan,
    options: Options,
    state: &mut ContainerState,
    entry: &Entry,
) -> Result<Process, CliError> {
    let program = plan.config.args.first().cloned().unwrap_or_default();
    let mut process =
        Process::start_recorded_while(plan, options, |pid| record(state, Stage::Started, entry, pid))
            .map_err(|error| launch_error(&program, error))?;
    // The cgroup was made at the paths recorded (`Options::cgroup_at`): a
    // check after the start, which would only correct a record that names
    // another. A container its record cannot name is undone, as a failed
    // launch is.
    if let Err(error) = recorded_cgroup(state, entry, process.cgroup()) {
        let _ = process.terminate();
        if let Some(cgroup) = process.cgroup() {
            let _ = cgroup.destroy();
        }
        return Err(error);
    }
    Ok(process)
}

/// Records the process `pid` in `entry` at `stage`, while it sets itself up.
fn record(
    state: &mut ContainerState,
    stage: Stage,
    entry: &Entry,
    pid: Pid,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let began = std::time::Instant::now();
    state.stage = stage;
    state.pid = pid.as_raw();
    // Our child, not reaped: its /proc entry is the process.
    state.start_time = cradle_linux::proc_stat::start_time(pid).map_err(CliError::Backend)?;
    entry.write(state)?;
    timings::meanwhile("recording the process, as the child sets up", began.elapsed());
    crash::point(match stage {
        Stage::Created => "create: process recorded",
        _ => "run: process recorded",
    });
    Ok(())
}

/// The launch made the cgroup the intent recorded; were it another, the
/// record says so.
fn recorded_cgroup(state: &mut ContainerState, entry: &Entry, made: Option<&Cgroup>) -> Result<(), CliError> {
    let cgroup = made.map(|cgroup| cgroup.paths().clone());
    if cgroup != state.cgroup {
        state.cgroup = cgroup;
        entry.write(state)?;
    }
    Ok(())
}

/// A failed launch of `program`: the record's own error as it was, any
/// other as the launch reports it.
fn launch_error(program: &str, error: cradle_linux::Error) -> CliError {
    match error {
        cradle_linux::Error::Meanwhile(error) => match error.downcast::<CliError>() {
            Ok(error) => *error,
            // Only `record`'s errors are ours; any other stays as it came.
            Err(other) => CliError::Backend(cradle_linux::Error::Meanwhile(other)),
        },
        error => exit::launch_error(program, error),
    }
}
