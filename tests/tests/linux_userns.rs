//! Containers in user namespaces of their own: as root with a range of ids
//! mapped, and as a user without privileges (`cradle-rootless`, created
//! here if missing and kept for later runs) with its own ids mapped once.
//!
//! The rootless tests re-run this test binary as that user (`setpriv`),
//! with [`INNER`] set: the inner test launches, and the outer one checks on
//! the host what the container left there.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use cradle_core::config::{Mount, Veth};
use cradle_core::{Config, ExitStatus, IdMap, IdMaps, Interface, NamespaceKind, Plan};
use cradle_linux::{Error, Options, Process};
use cradle_tests::linux::{self, busybox, new_namespaces, require_root, BusyboxRootfs};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
/// Set in the re-run test binary: the directory the container writes to.
const INNER: &str = "CRADLE_USERNS_TEST_DIR";
const ROOTLESS_USER: &str = "cradle-rootless";

/// The first host id of the range root maps, and its size.
const RANGE_START: u32 = 200_000;
const RANGE_SIZE: u32 = 65_536;

fn range_maps() -> IdMaps {
    let range = vec![IdMap {
        container: 0,
        host: RANGE_START,
        count: RANGE_SIZE,
    }];
    IdMaps {
        uid: range.clone(),
        gid: range,
        deny_setgroups: false,
    }
}

/// `/bin/sh -c script` in new user, mount, pid, uts and ipc namespaces
/// (and network, with `net`), with `maps`.
fn plan(script: &str, maps: IdMaps, net: bool) -> Plan {
    let mut config = Config::new(["/bin/sh", "-c", script]);
    let mut kinds = vec![
        NamespaceKind::User,
        NamespaceKind::Mount,
        NamespaceKind::Pid,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
    ];
    if net {
        kinds.push(NamespaceKind::Net);
    }
    config.namespaces = new_namespaces(&kinds);
    let mut plan = Plan::init(config);
    plan.id_maps = Some(maps);
    plan
}

/// A directory anyone may write to, for the containers' files.
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cradle-userns-")
        .tempdir()
        .expect("temporary directory");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).expect("chmod");
    dir
}

/// The owner of `path` on the host.
fn owner(path: &Path) -> (u32, u32) {
    let metadata = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (metadata.uid(), metadata.gid())
}

fn run(plan: Plan) -> String {
    let finished = linux::run(plan, INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0), "{}", finished.stdout);
    finished.stdout
}

#[test]
fn root_maps_a_range_and_files_made_inside_belong_to_the_mapped_ids() {
    if !require_root("root_maps_a_range_and_files_made_inside_belong_to_the_mapped_ids") {
        return;
    }
    let dir = shared_dir();
    let shown = dir.path().display();
    let script = format!("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; touch {shown}/by-root");
    let output = run(plan(&script, range_maps(), false));
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[..2], ["0", "0"], "{output}");
    let map = format!("0 {RANGE_START} {RANGE_SIZE}");
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>().join(" "), map);
    assert_eq!(lines[3].split_whitespace().collect::<Vec<_>>().join(" "), map);
    assert_eq!(owner(&dir.path().join("by-root")), (RANGE_START, RANGE_START));

    // Another user inside is another id of the range outside.
    let mut as_user = plan(&format!("id -u; touch {shown}/by-1000"), range_maps(), false);
    as_user.config.user.uid = 1000;
    as_user.config.user.gid = 1000;
    assert_eq!(run(as_user), "1000\n");
    assert_eq!(
        owner(&dir.path().join("by-1000")),
        (RANGE_START + 1000, RANGE_START + 1000)
    );
}

#[test]
fn a_rootfs_gets_proc_dev_and_sys_in_a_user_namespace() {
    if !require_root("a_rootfs_gets_proc_dev_and_sys_in_a_user_namespace") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    // Root inside is an unprivileged id outside: it must reach the files.
    fs::set_permissions(rootfs.path(), fs::Permissions::from_mode(0o755)).expect("chmod rootfs");
    // The image is the host root's, not the range's: root inside cannot
    // make the mount point, so it is there already.
    fs::create_dir(rootfs.path().join("mnt/host")).expect("mount point");
    let dir = shared_dir();
    // With a network namespace sysfs is mounted anew; without one the
    // kernel refuses that, and the host's is bound read-only.
    for net in [true, false] {
        let script = "id -u; cat /proc/self/uid_map; echo discarded > /dev/null; \
                      head -c 4 /dev/zero | wc -c; ls /sys/kernel >/dev/null && echo sys; \
                      touch /sys/x 2>/dev/null || echo sys-ro; touch /mnt/host/from-rootfs; echo $$; \
                      grep -c ' /sys/fs/cgroup ' /proc/self/mountinfo || true";
        let mut plan = plan(script, range_maps(), net);
        plan.config.rootfs = Some(rootfs.path().to_owned());
        plan.config.mounts = vec![Mount {
            source: Some(dir.path().to_owned()),
            destination: "/mnt/host".into(),
            fstype: None,
            options: vec!["bind".to_owned()],
        }];
        let output = run(plan);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines[0], "0", "net {net}: {output}");
        let map = format!("0 {RANGE_START} {RANGE_SIZE}");
        assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>().join(" "), map);
        // pid 1 of its own namespace, seen in its own /proc.
        assert_eq!(lines[2..6], ["4", "sys", "sys-ro", "1"], "net {net}: {output}");
        // A new sysfs has no cgroup mounts on it; the host's, bound with
        // what is mounted on it, has.
        let host_sys = lines[6] != "0";
        assert_eq!(host_sys, !net, "net {net}: {output}");
        assert_eq!(owner(&dir.path().join("from-rootfs")), (RANGE_START, RANGE_START));
        fs::remove_file(dir.path().join("from-rootfs")).expect("remove");
    }
}

