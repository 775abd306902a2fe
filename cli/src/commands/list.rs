//! `cradle list`: every container, as a table or as JSON.

use std::io::Write as _;

use serde_json::json;

use crate::args::Format;
use crate::error::CliError;
use crate::escape;
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
            // Escaped: a command or id must not drive the terminal.
            let ids: Vec<String> = rows.iter().map(|state| escape::control(&state.id)).collect();
            let width = ids.iter().map(String::len).max().unwrap_or(0).max(2);
            let mut result = writeln!(
                out,
                "{:width$}  {:>8}  {:8}  {:20}  COMMAND",
                "ID", "PID", "STATUS", "CREATED"
            );
            for (state, id) in rows.iter().zip(&ids) {
                result = result.and_then(|()| {
                    writeln!(
                        out,
                        "{:width$}  {:>8}  {:8}  {:20}  {}",
                        id,
                        state.pid,
                        state.status().as_str(),
                        escape::control(&state.created),
                        escape::control(&state.command.join(" "))
                    )
                });
            }
            result
        }
    };
    written.map_err(CliError::file("stdout"))
}
