//! A mount or pid namespace joined by path, as root: the launcher clones
//! the init into a joined pid namespace (and gives its own thread's back),
//! the init joins a mount namespace and sets the container up in it.
//! The namespaces joined are an `unshare` process's, made by each test and
//! killed at its end.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use cradle_core::{
    ChildStep, Config, ExitStatus, Hook, HookStage, LaunchError, Namespace, NamespaceKind, Plan, Step,
};
use cradle_linux::{Error, Options, Process};
use cradle_tests::linux::{
    self, birth, require_root, run, start_captured, unique, BusyboxRootfs, Leftovers, Unshared,
};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::Signal;

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
const LIMITS: &str = env!("CARGO_BIN_EXE_cradle-test-limits");

fn sh(script: &str) -> Config {
    Config::new(["/bin/sh", "-c", script])
}

/// The pid namespace this thread's children are born in, and its own.
fn this_threads_pid_namespaces() -> (String, String) {
    let read = |name| {
        let link = format!("/proc/thread-self/ns/{name}");
        fs::read_link(&link).unwrap_or_else(|e| panic!("{link}: {e}"))
    };
    (
        read("pid_for_children").display().to_string(),
        read("pid").display().to_string(),
    )
}

#[test]
fn a_pid_namespace_joined_by_path_holds_the_command() {
    if !require_root("a_pid_namespace_joined_by_path_holds_the_command") {
        return;
    }
    // Counts descriptors and children: no other test may make some meanwhile.
    let _serial = linux::serial();
    let target = Unshared::new(&["--pid"], "true");
    let before = Leftovers::before();
    let mut config = sh("echo $$; cat /proc/1/comm; echo started; exec sleep 30");
    config.namespaces = vec![
        Namespace::new(NamespaceKind::Mount),
        Namespace::join(NamespaceKind::Pid, target.path(NamespaceKind::Pid)),
    ];
    let (mut process, mut stdout) = start_captured(Plan::init(config), INIT).expect("launch");
    let (for_children, own) = this_threads_pid_namespaces();
    assert_eq!(
        for_children, own,
        "the launching thread's children go to the joined pid namespace"
    );
    let mut lines = Vec::new();
    while lines.last().map(String::as_str) != Some("started\n") {
        lines.push(linux::read_line(&mut stdout, linux::DEADLINE));
    }
    // Not pid 1 there: the sleeper is, and the /proc mounted in the new
    // mount namespace is the joined pid namespace's.
    let pid: i32 = lines[0].trim().parse().expect("a pid");
    assert!(pid > 1, "{lines:?}");
    assert_eq!(lines[1], "sleep\n", "{lines:?}");
    let inside = linux::namespace_of(&process.pid().to_string(), NamespaceKind::Pid);
    assert_eq!(inside, target.namespace(NamespaceKind::Pid));
    // Not pid 1: its end is not the namespace's, and the sleeper lives on.
    assert_eq!(
        process.terminate().expect("terminate"),
        ExitStatus::Signaled(Signal::SIGKILL as i32)
    );
    assert!(fs::metadata(format!("/proc/{}", target.sleeper())).is_ok());
    drop((process, stdout));
    before.assert_none("a launch into a joined pid namespace");
}

