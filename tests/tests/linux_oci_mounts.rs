//! An OCI bundle's mount table (`Config::default_mounts` off), as root:
//! the config's mounts are the container's whole table, made inside the
//! rootfs (symlinks in the image resolved there, never on the host), with
//! the standard device nodes in the `/dev` they leave, the container's own
//! cgroups, the root's propagation and the umask asked for.

use std::fs;
use std::path::{Path, PathBuf};

use cradle_core::config::Mount;
use cradle_core::{ChildError, ChildStep, Config, ExitStatus, LaunchError, NamespaceKind, Plan};
use cradle_linux::cgroup::{CgroupConfig, Resources};
use cradle_linux::{Error, Options, Process};
use cradle_tests::linux::{self, require_root, run, start_captured, unique, BusyboxRootfs, CgroupTurn};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

/// The names of this suite's cgroups start so (see [`CgroupTurn`]).
const CGROUP_PREFIX: &str = "cradle-oci-mounts-";

fn entry(source: &str, destination: &str, fstype: Option<&str>, options: &[&str]) -> Mount {
    Mount {
        source: Some(source.into()),
        destination: destination.into(),
        fstype: fstype.map(str::to_owned),
        options: options.iter().map(|o| o.to_string()).collect(),
    }
}

/// What runc's default `config.json` mounts, plus a read-only cgroup
/// tree.
fn oci_defaults() -> Vec<Mount> {
    vec![
        entry("proc", "/proc", Some("proc"), &["nosuid", "noexec", "nodev"]),
        entry(
            "tmpfs",
            "/dev",
            Some("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        entry(
            "devpts",
            "/dev/pts",
            Some("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        entry(
            "shm",
            "/dev/shm",
            Some("tmpfs"),
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        entry(
            "mqueue",
            "/dev/mqueue",
            Some("mqueue"),
            &["nosuid", "noexec", "nodev"],
        ),
        entry(
            "sysfs",
            "/sys",
            Some("sysfs"),
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        entry(
            "cgroup",
            "/sys/fs/cgroup",
            Some("cgroup"),
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

/// A config running `script` in `rootfs` with only `mounts` as its table.
fn in_rootfs(rootfs: &BusyboxRootfs, mounts: Vec<Mount>, script: &str) -> Config {
    let mut config = linux::in_busybox(rootfs, ["/bin/sh", "-c", script]);
    config.default_mounts = false;
    config.mounts = mounts;
    config
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug)]
struct MountLine {
    root: String,
    mount_point: String,
    options: Vec<String>,
    optional: Vec<String>,
    fstype: String,
    source: String,
    super_options: Vec<String>,
}

impl MountLine {
    fn parse(line: &str) -> Option<MountLine> {
        let fields: Vec<&str> = line.split(' ').collect();
        let separator = fields.iter().position(|field| *field == "-")?;
        let list = |field: &str| field.split(',').map(str::to_owned).collect();
        Some(MountLine {
            root: fields.get(3)?.to_string(),
            mount_point: fields.get(4)?.to_string(),
            options: list(fields.get(5)?),
            optional: fields.get(6..separator)?.iter().map(|f| f.to_string()).collect(),
            fstype: fields.get(separator + 1)?.to_string(),
            source: fields.get(separator + 2)?.to_string(),
            super_options: list(fields.get(separator + 3)?),
        })
    }

    fn has(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }
}

/// The mountinfo lines of `text`, between `MOUNTINFO` and `END` lines if
/// it has them.
fn mount_lines(text: &str) -> Vec<MountLine> {
    let section = match (text.find("MOUNTINFO\n"), text.find("END\n")) {
        (Some(start), Some(end)) => &text[start + "MOUNTINFO\n".len()..end],
        _ => text,
    };
    section.lines().filter_map(MountLine::parse).collect()
}

fn at<'a>(lines: &'a [MountLine], mount_point: &str) -> &'a MountLine {
    lines
        .iter()
        .rev()
        .find(|line| line.mount_point == mount_point)
        .unwrap_or_else(|| panic!("nothing is mounted at {mount_point}: {lines:#?}"))
}

/// The lines of `text` after the mountinfo section.
fn after_mountinfo(text: &str) -> Vec<&str> {
    text.split_once("END\n")
        .map_or("", |(_, rest)| rest)
        .lines()
        .collect()
}

#[test]
fn an_oci_table_is_the_whole_mount_table() {
    let Some(turn) = CgroupTurn::take("an_oci_table_is_the_whole_mount_table", CGROUP_PREFIX) else {
        return;
    };
    let rootfs = BusyboxRootfs::new();
    let shared = tempfile::tempdir().expect("temporary directory");
    fs::write(shared.path().join("file"), "from the host").expect("write");
    let host_file = shared.path().join("single");
    fs::write(&host_file, "one file").expect("write");
    let mut mounts = oci_defaults();
    mounts.extend([
        entry(
            shared.path().to_str().expect("utf-8"),
            "/data",
            None,
            &["rbind", "ro"],
        ),
        entry(
            host_file.to_str().expect("utf-8"),
            "/etc/cradle/single",
            Some("bind"),
            &["bind"],
        ),
        entry("scratch", "/scratch", Some("tmpfs"), &["noexec", "size=1m"]),
    ]);
    let script = "echo MOUNTINFO; cat /proc/self/mountinfo; echo END; \
                  ls /dev | tr '\\n' ' '; echo; readlink /dev/ptmx; \
                  echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; \
                  cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
                  test -e /sys/fs/cgroup/unified/cgroup.events && echo unified-is-a-child; \
                  touch /sys/fs/cgroup/x 2>/dev/null || echo cgroup-ro; \
                  cat /data/file; echo; touch /data/new 2>/dev/null || echo data-ro; \
                  cat /etc/cradle/single; echo";
    let config = in_rootfs(&rootfs, mounts, script);
    let name = unique(CGROUP_PREFIX.trim_end_matches('-'));
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    let (mut read, write) = linux::pipe();
    let options = Options::new()
        .init_binary(INIT)
        .stdout(write)
        .cgroup(CgroupConfig {
            adopt_empty: false,
            name: name.clone(),
            resources: Resources {
                pids_max: Some(77),
                ..Resources::default()
            },
            ..CgroupConfig::default()
        });
    let mut process = Process::start(plan, options).expect("launch");
    let output = linux::read_to_end(&mut read, linux::DEADLINE);
    let status = process.wait_timeout(linux::DEADLINE).expect("wait");
    process
        .cgroup()
        .expect("the launch's cgroup")
        .destroy()
        .expect("destroy");
    assert_eq!(status, Some(ExitStatus::Exited(0)), "{output}");

    let lines = mount_lines(&output);
    // The table and nothing else: no /proc, /dev or /sys of cradle's.
    // (mountinfo lists mounts by id: the bind sources were copied first.)
    let mut points: Vec<&str> = lines
        .iter()
        .map(|line| line.mount_point.as_str())
        .filter(|point| !point.starts_with("/sys/fs/cgroup/"))
        .collect();
    points.sort_unstable();
    assert_eq!(
        points,
        [
            "/",
            "/data",
            "/dev",
            "/dev/mqueue",
            "/dev/pts",
            "/dev/shm",
            "/etc/cradle/single",
            "/proc",
            "/scratch",
            "/sys",
            "/sys/fs/cgroup",
        ],
        "{output}"
    );
    let proc = at(&lines, "/proc");
    assert_eq!(proc.fstype, "proc");
    assert!(
        proc.has("nosuid") && proc.has("nodev") && proc.has("noexec"),
        "{proc:?}"
    );
    let dev = at(&lines, "/dev");
    assert_eq!(dev.fstype, "tmpfs");
    // strictatime: no atime flag shown.
    assert!(
        dev.has("nosuid") && !dev.has("relatime") && !dev.has("noexec"),
        "{dev:?}"
    );
    assert!(dev.super_options.contains(&"size=65536k".to_owned()), "{dev:?}");
    assert_eq!(at(&lines, "/dev/pts").fstype, "devpts");
    assert!(at(&lines, "/dev/pts")
        .super_options
        .contains(&"ptmxmode=666".to_owned()));
    assert_eq!(at(&lines, "/dev/shm").fstype, "tmpfs");
    assert_eq!(at(&lines, "/dev/mqueue").fstype, "mqueue");
    let sys = at(&lines, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    assert!(sys.has("ro"), "{sys:?}");
    let data = at(&lines, "/data");
    assert!(data.has("ro"), "{data:?}");
    assert_eq!(data.root, shared.path().display().to_string());
    let scratch = at(&lines, "/scratch");
    assert_eq!(
        (scratch.fstype.as_str(), scratch.source.as_str()),
        ("tmpfs", "scratch")
    );
    assert!(scratch.has("noexec"), "{scratch:?}");
    assert!(
        scratch.super_options.contains(&"size=1024k".to_owned()),
        "{scratch:?}"
    );

    // The cgroup tree: read-only, each hierarchy the container's own cgroup.
    let cgroup = at(&lines, "/sys/fs/cgroup");
    assert_eq!(cgroup.fstype, "tmpfs");
    assert!(cgroup.has("ro") && cgroup.has("nosuid"), "{cgroup:?}");
    let hierarchies: Vec<&MountLine> = lines
        .iter()
        .filter(|line| line.mount_point.starts_with("/sys/fs/cgroup/"))
        .collect();
    assert!(!hierarchies.is_empty(), "{output}");
    for hierarchy in &hierarchies {
        assert!(hierarchy.fstype.starts_with("cgroup"), "{hierarchy:?}");
        assert!(hierarchy.has("ro") && hierarchy.has("noexec"), "{hierarchy:?}");
        assert!(hierarchy.root.ends_with(&format!("/{name}")), "{hierarchy:?}");
    }

    let rest = after_mountinfo(&output);
    let dev_listing: Vec<&str> = rest[0].split_whitespace().collect();
    assert_eq!(
        dev_listing,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
            "tty", "urandom", "zero"
        ],
        "{output}"
    );
    // A hybrid host's v2 tree is at `unified`: the container's cgroup
    // there, not the root (which has no `cgroup.events`).
    let hybrid = Path::new("/sys/fs/cgroup/unified").is_dir();
    let expected = ["pts/ptmx", "null-ok", "4", "77"]
        .into_iter()
        .chain(hybrid.then_some("unified-is-a-child"))
        .chain(["cgroup-ro", "from the host", "data-ro", "one file"]);
    assert_eq!(rest[1..], expected.collect::<Vec<_>>(), "{output}");
    assert!(!shared.path().join("new").exists());
    turn.finish();
}

#[test]
fn symlinked_destinations_resolve_inside_the_rootfs() {
    if !require_root("symlinked_destinations_resolve_inside_the_rootfs") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    std::os::unix::fs::symlink("/etc", rootfs.path().join("mnt/link")).expect("symlink");
    std::os::unix::fs::symlink("/../../etc", rootfs.path().join("mnt/abs")).expect("symlink");
    let (over_etc, below_etc) = (unique("cradle-over-etc"), unique("cradle-below-etc"));
    let missing = unique("cradle-made");
    let mounts = vec![
        entry("proc", "/proc", Some("proc"), &[]),
        entry(&over_etc, "/mnt/link", Some("tmpfs"), &["size=64k"]),
        entry(
            &below_etc,
            &format!("/mnt/abs/{missing}/deeper"),
            Some("tmpfs"),
            &["size=64k"],
        ),
    ];
    let config = in_rootfs(&rootfs, mounts, "cat /proc/self/mountinfo");
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0), "{finished:?}");
    let lines = mount_lines(&finished.stdout);
    assert_eq!(at(&lines, "/etc").source, over_etc, "{finished:?}");
    assert_eq!(
        at(&lines, &format!("/etc/{missing}/deeper")).source,
        below_etc,
        "{finished:?}"
    );
    // The directories were made in the container's /etc (its tmpfs), and
    // nothing on the host's.
    assert!(!Path::new("/etc").join(&missing).exists());
    assert!(!rootfs.path().join("etc").join(&missing).exists());
    let host = fs::read_to_string("/proc/self/mountinfo").expect("host mountinfo");
    assert!(!host.contains(&over_etc) && !host.contains(&below_etc));
}

/// The child's error of a launch that must fail.
fn child_error(config: Config) -> ChildError {
    match Process::start(Plan::init(config), Options::new().init_binary(INIT)) {
        Err(Error::Launch(LaunchError::Child { error, .. })) => error,
        Err(other) => panic!("expected the child's error, got {other:?}"),
        Ok(mut process) => {
            let status = process.terminate();
            panic!("expected the child's error, the process ran ({status:?})")
        }
    }
}

#[test]
fn a_bad_mount_fails_naming_its_destination_and_call() {
    if !require_root("a_bad_mount_fails_naming_its_destination_and_call") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    std::os::unix::fs::symlink("/nowhere/at/all", rootfs.path().join("mnt/dangling")).expect("symlink");
    let dangling = vec![entry("tmpfs", "/mnt/dangling/x", Some("tmpfs"), &[])];
    let error = child_error(in_rootfs(&rootfs, dangling, "true"));
    assert_eq!(error.step, ChildStep::Mounts, "{error}");
    assert!(error.message.contains("/mnt/dangling"), "{error}");
    assert!(!Path::new("/nowhere").exists());

    let bad_size = vec![entry("tmpfs", "/scratch", Some("tmpfs"), &["size=lots"])];
    let error = child_error(in_rootfs(&rootfs, bad_size, "true"));
    assert_eq!(
        (error.step, error.errno),
        (ChildStep::Mounts, Some(libc::EINVAL)),
        "{error}"
    );
    assert!(
        error.message.contains("/scratch") && error.message.contains("fsconfig size"),
        "{error}"
    );

    let root = vec![entry("tmpfs", "/mnt/..", Some("tmpfs"), &[])];
    let error = child_error(in_rootfs(&rootfs, root, "true"));
    assert_eq!((error.step, error.errno), (ChildStep::Mounts, None), "{error}");
    assert!(error.message.contains("rootfs itself"), "{error}");
}

/// A bind mount of a directory onto itself, made shared, in the host's
/// mount table: a rootfs under it is in a peer group of the host's, the
/// case in which propagation matters. Unmounted on drop.
struct SharedOnHost(PathBuf);

impl SharedOnHost {
    fn new(dir: &Path) -> SharedOnHost {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind on the host");
        let shared = SharedOnHost(dir.to_owned());
        mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED, None::<&str>).expect("make it shared");
        shared
    }
}

impl Drop for SharedOnHost {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

#[test]
fn the_root_gets_the_propagation_asked_for_and_the_host_nothing() {
    if !require_root("the_root_gets_the_propagation_asked_for_and_the_host_nothing") {
        return;
    }
    for (propagation, default_mounts, shown) in [
        ("rshared", false, "shared:"),
        ("rslave", false, "master:"),
        ("runbindable", false, "unbindable"),
        ("shared", true, "shared:"),
    ] {
        let rootfs = BusyboxRootfs::new();
        let host_bind = SharedOnHost::new(rootfs.path());
        let inside = unique("cradle-inside");
        let script = format!(
            "mount -t tmpfs {inside} /mnt && grep -c {inside} /proc/self/mountinfo && \
             awk '$5 == \"/\"' /proc/self/mountinfo && exec sleep 30"
        );
        let mut config = in_rootfs(&rootfs, vec![entry("proc", "/proc", Some("proc"), &[])], &script);
        config.default_mounts = default_mounts;
        if default_mounts {
            config.mounts.clear();
        }
        config.rootfs_propagation = Some(propagation.to_owned());
        let (mut process, mut stdout) = start_captured(Plan::init(config), INIT).expect("launch");
        assert_eq!(
            linux::read_line(&mut stdout, linux::DEADLINE),
            "1\n",
            "{propagation}"
        );
        let root = MountLine::parse(linux::read_line(&mut stdout, linux::DEADLINE).trim_end())
            .unwrap_or_else(|| panic!("{propagation}: no root line"));
        assert!(
            root.optional.iter().any(|field| field.starts_with(shown)),
            "{propagation}: {root:?}"
        );
        if propagation == "rslave" {
            // A slave still receives what the host mounts below it.
            let outside = unique("cradle-outside");
            let target = rootfs.path().join("tmp");
            mount(
                Some(outside.as_str()),
                &target,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .expect("mount on the host");
            let seen = fs::read_to_string(format!("/proc/{}/mountinfo", process.pid().as_raw()))
                .expect("the container's mountinfo");
            umount2(&target, MntFlags::MNT_DETACH).expect("unmount on the host");
            assert!(seen.contains(&outside), "{propagation}: {seen}");
        }
        let host = fs::read_to_string("/proc/self/mountinfo").expect("host mountinfo");
        assert!(
            !host.contains(&inside),
            "{propagation}: the container's mount reached the host"
        );
        process.terminate().expect("terminate");
        drop(host_bind);
    }
}

#[test]
fn the_umask_is_the_configs() {
    if !require_root("the_umask_is_the_configs") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    let mounts = vec![entry("proc", "/proc", Some("proc"), &[])];
    let mut config = in_rootfs(
        &rootfs,
        mounts,
        "grep Umask /proc/self/status; touch /tmp/f; stat -c %a /tmp/f",
    );
    config.umask = Some(0o027);
    let finished = run(Plan::init(config), INIT).expect("launch");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines, ["Umask:\t0027", "640"], "{finished:?}");
}

#[test]
fn a_user_namespace_gets_the_hosts_nodes_and_sys() {
    if !require_root("a_user_namespace_gets_the_hosts_nodes_and_sys") {
        return;
    }
    let rootfs = BusyboxRootfs::new();
    let script = "echo MOUNTINFO; cat /proc/self/mountinfo; echo END; \
                  echo x > /dev/null && echo null-ok; head -c 4 /dev/urandom | wc -c; \
                  touch /sys/x 2>/dev/null || echo sys-ro";
    let mut config = in_rootfs(&rootfs, oci_defaults(), script);
    config
        .namespaces
        .push(cradle_core::Namespace::new(NamespaceKind::User));
    let mut plan = Plan::init(config);
    plan.id_maps = Some(linux::identity_maps());
    let finished = run(plan, INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0), "{finished:?}");
    let lines = mount_lines(&finished.stdout);
    // No network namespace of its own: the host's /sys, read-only.
    let sys = at(&lines, "/sys");
    assert_eq!(
        (sys.fstype.as_str(), sys.root.as_str()),
        ("sysfs", "/"),
        "{sys:?}"
    );
    assert!(sys.has("ro"), "{sys:?}");
    // No mknod in a user namespace: the host's nodes, bound.
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let line = at(&lines, &format!("/dev/{node}"));
        assert_eq!(line.fstype, "devtmpfs", "{line:?}");
    }
    assert_eq!(at(&lines, "/proc").fstype, "proc");
    assert_eq!(at(&lines, "/dev/pts").fstype, "devpts");
    assert_eq!(at(&lines, "/dev/mqueue").fstype, "mqueue");
    let hierarchies = lines
        .iter()
        .filter(|line| line.mount_point.starts_with("/sys/fs/cgroup/"));
    for hierarchy in hierarchies {
        assert!(hierarchy.has("ro"), "{hierarchy:?}");
    }
    assert_eq!(
        after_mountinfo(&finished.stdout),
        ["null-ok", "4", "sys-ro"],
        "{finished:?}"
    );
}

