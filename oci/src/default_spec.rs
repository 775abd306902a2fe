//! The `config.json` that `cradle spec` writes: a shell in a rootfs at
//! `rootfs`, confined as cradle confines a container by default (its
//! capability set, masked and read-only paths, the OCI device allow list),
//! without a seccomp profile.

use cradle_core::{confinement, Capability};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::raw::CAPABILITY_SETS;
use crate::OCI_VERSION;

/// The default `config.json`.
pub fn default_spec() -> Spec {
    let caps: Vec<&str> = Capability::DEFAULT.iter().map(|cap| cap.name()).collect();
    let document = json!({
        "ociVersion": OCI_VERSION,
        "root": { "path": "rootfs", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "hostname": "cradle",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            },
            {
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "cgroup" }
            ],
            "maskedPaths": confinement::MASKED_PATHS,
            "readonlyPaths": confinement::READONLY_PATHS
        }
    });
    // A constant document of the spec's own shape: the test below reads it.
    serde_json::from_value(document).expect("the default spec is a valid config.json")
}

/// `spec` as the JSON of a `config.json`, the same from run to run:
/// oci-spec keeps each capability set as a hash set, whose order changes
/// with every process, so the sets are written in the kernel's order.
pub fn spec_json(spec: &Spec) -> Result<Value, serde_json::Error> {
    let mut document = serde_json::to_value(spec)?;
    for set in CAPABILITY_SETS {
        let pointer = format!("/process/capabilities/{set}");
        if let Some(Value::Array(names)) = document.pointer_mut(&pointer) {
            names.sort_by_key(|name| {
                let name = name.as_str().unwrap_or_default();
                let number = name.parse::<Capability>().map_or(u32::MAX, Capability::number);
                (number, name.to_owned())
            });
        }
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_a_confined_shell() {
        let spec = default_spec();
        assert_eq!(spec.version(), OCI_VERSION);
        let process = spec.process().as_ref().expect("a process");
        assert_eq!(process.args().as_deref(), Some(&["sh".to_owned()][..]));
        assert_eq!(process.no_new_privileges(), Some(true));
        let bounding = process
            .capabilities()
            .as_ref()
            .and_then(|caps| caps.bounding().as_ref())
            .expect("a bounding set");
        assert_eq!(bounding.len(), Capability::DEFAULT.len());
        assert_eq!(spec.mounts().as_ref().map(Vec::len), Some(7));
        assert!(spec.linux().as_ref().expect("linux").seccomp().is_none());
    }

    #[test]
    fn capability_sets_are_written_in_the_kernels_order() {
        let document = spec_json(&default_spec()).expect("encodes");
        let mut sorted = Capability::DEFAULT;
        sorted.sort();
        let sorted: Vec<&str> = sorted.iter().map(|cap| cap.name()).collect();
        for set in ["bounding", "effective", "permitted"] {
            assert_eq!(document["process"]["capabilities"][set], json!(sorted), "{set}");
        }
        assert_eq!(document["process"]["capabilities"].get("ambient"), None);
    }
}
