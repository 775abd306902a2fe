//! Checks on `config.json` as plain JSON, before oci-spec reads it: the
//! fields cradle does not implement (which oci-spec reads, or drops when it
//! does not know them, and cradle would otherwise ignore without a word),
//! and capability names, which cradle checks against its own list and
//! names by index.
//!
//! Unknown keys the spec does not define are extensions: the spec says to
//! ignore them, and they are.

use cradle_core::Capability;
use serde_json::Value;

use crate::OciError;

/// Fields cradle does not implement, by JSON path, and why. Each is
/// refused when set to anything but `null` or an empty string, list or
/// object.
const REFUSED: &[(&str, &str)] = &[
    ("solaris", "cradle runs Linux containers"),
    ("windows", "cradle runs Linux containers"),
    ("zos", "cradle runs Linux containers"),
    ("vm", "cradle runs containers, not virtual machines"),
    ("domainname", "cradle sets no NIS domain name"),
    ("process.apparmorProfile", "no LSM support"),
    ("process.selinuxLabel", "no LSM support"),
    ("process.ioPriority", "cradle sets no I/O priority"),
    ("process.scheduler", "cradle sets no scheduling policy"),
    ("process.execCPUAffinity", "cradle sets no CPU affinity"),
    ("linux.intelRdt", "no Intel RDT support"),
    ("linux.personality", "cradle sets no execution domain"),
    ("linux.memoryPolicy", "cradle sets no NUMA memory policy"),
    (
        "linux.netDevices",
        "cradle moves no host network device into the container",
    ),
    (
        "linux.timeOffsets",
        "cradle sets no clock offsets (a new time namespace keeps the host's clocks)",
    ),
    (
        "linux.seccomp.listenerPath",
        "no seccomp agent: SCMP_ACT_NOTIFY is not implemented",
    ),
    (
        "linux.seccomp.listenerMetadata",
        "no seccomp agent: SCMP_ACT_NOTIFY is not implemented",
    ),
    (
        "linux.resources.memory.useHierarchy",
        "cradle leaves memory.use_hierarchy as the kernel has it",
    ),
    ("linux.resources.cpu.burst", "cradle sets no CPU burst"),
    ("linux.resources.cpu.idle", "cradle sets no idle CPU policy"),
    (
        "linux.resources.blockIO.leafWeight",
        "of the block I/O limits only weight is implemented",
    ),
    (
        "linux.resources.blockIO.weightDevice",
        "of the block I/O limits only weight is implemented",
    ),
    (
        "linux.resources.blockIO.throttleReadBpsDevice",
        "of the block I/O limits only weight is implemented",
    ),
    (
        "linux.resources.blockIO.throttleWriteBpsDevice",
        "of the block I/O limits only weight is implemented",
    ),
    (
        "linux.resources.blockIO.throttleReadIOPSDevice",
        "of the block I/O limits only weight is implemented",
    ),
    (
        "linux.resources.blockIO.throttleWriteIOPSDevice",
        "of the block I/O limits only weight is implemented",
    ),
    ("linux.resources.rdma", "no rdma controller support"),
    (
        "linux.resources.unified",
        "cradle writes no raw cgroup2 files; use the named limits",
    ),
];

/// The capability sets of `process.capabilities`.
pub(crate) const CAPABILITY_SETS: [&str; 5] =
    ["bounding", "effective", "inheritable", "permitted", "ambient"];

