//! Network class and priorities: v1 controllers that cgroup2 replaced with
//! BPF programs and has no files for.

use super::{Refusal, Resources, Setting};
use crate::cgroup::Version;

/// v1 `net_cls.classid`, in decimal.
pub(super) fn classid(resources: &Resources, version: Version) -> Result<Vec<Setting>, Refusal> {
    let Some(classid) = resources.net_cls_classid else {
        return Ok(Vec::new());
    };
    match version {
        Version::V1 => Ok(vec![Setting::new("net_cls_classid", "net_cls.classid", classid)]),
        Version::V2 => Err(Refusal::Unsupported {
            limit: "net_cls_classid",
            reason: "cgroup2 has no net_cls controller, and no v1 hierarchy with it is mounted",
        }),
    }
}

/// v1 `net_prio.ifpriomap`, one write per interface (`eth0 5`).
pub(super) fn priorities(resources: &Resources, version: Version) -> Result<Vec<Setting>, Refusal> {
    if resources.net_prio.is_empty() {
        return Ok(Vec::new());
    }
    if version == Version::V2 {
        return Err(Refusal::Unsupported {
            limit: "net_prio",
            reason: "cgroup2 has no net_prio controller, and no v1 hierarchy with it is mounted",
        });
    }
    resources
        .net_prio
        .iter()
        .map(|(interface, priority)| {
            let value = format!("{interface} {priority}");
            if !valid_interface(interface) {
                return Err(Refusal::invalid(
                    "net_prio.ifpriomap",
                    value,
                    "an interface name is 1 to 15 bytes, without spaces or /",
                ));
            }
            Ok(Setting::new("net_prio", "net_prio.ifpriomap", value))
        })
        .collect()
}

/// What the kernel takes as an interface name (`dev_valid_name`).
fn valid_interface(name: &str) -> bool {
    (1..16).contains(&name.len())
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{pairs, rendered};
    use super::super::{Controller, Refusal, Resources};
    use super::*;

    #[test]
    fn class_and_priorities_on_v1() {
        let resources = Resources {
            net_cls_classid: Some(0x0010_0001),
            net_prio: vec![("lo".to_owned(), 5), ("eth0".to_owned(), 2)],
            ..Resources::default()
        };
        assert_eq!(
            rendered(&resources, Controller::NetCls, Version::V1),
            pairs(&[("net_cls.classid", "1048577")])
        );
        assert_eq!(
            rendered(&resources, Controller::NetPrio, Version::V1),
            pairs(&[("net_prio.ifpriomap", "lo 5"), ("net_prio.ifpriomap", "eth0 2")])
        );
    }

    #[test]
    fn cgroup2_refuses_both_naming_them() {
        let resources = Resources {
            net_cls_classid: Some(1),
            net_prio: vec![("lo".to_owned(), 5)],
            ..Resources::default()
        };
        for (controller, expected) in [
            (Controller::NetCls, "net_cls_classid"),
            (Controller::NetPrio, "net_prio"),
        ] {
            match resources.settings(controller, Version::V2) {
                Err(Refusal::Unsupported { limit, .. }) => assert_eq!(limit, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn interface_names_are_checked() {
        for bad in ["", "a b", "a/b", "0123456789abcdef", ".."] {
            let resources = Resources {
                net_prio: vec![(bad.to_owned(), 1)],
                ..Resources::default()
            };
            assert!(
                matches!(
                    resources.settings(Controller::NetPrio, Version::V1),
                    Err(Refusal::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
