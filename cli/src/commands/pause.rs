//! `cradle pause` and `cradle resume`: freeze and thaw a container's
//! cgroup.

use crate::error::CliError;
use crate::freezer;
use crate::state::{StateRoot, Status};

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
        .as_ref()
        .ok_or_else(|| CliError::Usage(format!("container {id} has no cgroup to freeze")))?;
    freezer::set(id, paths, frozen)
}
