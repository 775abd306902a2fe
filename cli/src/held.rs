//! Launching a container's process held before `exec`, and recording it
//! while it sets itself up: the record names the process before the
//! process can run anything of the user's, and writing it costs the
//! launch no time of its own (the parent would only be waiting).

use cradle_core::Plan;
use cradle_linux::{HeldProcess, Options, Process};

use crate::error::CliError;
use crate::state::{ContainerState, Entry, Stage};
use crate::{crash, exit, timings};

/// Launches `plan` (whose command is `program`) up to its hold before
/// `exec`, recording its pid and start time in `entry` at `stage` as soon
/// as the parent awaits its `ready`. Fails as the launch does, or as the
/// record's write: either way the launch is undone.
pub(crate) fn start_recorded(
    plan: Plan,
    options: Options,
    state: &mut ContainerState,
    stage: Stage,
    entry: &Entry,
) -> Result<HeldProcess, CliError> {
    let program = plan.config.args.first().cloned().unwrap_or_default();
    let crash_point = match stage {
        Stage::Created => "create: process recorded",
        _ => "run: process recorded",
    };
    let held = Process::start_held_while(plan, options, |pid| {
        let began = std::time::Instant::now();
        state.stage = stage;
        state.pid = pid.as_raw();
        // Our child, not reaped: its /proc entry is the process.
        state.start_time = cradle_linux::proc_stat::start_time(pid).map_err(CliError::Backend)?;
        entry.write(state)?;
        timings::meanwhile("recording the process, as the child sets up", began.elapsed());
        crash::point(crash_point);
        Ok(())
    })
    .map_err(|error| match error {
        cradle_linux::Error::Meanwhile(error) => match error.downcast::<CliError>() {
            Ok(error) => *error,
            // Only ours are returned above; any other stays as it came.
            Err(other) => CliError::Backend(cradle_linux::Error::Meanwhile(other)),
        },
        error => exit::launch_error(&program, error),
    })?;
    // The launch made the cgroup the intent recorded; were it another,
    // the record says so before anything runs. Dropping `held` on an
    // error undoes the launch.
    let cgroup = held.cgroup().map(|cgroup| cgroup.paths().clone());
    if cgroup != state.cgroup {
        state.cgroup = cgroup;
        entry.write(state)?;
    }
    Ok(held)
}
