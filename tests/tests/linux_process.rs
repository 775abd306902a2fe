//! The process API and the rest of the child's set-up, as root: pid,
//! wait, terminate, signal through the pidfd, start time; environment,
//! user, working directory, rlimits, no_new_privs, loopback.

use std::fs;
use std::time::Duration;

use cradle_core::config::{Rlimit, RlimitResource};
use cradle_core::{Config, ExitStatus, Interface, NamespaceKind, Plan};
use cradle_linux::{Error, Signal};
use cradle_tests::linux::{self, new_namespaces, require_root, run, start_captured};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

fn sh(script: &str) -> Config {
    Config::new(["/bin/sh", "-c", script])
}

/// Seconds since boot, in clock ticks (`starttime`'s unit, 100 a second
/// on Linux).
fn uptime_ticks() -> u64 {
    let uptime = fs::read_to_string("/proc/uptime").expect("/proc/uptime");
    let seconds: f64 = uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("uptime");
    (seconds * 100.0) as u64
}

#[test]
fn wait_terminate_and_signal_follow_the_process() {
    if !require_root("wait_terminate_and_signal_follow_the_process") {
        return;
    }
    let mut config = sh("echo up; exec sleep 30");
    config.namespaces = new_namespaces(&[NamespaceKind::Pid]);
    let (mut process, mut stdout) = start_captured(Plan::init(config), INIT).expect("launch");
    assert_eq!(linux::read_line(&mut stdout, linux::DEADLINE), "up\n");
    assert_eq!(
        process.wait_timeout(Duration::from_millis(50)).expect("wait"),
        None
    );
    assert_eq!(process.try_wait().expect("try_wait"), None);
    process
        .signal(Signal::SIGCONT)
        .expect("a live process takes signals");
    let status = process.terminate().expect("terminate");
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGKILL.number()));
    // Reaped: its pid may be someone else's now, so nothing goes to it.
    assert!(matches!(
        process.signal(Signal::SIGTERM),
        Err(Error::Reaped { .. })
    ));
    assert!(matches!(process.start_time(), Err(Error::Reaped { .. })));
    assert_eq!(process.wait().expect("wait again"), status);
    assert_eq!(process.terminate().expect("terminate again"), status);
}

#[test]
fn start_time_is_read_whatever_the_process_is_called() {
    if !require_root("start_time_is_read_whatever_the_process_is_called") {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    // The kernel names a process after the file it runs: spaces and
    // parentheses included, cut to 15 bytes.
    let program = dir.path().join(") (x y) ");
    fs::copy("/bin/sleep", &program).expect("copy sleep");
    let before = uptime_ticks();
    let (mut process, _stdout) = start_captured(
        Plan::init(Config::new([program.to_str().expect("utf-8"), "30"])),
        INIT,
    )
    .expect("launch");
    let after = uptime_ticks();
    let comm = fs::read_to_string(format!("/proc/{}/comm", process.pid())).expect("comm");
    assert_eq!(comm, ") (x y) \n");
    let started = process.start_time().expect("start time");
    assert!(
        (before.saturating_sub(2)..=after + 2).contains(&started),
        "{started} not in {before}..={after}"
    );
    process.terminate().expect("terminate");
}

#[test]
fn the_pidfd_is_readable_once_the_process_exits() {
    if !require_root("the_pidfd_is_readable_once_the_process_exits") {
        return;
    }
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let (mut process, _stdout) = start_captured(Plan::init(sh("exit 3")), INIT).expect("launch");
    let mut fds = [PollFd::new(process.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll"), 1);
    assert_eq!(process.try_wait().expect("try_wait"), Some(ExitStatus::Exited(3)));
}

#[test]
fn an_empty_environment_gets_the_defaults() {
    if !require_root("an_empty_environment_gets_the_defaults") {
        return;
    }
    let mut config = Config::new(["/usr/bin/env"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Uts]);
    config.hostname = Some("envbox".into());
    let finished = run(Plan::init(config), INIT).expect("launch");
    let mut env: Vec<&str> = finished.stdout.lines().collect();
    env.sort_unstable();
    assert_eq!(
        env,
        [
            "HOME=/root",
            "HOSTNAME=envbox",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ]
    );

    let mut config = Config::new(["/usr/bin/env"]);
    config.env = vec!["ONLY=this".into()];
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.stdout, "ONLY=this\n");
}

#[test]
fn user_groups_and_working_directory() {
    if !require_root("user_groups_and_working_directory") {
        return;
    }
    let mut config = sh("id -u; id -g; id -G; pwd");
    config.user.uid = 1234;
    config.user.gid = 2345;
    config.user.additional_gids = vec![3456, 4567];
    config.cwd = "/tmp".into();
    let finished = run(Plan::init(config), INIT).expect("launch");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines, ["1234", "2345", "2345 3456 4567", "/tmp"], "{finished:?}");
}

#[test]
fn rlimits_and_no_new_privileges() {
    if !require_root("rlimits_and_no_new_privileges") {
        return;
    }
    let mut config = sh("ulimit -n; grep NoNewPrivs /proc/self/status");
    config.rlimits = vec![Rlimit {
        resource: RlimitResource::Nofile,
        soft: 123,
        hard: 456,
    }];
    config.no_new_privileges = true;
    let finished = run(Plan::init(config), INIT).expect("launch");
    let words: Vec<&str> = finished.stdout.split_whitespace().collect();
    assert_eq!(words, ["123", "NoNewPrivs:", "1"], "{finished:?}");
}

#[test]
fn signals_are_reset_for_the_command() {
    if !require_root("signals_are_reset_for_the_command") {
        return;
    }
    // The launcher (a Rust program) ignores SIGPIPE; the command must not.
    let config = sh("grep -E 'SigIgn|SigBlk' /proc/self/status");
    let finished = run(Plan::init(config), INIT).expect("launch");
    for line in finished.stdout.lines() {
        let mask = line.split_whitespace().nth(1).expect("a mask");
        assert!(mask.chars().all(|c| c == '0'), "{line}");
    }
}

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    if !require_root("loopback_is_up_in_a_new_network_namespace") {
        return;
    }
    let script = "cat /sys/class/net/lo/flags 2>/dev/null; ip -o link show lo | grep -c 'LOOPBACK,UP'";
    let mut config = sh(script);
    config.namespaces = new_namespaces(&[NamespaceKind::Net]);
    let finished = run(Plan::init(config.clone()), INIT).expect("launch");
    assert!(
        finished.stdout.ends_with("0\n"),
        "lo is down until asked: {finished:?}"
    );
    config.networks = vec![Interface::Loopback];
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert!(finished.stdout.ends_with("1\n"), "{finished:?}");
}
