//! `cradle ps`: the processes in a container's cgroup, as host pids.

use std::io::Write as _;

use cradle_linux::cgroup::Cgroup;

use crate::args::Format;
use crate::error::CliError;
use crate::state::StateRoot;

pub(crate) fn ps(states: &StateRoot, id: &str, format: Format) -> Result<(), CliError> {
    let state = states.open(id)?.read()?;
    state.init()?;
    let pids = match &state.cgroup {
        Some(paths) => Cgroup::open(paths.clone())
            .and_then(|cgroup| cgroup.pids())
            .map_err(|error| CliError::Backend(error.into()))?,
        None if state.pid > 0 && state.status() != crate::state::Status::Stopped => vec![state.pid],
        None => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    let result = match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&pids).unwrap_or_default()),
        Format::Table => {
            let mut text = String::from("PID\n");
            for pid in &pids {
                text.push_str(&format!("{pid}\n"));
            }
            out.write_all(text.as_bytes())
        }
    };
    result.map_err(CliError::file("stdout"))
}