/// An init cloned into a pid namespace that has processes already is seen
/// by them while it sets itself up in the host's root and working
/// directory: it is born with every signal blocked, a soft core file size
/// of 0 (the hard one too where it can be raised back: this VM's bounding
/// set lacks `CAP_SYS_RESOURCE`) and a real gid apart from its effective
/// one (so that none of them may change its limits, and its `exec` leaves
/// it not dumpable), so that none of them can kill it into a core dump
/// there; its command gets the launcher's limits back (the stack's too,
/// which the secure `exec` capped at 8 MiB) and the config's gid.
#[test]
fn an_init_among_others_is_born_deaf_and_its_command_gets_the_core_limit() {
    if !require_root("an_init_among_others_is_born_deaf_and_its_command_gets_the_core_limit") {
        return;
    }
    let _serial = linux::serial();
    let target = Unshared::new(&["--pid"], "true");
    let _core = birth::SoftLimit::core();
    let _stack = birth::SoftLimit::stack();
    let config = |script: &str| {
        let mut config = sh(script);
        config.namespaces = vec![
            Namespace::new(NamespaceKind::Mount),
            Namespace::join(NamespaceKind::Pid, target.path(NamespaceKind::Pid)),
        ];
        config
    };
    // Its init binary `cradle-test-limits`, which prints what it was born
    // with and takes no role (the launch fails).
    let (mut stdout, write) = linux::pipe();
    let options = Options::new().init_binary(LIMITS).stdout(write);
    assert!(Process::start(Plan::init(config("true")), options).is_err());
    birth::assert_born_apart(&linux::read_to_end(&mut stdout, linux::DEADLINE));

    birth::forget_child_masks();
    let (mut stdout, write) = linux::pipe();
    let options = Options::new()
        .init_binary(INIT)
        .stdout(write)
        .on_step(birth::record_child_masks);
    let script = "cat /proc/self/limits /proc/self/status";
    let mut process = Process::start(Plan::init(config(script)), options).expect("launch");
    let printed = linux::read_to_end(&mut stdout, linux::DEADLINE);
    assert_eq!(birth::core_limit(&printed), birth::own_core_limit(), "{printed}");
    assert_eq!(
        birth::stack_limit(&printed),
        birth::own_stack_limit(),
        "{printed}"
    );
    assert_eq!(birth::gids(&printed), ["0"; 4], "{printed}");
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
    let mask = birth::child_mask(process.pid().as_raw());
    assert_eq!(mask, birth::every_signal_blocked(), "blocked from its birth");
}

/// The hooks of an init among others, which is born with every signal
/// blocked and a real gid apart: a `createContainer` hook gets none
/// blocked, the init's gid as all of its own, and no core file size (so
/// that the pid namespace's processes, which can change its limits, cannot
/// have its core written in the rootfs); and hooks that end
/// without reading the state document (larger than a pipe holds) fail
/// nothing: the `SIGPIPE` of the init's write is blocked for it and taken
/// off the pending ones, not left for the command's preparation (which
/// unblocks every signal with its default) to deliver, nor delivered at
/// once to a `startContainer` hook's init, past that preparation.
#[test]
fn an_init_among_others_runs_its_hooks_with_no_signal_blocked() {
    if !require_root("an_init_among_others_runs_its_hooks_with_no_signal_blocked") {
        return;
    }
    let _serial = linux::serial();
    let _core = birth::SoftLimit::core();
    let target = Unshared::new(&["--pid"], "true");
    let rootfs = BusyboxRootfs::new();
    let not_reading = ["/bin/sh", "-c", "exec 0<&-; exec sleep 0.1"];
    let hooks = vec![
        hook(
            HookStage::CreateContainer,
            &["/bin/grep", "-E", "^(Gid|SigBlk):", "/proc/self/status"],
        ),
        hook(
            HookStage::CreateContainer,
            &["/bin/sh", "-c", "ulimit -Sc; ulimit -Hc"],
        ),
        hook(HookStage::CreateContainer, &not_reading),
        // After the command's preparation, every signal at its default.
        hook(HookStage::StartContainer, &not_reading),
    ];
    let (mut stdout, write) = linux::pipe();
    let options = Options::new().init_binary(INIT).stdout(write);
    let config = with_hooks(&target, &rootfs, hooks);
    let mut process = Process::start(Plan::init(config), options).expect("launch");
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
    assert_eq!(
        linux::read_to_end(&mut stdout, linux::DEADLINE),
        "Gid:\t0\t0\t0\t0\nSigBlk:\t0000000000000000\n0\n0\n"
    );
}

