//! `cradle spec` and `cradle features`: the OCI documents cradle writes.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use crate::error::CliError;

/// Writes a default `config.json` in `bundle`; an existing one is kept.
pub(crate) fn spec(bundle: &Path) -> Result<(), CliError> {
    let path = bundle.join("config.json");
    let text = cradle_oci::spec_json(&cradle_oci::default_spec())
        .and_then(|document| serde_json::to_string_pretty(&document))
        .map_err(|error| CliError::Usage(format!("config.json: {error}")))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(CliError::file(&path))?;
    writeln!(file, "{text}").map_err(CliError::file(&path))
}

/// Prints the features document.
pub(crate) fn features() -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(&cradle_oci::features())
        .map_err(|error| CliError::Usage(format!("features: {error}")))?;
    writeln!(std::io::stdout(), "{text}").map_err(CliError::file("stdout"))
}
