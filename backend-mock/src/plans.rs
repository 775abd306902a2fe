//! Plans that use every part of a launch of their kind, for tests and
//! fuzzers.

use cradle_core::config::Veth;
use cradle_core::{Config, IdMap, IdMaps, Interface, Namespace, NamespaceKind, Plan};

use crate::kernel::Container;

/// An init process in new user, mount, pid, network, UTS and IPC
/// namespaces, with id maps, a cgroup, and two veths around a loopback
/// (so interface indexes 0 and 2 have a host side, 1 does not), held
/// before `exec` until the caller starts it.
pub fn init() -> Plan {
    let mut config = Config::new(["/sbin/app", "--serve"]);
    config.namespaces = [
        NamespaceKind::User,
        NamespaceKind::Mount,
        NamespaceKind::Pid,
        NamespaceKind::Net,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
    ]
    .map(Namespace::new)
    .to_vec();
    config.hostname = Some("box".to_owned());
    config.networks = vec![veth(0), Interface::Loopback, veth(1)];
    config.hold = true;
    let ids = vec![IdMap {
        container: 0,
        host: 100_000,
        count: 65_536,
    }];
    let mut plan = Plan::init(config);
    plan.id_maps = Some(IdMaps {
        uid: ids.clone(),
        gid: ids,
        deny_setgroups: true,
    });
    plan.cgroup = true;
    plan
}

/// A process in `container`: it joins every namespace of the container's
/// init and enters its cgroup.
pub fn setns(container: &Container) -> Plan {
    let mut config = Config::new(["/bin/sh", "-c", "exec top"]);
    config.namespaces = NamespaceKind::ALL
        .iter()
        .map(|&kind| Namespace::join(kind, format!("/proc/{}/ns/{}", container.init, kind.proc_name())))
        .collect();
    let mut plan = Plan::setns(config);
    plan.cgroup = true;
    plan
}

/// A veth pair: `veth<n>h` on the host, `veth<n>p` moved into the child,
/// renamed `eth<n>` there.
pub fn veth(n: usize) -> Interface {
    Interface::Veth(Veth {
        host_name: format!("veth{n}h"),
        peer_name: format!("veth{n}p"),
        name: format!("eth{n}"),
        ..Veth::default()
    })
}
