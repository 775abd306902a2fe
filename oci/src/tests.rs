//! Bundles written to a temporary directory, loaded and mapped: a full
//! runtime-tools style config field by field, each refusal by its path,
//! root escapes, versions, and the default spec's round trip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cradle_core::config::{Interface, Mount, Rlimit, RlimitResource};
use cradle_core::confinement::{Capabilities, DeviceKind, DeviceNode};
use cradle_core::{Capability, IdMap, Launch, Namespace, NamespaceKind, Terminal, Time, WindowSize};
use cradle_linux::cgroup::{DeviceAccess, DeviceRule, DeviceType};
use cradle_linux::seccomp::Action;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{default_spec, spec_json, Bundle, Container, Hook, OciError};

/// A bundle directory with an empty `rootfs` and `config` as its
/// `config.json`.
fn bundle_dir(config: &Value) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs");
    write_config(dir.path(), config);
    dir
}

fn write_config(dir: &Path, config: &Value) {
    let text = serde_json::to_vec_pretty(config).expect("encodes");
    std::fs::write(dir.join("config.json"), text).expect("config.json");
}

/// The smallest config cradle launches.
fn minimal() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "root": { "path": "rootfs" },
        "process": { "user": { "uid": 0, "gid": 0 }, "args": ["/bin/true"], "cwd": "/" },
        "linux": { "namespaces": [{ "type": "mount" }] }
    })
}

/// `minimal()` with `value` at the dotted `path` (objects made on the way).
fn with(path: &str, value: Value) -> Value {
    let mut config = minimal();
    let mut at = &mut config;
    for key in path.split('.') {
        at = at
            .as_object_mut()
            .expect("an object on the way")
            .entry(key)
            .or_insert(json!({}));
    }
    *at = value;
    config
}

fn load(config: &Value) -> Result<(TempDir, Bundle), OciError> {
    let dir = bundle_dir(config);
    let bundle = Bundle::load(dir.path())?;
    Ok((dir, bundle))
}

fn launchable(config: &Value) -> (TempDir, Container) {
    let (dir, bundle) = load(config).expect("the bundle loads");
    let container = bundle.container("box").expect("maps");
    (dir, container)
}

/// The capabilities `bundle`'s container gets.
fn capabilities(bundle: &Bundle) -> Capabilities {
    let container = bundle.container("u").expect("maps");
    container.plan.config.capabilities.expect("capabilities")
}

/// The JSON path the refusal of `config` names.
fn refused(config: &Value) -> String {
    match load(config) {
        Ok(_) => panic!("loaded: {config}"),
        Err(error) => {
            let path = error.json_path().unwrap_or_else(|| panic!("no path in: {error}"));
            assert!(error.to_string().starts_with(path), "{error}");
            assert!(!error.to_string().contains('\n'), "{error}");
            path.to_owned()
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// What runtime-tools' generator writes, with every field cradle maps
/// set.
fn full() -> Value {
    let caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"];
    json!({
        "ociVersion": "1.0.2-dev",
        "root": { "path": "rootfs", "readonly": true },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro"] },
            { "destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts" },
            { "destination": "/run", "type": "none", "source": "/run", "options": ["rbind", "rslave"] },
            { "destination": "tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=64k"] }
        ],
        "process": {
            "terminal": true,
            "consoleSize": { "height": 24, "width": 80 },
            "user": { "uid": 1000, "gid": 100, "umask": 18, "additionalGids": [5, 6], "username": "ignored" },
            "args": ["/runtimetest", "--path=/"],
            "commandLine": "ignored",
            "env": ["PATH=/usr/bin:/bin", "TERM=xterm"],
            "cwd": "/work",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
                "inheritable": ["CAP_KILL"], "ambient": ["kill"]
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512 },
                { "type": "RLIMIT_CORE", "hard": 0, "soft": 0 }
            ],
            "noNewPrivileges": true,
            "oomScoreAdj": 100,
            "apparmorProfile": "",
            "selinuxLabel": ""
        },
        "hostname": "mrsdalloway",
        "domainname": "",
        "hooks": {
            "prestart": [{ "path": "/bin/pre", "args": ["pre", "1"], "env": ["A=1"], "timeout": 5 }],
            "createRuntime": [{ "path": "/bin/cr" }],
            "createContainer": [{ "path": "/bin/cc" }],
            "startContainer": [{ "path": "/bin/sc" }],
            "poststart": [{ "path": "/bin/ps" }],
            "poststop": [{ "path": "/bin/stop", "timeout": 1 }]
        },
        "annotations": { "org.example.key": "value" },
        "linux": {
            "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
            "gidMappings": [{ "containerID": 0, "hostID": 200000, "size": 65536 }],
            "sysctl": { "net.ipv4.ip_forward": "1", "kernel.shmmax": "4096" },
            "resources": {
                "devices": [
                    { "allow": false, "access": "rwm" },
                    { "allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm" },
                    { "allow": true, "type": "b", "major": 8, "minor": 20, "access": "rw" },
                    { "allow": false, "type": "c", "major": 5, "access": "m" }
                ],
                "memory": {
                    "limit": 50593792, "reservation": 40000000, "swap": 60593792,
                    "kernel": 50593792, "kernelTCP": 50593792, "swappiness": 50,
                    "disableOOMKiller": true, "checkBeforeUpdate": true
                },
                "cpu": {
                    "shares": 1024, "quota": 50000, "period": 100000,
                    "realtimeRuntime": 950000, "realtimePeriod": 1000000,
                    "cpus": "0-1", "mems": "0"
                },
                "pids": { "limit": 32 },
                "blockIO": { "weight": 500 },
                "hugepageLimits": [{ "pageSize": "2MB", "limit": 8388608 }],
                "network": { "classID": 1048577, "priorities": [{ "name": "eth0", "priority": 5 }] }
            },
            "cgroupsPath": "/cgrouptest/box",
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "user" },
                { "type": "cgroup", "path": "/proc/1/ns/cgroup" }
            ],
            "devices": [
                { "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 8630, "uid": 0, "gid": 0 },
                { "path": "/dev/sdb", "type": "b", "major": 8, "minor": 16 }
            ],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [
                    { "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW" }
                ]
            },
            "rootfsPropagation": "rslave",
            "maskedPaths": ["/proc/kcore", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys"],
            "mountLabel": "system_u:object_r:container_file_t:s0",
            "org.example.extension": { "ignored": true }
        }
    })
}

