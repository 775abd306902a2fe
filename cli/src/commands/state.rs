//! `cradle state`: one container's state as JSON; the paths of its
//! namespaces only while its init lives (`null` once it has stopped).

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::json;

use crate::error::CliError;
use crate::state::StateRoot;

pub(crate) fn state(states: &StateRoot, id: &str) -> Result<(), CliError> {
    let state = states.open(id)?.read()?;
    // A state that names what is not the container's is refused, not
    // shown; one whose cgroup is gone names nothing to act on.
    state.cgroup_check()?;
    // The namespaces live in the init's /proc entry: once it is gone (or
    // its pid is another process's) there are no paths to give.
    let namespaces: Option<BTreeMap<&str, String>> = state.init()?.map(|_| {
        state
            .namespaces
            .iter()
            .map(|kind| {
                (
                    kind.proc_name(),
                    format!("/proc/{}/ns/{}", state.pid, kind.proc_name()),
                )
            })
            .collect()
    });
    let cgroup_paths: Vec<_> = state
        .cgroup
        .iter()
        .flat_map(|paths| paths.dirs.iter().map(|dir| &dir.path))
        .collect();
    let interfaces: Vec<&str> = state
        .interfaces
        .iter()
        .map(|veth| veth.host_name.as_str())
        .collect();
    // The OCI state document's fields, then cradle's own.
    let mut document = crate::bundle::state_document(&state);
    let extra = json!({
        "start_time": state.start_time,
        "created": state.created,
        "command": state.command,
        "rootfs": state.rootfs,
        "hostname": state.hostname,
        "detached": state.detached,
        "namespaces": namespaces,
        "cgroup_paths": cgroup_paths,
        "interfaces": interfaces,
    });
    if let (Some(document), serde_json::Value::Object(extra)) = (document.as_object_mut(), extra) {
        for (key, value) in extra {
            document.entry(key).or_insert(value);
        }
    }
    let text = serde_json::to_string_pretty(&document).map_err(|error| CliError::BadState {
        path: id.into(),
        reason: error.to_string(),
    })?;
    writeln!(std::io::stdout(), "{text}").map_err(CliError::file("stdout"))
}
