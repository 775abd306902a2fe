//! Descriptors, as root: only stdio (and what the config passes on) reaches
//! the container, whatever the parent holds, and a launch leaves no
//! descriptor in the parent.
//!
//! These tests open inheritable descriptors in the parent and count its
//! descriptors, so they take turns (`linux::serial`) in a process of their own.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::OwnedFd;

use cradle_core::{ChildStep, Config, ExitStatus, LaunchError, NamespaceKind, Plan, Step};
use cradle_linux::{Error, Options, Process};
use cradle_tests::linux::{self, new_namespaces, require_root, serial};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

/// A container that waits on stdin (a pipe the test holds), so its
/// descriptors can be looked at from outside.
fn waiting(preserved: Vec<OwnedFd>) -> (Process, File) {
    let (stdin_read, stdin_write) = linux::pipe();
    let mut config = Config::new(["/bin/cat"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    config.preserved_fds = u32::try_from(preserved.len()).expect("a few");
    let mut options = Options::new().init_binary(INIT).stdin(OwnedFd::from(stdin_read));
    for fd in preserved {
        options = options.preserve_fd(fd);
    }
    let process = Process::start(Plan::init(config), options).expect("launch");
    (process, File::from(stdin_write))
}

#[test]
fn only_stdio_reaches_the_container() {
    if !require_root("only_stdio_reaches_the_container") {
        return;
    }
    let _serial = serial();
    let held = linux::inheritable(50);
    let (mut process, stdin) = waiting(Vec::new());
    let stdio = BTreeSet::from([0, 1, 2]);
    assert_eq!(linux::settled_fds_of(process.pid().as_raw(), &stdio), stdio);
    drop(stdin);
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
    drop(held);
}

#[test]
fn preserved_descriptors_follow_stdio() {
    if !require_root("preserved_descriptors_follow_stdio") {
        return;
    }
    let _serial = serial();
    let held = linux::inheritable(50);
    let marker = tempfile::NamedTempFile::new().expect("temporary file");
    let preserved = vec![
        OwnedFd::from(File::open(marker.path()).expect("open")),
        linux::inheritable(1).remove(0),
    ];
    let (mut process, stdin) = waiting(preserved);
    let pid = process.pid().as_raw();
    let wanted = BTreeSet::from([0, 1, 2, 3, 4]);
    assert_eq!(linux::settled_fds_of(pid, &wanted), wanted);
    let third = std::fs::read_link(format!("/proc/{pid}/fd/3")).expect("fd 3");
    assert_eq!(third, marker.path());
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/4")).expect("fd 4"),
        std::path::Path::new("/dev/null")
    );
    drop(stdin);
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
    drop(held);
}

#[test]
fn a_launch_leaves_no_descriptor_in_the_parent() {
    if !require_root("a_launch_leaves_no_descriptor_in_the_parent") {
        return;
    }
    let _serial = serial();
    let before = linux::open_fds();
    // A success, waited for.
    let (mut process, stdin) = waiting(Vec::new());
    drop(stdin);
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
    drop(process);
    assert_eq!(linux::open_fds(), before, "after a success");
    // A failure, of the child's exec.
    let result = Process::start(
        Plan::init(Config::new(["/no/such/command"])),
        Options::new().init_binary(INIT),
    );
    match result {
        Err(Error::Launch(LaunchError::Child { step, error })) => {
            assert_eq!(
                (step, error.step, error.errno),
                (Step::AwaitReady, ChildStep::Exec, Some(libc::ENOENT)),
                "{error:?}"
            );
        }
        other => panic!("expected the child's exec to fail, got {other:?}"),
    }
    assert_eq!(linux::open_fds(), before, "after a failure");
}

/// A descriptor the parent leaks (not close-on-exec, not preserved) never
/// reaches the init: a working directory through it does not exist there,
/// where it would lead out of the container's root (CVE-2024-21626).
#[test]
fn a_leaked_directory_is_no_way_out_for_the_init() {
    if !require_root("a_leaked_directory_is_no_way_out_for_the_init") {
        return;
    }
    let _serial = serial();
    let rootfs = linux::BusyboxRootfs::new();
    let leaked = linux::HostDirectory::open();
    let through_proc = leaked.through_proc();
    let mut config = linux::in_busybox(&rootfs, ["/bin/true"]);
    config.cwd = through_proc.clone().into();
    let error = linux::child_error(Process::start(
        Plan::init(config),
        Options::new().init_binary(INIT),
    ));
    assert_eq!(
        (error.step, error.errno),
        (ChildStep::Cwd, Some(libc::ENOENT)),
        "{error:?}"
    );
    assert!(error.message.contains(&through_proc), "{}", error.message);
    drop(leaked);
}

/// A directory the caller passes on itself (preserved) is in the init, but
/// a working directory through it is outside the root: refused.
#[test]
fn a_working_directory_outside_the_root_is_refused() {
    if !require_root("a_working_directory_outside_the_root_is_refused") {
        return;
    }
    let _serial = serial();
    let rootfs = linux::BusyboxRootfs::new();
    let preserved = linux::HostDirectory::open();
    let mut config = linux::in_busybox(&rootfs, ["/bin/true"]);
    config.preserved_fds = 1;
    config.cwd = "/proc/self/fd/3".into();
    let options = Options::new().init_binary(INIT).preserve_fd(preserved.fd);
    let error = linux::child_error(Process::start(Plan::init(config), options));
    assert_eq!((error.step, error.errno), (ChildStep::Cwd, None), "{error:?}");
    assert!(
        error.message.contains("leads out of the container's root"),
        "{}",
        error.message
    );
    // The same directory as a working directory inside the root is fine.
    let mut config = linux::in_busybox(&rootfs, ["/bin/true"]);
    config.cwd = "/tmp".into();
    let mut process = Process::start(Plan::init(config), Options::new().init_binary(INIT)).expect("launch");
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
}