#[test]
fn a_full_config_maps_field_by_field() {
    let (dir, bundle) = load(&full()).expect("loads");
    let bundle_path = std::fs::canonicalize(dir.path()).expect("canonical");
    assert_eq!(bundle.dir(), bundle_path);
    assert_eq!(
        bundle.annotations(),
        BTreeMap::from([("org.example.key".to_owned(), "value".to_owned())])
    );
    let container = bundle.container("box").expect("maps");
    let plan = &container.plan;
    let config = &plan.config;

    // root and mounts
    assert_eq!(
        config.rootfs.as_deref(),
        Some(bundle_path.join("rootfs").as_path())
    );
    assert!(config.readonly_rootfs);
    assert!(!config.default_mounts);
    assert_eq!(
        config.mounts,
        [
            Mount {
                source: Some(PathBuf::from("proc")),
                destination: PathBuf::from("/proc"),
                fstype: Some("proc".to_owned()),
                options: Vec::new(),
            },
            Mount {
                source: Some(bundle_path.join("data")),
                destination: PathBuf::from("/data"),
                fstype: None,
                options: strings(&["rbind", "ro"]),
            },
            Mount {
                source: Some(PathBuf::from("/etc/hosts")),
                destination: PathBuf::from("/etc/hosts"),
                fstype: None,
                options: strings(&["bind"]),
            },
            Mount {
                source: Some(PathBuf::from("/run")),
                destination: PathBuf::from("/run"),
                fstype: None,
                options: strings(&["rbind", "rslave"]),
            },
            Mount {
                source: Some(PathBuf::from("tmpfs")),
                destination: PathBuf::from("/tmp"),
                fstype: Some("tmpfs".to_owned()),
                options: strings(&["nosuid", "size=64k"]),
            },
        ]
    );
    assert_eq!(config.rootfs_propagation.as_deref(), Some("rslave"));

    // process
    assert_eq!(config.args, ["/runtimetest", "--path=/"]);
    assert_eq!(config.env, ["PATH=/usr/bin:/bin", "TERM=xterm"]);
    assert_eq!(config.cwd, PathBuf::from("/work"));
    assert_eq!(config.user.uid, 1000);
    assert_eq!(config.user.gid, 100);
    assert_eq!(config.user.additional_gids, [5, 6]);
    assert_eq!(config.umask, Some(0o22));
    let caps = config.capabilities.as_ref().expect("capabilities");
    let set = BTreeSet::from([
        Capability::Chown,
        Capability::Kill,
        Capability::NetBindService,
        Capability::AuditWrite,
    ]);
    assert_eq!(caps.bounding, set);
    assert_eq!(caps.effective, set);
    assert_eq!(caps.permitted, set);
    assert_eq!(caps.inheritable, BTreeSet::from([Capability::Kill]));
    assert_eq!(caps.ambient, BTreeSet::from([Capability::Kill]));
    assert_eq!(
        config.rlimits,
        [
            Rlimit {
                resource: RlimitResource::Nofile,
                soft: 512,
                hard: 1024
            },
            Rlimit {
                resource: RlimitResource::Core,
                soft: 0,
                hard: 0
            },
        ]
    );
    assert!(config.no_new_privileges);
    assert_eq!(config.oom_score_adj, Some(100));
    assert_eq!(
        config.terminal,
        Terminal::Console {
            size: Some(WindowSize { rows: 24, cols: 80 })
        }
    );
    assert!(!config.hold);
    assert_eq!(config.seccomp, None);

    // namespaces, host name, id maps
    let mut expected: Vec<Namespace> = [
        NamespaceKind::Pid,
        NamespaceKind::Net,
        NamespaceKind::Ipc,
        NamespaceKind::Uts,
        NamespaceKind::Mount,
        NamespaceKind::User,
    ]
    .into_iter()
    .map(Namespace::new)
    .collect();
    expected.push(Namespace::join(NamespaceKind::Cgroup, "/proc/1/ns/cgroup"));
    assert_eq!(config.namespaces, expected);
    assert_eq!(config.networks, [Interface::Loopback]);
    assert_eq!(config.hostname.as_deref(), Some("mrsdalloway"));
    let maps = plan.id_maps.as_ref().expect("id maps");
    assert_eq!(
        maps.uid,
        [IdMap {
            container: 0,
            host: 100_000,
            count: 65536
        }]
    );
    assert_eq!(
        maps.gid,
        [IdMap {
            container: 0,
            host: 200_000,
            count: 65536
        }]
    );
    assert!(!maps.deny_setgroups);

    // devices, sysctls, paths
    assert_eq!(
        config.devices,
        [
            DeviceNode {
                path: PathBuf::from("/dev/fuse"),
                kind: DeviceKind::Char,
                major: 10,
                minor: 229,
                mode: 0o666,
                uid: 0,
                gid: 0,
            },
            DeviceNode {
                path: PathBuf::from("/dev/sdb"),
                kind: DeviceKind::Block,
                major: 8,
                minor: 16,
                mode: 0o666,
                uid: 0,
                gid: 0,
            },
        ]
    );
    assert_eq!(
        config.sysctls,
        BTreeMap::from([
            ("kernel.shmmax".to_owned(), "4096".to_owned()),
            ("net.ipv4.ip_forward".to_owned(), "1".to_owned()),
        ])
    );
    assert_eq!(
        config.masked_paths,
        [PathBuf::from("/proc/kcore"), PathBuf::from("/sys/firmware")]
    );
    assert_eq!(config.readonly_paths, [PathBuf::from("/proc/sys")]);

    // the cgroup
    assert!(plan.cgroup);
    let cgroup = container.cgroup.as_ref().expect("a cgroup");
    assert_eq!(cgroup.name, "box");
    assert_eq!(cgroup.parent.as_deref(), Some(Path::new("/cgrouptest")));
    let resources = &cgroup.resources;
    assert_eq!(resources.memory_max, Some(50_593_792));
    assert_eq!(resources.memory_reservation, Some(40_000_000));
    assert_eq!(resources.memory_swap_max, Some(10_000_000));
    assert_eq!(resources.memory_kernel, None, "deprecated, ignored");
    assert_eq!(resources.memory_kernel_tcp, Some(50_593_792));
    assert_eq!(resources.memory_swappiness, Some(50));
    assert_eq!(resources.oom_kill_disable, Some(true));
    assert_eq!(resources.cpu_shares, Some(1024));
    assert_eq!(resources.cpu_weight, None);
    assert_eq!(resources.cpu_quota_us, Some(50_000));
    assert_eq!(resources.cpu_period_us, Some(100_000));
    assert_eq!(resources.cpu_rt_runtime_us, Some(950_000));
    assert_eq!(resources.cpu_rt_period_us, Some(1_000_000));
    assert_eq!(resources.cpuset_cpus.as_deref(), Some("0-1"));
    assert_eq!(resources.cpuset_mems.as_deref(), Some("0"));
    assert_eq!(resources.pids_max, Some(32));
    assert_eq!(resources.blkio_weight, Some(500));
    assert_eq!(resources.hugetlb, [("2MB".to_owned(), 8_388_608)]);
    assert_eq!(resources.net_cls_classid, Some(1_048_577));
    assert_eq!(resources.net_prio, [("eth0".to_owned(), 5)]);
    let rule = |allow, kind, major, minor, access: &str| DeviceRule {
        allow,
        kind,
        major,
        minor,
        access: access.parse().expect("access"),
    };
    let mut rules = vec![
        rule(false, DeviceType::All, None, None, "rwm"),
        rule(true, DeviceType::Char, Some(10), Some(229), "rwm"),
        rule(true, DeviceType::Block, Some(8), Some(20), "rw"),
        rule(false, DeviceType::Char, Some(5), None, "m"),
    ];
    rules.extend(DeviceRule::container_default().into_iter().skip(1));
    rules.push(rule(true, DeviceType::Char, Some(10), Some(229), "rwm"));
    rules.push(rule(true, DeviceType::Block, Some(8), Some(16), "rwm"));
    assert_eq!(resources.devices.as_deref(), Some(&rules[..]));

    // seccomp, hooks
    let policy = container.seccomp.as_ref().expect("a policy");
    assert_eq!(policy.default_action, Action::Errno(1));
    assert_eq!(policy.syscalls.len(), 1);
    assert_eq!(policy.syscalls[0].action, Action::Allow);
    let hooks = &container.hooks;
    assert_eq!(
        hooks.prestart,
        [Hook {
            path: PathBuf::from("/bin/pre"),
            args: strings(&["pre", "1"]),
            env: strings(&["A=1"]),
            timeout: Some(Duration::from_secs(5)),
        }]
    );
    assert_eq!(hooks.create_runtime[0].path, PathBuf::from("/bin/cr"));
    assert_eq!(hooks.create_container[0].path, PathBuf::from("/bin/cc"));
    assert_eq!(hooks.start_container[0].path, PathBuf::from("/bin/sc"));
    assert_eq!(hooks.poststart[0].path, PathBuf::from("/bin/ps"));
    assert_eq!(hooks.poststop[0].timeout, Some(Duration::from_secs(1)));

    // and the core takes the plan
    Launch::new(container.plan, Time::ZERO).expect("a valid plan");
}

