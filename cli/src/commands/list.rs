//! `cradle list`: every container, as a table or as JSON. A damaged
//! record is listed too (status `damaged`, with why), never hiding the
//! others; so is one whose launch was cut short (`creating`).

use std::io::Write as _;

use serde_json::json;

use crate::args::Format;
use crate::error::CliError;
use crate::escape;
use crate::state::{ContainerState, StateRoot};

/// One container: its record, or why it cannot be read.
enum Row {
    Recorded(Box<ContainerState>),
    Damaged { id: String, reason: String },
}

pub(crate) fn list(states: &StateRoot, format: Format) -> Result<(), CliError> {
    states.sweep();
    let mut rows = Vec::new();
    for id in states.ids()? {
        match states.peek(&id) {
            Ok(state) => rows.push(Row::Recorded(Box::new(state))),
            // Deleted between the listing and the read.
            Err(CliError::File { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(CliError::BadState { reason, .. }) if states.exists(&id) => {
                rows.push(Row::Damaged { id, reason });
            }
            Err(CliError::BadState { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|row| match row {
                    Row::Recorded(state) => json!({
                        "id": state.id,
                        "pid": state.pid,
                        "status": state.status(),
                        "created": state.created,
                        "command": state.command,
                    }),
                    Row::Damaged { id, reason } => json!({
                        "id": id,
                        "status": "damaged",
                        "reason": reason,
                    }),
                })
                .collect();
            writeln!(out, "{}", serde_json::Value::Array(list))
        }
        Format::Table => {
            // Escaped: a command or id must not drive the terminal.
            let ids: Vec<String> = rows
                .iter()
                .map(|row| match row {
                    Row::Recorded(state) => escape::control(&state.id),
                    Row::Damaged { id, .. } => escape::control(id),
                })
                .collect();
            let width = ids.iter().map(String::len).max().unwrap_or(0).max(2);
            let mut result = writeln!(
                out,
                "{:width$}  {:>8}  {:8}  {:20}  COMMAND",
                "ID", "PID", "STATUS", "CREATED"
            );
            for (row, id) in rows.iter().zip(&ids) {
                result = result.and_then(|()| match row {
                    Row::Recorded(state) => writeln!(
                        out,
                        "{:width$}  {:>8}  {:8}  {:20}  {}",
                        id,
                        state.pid,
                        state.status().as_str(),
                        escape::control(&state.created),
                        escape::control(&state.command.join(" "))
                    ),
                    Row::Damaged { reason, .. } => writeln!(
                        out,
                        "{:width$}  {:>8}  {:8}  {:20}  ({})",
                        id,
                        "-",
                        "damaged",
                        "-",
                        escape::control(reason)
                    ),
                });
            }
            result
        }
    };
    written.map_err(CliError::file("stdout"))
}
