//! `cradle list`: every container, as a table or as JSON.

use std::io::Write as _;

use serde_json::json;

use crate::args::Format;
use crate::error::CliError;
use crate::state::StateRoot;

pub(crate) fn list(states: &StateRoot, format: Format) -> Result<(), CliError> {
    let mut rows = Vec::new();
    for id in states.ids()? {
        // A container deleted between the listing and the read is skipped.
        match states.peek(&id) {
            Ok(state) => rows.push(state),
            Err(CliError::File { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|state| {
                    json!({
                        "id": state.id,
                        "pid": state.pid,
                        "status": state.status(),
                        "created": state.created,
                        "command": state.command,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::Value::Array(list))
        }
        Format::Table => {
            let width = rows.iter().map(|state| state.id.len()).max().unwrap_or(0).max(2);
            let mut result = writeln!(
                out,
                "{:width$}  {:>8}  {:8}  {:20}  COMMAND",
                "ID", "PID", "STATUS", "CREATED"
            );
            for state in &rows {
                result = result.and_then(|()| {
                    writeln!(
                        out,
                        "{:width$}  {:>8}  {:8}  {:20}  {}",
                        state.id,
                        state.pid,
                        state.status().as_str(),
                        state.created,
                        state.command.join(" ")
                    )
                });
            }
            result
        }
    };
    written.map_err(CliError::file("stdout"))
}