#[test]
fn the_default_spec_round_trips_through_load_and_container() {
    let config = spec_json(&default_spec()).expect("encodes");
    let (_dir, container) = launchable(&config);
    let plan = container.plan;
    assert_eq!(plan.config.args, ["sh"]);
    assert_eq!(plan.config.hostname.as_deref(), Some("cradle"));
    let caps = plan.config.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.bounding, Capability::DEFAULT.into_iter().collect());
    assert!(caps.ambient.is_empty());
    assert_eq!(plan.config.mounts.len(), 7);
    assert_eq!(plan.config.masked_paths.len(), 10);
    assert_eq!(plan.config.readonly_paths.len(), 5);
    assert_eq!(
        plan.config.rlimits,
        [Rlimit {
            resource: RlimitResource::Nofile,
            soft: 1024,
            hard: 1024
        }]
    );
    assert!(container.seccomp.is_none());
    let cgroup = container.cgroup.expect("a cgroup");
    assert_eq!(cgroup.name, "cradle-box");
    assert_eq!(cgroup.parent, None);
    let rules = cgroup.resources.devices.expect("device rules");
    assert_eq!(rules, DeviceRule::container_default());
    Launch::new(plan, Time::ZERO).expect("a valid plan");
}

#[test]
fn the_minimal_config_has_a_cgroup_named_after_the_id() {
    let (_dir, bundle) = load(&minimal()).expect("loads");
    let container = bundle.container("web-1").expect("maps");
    let cgroup = container.cgroup.expect("a cgroup");
    assert_eq!((cgroup.name.as_str(), cgroup.parent), ("cradle-web-1", None));
    assert_eq!(cgroup.resources.devices, None);
    assert!(container.hooks.is_empty());
    assert_eq!(container.plan.config.capabilities, None);
    assert!(container.plan.config.env.is_empty());
    assert!(matches!(
        bundle.container("a/b"),
        Err(OciError::ContainerId { .. })
    ));
}