/// Refuses the first field cradle does not implement, naming its path.
pub(crate) fn check(config: &Value) -> Result<(), OciError> {
    for (path, why) in REFUSED {
        if lookup(config, path).is_some_and(is_set) {
            return Err(OciError::unsupported(*path, *why));
        }
    }
    if let Some(mounts) = config.get("mounts").and_then(Value::as_array) {
        for (index, mount) in mounts.iter().enumerate() {
            for key in ["uidMappings", "gidMappings"] {
                if mount.get(key).is_some_and(is_set) {
                    return Err(OciError::unsupported(
                        format!("mounts[{index}].{key}"),
                        "no idmapped mounts",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Takes out of the five sets every capability name this build does not
/// know, returning a warning for each, naming its path. runc and crun
/// ignore such names (a bundle written for a newer kernel names
/// capabilities an older one lacks), and engines rely on it. Values of the
/// wrong type are left to oci-spec, whose error names them.
pub(crate) fn drop_unknown_capabilities(config: &mut Value) -> Vec<String> {
    let mut warnings = Vec::new();
    for set in CAPABILITY_SETS {
        let path = format!("process.capabilities.{set}");
        let Some(names) = lookup_mut(config, &path).and_then(Value::as_array_mut) else {
            continue;
        };
        let mut index = 0;
        names.retain(|name| {
            let known = name
                .as_str()
                .is_none_or(|name| name.parse::<Capability>().is_ok());
            if !known {
                warnings.push(format!("{path}[{index}]: unknown capability {name}, ignored"));
            }
            index += 1;
            known
        });
    }
    warnings
}

/// Drops from `process.capabilities.ambient` each capability that is not
/// both permitted and inheritable, with a warning for each: the kernel
/// raises no other, and runc, which tries and warns, runs such a config
/// (`runc spec` and `crun spec` write one: ambient `CAP_KILL`, no
/// inheritable set). The process gets the ambient set it can have.
pub(crate) fn drop_unraisable_ambient(config: &mut Value) -> Vec<String> {
    let set = |config: &Value, name: &str| -> Vec<Capability> {
        lookup(config, &format!("process.capabilities.{name}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|name| name.as_str()?.parse().ok())
            .collect()
    };
    let raisable: Vec<Capability> = set(config, "permitted")
        .into_iter()
        .filter(|cap| set(config, "inheritable").contains(cap))
        .collect();
    let mut warnings = Vec::new();
    let path = "process.capabilities.ambient";
    let Some(names) = lookup_mut(config, path).and_then(Value::as_array_mut) else {
        return warnings;
    };
    let mut index = 0;
    names.retain(|name| {
        let keep = name
            .as_str()
            .and_then(|name| name.parse::<Capability>().ok())
            .is_none_or(|cap| raisable.contains(&cap));
        if !keep {
            warnings.push(format!(
                "{path}[{index}]: {name} is not both permitted and inheritable, so the kernel cannot \
                 raise it: ignored"
            ));
        }
        index += 1;
        keep
    });
    warnings
}

fn lookup_mut<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(value, |value, key| value.get_mut(key))
}

/// The value at a dotted path of object keys.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, key| value.get(key))
}

/// Anything but `null`, `""`, `[]` and `{}`: those ask for nothing.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused_path(config: Value) -> Option<String> {
        check(&config)
            .err()
            .and_then(|e| e.json_path().map(str::to_owned))
    }

    #[test]
    fn every_refused_field_is_named_by_its_path() {
        for (path, _) in REFUSED {
            let mut config = json!({});
            let mut at = &mut config;
            for key in path.split('.') {
                at = at
                    .as_object_mut()
                    .expect("an object on the way")
                    .entry(key)
                    .or_insert(json!({}));
            }
            *at = json!({ "anything": 1 });
            assert_eq!(refused_path(config).as_deref(), Some(*path));
        }
    }

    #[test]
    fn empty_values_ask_for_nothing() {
        let config = json!({
            "domainname": "",
            "process": { "apparmorProfile": "", "selinuxLabel": null },
            "linux": { "intelRdt": {}, "resources": { "unified": {}, "blockIO": { "weightDevice": [] } } },
            "mounts": [{ "destination": "/x", "uidMappings": [] }]
        });
        assert_eq!(refused_path(config), None);
    }

    #[test]
    fn an_lsm_label_and_idmapped_mounts_are_refused() {
        let config = json!({ "process": { "selinuxLabel": "system_u:system_r:container_t:s0" } });
        let error = check(&config).expect_err("no LSM");
        assert_eq!(
            error.to_string(),
            "process.selinuxLabel: not supported: no LSM support"
        );
        let config =
            json!({ "mounts": [{}, { "gidMappings": [{ "hostID": 1, "containerID": 0, "size": 1 }] }] });
        assert_eq!(refused_path(config).as_deref(), Some("mounts[1].gidMappings"));
    }

    #[test]
    fn unknown_capability_names_are_dropped_with_a_warning_naming_them() {
        let mut config = json!({ "process": { "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_KILL", "net_admin", "CAP_NOPE"],
            "effective": ["CAP_CHOWN"]
        } } });
        let warnings = drop_unknown_capabilities(&mut config);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("process.capabilities.bounding[3]"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("CAP_NOPE"), "{warnings:?}");
        assert_eq!(
            config["process"]["capabilities"]["bounding"],
            json!(["CAP_CHOWN", "CAP_KILL", "net_admin"])
        );
    }

    #[test]
    fn extensions_are_ignored() {
        let config = json!({ "org.example.extension": { "a": 1 }, "linux": { "org.example.x": true } });
        assert_eq!(refused_path(config), None);
    }
}
