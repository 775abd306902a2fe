//! The runtime-spec's features document (`cradle features`): what of the
//! spec this mapping implements, exactly; everything else a bundle may say
//! is refused by [`Bundle::load`](crate::Bundle::load).

use cradle_core::{Capability, NamespaceKind};
use cradle_linux::seccomp::{Arch, ArgOp, Flag};
use serde_json::{json, Value};

use crate::OCI_VERSION;

/// The mount options cradle's mount code knows as flags or propagation
/// (any other option goes to the filesystem as data).
const MOUNT_OPTIONS: [&str; 32] = [
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

/// The seccomp actions a profile may use (`SCMP_ACT_NOTIFY` is not one).
const SECCOMP_ACTIONS: [&str; 8] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Every seccomp filter flag cradle recognises; only [`Flag`]s are
/// supported, the others refused by name.
const SECCOMP_KNOWN_FLAGS: [&str; 5] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_NEW_LISTENER",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// The features document (runtime-spec `features.md`, 1.1 and later).
pub fn features() -> Value {
    let mut namespaces: Vec<&str> = NamespaceKind::ALL
        .iter()
        .map(|kind| oci_namespace(*kind))
        .collect();
    namespaces.sort_unstable();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": namespaces,
            "capabilities": Capability::ALL.iter().map(|cap| cap.name()).collect::<Vec<_>>(),
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false
            },
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": ArgOp::ALL.iter().map(|op| op.as_str()).collect::<Vec<_>>(),
                "archs": Arch::ALL.iter().map(|arch| arch.as_str()).collect::<Vec<_>>(),
                "knownFlags": SECCOMP_KNOWN_FLAGS,
                "supportedFlags": Flag::ALL.iter().map(|flag| flag.as_str()).collect::<Vec<_>>()
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } },
            "netDevices": { "enabled": false }
        },
        "annotations": {
            "cradle.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// The spec's name for a namespace type.
pub(crate) fn oci_namespace(kind: NamespaceKind) -> &'static str {
    match kind {
        NamespaceKind::User => "user",
        NamespaceKind::Mount => "mount",
        NamespaceKind::Uts => "uts",
        NamespaceKind::Ipc => "ipc",
        NamespaceKind::Pid => "pid",
        NamespaceKind::Net => "network",
        NamespaceKind::Cgroup => "cgroup",
        NamespaceKind::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(value: &Value) -> Vec<&str> {
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item.as_str().expect("a string"))
            .collect()
    }

    #[test]
    fn every_capability_is_listed() {
        let features = features();
        let listed = strings(&features["linux"]["capabilities"]);
        assert_eq!(listed.len(), Capability::ALL.len());
        for cap in Capability::ALL {
            assert!(listed.contains(&cap.name()), "{cap}");
        }
    }

    #[test]
    fn versions_hooks_and_namespaces_are_what_the_mapping_reads() {
        let features = features();
        assert_eq!(features["ociVersionMin"], "1.0.0");
        assert_eq!(features["ociVersionMax"], "1.2.0");
        assert_eq!(strings(&features["hooks"]).len(), 6);
        assert_eq!(
            strings(&features["linux"]["namespaces"]),
            ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]
        );
        assert_eq!(features["linux"]["cgroup"]["systemd"], false);
        assert_eq!(features["linux"]["apparmor"]["enabled"], false);
        assert_eq!(features["linux"]["mountExtensions"]["idmap"]["enabled"], false);
        assert!(!strings(&features["linux"]["seccomp"]["actions"]).contains(&"SCMP_ACT_NOTIFY"));
        assert_eq!(
            strings(&features["linux"]["seccomp"]["supportedFlags"]),
            ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
        );
    }
}
