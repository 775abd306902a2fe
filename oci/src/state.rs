//! The runtime-spec's state document: what `cradle state <id>` prints and
//! what a hook reads on its stdin.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::OCI_VERSION;

/// A container's state, as the spec defines it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The spec version the document follows.
    pub oci_version: String,
    /// The container's id.
    pub id: String,
    /// Where it is in its life.
    pub status: Status,
    /// Its init process on the host, while it has one. Written only while
    /// the container is not stopped and the pid is not 0.
    #[serde(default)]
    pub pid: Option<i32>,
    /// The bundle's directory, absolute.
    pub bundle: PathBuf,
    /// The bundle's annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A container's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created: `create` has not finished.
    Creating,
    /// Created, the user's program not started yet.
    Created,
    /// The user's program runs.
    Running,
    /// The container's process has exited.
    Stopped,
}

impl State {
    /// The state of container `id` of the bundle at `bundle`, at this
    /// runtime's spec version.
    pub fn new(
        id: impl Into<String>,
        status: Status,
        pid: Option<i32>,
        bundle: impl Into<PathBuf>,
        annotations: BTreeMap<String, String>,
    ) -> State {
        State {
            oci_version: OCI_VERSION.to_owned(),
            id: id.into(),
            status,
            pid,
            bundle: bundle.into(),
            annotations,
        }
    }

    /// The pid to write: none for a stopped container or pid 0, as the
    /// spec has it ("REQUIRED when status is created or running").
    fn written_pid(&self) -> Option<i32> {
        self.pid.filter(|pid| *pid != 0 && self.status != Status::Stopped)
    }
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pid = self.written_pid();
        let annotations = !self.annotations.is_empty();
        let fields = 4 + usize::from(pid.is_some()) + usize::from(annotations);
        let mut state = serializer.serialize_struct("State", fields)?;
        state.serialize_field("ociVersion", &self.oci_version)?;
        state.serialize_field("id", &self.id)?;
        state.serialize_field("status", &self.status)?;
        if let Some(pid) = pid {
            state.serialize_field("pid", &pid)?;
        }
        state.serialize_field("bundle", &self.bundle)?;
        if annotations {
            state.serialize_field("annotations", &self.annotations)?;
        }
        state.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_running_container_has_its_pid_and_annotations() {
        let state = State::new(
            "web",
            Status::Running,
            Some(42),
            "/b",
            BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        );
        let json = serde_json::to_value(&state).expect("encodes");
        assert_eq!(
            json,
            json!({
                "ociVersion": "1.2.0", "id": "web", "status": "running", "pid": 42,
                "bundle": "/b", "annotations": { "k": "v" }
            })
        );
        assert_eq!(serde_json::from_value::<State>(json).expect("decodes"), state);
    }

    #[test]
    fn a_stopped_container_or_pid_zero_has_no_pid() {
        for (status, pid) in [
            (Status::Stopped, Some(42)),
            (Status::Creating, Some(0)),
            (Status::Created, None),
        ] {
            let state = State::new("web", status, pid, "/b", BTreeMap::new());
            let json = serde_json::to_value(&state).expect("encodes");
            assert_eq!(json.get("pid"), None, "{status:?}");
            assert_eq!(json.get("annotations"), None);
        }
        let json = serde_json::to_value(State::new("a", Status::Stopped, None, "/b", BTreeMap::new()))
            .expect("encodes");
        assert_eq!(json["status"], "stopped");
    }
}