#[test]
fn mount_and_pid_namespaces_joined_by_path_are_mapped() {
    let config = with(
        "linux.namespaces",
        json!([
            { "type": "mount", "path": "/proc/1/ns/mnt" },
            { "type": "pid", "path": "/proc/1/ns/pid" },
        ]),
    );
    let (_dir, container) = launchable(&config);
    assert_eq!(
        container.plan.config.namespaces,
        [
            Namespace::join(NamespaceKind::Mount, "/proc/1/ns/mnt"),
            Namespace::join(NamespaceKind::Pid, "/proc/1/ns/pid"),
        ]
    );
}

#[test]
fn a_bundle_without_namespaces_inherits_the_runtimes() {
    let mut config = with("linux", json!({}));
    config["mounts"] = json!([{ "destination": "/proc", "type": "proc", "source": "proc" }]);
    config["root"]["readonly"] = json!(true);
    let (dir, container) = launchable(&config);
    let config = &container.plan.config;
    assert!(config.namespaces.is_empty(), "{:?}", config.namespaces);
    // The table is made below the rootfs, in the runtime's mount namespace.
    assert_eq!(
        config.rootfs.as_deref(),
        Some(dir.path().join("rootfs").as_path())
    );
    assert!(!config.default_mounts);
    assert_eq!(config.mounts.len(), 1);
    assert!(config.readonly_rootfs);
    assert_eq!(config.networks, []);
}

#[test]
fn a_rootfs_without_a_mount_namespace_is_warned_of_where_chroot_can_be_left() {
    let chroot_warnings = |config: &Value| {
        let (_dir, bundle) = load(config).expect("loads");
        let warnings = bundle.warnings().to_vec();
        warnings
            .into_iter()
            .filter(|warning| warning.contains("no mount namespace"))
            .count()
    };
    let without = with("linux", json!({}));
    assert_eq!(chroot_warnings(&without), 1);
    assert_eq!(chroot_warnings(&minimal()), 0, "with a mount namespace");
    // No process of it can chroot: nothing to say.
    let mut no_chroot = without.clone();
    no_chroot["process"]["capabilities"] = json!({ "bounding": ["CAP_KILL"] });
    assert_eq!(chroot_warnings(&no_chroot), 0);
}

#[test]
fn versions_outside_one_zero_to_one_two_are_refused() {
    for version in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1"] {
        assert!(load(&with("ociVersion", json!(version))).is_ok(), "{version}");
    }
    for version in [
        json!("0.6.0"),
        json!("1.3.0"),
        json!("2.0.0"),
        json!("latest"),
        json!(1),
    ] {
        assert_eq!(
            refused(&with("ociVersion", version.clone())),
            "ociVersion",
            "{version}"
        );
    }
    let mut config = minimal();
    config.as_object_mut().expect("object").remove("ociVersion");
    assert_eq!(refused(&config), "ociVersion");
}

