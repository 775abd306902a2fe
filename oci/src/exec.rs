//! A process started in a running container, as `runc exec --process
//! FILE` reads it: the runtime spec's `process` object on its own, checked
//! and mapped as a bundle's `process` is (the same refusals, named by the
//! same JSON paths: `process.user.uid`), onto the config of a setns
//! process.

use std::path::Path;

use cradle_core::Config;
use cradle_linux::strict_json::Strict;
use oci_spec::runtime::Process;
use serde_json::{json, Value};

use crate::{bundle, process, raw, Bundle, OciError};

/// A process to start in a running container.
#[derive(Clone, Debug)]
pub struct ExecProcess {
    /// For [`Plan::setns`](cradle_core::Plan::setns): the process's own
    /// fields (args, env, cwd, user, umask, capabilities, rlimits,
    /// `oomScoreAdj`, `noNewPrivileges`, a terminal made inside the
    /// container with its `consoleSize`) and nothing of the container's.
    /// `capabilities` is `None` when the file gives none, for the caller
    /// to confine the process as the container is; `seccomp` is always
    /// `None`: the container's filter is the caller's to compile.
    pub config: Config,
    /// What was ignored, one line each naming its path (an unknown
    /// capability name, as a bundle's is ignored).
    pub warnings: Vec<String>,
}

impl ExecProcess {
    /// Reads the process file at `path` (at most [`Bundle::CONFIG_CAP`]
    /// bytes) and maps it as [`from_json`](ExecProcess::from_json) does.
    pub fn load(path: &Path) -> Result<ExecProcess, OciError> {
        let bytes = bundle::read_capped(path, Bundle::CONFIG_CAP)?;
        let document: Value = serde_json::from_slice(&bytes).map_err(|source| OciError::NotJson {
            path: path.to_owned(),
            source,
        })?;
        ExecProcess::from_json(&document)
    }

    /// Maps a `process` object: unknown capability names are dropped with
    /// a warning, as in a bundle; a value of the wrong type is refused by
    /// its path.
    pub fn from_json(document: &Value) -> Result<ExecProcess, OciError> {
        if !document.is_object() {
            return Err(OciError::invalid("process", "not a JSON object"));
        }
        let mut wrapped = json!({ "process": document });
        let mut warnings = raw::drop_unknown_capabilities(&mut wrapped);
        warnings.extend(raw::drop_unraisable_ambient(&mut wrapped));
        let process: Process =
            serde_path_to_error::deserialize(Strict(&wrapped["process"])).map_err(|error| {
                let inner = error.path().to_string();
                let path = if inner == "." {
                    "process".to_owned()
                } else {
                    format!("process.{inner}")
                };
                OciError::invalid(path, error.into_inner().to_string())
            })?;
        let mut mapped = ExecProcess::from_process(&process)?;
        mapped.warnings = warnings;
        Ok(mapped)
    }

    /// Maps `process` onto a setns config, refusing what a bundle's
    /// `process` would have refused (an LSM label or profile, an I/O
    /// priority, a scheduler, a CPU affinity; bad values) by its path.
    pub fn from_process(process: &Process) -> Result<ExecProcess, OciError> {
        // The refusals are checked on the JSON, where the bundle's are.
        let document =
            serde_json::to_value(process).map_err(|error| OciError::invalid("process", error.to_string()))?;
        raw::check(&json!({ "process": document }))?;
        let mut config = Config::new(Vec::<String>::new());
        process::apply_process(process, &mut config)?;
        Ok(ExecProcess {
            config,
            warnings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
