//! `cradle pause` and `cradle resume`: freeze and thaw a container's
//! cgroup.

use std::time::{Duration, Instant};

use cradle_linux::cgroup::Cgroup;

use crate::error::CliError;
use crate::state::{StateRoot, Status};

/// How long a freeze may take to settle (v1 goes through `FREEZING`).
const FREEZE_BOUND: Duration = Duration::from_secs(5);

pub(crate) fn pause(states: &StateRoot, id: &str, frozen: bool) -> Result<(), CliError> {
    let entry = states.open(id)?;
    let state = entry.read()?;
    let wanted = if frozen { Status::Running } else { Status::Paused };
    let status = state.status();
    if status != wanted {
        return Err(CliError::WrongStatus {
            id: id.to_owned(),
            status: status.as_str(),
            wanted: wanted.as_str(),
        });
    }
    // Proved the container's before it is frozen or thawed.
    state.init()?;
    let paths = state
        .cgroup
        .clone()
        .ok_or_else(|| CliError::Usage(format!("container {id} has no cgroup to freeze")))?;
    let cgroup = Cgroup::open(paths).map_err(|error| CliError::Backend(error.into()))?;
    let result = if frozen {
        cgroup.freeze(Instant::now() + FREEZE_BOUND)
    } else {
        cgroup.thaw()
    };
    result.map_err(|error| CliError::Backend(error.into()))
}