#[test]
fn each_refusal_names_its_path() {
    let cases: Vec<(Value, &str)> = vec![
        (
            with("process.apparmorProfile", json!("docker-default")),
            "process.apparmorProfile",
        ),
        (
            with("process.selinuxLabel", json!("label")),
            "process.selinuxLabel",
        ),
        (
            with(
                "process.ioPriority",
                json!({ "class": "IOPRIO_CLASS_RT", "priority": 1 }),
            ),
            "process.ioPriority",
        ),
        (
            with("process.scheduler", json!({ "policy": "SCHED_OTHER" })),
            "process.scheduler",
        ),
        (
            with("process.execCPUAffinity", json!({ "initial": "0" })),
            "process.execCPUAffinity",
        ),
        (with("process.args", json!([])), "process.args"),
        (with("process.cwd", json!("work")), "process.cwd"),
        (with("process.oomScoreAdj", json!(1001)), "process.oomScoreAdj"),
        (
            with("process.capabilities", json!({ "effective": ["CAP_KILL"] })),
            "process.capabilities",
        ),
        (
            with(
                "process.rlimits",
                json!([{ "type": "RLIMIT_NOFILE", "hard": 1, "soft": 1 }, { "type": "RLIMIT_NOFILE", "hard": 2, "soft": 2 }]),
            ),
            "process.rlimits[1].type",
        ),
        (
            with(
                "process.rlimits",
                json!([{ "type": "RLIMIT_NOFILE", "hard": 1, "soft": 2 }]),
            ),
            "process.rlimits[0].soft",
        ),
        (
            with(
                "process.rlimits",
                json!([{ "type": "RLIMIT_BOGUS", "hard": 1, "soft": 1 }]),
            ),
            "process.rlimits[0].type",
        ),
        (
            with("process.consoleSize", json!({ "height": 70000, "width": 1 })),
            "ignored: no terminal",
        ),
        (with("hostname", json!("box")), "hostname"),
        (with("domainname", json!("example.org")), "domainname"),
        (with("root.path", json!("")), "root.path"),
        (with("root.path", json!("missing")), "root.path"),
        (
            with("mounts", json!([{ "destination": "relative", "type": "tmpfs" }])),
            "mounts[0].destination",
        ),
        (with("mounts", json!([{ "destination": "/x" }])), "mounts[0].type"),
        (
            with("mounts", json!([{ "destination": "/x", "type": "bind" }])),
            "mounts[0].source",
        ),
        (
            with(
                "mounts",
                json!([{ "destination": "/x", "type": "bind", "source": "/y", "options": ["rbind", "idmap"] }]),
            ),
            "mounts[0].options[1]",
        ),
        (
            with("linux.rootfsPropagation", json!("sideways")),
            "linux.rootfsPropagation",
        ),
        (
            with(
                "linux.namespaces",
                json!([{ "type": "mount" }, { "type": "pid" }, { "type": "pid" }]),
            ),
            "linux.namespaces[2].type",
        ),
        (
            with(
                "linux.namespaces",
                json!([{ "type": "mount" }, { "type": "net", "path": "/x" }]),
            ),
            "linux.namespaces[1].type",
        ),
        (
            with(
                "linux.namespaces",
                json!([{ "type": "mount" }, { "type": "network", "path": "ns/net" }]),
            ),
            "linux.namespaces[1].path",
        ),
        (
            with(
                "linux",
                json!({ "namespaces": [{ "type": "pid" }], "maskedPaths": ["/proc/kcore"] }),
            ),
            "linux.maskedPaths",
        ),
        (
            with(
                "linux",
                json!({ "namespaces": [], "readonlyPaths": ["/proc/sys"] }),
            ),
            "linux.readonlyPaths",
        ),
        (
            with("linux", json!({ "rootfsPropagation": "rshared" })),
            "linux.rootfsPropagation",
        ),
        (
            with(
                "linux.uidMappings",
                json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]),
            ),
            "linux.uidMappings",
        ),
        (
            with(
                "linux.namespaces",
                json!([{ "type": "mount" }, { "type": "user" }]),
            ),
            "linux.uidMappings",
        ),
        (
            with(
                "linux.devices",
                json!([{ "path": "/etc/passwd", "type": "c", "major": 1, "minor": 3 }]),
            ),
            "linux.devices[0].path",
        ),
        (
            with(
                "linux.devices",
                json!([{ "path": "/dev/x", "type": "c", "major": -1, "minor": 3 }]),
            ),
            "linux.devices[0].major",
        ),
        (
            with("linux.sysctl", json!({ "vm.drop_caches": "1" })),
            "linux.sysctl[\"vm.drop_caches\"]",
        ),
        (
            with("linux.sysctl", json!({ "net.ipv4.ip_forward": "1" })),
            "linux.sysctl[\"net.ipv4.ip_forward\"]",
        ),
        (
            with("linux.maskedPaths", json!(["proc/kcore"])),
            "linux.maskedPaths[0]",
        ),
        (
            with("linux.readonlyPaths", json!(["/proc/sys", "sys"])),
            "linux.readonlyPaths[1]",
        ),
        (with("linux.intelRdt", json!({ "closID": "x" })), "linux.intelRdt"),
        (
            with("linux.personality", json!({ "domain": "LINUX32" })),
            "linux.personality",
        ),
        (
            with("linux.memoryPolicy", json!({ "mode": "MPOL_BIND", "nodes": "0" })),
            "linux.memoryPolicy",
        ),
        (
            with("linux.netDevices", json!({ "eth1": {} })),
            "linux.netDevices",
        ),
        (
            with("linux.timeOffsets", json!({ "monotonic": { "secs": 1 } })),
            "linux.timeOffsets",
        ),
        (
            with("linux.cgroupsPath", json!("system.slice:cradle:box")),
            "linux.cgroupsPath",
        ),
        (with("linux.cgroupsPath", json!("/a/../b")), "linux.cgroupsPath"),
        (
            with("linux.resources.memory", json!({ "swap": 1000 })),
            "linux.resources.memory.swap",
        ),
        (
            with("linux.resources.memory", json!({ "limit": 2000, "swap": 1000 })),
            "linux.resources.memory.swap",
        ),
        (
            with("linux.resources.memory", json!({ "limit": -5 })),
            "linux.resources.memory.limit",
        ),
        (
            with("linux.resources.memory", json!({ "swappiness": 101 })),
            "linux.resources.memory.swappiness",
        ),
        (
            with("linux.resources.memory", json!({ "useHierarchy": true })),
            "linux.resources.memory.useHierarchy",
        ),
        (
            with("linux.resources.cpu", json!({ "quota": -2 })),
            "linux.resources.cpu.quota",
        ),
        (
            with("linux.resources.cpu", json!({ "idle": 1 })),
            "linux.resources.cpu.idle",
        ),
        (
            with("linux.resources.cpu", json!({ "burst": 1 })),
            "linux.resources.cpu.burst",
        ),
        (
            with("linux.resources.blockIO", json!({ "weight": 5 })),
            "linux.resources.blockIO.weight",
        ),
        (
            with("linux.resources.blockIO", json!({ "leafWeight": 10 })),
            "linux.resources.blockIO.leafWeight",
        ),
        (
            with(
                "linux.resources.blockIO",
                json!({ "weightDevice": [{ "major": 8, "minor": 0, "weight": 10 }] }),
            ),
            "linux.resources.blockIO.weightDevice",
        ),
        (
            with(
                "linux.resources.blockIO",
                json!({ "throttleReadBpsDevice": [{ "major": 8, "minor": 0, "rate": 1 }] }),
            ),
            "linux.resources.blockIO.throttleReadBpsDevice",
        ),
        (
            with(
                "linux.resources.blockIO",
                json!({ "throttleWriteIOPSDevice": [{ "major": 8, "minor": 0, "rate": 1 }] }),
            ),
            "linux.resources.blockIO.throttleWriteIOPSDevice",
        ),
        (
            with("linux.resources.unified", json!({ "memory.high": "1G" })),
            "linux.resources.unified",
        ),
        (
            with("linux.resources.rdma", json!({ "mlx5_0": { "hcaHandles": 1 } })),
            "linux.resources.rdma",
        ),
        (
            with(
                "linux.resources.hugepageLimits",
                json!([{ "pageSize": "2MB", "limit": -1 }]),
            ),
            "linux.resources.hugepageLimits[0].limit",
        ),
        (
            with(
                "linux.resources.devices",
                json!([{ "allow": false, "access": "rwx" }]),
            ),
            "linux.resources.devices[0].access",
        ),
        (
            with(
                "linux.resources.devices",
                json!([{ "allow": true, "type": "a", "access": "r" }]),
            ),
            "linux.resources.devices[0].access",
        ),
        (
            with(
                "linux.resources.devices",
                json!([{ "allow": true, "type": "a", "major": 1 }]),
            ),
            "linux.resources.devices[0]",
        ),
        (
            with("linux.seccomp", json!({ "defaultAction": "SCMP_ACT_NOTIFY" })),
            "linux.seccomp",
        ),
        (
            with(
                "linux.seccomp",
                json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": "read" }),
            ),
            "linux.seccomp.syscalls",
        ),
        (
            // docker's one-name form, which runc and crun would ignore
            with(
                "linux.seccomp",
                json!({
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "syscalls": [{ "name": "read", "action": "SCMP_ACT_ALLOW" }]
                }),
            ),
            "linux.seccomp.syscalls[0]",
        ),
        (with("linux.seccomp", json!(["SCMP_ACT_ALLOW"])), "linux.seccomp"),
        // serde would read these by position; Go refuses them.
        (with("root", json!(["rootfs", false])), "root"),
        (with("process.user", json!([0, 0])), "process.user"),
        (
            with("linux.resources.memory", json!([1024])),
            "linux.resources.memory",
        ),
        (with("linux.namespaces", json!([["pid"]])), "linux.namespaces[0]"),
        (
            with(
                "linux.seccomp",
                json!({ "defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/agent.sock" }),
            ),
            "linux.seccomp.listenerPath",
        ),
        (
            with("hooks.prestart", json!([{ "path": "relative" }])),
            "hooks.prestart[0].path",
        ),
        (
            with("hooks.poststop", json!([{ "path": "/bin/x", "timeout": 0 }])),
            "hooks.poststop[0].timeout",
        ),
        (with("windows", json!({ "layerFolders": ["C:\\"] })), "windows"),
        (with("vm", json!({ "kernel": { "path": "/vmlinuz" } })), "vm"),
        (
            with("linux.resources.pids", json!({ "limit": "many" })),
            "linux.resources.pids.limit",
        ),
    ];
    for (config, path) in cases {
        if path.starts_with("ignored") {
            assert!(load(&config).is_ok(), "{path}: {config}");
        } else {
            assert_eq!(refused(&config), path, "{config}");
        }
    }
}

