//! The init process with a busybox rootfs, as root: `/` is the rootfs,
//! `/proc`, `/dev` and `/sys` are the container's own, and nothing it mounts
//! reaches the host.

use std::fs;

use cradle_core::{Config, ExitStatus, NamespaceKind, Plan};
use cradle_tests::linux::{self, new_namespaces, require_root, run, start_captured, unique, BusyboxRootfs};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

const NAMESPACES: [NamespaceKind; 4] = [
    NamespaceKind::Mount,
    NamespaceKind::Pid,
    NamespaceKind::Uts,
    NamespaceKind::Ipc,
];

fn in_rootfs(rootfs: &BusyboxRootfs, script: &str) -> Config {
    let mut config = Config::new(["/bin/sh", "-c", script]);
    config.namespaces = new_namespaces(&NAMESPACES);
    config.rootfs = Some(rootfs.path().to_owned());
    config
}

#[test]
fn the_rootfs_is_root() {
    if !require_root("the_rootfs_is_root") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    let marker = unique("marker");
    rootfs.write("etc/marker", &marker);
    let config = in_rootfs(&rootfs, "cat /etc/marker; echo; ls /; echo $PATH");
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0), "{finished:?}");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines[0], marker);
    // Only what the rootfs holds: no trace of the host's directories.
    let listing: Vec<&str> = lines[1..lines.len() - 1]
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert_eq!(
        listing,
        ["bin", "dev", "etc", "mnt", "proc", "sys", "tmp"],
        "{finished:?}"
    );
    assert_eq!(
        lines[lines.len() - 1],
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
}

#[test]
fn proc_shows_only_the_container() {
    if !require_root("proc_shows_only_the_container") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    // ps replaces the shell: the container then holds one process, with
    // nothing else being forked while ps reads /proc (a pipeline's tail
    // could be missing from the list, or not).
    let config = in_rootfs(&rootfs, "echo /proc/[0-9]*; exec ps -o pid,comm");
    let finished = run(Plan::init(config), INIT).expect("launch");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines[0], "/proc/1", "{finished:?}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(header, ["PID", "COMMAND"], "{finished:?}");
    let processes: Vec<Vec<&str>> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(processes, [["1", "ps"]], "{finished:?}");
}

#[test]
fn dev_and_sys_are_minimal_and_sys_is_read_only() {
    if !require_root("dev_and_sys_are_minimal_and_sys_is_read_only") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    let script = "ls /dev; echo x > /dev/null && echo null-ok; \
                  head -c 4 /dev/zero | wc -c; \
                  grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
                  touch /sys/x 2>/dev/null || echo sys-ro";
    let finished = run(Plan::init(in_rootfs(&rootfs, script)), INIT).expect("launch");
    let words: Vec<&str> = finished.stdout.split_whitespace().collect();
    let expected_dev = [
        "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom",
        "zero",
    ];
    assert_eq!(words[..expected_dev.len()], expected_dev, "{finished:?}");
    assert_eq!(
        words[expected_dev.len()..],
        ["null-ok", "4", "ro", "sys-ro"],
        "{finished:?}"
    );
}

#[test]
fn nothing_the_container_mounts_reaches_the_host() {
    if !require_root("nothing_the_container_mounts_reaches_the_host") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    let source = unique("cradle-tmpfs");
    let script =
        format!("mount -t tmpfs {source} /mnt && grep -c {source} /proc/self/mountinfo && exec sleep 30");
    let (mut process, mut stdout) =
        start_captured(Plan::init(in_rootfs(&rootfs, &script)), INIT).expect("launch");
    // Mounted, and seen inside.
    assert_eq!(linux::read_line(&mut stdout, linux::DEADLINE), "1\n");
    let host = fs::read_to_string("/proc/self/mountinfo").expect("host mountinfo");
    assert!(!host.contains(&source), "the container's tmpfs is on the host");
    let rootfs_path = rootfs.path().display().to_string();
    assert!(
        !host.contains(&rootfs_path),
        "the rootfs bind mount is on the host"
    );
    process.terminate().expect("terminate");
}

#[test]
fn read_only_and_masked_paths() {
    if !require_root("read_only_and_masked_paths") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    rootfs.write("etc/secret", "secret");
    // Two masked directories: the second gets a bind mount of the first's
    // tmpfs; both read empty and refuse writes.
    let script = "touch /etc/new 2>/dev/null || echo etc-ro; \
                  cat /etc/secret | wc -c; \
                  ls /mnt | wc -l; touch /mnt/x 2>/dev/null || echo mnt-ro; \
                  ls -A /srv | wc -l; mkdir /srv/x 2>/dev/null || echo srv-ro; \
                  touch /tmp/x && echo tmp-rw";
    let mut config = in_rootfs(&rootfs, script);
    fs::create_dir(rootfs.path().join("mnt/hidden")).expect("mkdir");
    fs::create_dir(rootfs.path().join("srv")).expect("mkdir");
    rootfs.write("srv/hidden", "hidden");
    config.readonly_paths = vec!["/etc".into(), "/no/such/path".into()];
    config.masked_paths = vec![
        "/etc/secret".into(),
        "/mnt".into(),
        "/no/such/file".into(),
        "/srv".into(),
    ];
    let finished = run(Plan::init(config), INIT).expect("launch");
    let words: Vec<&str> = finished.stdout.split_whitespace().collect();
    assert_eq!(
        words,
        ["etc-ro", "0", "0", "mnt-ro", "0", "srv-ro", "tmp-rw"],
        "{finished:?}"
    );
}