/// The uid and gid of [`ROOTLESS_USER`], created if missing.
fn rootless_user() -> (u32, u32) {
    let lookup = || {
        let output = Command::new("id").arg(ROOTLESS_USER).output().expect("id");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let number = |key: &str| -> Option<u32> {
            let rest = text.split(key).nth(1)?;
            rest.split('(').next()?.parse().ok()
        };
        Some((number("uid=")?, number("gid=")?))
    };
    if let Some(ids) = lookup() {
        return ids;
    }
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin"])
        .arg(ROOTLESS_USER)
        .status()
        .expect("useradd");
    assert!(status.success(), "useradd {ROOTLESS_USER}: {status}");
    lookup().expect("the user just created")
}

#[test]
fn a_user_without_privileges_maps_its_own_ids_once() {
    if !require_root("a_user_without_privileges_maps_its_own_ids_once") {
        return;
    }
    let (uid, gid) = rootless_user();
    let dir = shared_dir();
    let test_binary = std::env::current_exe().expect("this test binary");
    let output = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args(["--clear-groups", "--"])
        .arg(&test_binary)
        .args(["--exact", "rootless_inner", "--nocapture", "--test-threads=1"])
        .env(INNER, dir.path())
        .output()
        .expect("run the test binary as the rootless user");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the inner test did not run: {stdout}"
    );
    assert_eq!(owner(&dir.path().join("rootless-file")), (uid, gid));
}

/// Runs as [`ROOTLESS_USER`], from the test above; does nothing otherwise.
#[test]
fn rootless_inner() {
    let Some(dir) = std::env::var_os(INNER) else {
        return;
    };
    let dir = Path::new(&dir);
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    assert_ne!(uid, 0, "the rootless test runs without root");
    let own = |id| {
        vec![IdMap {
            container: 0,
            host: id,
            count: 1,
        }]
    };
    let maps = IdMaps {
        uid: own(uid),
        gid: own(gid),
        deny_setgroups: true,
    };
    let script = format!(
        "id -u; cat /proc/self/uid_map; {} ip link show lo; touch {}/rootless-file",
        busybox().display(),
        dir.display()
    );
    let mut rootless = plan(&script, maps.clone(), true);
    rootless.config.networks = vec![Interface::Loopback];
    let output = run(rootless);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "0", "{output}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", &uid.to_string(), "1"]
    );
    assert!(lines[2].contains("<LOOPBACK,UP,LOWER_UP>"), "{output}");

    // Anything more is refused before anything is made, saying why.
    let refused = |plan: Plan| {
        let result = Process::start(plan, Options::new().init_binary(INIT));
        match result {
            Err(error @ Error::Unprivileged { .. }) => error.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    let message = refused(plan("true", range_maps(), true));
    assert!(message.contains("single mapping"), "{message}");
    let mut with_cgroup = plan("true", maps.clone(), true);
    with_cgroup.cgroup = true;
    // (The options' cgroup is checked first, so name one.)
    let result = Process::start(
        with_cgroup,
        Options::new()
            .init_binary(INIT)
            .cgroup(cradle_linux::cgroup::CgroupConfig::default()),
    );
    assert!(
        matches!(result, Err(Error::Unprivileged { reason }) if reason.contains("cgroup")),
        "{result:?}"
    );
    let mut with_veth = plan("true", maps.clone(), true);
    with_veth.config.networks = vec![Interface::Veth(Veth {
        host_name: "crvrootless".into(),
        peer_name: "crvrootlessp".into(),
        name: "eth0".into(),
        ..Veth::default()
    })];
    let message = refused(with_veth);
    assert!(message.contains("loopback"), "{message}");
    let mut without_userns = plan("true", maps, true);
    without_userns.id_maps = None;
    without_userns
        .config
        .namespaces
        .retain(|ns| ns.kind != NamespaceKind::User);
    let message = refused(without_userns);
    assert!(message.contains("user namespace"), "{message}");
}