#[test]
fn the_root_must_exist_and_stay_in_the_bundle() {
    assert_eq!(refused(&with("root", json!(null))), "root");

    // `..` out of the bundle, to a directory that exists.
    let outside = tempfile::tempdir().expect("a temporary directory");
    let escape = format!(
        "../{}",
        outside.path().file_name().expect("a name").to_string_lossy()
    );
    let dir = tempfile::Builder::new()
        .tempdir_in(outside.path().parent().expect("a parent"))
        .expect("a sibling directory");
    write_config(dir.path(), &with("root.path", json!(escape)));
    let error = Bundle::load(dir.path()).expect_err("escapes");
    assert_eq!(error.json_path(), Some("root.path"), "{error}");
    assert!(error.to_string().contains("leaves the bundle"), "{error}");

    // A symlink out of the bundle.
    let dir = bundle_dir(&with("root.path", json!("link")));
    std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).expect("symlink");
    let error = Bundle::load(dir.path()).expect_err("escapes");
    assert!(error.to_string().contains("leaves the bundle"), "{error}");

    // A symlink inside the bundle is followed, and `.` is the bundle.
    let dir = bundle_dir(&with("root.path", json!("inside")));
    std::os::unix::fs::symlink("rootfs", dir.path().join("inside")).expect("symlink");
    let bundle = Bundle::load(dir.path()).expect("stays inside");
    let real = std::fs::canonicalize(dir.path()).expect("canonical");
    let rootfs = |bundle: &Bundle| bundle.container("c").expect("maps").plan.config.rootfs;
    assert_eq!(rootfs(&bundle), Some(real.join("rootfs")));
    write_config(dir.path(), &with("root.path", json!(".")));
    assert_eq!(
        rootfs(&Bundle::load(dir.path()).expect("the bundle itself")),
        Some(real.clone())
    );

    // An absolute path may be anywhere; a file is no root.
    write_config(dir.path(), &with("root.path", json!(outside.path())));
    let outside_real = std::fs::canonicalize(outside.path()).expect("canonical");
    assert_eq!(
        rootfs(&Bundle::load(dir.path()).expect("absolute")),
        Some(outside_real)
    );
    std::fs::write(dir.path().join("file"), "").expect("a file");
    write_config(dir.path(), &with("root.path", json!("file")));
    let error = Bundle::load(dir.path()).expect_err("a file");
    assert!(error.to_string().contains("not a directory"), "{error}");
}

