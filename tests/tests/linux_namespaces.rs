//! The init process in new namespaces, as root: each namespace is new, the
//! process is pid 1, the hostname is set, exits and signals come back.

use cradle_core::{Config, ExitStatus, Namespace, NamespaceKind, Plan};
use cradle_linux::Signal;
use cradle_tests::linux::{self, new_namespaces, require_root, run, start_captured, unique};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

const ALL: [NamespaceKind; 6] = [
    NamespaceKind::Mount,
    NamespaceKind::Uts,
    NamespaceKind::Ipc,
    NamespaceKind::Pid,
    NamespaceKind::Net,
    NamespaceKind::Cgroup,
];

fn sh(script: &str) -> Config {
    Config::new(["/bin/sh", "-c", script])
}

#[test]
fn every_new_namespace_differs_from_the_parents() {
    if !require_root("every_new_namespace_differs_from_the_parents") {
        return;
    }
    let names: Vec<&str> = ALL.iter().map(|kind| kind.proc_name()).collect();
    let mut config = sh(&format!(
        "for ns in {}; do readlink /proc/self/ns/$ns; done",
        names.join(" ")
    ));
    config.namespaces = new_namespaces(&ALL);
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Exited(0), "{finished:?}");
    let inside: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(inside.len(), ALL.len(), "{inside:?}");
    for (kind, inside) in ALL.iter().zip(inside) {
        let outside = linux::namespace_of("self", *kind);
        assert_ne!(inside, outside, "{kind:?} is the parent's");
        assert!(inside.starts_with(kind.proc_name()), "{inside}");
    }
}

#[test]
fn namespaces_not_asked_for_are_shared() {
    if !require_root("namespaces_not_asked_for_are_shared") {
        return;
    }
    let mut config = sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts");
    config.namespaces = new_namespaces(&[NamespaceKind::Uts]);
    let finished = run(Plan::init(config), INIT).expect("launch");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(linux::namespace_of("self", NamespaceKind::Net).as_str())
    );
    assert_ne!(
        lines.get(1).copied(),
        Some(linux::namespace_of("self", NamespaceKind::Uts).as_str())
    );
}

#[test]
fn the_process_is_pid_1_and_sees_only_its_own() {
    if !require_root("the_process_is_pid_1_and_sees_only_its_own") {
        return;
    }
    // The shell is pid 1; its glob runs in the shell itself, so /proc holds
    // no one else. `ps` (procps) then sees the shell and itself only.
    let mut config = sh("echo $$; echo /proc/[0-9]*; ps -e -o pid=,comm=");
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    let finished = run(Plan::init(config), INIT).expect("launch");
    let lines: Vec<&str> = finished.stdout.lines().map(str::trim).collect();
    assert_eq!(lines[..2], ["1", "/proc/1"], "{finished:?}");
    let ps: Vec<Vec<&str>> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(ps.len(), 2, "{finished:?}");
    assert_eq!(ps[0], ["1", "sh"], "{finished:?}");
    assert_eq!(ps[1][1], "ps", "{finished:?}");
}

#[test]
fn the_hostname_is_set() {
    if !require_root("the_hostname_is_set") {
        return;
    }
    let hostname = unique("cradle");
    let mut config = sh("cat /proc/sys/kernel/hostname; echo $HOSTNAME");
    config.namespaces = new_namespaces(&[NamespaceKind::Uts]);
    config.hostname = Some(hostname.clone());
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.stdout, format!("{hostname}\n{hostname}\n"));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    assert_ne!(host.trim(), hostname);
}

#[test]
fn exit_codes_come_back_exactly() {
    if !require_root("exit_codes_come_back_exactly") {
        return;
    }
    for code in [0, 1, 42, 255] {
        let mut config = sh(&format!("exit {code}"));
        config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
        let finished = run(Plan::init(config), INIT).expect("launch");
        assert_eq!(finished.status, ExitStatus::Exited(code));
    }
}

#[test]
fn signals_come_back_exactly() {
    if !require_root("signals_come_back_exactly") {
        return;
    }
    // Killed by its own signal (no pid namespace: pid 1 of one ignores
    // signals it has no handler for).
    let config = sh("kill -SEGV $$");
    let finished = run(Plan::init(config), INIT).expect("launch");
    assert_eq!(finished.status, ExitStatus::Signaled(Signal::SIGSEGV.number()));

    // Signalled by the parent through the pidfd.
    let config = sh("echo started; exec sleep 30");
    let (mut process, mut stdout) = start_captured(Plan::init(config), INIT).expect("launch");
    assert_eq!(linux::read_line(&mut stdout, linux::DEADLINE), "started\n");
    process.signal(Signal::SIGTERM).expect("signal");
    let status = process.wait_timeout(linux::DEADLINE).expect("wait");
    assert_eq!(status, Some(ExitStatus::Signaled(Signal::SIGTERM.number())));

    // Pid 1 of a new pid namespace, killed from outside it.
    let mut config = sh("exec sleep 30");
    config.namespaces = new_namespaces(&[NamespaceKind::Pid]);
    let (mut process, _stdout) = start_captured(Plan::init(config), INIT).expect("launch");
    assert_eq!(
        process.terminate().expect("terminate"),
        ExitStatus::Signaled(Signal::SIGKILL.number())
    );
}

#[test]
fn namespaces_given_by_path_are_joined() {
    if !require_root("namespaces_given_by_path_are_joined") {
        return;
    }
    let hostname = unique("joined");
    let mut first = sh("echo up; exec sleep 30");
    first.namespaces = new_namespaces(&[NamespaceKind::Uts, NamespaceKind::Ipc]);
    first.hostname = Some(hostname.clone());
    let (mut first, mut stdout) = start_captured(Plan::init(first), INIT).expect("first launch");
    assert_eq!(linux::read_line(&mut stdout, linux::DEADLINE), "up\n");
    let pid = first.pid().to_string();

    let mut second = sh("cat /proc/sys/kernel/hostname; readlink /proc/self/ns/ipc");
    second.namespaces = [NamespaceKind::Uts, NamespaceKind::Ipc]
        .map(|kind| Namespace::join(kind, format!("/proc/{pid}/ns/{}", kind.proc_name())))
        .to_vec();
    let finished = run(Plan::init(second), INIT).expect("second launch");
    let expected = format!("{hostname}\n{}\n", linux::namespace_of(&pid, NamespaceKind::Ipc));
    assert_eq!(finished.stdout, expected);
    first.terminate().expect("terminate");
}