/// A hook that neither reads the state document (larger than a pipe
/// holds) nor ends is ended at its timeout, which bounds the init's write
/// of the document too.
#[test]
fn a_hook_that_neither_reads_nor_ends_is_ended_at_its_timeout() {
    if !require_root("a_hook_that_neither_reads_nor_ends_is_ended_at_its_timeout") {
        return;
    }
    let _serial = linux::serial();
    let target = Unshared::new(&["--pid"], "true");
    let rootfs = BusyboxRootfs::new();
    let mut stuck = hook(HookStage::CreateContainer, &["/bin/sleep", "30"]);
    stuck.timeout = Some(1);
    let mut plan = Plan::init(with_hooks(&target, &rootfs, vec![stuck]));
    plan.timeout = Duration::from_secs(20);
    let started = Instant::now();
    let error = linux::child_error(Process::start(plan, Options::new().init_binary(INIT)));
    assert_eq!(error.step, ChildStep::CreateContainerHooks, "{error:?}");
    assert!(error.message.contains("after its timeout of 1 s"), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// A config of `true` in `rootfs` that joins `target`'s pid namespace, with
/// `hooks` and a state document larger than a pipe holds. (createContainer
/// hooks run between an OCI bundle's mount table, no mounts of cradle's
/// own, and the pivot into its rootfs.)
fn with_hooks(target: &Unshared, rootfs: &BusyboxRootfs, hooks: Vec<Hook>) -> Config {
    let mut config = sh("true");
    config.rootfs = Some(rootfs.path().to_owned());
    config.default_mounts = false;
    config.namespaces = vec![
        Namespace::new(NamespaceKind::Mount),
        Namespace::join(NamespaceKind::Pid, target.path(NamespaceKind::Pid)),
    ];
    config.hooks = hooks;
    config.hook_state =
        Some(serde_json::json!({ "annotations": { "big": "x".repeat(256 << 10) } }).to_string());
    config
}

/// A hook of `stage` running `args` (the first the program's path), with
/// a timeout of 10 s.
fn hook(stage: HookStage, args: &[&str]) -> Hook {
    Hook {
        stage,
        path: args[0].into(),
        args: args.iter().map(|&arg| arg.to_owned()).collect(),
        env: Vec::new(),
        timeout: Some(10),
    }
}

#[test]
fn a_mount_namespace_joined_by_path_shows_its_mounts() {
    if !require_root("a_mount_namespace_joined_by_path_shows_its_mounts") {
        return;
    }
    // Counts descriptors and children: no other test may make some meanwhile.
    let _serial = linux::serial();
    let dir = tempfile::tempdir().expect("a mount point");
    let marker = unique("cradle-marker");
    let target = Unshared::new(
        &["--mount"],
        &format!("mount -t tmpfs {marker} {}", dir.path().display()),
    );
    let mut config = sh(&format!(
        "readlink /proc/self/ns/mnt; grep -c '^{marker} ' /proc/self/mounts"
    ));
    config.namespaces = vec![Namespace::join(
        NamespaceKind::Mount,
        target.path(NamespaceKind::Mount),
    )];
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0), "{finished:?}");
    let expected = format!("{}\n1\n", target.namespace(NamespaceKind::Mount));
    assert_eq!(finished.stdout, expected);
    let host = fs::read_to_string("/proc/self/mounts").expect("mounts");
    assert!(!host.contains(&marker), "the target's mount reached the host");
}

/// Runs `config` in a mount namespace of its own, joined by path, as it
/// is: the command prints `stdout`. Then in one where the script `rig` ran
/// first (as a process of it could, with a user namespace of its own): the
/// launch is refused at `step`, saying `why`, leaving no descriptor and no
/// child. Gives the rigged namespace's process back, for a look at what is
/// there.
fn genuine_then_rigged(
    config: impl Fn(&Unshared) -> Config,
    stdout: &str,
    rig: &str,
    step: ChildStep,
    why: &str,
) -> Unshared {
    let genuine = Unshared::new(&["--mount"], "true");
    let finished = run(Plan::init(config(&genuine)), INIT).expect("launch");
    assert_eq!(
        (finished.status, finished.stdout.as_str()),
        (ExitStatus::Exited(0), stdout)
    );

    let rigged = Unshared::new(&["--mount"], rig);
    let before = Leftovers::before();
    let error = linux::child_error(Process::start(
        Plan::init(config(&rigged)),
        Options::new().init_binary(INIT),
    ));
    assert_eq!(error.step, step, "{rig}: {error:?}");
    assert!(error.message.contains(why), "{rig}: {error:?}");
    before.assert_none("a refused launch");
    rigged
}