#[test]
fn a_missing_large_or_broken_config_names_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let error = Bundle::load(dir.path()).expect_err("no config.json");
    assert!(matches!(error, OciError::Read { .. }), "{error}");
    assert!(error.to_string().contains("config.json"), "{error}");

    std::fs::write(dir.path().join("config.json"), "{ not json").expect("write");
    let error = Bundle::load(dir.path()).expect_err("not JSON");
    assert!(matches!(error, OciError::NotJson { .. }), "{error}");

    let padding = " ".repeat(Bundle::CONFIG_CAP as usize);
    std::fs::write(dir.path().join("config.json"), format!("{{}}{padding}")).expect("write");
    let error = Bundle::load(dir.path()).expect_err("too large");
    assert!(matches!(error, OciError::TooLarge { .. }), "{error}");
}

#[test]
fn relative_mount_destinations_are_taken_from_the_root_only_in_one_zero() {
    let mounts = json!([{ "destination": "tmp", "type": "tmpfs", "source": "tmpfs" }]);
    let mut config = with("mounts", mounts);
    config["ociVersion"] = json!("1.0.1");
    let (_dir, container) = launchable(&config);
    assert_eq!(container.plan.config.mounts[0].destination, PathBuf::from("/tmp"));
    config["ociVersion"] = json!("1.1.0");
    assert_eq!(refused(&config), "mounts[0].destination");
}

#[test]
fn unlimited_values_leave_the_limits_unset() {
    let config = with(
        "linux.resources",
        json!({
            "memory": { "limit": -1, "swap": -1, "reservation": 0 },
            "cpu": { "quota": -1, "shares": 0, "cpus": "" },
            "pids": { "limit": 0 },
            "devices": []
        }),
    );
    let (_dir, container) = launchable(&config);
    let resources = container.cgroup.expect("a cgroup").resources;
    assert_eq!(resources.memory_max, None);
    assert_eq!(resources.memory_swap_max, None);
    assert_eq!(resources.memory_reservation, None);
    assert_eq!(resources.cpu_quota_us, Some(-1));
    assert_eq!(resources.cpu_shares, None);
    assert_eq!(resources.cpuset_cpus, None);
    assert_eq!(resources.pids_max, None);
    assert_eq!(resources.devices, None);
    let negative = with("linux.resources.pids", json!({ "limit": -1 }));
    let (_dir, container) = launchable(&negative);
    assert_eq!(container.cgroup.expect("a cgroup").resources.pids_max, None);
}

