//! `hooks`: the programs the runtime runs around the container's life.
//! cradle only reads and checks them here; the caller runs them.

use std::path::PathBuf;
use std::time::Duration;

use oci_spec::runtime::Spec;

use crate::OciError;

/// The bundle's hooks, by the point of the container's life they run at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Deprecated by the spec: after the namespaces are made, before the
    /// pivot, in the runtime's namespace.
    pub prestart: Vec<Hook>,
    /// After the namespaces are made, in the runtime's namespace.
    pub create_runtime: Vec<Hook>,
    /// In the container's namespaces, before the pivot.
    pub create_container: Vec<Hook>,
    /// In the container, before the user's program starts.
    pub start_container: Vec<Hook>,
    /// After the user's program started, in the runtime's namespace.
    pub poststart: Vec<Hook>,
    /// After the container is deleted, in the runtime's namespace.
    pub poststop: Vec<Hook>,
}

/// One hook: a program to run, with the container's state on its stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The program, absolute.
    pub path: PathBuf,
    /// Its arguments, `args[0]` included (as `execv` takes them).
    pub args: Vec<String>,
    /// Its environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// How long it may run before it is killed.
    pub timeout: Option<Duration>,
}

impl Hooks {
    /// Reads `hooks`: each path absolute, each timeout positive.
    pub(crate) fn from_spec(spec: &Spec) -> Result<Hooks, OciError> {
        let Some(given) = spec.hooks() else {
            return Ok(Hooks::default());
        };
        Ok(Hooks {
            prestart: hooks("prestart", given.prestart())?,
            create_runtime: hooks("createRuntime", given.create_runtime())?,
            create_container: hooks("createContainer", given.create_container())?,
            start_container: hooks("startContainer", given.start_container())?,
            poststart: hooks("poststart", given.poststart())?,
            poststop: hooks("poststop", given.poststop())?,
        })
    }

    /// Whether there is none at all.
    pub fn is_empty(&self) -> bool {
        [
            &self.prestart,
            &self.create_runtime,
            &self.create_container,
            &self.start_container,
            &self.poststart,
            &self.poststop,
        ]
        .iter()
        .all(|hooks| hooks.is_empty())
    }
}

fn hooks(point: &str, given: &Option<Vec<oci_spec::runtime::Hook>>) -> Result<Vec<Hook>, OciError> {
    given
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, hook)| {
            let at = |field: &str| format!("hooks.{point}[{index}].{field}");
            if !hook.path().is_absolute() {
                return Err(OciError::invalid(
                    at("path"),
                    format!("{:?}: not an absolute path", hook.path().display()),
                ));
            }
            let timeout = match hook.timeout() {
                None => None,
                Some(seconds) if seconds > 0 => Some(Duration::from_secs(seconds as u64)),
                Some(seconds) => {
                    return Err(OciError::invalid(
                        at("timeout"),
                        format!("{seconds}: must be a positive number of seconds"),
                    ))
                }
            };
            Ok(Hook {
                path: hook.path().clone(),
                args: hook.args().clone().unwrap_or_default(),
                env: hook.env().clone().unwrap_or_default(),
                timeout,
            })
        })
        .collect()
}