/// A sysctl is written to the kernel's file only, never where a mount
/// in the mount namespace joined would put the write (CVE-2025-52881's
/// class): not to a tmpfs over `/proc`, not to a file bound over the
/// sysctl's own, not below a procfs directory other than its root bound
/// at `/proc`. Each is refused at its step, saying why, and the file there
/// is not written; with the kernel's `/proc` the sysctl is set. (A UTS
/// sysctl: the kernel finds `net.*` files by the reader's namespace, so a
/// mount over one is not what a new network namespace's init opens.)
#[test]
fn a_sysctl_is_written_to_the_kernels_file_only() {
    if !require_root("a_sysctl_is_written_to_the_kernels_file_only") {
        return;
    }
    // Counts descriptors and children: no other test may make some meanwhile.
    let _serial = linux::serial();
    let config = |target: &Unshared| {
        let mut config = sh("cat /proc/sys/kernel/domainname");
        config.namespaces = vec![
            Namespace::join(NamespaceKind::Mount, target.path(NamespaceKind::Mount)),
            Namespace::new(NamespaceKind::Uts),
        ];
        config.sysctls = [("kernel.domainname".to_owned(), "cradle-test".to_owned())].into();
        config
    };
    let decoy = tempfile::NamedTempFile::new().expect("a file to bind");
    fs::write(decoy.path(), "untouched\n").expect("write the decoy");
    let decoy = decoy.path().display();
    let bound_over = format!("mount --bind {decoy} /proc/sys/kernel/domainname");
    // Each rig, and the file it would have the write go to.
    let rigs = [
        (
            "mount -t tmpfs rigged /proc\nmkdir -p /proc/sys/kernel\necho untouched > /proc/sys/kernel/domainname",
            Some("/proc/sys/kernel/domainname"),
            "is not a procfs",
        ),
        (&*bound_over, Some("/proc/sys/kernel/domainname"), "has a mount over it"),
        ("mount --bind /proc/sys /proc", None, "is not the root of a procfs"),
    ];
    for (rig, file, why) in rigs {
        let rigged = genuine_then_rigged(config, "cradle-test\n", rig, ChildStep::Sysctls, why);
        if let Some(file) = file {
            let file = format!("/proc/{}/root{file}", rigged.sleeper());
            assert_eq!(fs::read_to_string(&file).expect(&file), "untouched\n", "{rig}");
        }
    }
}

/// A mask is the null device, bound by descriptor: where the mount
/// namespace joined has a symlink at `/dev/null` (to a `/proc` file), the
/// init refuses to mask with it at the paths step, and binds nothing over
/// the masked path (runc's CVE-2025-31133); with the null device the file
/// reads empty.
#[test]
fn a_mask_is_the_null_device_or_nothing() {
    if !require_root("a_mask_is_the_null_device_or_nothing") {
        return;
    }
    // Counts descriptors and children: no other test may make some meanwhile.
    let _serial = linux::serial();
    let masked = tempfile::NamedTempFile::new().expect("a file to mask");
    fs::write(masked.path(), "shown").expect("write the file to mask");
    let shown = masked.path().display();
    let config = |target: &Unshared| {
        let mut config = sh(&format!("cat {shown}"));
        config.namespaces = vec![Namespace::join(
            NamespaceKind::Mount,
            target.path(NamespaceKind::Mount),
        )];
        config.masked_paths = vec![masked.path().to_owned()];
        config
    };
    let rigs = [
        // A symlink to a `/proc` file; another character device.
        "mount -t tmpfs rigged /dev\nln -s /proc/sys/vm/drop_caches /dev/null",
        "mount -t tmpfs rigged /dev\nmknod /dev/null c 1 5",
    ];
    for rig in rigs {
        let rigged = genuine_then_rigged(config, "", rig, ChildStep::Paths, "is not the null device");
        let file = format!("/proc/{}/root{shown}", rigged.sleeper());
        assert_eq!(fs::read_to_string(&file).expect(&file), "shown", "{rig}");
    }
}

#[test]
fn a_rootfs_is_set_up_in_joined_mount_and_pid_namespaces() {
    if !require_root("a_rootfs_is_set_up_in_joined_mount_and_pid_namespaces") {
        return;
    }
    // Counts descriptors and children: no other test may make some meanwhile.
    let _serial = linux::serial();
    let rootfs = BusyboxRootfs::new();
    // Dropped first: its mount namespace holds mounts on the rootfs.
    let target = Unshared::new(&["--mount", "--pid"], "true");
    rootfs.write("etc/marker", "in the rootfs\n");
    let mut config = sh("cat /etc/marker; echo $$; readlink /proc/self/ns/mnt; readlink /proc/self/ns/pid");
    config.rootfs = Some(rootfs.path().to_owned());
    config.namespaces = [NamespaceKind::Mount, NamespaceKind::Pid]
        .map(|kind| Namespace::join(kind, target.path(kind)))
        .to_vec();
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0), "{finished:?}");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{finished:?}");
    assert_eq!(lines[0], "in the rootfs");
    assert_ne!(lines[1], "1", "{finished:?}");
    assert_eq!(lines[2], target.namespace(NamespaceKind::Mount));
    assert_eq!(lines[3], target.namespace(NamespaceKind::Pid));
}