#[test]
fn device_rule_defaults_are_every_device_and_access() {
    let config = with(
        "linux.resources.devices",
        json!([{ "allow": false }, { "allow": true, "type": "u", "major": 4, "minor": -1, "access": "" }]),
    );
    let (_dir, container) = launchable(&config);
    let rules = container
        .cgroup
        .expect("a cgroup")
        .resources
        .devices
        .expect("rules");
    assert_eq!(
        rules[..2],
        [
            DeviceRule {
                allow: false,
                kind: DeviceType::All,
                major: None,
                minor: None,
                access: DeviceAccess::ALL,
            },
            DeviceRule {
                allow: true,
                kind: DeviceType::Char,
                major: Some(4),
                minor: None,
                access: DeviceAccess::ALL,
            },
        ]
    );
}

#[test]
fn a_terminal_without_a_size_and_a_size_without_a_terminal() {
    let config = with("process.terminal", json!(true));
    let (_dir, container) = launchable(&config);
    assert_eq!(container.plan.config.terminal, Terminal::Console { size: None });
    let config = with("process.consoleSize", json!({ "height": 10, "width": 20 }));
    let (_dir, container) = launchable(&config);
    assert_eq!(container.plan.config.terminal, Terminal::None);
}

#[test]
fn a_seccomp_profile_is_read_for_the_bounding_set() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }]
    });
    let (_dir, container) = launchable(&with("linux.seccomp", profile));
    let policy = container.seccomp.expect("a policy");
    assert_eq!(policy.default_action, Action::Allow);
    assert_eq!(policy.syscalls[0].action, Action::Errno(38));
    assert_eq!(container.plan.config.seccomp, None);
}

#[test]
fn a_fifo_device_is_made_without_a_cgroup_rule() {
    let dir = tempfile::tempdir().expect("bundle");
    std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs");
    let config = json!({
        "ociVersion": "1.1.0",
        "root": { "path": "rootfs" },
        "process": { "args": ["/bin/true"], "cwd": "/", "user": { "uid": 0, "gid": 0 } },
        "linux": {
            "namespaces": [{ "type": "mount" }],
            "devices": [{ "path": "/dev/fifo", "type": "p", "fileMode": 420 }],
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] }
        }
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config.json");
    let container = Bundle::load(dir.path())
        .expect("loads")
        .container("f")
        .expect("maps");
    let node = &container.plan.config.devices[0];
    assert_eq!(node.kind, DeviceKind::Fifo);
    assert_eq!(node.path, Path::new("/dev/fifo"));
    let rules = container
        .cgroup
        .expect("a cgroup")
        .resources
        .devices
        .expect("rules");
    assert!(
        rules
            .iter()
            .all(|rule| rule.major != Some(0) || rule.minor != Some(0)),
        "{rules:?}"
    );
}

#[test]
fn an_unknown_capability_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().expect("bundle");
    std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs");
    let config = json!({
        "ociVersion": "1.1.0",
        "root": { "path": "rootfs" },
        "process": {
            "args": ["/bin/true"], "cwd": "/", "user": { "uid": 0, "gid": 0 },
            "capabilities": { "bounding": ["CAP_CHOWN", "CAP_TEST"] }
        },
        "linux": { "namespaces": [{ "type": "mount" }] }
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config.json");
    let bundle = Bundle::load(dir.path()).expect("loads");
    assert_eq!(bundle.warnings().len(), 1);
    assert!(
        bundle.warnings()[0].contains("CAP_TEST"),
        "{:?}",
        bundle.warnings()
    );
    let caps = capabilities(&bundle);
    assert_eq!(caps.bounding.len(), 1);
}

#[test]
fn an_ambient_capability_the_kernel_cannot_raise_is_ignored_with_a_warning() {
    // As `runc spec` and `crun spec` write it: ambient, no inheritable set.
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut config = with(
        "process.capabilities",
        json!({
            "bounding": caps, "effective": caps, "permitted": caps,
            "inheritable": ["CAP_KILL"], "ambient": caps
        }),
    );
    config["ociVersion"] = json!("1.0.2-dev");
    let (_dir, bundle) = load(&config).expect("loads");
    let warnings = bundle.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("process.capabilities.ambient[0]: \"CAP_AUDIT_WRITE\""),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("process.capabilities.ambient[2]: \"CAP_NET_BIND_SERVICE\""),
        "{warnings:?}"
    );
    let caps = capabilities(&bundle);
    assert_eq!(caps.ambient, BTreeSet::from([Capability::Kill]));
    assert_eq!(caps.permitted.len(), 3);
}

#[test]
fn an_exec_process_written_by_position_is_refused() {
    let process = json!({ "args": ["/bin/true"], "cwd": "/", "user": { "uid": 0, "gid": 0 } });
    assert!(crate::ExecProcess::from_json(&process).is_ok());
    let positional = json!({ "args": ["/bin/true"], "cwd": "/", "user": [0, 0] });
    let error = crate::ExecProcess::from_json(&positional).expect_err("refused");
    assert_eq!(error.json_path(), Some("process.user"), "{error}");
}