#[test]
fn config_mounts_are_made_inside() {
    if !require_root("config_mounts_are_made_inside") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    let shared = tempfile::tempdir().expect("temporary directory");
    fs::write(shared.path().join("file"), "from the host").expect("write");
    let mut config = in_rootfs(
        &rootfs,
        "cat /data/file; echo; touch /data/new 2>/dev/null || echo ro; df /scratch | tail -1 | cut -d' ' -f1",
    );
    config.mounts = vec![
        cradle_core::config::Mount {
            source: Some(shared.path().to_owned()),
            destination: "/data".into(),
            fstype: None,
            options: vec!["rbind".into(), "ro".into()],
        },
        cradle_core::config::Mount {
            source: Some("scratch".into()),
            destination: "/scratch".into(),
            fstype: Some("tmpfs".into()),
            options: vec!["nosuid".into(), "size=1m".into()],
        },
    ];
    let finished = run(Plan::init(config), INIT).expect("launch");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines, ["from the host", "ro", "scratch"], "{finished:?}");
    assert!(!shared.path().join("new").exists());
}

/// A destination in the image that is a symlink through `/proc` to the
/// host's files (here the test's own root, seen by a container without a
/// pid namespace of its own) is resolved inside the rootfs and refused:
/// nothing is made on the host, nothing mounted there.
#[test]
fn a_mount_destination_through_proc_reaches_nothing_of_the_host() {
    if !require_root("a_mount_destination_through_proc_reaches_nothing_of_the_host") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    let host = tempfile::tempdir().expect("a host directory");
    let through_proc = format!("/proc/{}/root{}", std::process::id(), host.path().display());
    std::os::unix::fs::symlink(&through_proc, rootfs.path().join("mnt/volume")).expect("symlink");
    let shared = tempfile::tempdir().expect("the bind source");
    for (fstype, source) in [
        (None, shared.path().to_owned()),
        (Some("tmpfs"), "scratch".into()),
    ] {
        let mut config = in_rootfs(&rootfs, "true");
        // Without a pid namespace: its /proc shows the host's processes.
        config.namespaces = new_namespaces(&[NamespaceKind::Mount, NamespaceKind::Uts]);
        config.mounts = vec![cradle_core::config::Mount {
            source: Some(source),
            destination: "/mnt/volume/made/here".into(),
            fstype: fstype.map(str::to_owned),
            options: if fstype.is_none() {
                vec!["bind".into()]
            } else {
                Vec::new()
            },
        }];
        let error = linux::child_error(cradle_linux::Process::start(
            Plan::init(config),
            cradle_linux::Options::new().init_binary(INIT),
        ));
        assert_eq!(
            error.step,
            cradle_core::ChildStep::Mounts,
            "{fstype:?}: {error:?}"
        );
        assert!(
            fs::read_dir(host.path())
                .expect("the host directory")
                .next()
                .is_none(),
            "{fstype:?}: something was made on the host"
        );
    }
}

/// A relative bind source is named from the launcher's working directory
/// (cargo runs this test in the crate's), not looked up in the rootfs,
/// whose symlinks lead elsewhere; a bind with `remount` gets its flags.
#[test]
fn a_relative_bind_source_is_the_launchers_and_remount_binds_are_made() {
    if !require_root("a_relative_bind_source_is_the_launchers_and_remount_binds_are_made") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    // The same name in the image, leading to the host's /etc.
    std::os::unix::fs::symlink("/etc", rootfs.path().join("src")).expect("symlink");
    assert!(
        std::path::Path::new("src/bin/cradle-test-init.rs").exists(),
        "run from the crate"
    );
    let mut config = in_rootfs(
        &rootfs,
        "ls /data | grep -c cradle-test-init.rs; touch /data/new 2>/dev/null || echo ro",
    );
    config.mounts = vec![cradle_core::config::Mount {
        source: Some("src/bin".into()),
        destination: "/data".into(),
        fstype: None,
        options: vec!["bind".into(), "remount".into(), "ro".into()],
    }];
    let finished = run(Plan::init(config), INIT).expect("launch");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines, ["1", "ro"], "{finished:?}");
}