#[test]
fn a_pid_namespace_path_that_is_not_one_fails_the_spawn() {
    if !require_root("a_pid_namespace_path_that_is_not_one_fails_the_spawn") {
        return;
    }
    // Counts descriptors and children: no other test may make some meanwhile.
    let _serial = linux::serial();
    let before = Leftovers::before();
    for path in ["/proc/self/ns/net", "/nonexistent/ns/pid"] {
        let mut config = sh("true");
        config.namespaces = vec![Namespace::join(NamespaceKind::Pid, path)];
        let result = Process::start(Plan::init(config), Options::new().init_binary(INIT));
        match result {
            Err(Error::Launch(LaunchError::Command { step, .. })) => assert_eq!(step, Step::Spawn, "{path}"),
            other => panic!("{path}: expected a failed spawn, got {other:?}"),
        }
        let (for_children, own) = this_threads_pid_namespaces();
        assert_eq!(
            for_children, own,
            "{path}: the launching thread's pid namespace was not given back"
        );
    }
    before.assert_none("failed joins of a pid namespace");
}

/// A pid namespace whose pid 1 has exited, kept by a bind mount of its
/// file (on a private tmpfs of its own): it can be joined, but no process
/// can be born in it any more. Unmounted on drop.
struct DeadPidNamespace {
    dir: tempfile::TempDir,
}

impl DeadPidNamespace {
    fn new() -> DeadPidNamespace {
        let dir = tempfile::tempdir().expect("a mount point");
        let dead = DeadPidNamespace { dir };
        mount(
            Some("tmpfs"),
            dead.dir.path(),
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=64k"),
        )
        .expect("mount a tmpfs");
        mount(
            None::<&str>,
            dead.dir.path(),
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make it private");
        fs::write(dead.file(), "").expect("the file to bind the namespace on");
        let status = Command::new("unshare")
            .arg(format!("--pid={}", dead.file().display()))
            .args(["--fork", "true"])
            .status()
            .expect("unshare");
        assert!(status.success(), "unshare: {status}");
        dead
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("pid")
    }
}

impl Drop for DeadPidNamespace {
    fn drop(&mut self) {
        let _ = umount2(&self.file(), MntFlags::MNT_DETACH);
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_failed_clone_into_a_joined_pid_namespace_gives_the_thread_its_own_back() {
    if !require_root("a_failed_clone_into_a_joined_pid_namespace_gives_the_thread_its_own_back") {
        return;
    }
    let _serial = linux::serial();
    let dead = DeadPidNamespace::new();
    let before = Leftovers::before();
    let mut config = sh("true");
    config.namespaces = vec![Namespace::join(NamespaceKind::Pid, dead.file())];
    let result = Process::start(Plan::init(config), Options::new().init_binary(INIT));
    match result {
        Err(Error::Launch(LaunchError::Command { step, error })) => {
            assert_eq!(step, Step::Spawn);
            assert_eq!(error.errno, Some(libc::ENOMEM), "{}", error.message);
        }
        other => panic!("expected clone3 to fail, got {other:?}"),
    }
    let (for_children, own) = this_threads_pid_namespaces();
    assert_eq!(
        for_children, own,
        "the launching thread's pid namespace was not given back"
    );
    before.assert_none("a failed clone into a joined pid namespace");
}

#[test]
fn a_mount_namespace_path_that_is_not_one_fails_the_namespaces_step() {
    if !require_root("a_mount_namespace_path_that_is_not_one_fails_the_namespaces_step") {
        return;
    }
    // Counts descriptors and children: no other test may make some meanwhile.
    let _serial = linux::serial();
    let mut config = sh("true");
    config.namespaces = vec![Namespace::join(NamespaceKind::Mount, "/proc/self/ns/net")];
    let result = Process::start(Plan::init(config), Options::new().init_binary(INIT));
    match result {
        Err(Error::Launch(LaunchError::Child { error, .. })) => {
            assert_eq!(error.step, ChildStep::Namespaces);
            assert!(error.message.contains("/proc/self/ns/net"), "{}", error.message);
        }
        other => panic!("expected the namespaces step to fail, got {other:?}"),
    }
}