#[test]
fn a_cgroup_namespace_sees_its_own_cgroups() {
    let Some(turn) = CgroupTurn::take("a_cgroup_namespace_sees_its_own_cgroups", CGROUP_PREFIX) else {
        return;
    };
    let rootfs = BusyboxRootfs::new();
    // In a cgroup namespace the host's mounts show as `/..` wherever the
    // namespace's root is below the hierarchy's root (the v2 tree the init
    // is cloned into; v1 memory on a host that places the caller below
    // the root): there the hierarchy is mounted anew.
    let script = "echo MOUNTINFO; cat /proc/self/mountinfo; echo END; \
                  cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
                  test -e /sys/fs/cgroup/unified/cgroup.events && echo unified-is-a-child";
    let mut config = in_rootfs(&rootfs, oci_defaults(), script);
    config
        .namespaces
        .push(cradle_core::Namespace::new(NamespaceKind::Cgroup));
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    let name = unique(CGROUP_PREFIX.trim_end_matches('-'));
    let (mut read, write) = linux::pipe();
    let options = Options::new()
        .init_binary(INIT)
        .stdout(write)
        .cgroup(CgroupConfig {
            adopt_empty: false,
            name: name.clone(),
            resources: Resources {
                pids_max: Some(55),
                memory_max: Some(64 << 20),
                ..Resources::default()
            },
            ..CgroupConfig::default()
        });
    let mut process = Process::start(plan, options).expect("launch");
    let output = linux::read_to_end(&mut read, linux::DEADLINE);
    let status = process.wait_timeout(linux::DEADLINE).expect("wait");
    process
        .cgroup()
        .expect("the launch's cgroup")
        .destroy()
        .expect("destroy");
    assert_eq!(status, Some(ExitStatus::Exited(0)), "{output}");
    let lines = mount_lines(&output);
    let hierarchies: Vec<&MountLine> = lines
        .iter()
        .filter(|line| line.fstype.starts_with("cgroup"))
        .collect();
    assert!(!hierarchies.is_empty(), "{output}");
    for hierarchy in hierarchies {
        // The namespace's view: its own cgroup, never a path above it.
        assert!(!hierarchy.root.starts_with("/.."), "{hierarchy:?}");
        assert!(hierarchy.has("ro"), "{hierarchy:?}");
    }
    let hybrid = Path::new("/sys/fs/cgroup/unified").is_dir();
    let expected = ["55", "67108864"]
        .into_iter()
        .chain(hybrid.then_some("unified-is-a-child"));
    assert_eq!(after_mountinfo(&output), expected.collect::<Vec<_>>(), "{output}");
    turn.finish();
}
