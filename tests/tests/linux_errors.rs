//! Launches that fail, as root: each failure comes back typed, naming the
//! step where it happened and the errno.

use cradle_core::{ChildStep, Config, NamespaceKind, Plan};
use cradle_linux::cgroup::CgroupConfig;
use cradle_linux::{Error, ErrorKind, Options, Process};
use cradle_tests::linux::{self, child_error, new_namespaces, require_root};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

fn launch(config: Config) -> Result<Process, Error> {
    Process::start(Plan::init(config), Options::new().init_binary(INIT))
}

fn in_namespaces(args: &[&str]) -> Config {
    let mut config = Config::new(args.iter().copied());
    config.namespaces = new_namespaces(&[NamespaceKind::Mount, NamespaceKind::Pid]);
    config
}

#[test]
fn a_missing_command_fails_at_exec_with_enoent() {
    if !require_root("a_missing_command_fails_at_exec_with_enoent") {
        return;
    }
    for missing in ["/no/such/command", "no-such-command-in-path"] {
        let error = child_error(launch(in_namespaces(&[missing])));
        assert_eq!(
            (error.step, error.errno),
            (ChildStep::Exec, Some(libc::ENOENT)),
            "{error}"
        );
        assert!(error.message.contains(missing), "{error}");
    }
}

#[test]
fn a_failed_launch_says_its_kind_and_errno_on_one_line() {
    if !require_root("a_failed_launch_says_its_kind_and_errno_on_one_line") {
        return;
    }
    let mut bad_rootfs = in_namespaces(&["/bin/true"]);
    bad_rootfs.rootfs = Some("/no/such/rootfs".into());
    let mut no_mount_namespace = Config::new(["/bin/true"]);
    no_mount_namespace.rootfs = Some("/".into());
    let cases = [
        (
            in_namespaces(&["/no/such/command"]),
            ErrorKind::NotFound,
            Some(libc::ENOENT),
            "exec",
        ),
        (
            in_namespaces(&["/etc/passwd"]),
            ErrorKind::PermissionDenied,
            Some(libc::EACCES),
            "exec",
        ),
        (bad_rootfs, ErrorKind::NotFound, Some(libc::ENOENT), "rootfs"),
        (no_mount_namespace, ErrorKind::InvalidConfig, None, "mounts"),
    ];
    for (config, kind, errno, step) in cases {
        let error = launch(config).expect_err("the launch fails");
        let text = error.to_string();
        assert_eq!((error.kind(), error.errno()), (kind, errno), "{text}");
        assert!(!text.contains('\n'), "{text:?}");
        assert!(text.contains(&format!("(step: {step}")), "{text}");
    }
}

#[test]
fn a_command_that_cannot_run_fails_at_exec_with_eacces() {
    if !require_root("a_command_that_cannot_run_fails_at_exec_with_eacces") {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").expect("write");
    let error = child_error(launch(in_namespaces(&[script.to_str().expect("utf-8")])));
    assert_eq!(
        (error.step, error.errno),
        (ChildStep::Exec, Some(libc::EACCES)),
        "{error}"
    );
}

#[test]
fn a_bad_cwd_fails_at_cwd() {
    if !require_root("a_bad_cwd_fails_at_cwd") {
        return;
    }
    let mut config = in_namespaces(&["/bin/true"]);
    config.cwd = "/no/such/directory".into();
    let error = child_error(launch(config));
    assert_eq!(
        (error.step, error.errno),
        (ChildStep::Cwd, Some(libc::ENOENT)),
        "{error}"
    );
}

#[test]
fn a_bad_uid_fails_at_user() {
    if !require_root("a_bad_uid_fails_at_user") {
        return;
    }
    let mut config = in_namespaces(&["/bin/true"]);
    // (uid_t)-1 is "no change" to the kernel, and refused as a uid.
    config.user.uid = u32::MAX;
    let error = child_error(launch(config));
    assert_eq!(
        (error.step, error.errno),
        (ChildStep::User, Some(libc::EINVAL)),
        "{error}"
    );
}

#[test]
fn a_bad_rootfs_fails_at_rootfs() {
    if !require_root("a_bad_rootfs_fails_at_rootfs") {
        return;
    }
    let mut config = in_namespaces(&["/bin/true"]);
    config.rootfs = Some("/no/such/rootfs".into());
    let error = child_error(launch(config));
    assert_eq!(
        (error.step, error.errno),
        (ChildStep::Rootfs, Some(libc::ENOENT)),
        "{error}"
    );
}

#[test]
fn a_rootfs_without_a_mount_namespace_is_refused() {
    if !require_root("a_rootfs_without_a_mount_namespace_is_refused") {
        return;
    }
    let mut config = Config::new(["/bin/true"]);
    config.rootfs = Some("/".into());
    let error = child_error(launch(config));
    assert_eq!((error.step, error.errno), (ChildStep::Mounts, None), "{error}");
}

#[test]
fn a_hostname_without_a_uts_namespace_is_refused() {
    if !require_root("a_hostname_without_a_uts_namespace_is_refused") {
        return;
    }
    let mut config = Config::new(["/bin/true"]);
    config.hostname = Some("not-the-host".into());
    let error = child_error(launch(config));
    assert_eq!(error.step, ChildStep::Hostname, "{error}");
}

#[test]
fn a_missing_init_binary_is_refused_before_the_clone() {
    if !require_root("a_missing_init_binary_is_refused_before_the_clone") {
        return;
    }
    // The init binary is read into its sealed copy before anything is
    // created: a missing one is a file error naming it, with or without a
    // hold (a user namespace).
    let plain = Plan::init(in_namespaces(&["/bin/true"]));
    let mut held = Plan::init(in_namespaces(&["/bin/true"]));
    held.config
        .namespaces
        .push(cradle_core::Namespace::new(NamespaceKind::User));
    held.id_maps = Some(linux::identity_maps());
    for plan in [plain, held] {
        match Process::start(plan, Options::new().init_binary("/no/such/init")) {
            Err(Error::File { path, source }) => {
                assert_eq!(path, std::path::Path::new("/no/such/init"));
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("expected the init binary's file error, got {other:?}"),
        }
    }
}

#[test]
fn options_that_do_not_fit_the_plan_are_refused_up_front() {
    // Nothing is spawned: no root needed.
    let mut plan = Plan::init(Config::new(["/bin/true"]));
    plan.cgroup = true;
    let result = Process::start(plan, Options::new().init_binary(INIT));
    assert!(matches!(result, Err(Error::Options { .. })), "{result:?}");
    let mut config = Config::new(["/bin/true"]);
    config.preserved_fds = 1;
    let result = launch(config);
    assert!(matches!(result, Err(Error::Options { .. })), "{result:?}");
    // A cgroup configured for a plan that does not ask for one.
    let options = Options::new().init_binary(INIT).cgroup(CgroupConfig::default());
    let result = Process::start(Plan::init(Config::new(["/bin/true"])), options);
    assert!(matches!(result, Err(Error::Options { .. })), "{result:?}");
    // A setns process with no container to join.
    let result = Process::start(
        Plan::setns(Config::new(["/bin/true"])),
        Options::new().init_binary(INIT),
    );
    assert!(matches!(result, Err(Error::Options { .. })), "{result:?}");
}
