//! `cradle_linux::command`, as an embedder uses it, as root: output and
//! exit status, stdio pipes, limits in the container's cgroup, an exec
//! into it confined as it is, waits with deadlines, and nothing left
//! (process, zombie, descriptor, cgroup) once a handle is waited for or
//! dropped; a detached container runs on.

use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use cradle_core::ExitStatus;
use cradle_linux::command::{Command, Confinement, NamespaceKind, Network, Stdio};
use cradle_tests::linux::{self, require_root, serial, BusyboxRootfs, Leftovers};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

/// A container of the busybox rootfs running `script`.
fn sh(rootfs: &BusyboxRootfs, script: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", script])
        .rootfs(rootfs.path())
        .init_binary(INIT);
    command
}

/// The directories of `pid`'s cgroups that exist.
fn cgroup_dirs(pid: u32) -> Vec<PathBuf> {
    linux::cgroup_dirs_of(&pid.to_string())
        .into_iter()
        .filter(|dir| dir.is_dir())
        .collect()
}

fn status_line(pid: u32, key: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find(|line| line.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .to_owned()
}

#[test]
fn output_captures_what_the_container_writes_and_how_it_ended() {
    if !require_root("output_captures_what_the_container_writes_and_how_it_ended") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let leftovers = Leftovers::before();
    let output = sh(&rootfs, "echo out from $(hostname); echo err >&2; exit 3")
        .hostname("boxed")
        .output()
        .expect("output");
    assert_eq!(output.status, ExitStatus::Exited(3));
    assert_eq!(output.stdout, b"out from boxed\n");
    assert_eq!(output.stderr, b"err\n");
    leftovers.assert_none("after output()");
}

#[test]
fn stdin_is_a_pipe_when_asked_and_closed_by_wait() {
    if !require_root("stdin_is_a_pipe_when_asked_and_closed_by_wait") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let mut child = sh(&rootfs, "read line; echo \"got $line\"; cat >/dev/null; echo eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .as_mut()
        .expect("piped stdin")
        .write_all(b"hello\n")
        .expect("write");
    // wait_with_output closes stdin first: cat sees its end.
    let output = child.wait_with_output().expect("wait_with_output");
    assert_eq!(output.stdout, b"got hello\neof\n");
    assert!(output.status.success());
}

#[test]
fn limits_are_the_cgroups_and_the_cgroup_goes_with_the_wait() {
    if !require_root("limits_are_the_cgroups_and_the_cgroup_goes_with_the_wait") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let mut child = sh(&rootfs, "exec sleep 1000")
        .memory_limit(64 << 20)
        .pids_limit(17)
        .cpu_limit(0.5)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let dirs = cgroup_dirs(child.id());
    let read = |name: &str| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|file| file.exists())
            .map(|file| fs::read_to_string(file).expect("read").trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {dirs:?}"))
    };
    assert_eq!(read("pids.max"), "17");
    assert_eq!(read("memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(read("cpu.cfs_quota_us"), "50000");
    assert_eq!(
        child
            .wait_timeout(Duration::from_millis(50))
            .expect("wait_timeout"),
        None
    );
    assert_eq!(child.try_wait().expect("try_wait"), None);
    let status = child.kill().expect("kill");
    assert_eq!(status, ExitStatus::Signaled(9));
    let left: Vec<_> = dirs.iter().filter(|dir| dir.exists()).collect();
    assert!(left.is_empty(), "cgroups left after the wait: {left:?}");
}

#[test]
fn a_dropped_handle_leaves_no_process_zombie_or_cgroup() {
    if !require_root("a_dropped_handle_leaves_no_process_zombie_or_cgroup") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let leftovers = Leftovers::before();
    let child = sh(&rootfs, "sleep 1000 & exec sleep 1000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let dirs = cgroup_dirs(pid);
    assert!(!dirs.is_empty(), "the container has a cgroup");
    drop(child);
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "the init is left"
    );
    let left: Vec<_> = dirs.iter().filter(|dir| dir.exists()).collect();
    assert!(left.is_empty(), "cgroups left after the drop: {left:?}");
    leftovers.assert_none("after the drop");
}

#[test]
fn an_exec_joins_the_container_and_is_confined_as_it_is() {
    if !require_root("an_exec_joins_the_container_and_is_confined_as_it_is") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let mut container = sh(&rootfs, "exec sleep 1000")
        .hostname("joined")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let output = container
        .exec("/bin/sh")
        .args([
            "-c",
            "hostname; grep -E '^(CapEff|Seccomp):' /proc/self/status; exit 4",
        ])
        .output()
        .expect("exec");
    assert_eq!(output.status, ExitStatus::Exited(4), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let init = container.id();
    let expected = format!(
        "joined\n{}\n{}\n",
        status_line(init, "CapEff:"),
        status_line(init, "Seccomp:")
    );
    assert_eq!(text, expected);
    assert!(
        expected.contains("Seccomp:\t2"),
        "the container is confined: {expected}"
    );
    // Unconfined on request.
    let privileged = container
        .exec("/bin/sh")
        .args(["-c", "grep -E '^Seccomp:' /proc/self/status"])
        .confinement(Confinement::Privileged)
        .output()
        .expect("privileged exec");
    assert_eq!(String::from_utf8_lossy(&privileged.stdout), "Seccomp:\t0\n");
    container.kill().expect("kill");
}

#[test]
fn the_network_is_its_own_with_lo_up_or_the_hosts() {
    if !require_root("the_network_is_its_own_with_lo_up_or_the_hosts") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let own = sh(&rootfs, "cat /sys/class/net/lo/operstate; ls /sys/class/net")
        .output()
        .expect("own network");
    assert_eq!(String::from_utf8_lossy(&own.stdout), "unknown\nlo\n");
    let host_netns = fs::read_link("/proc/self/ns/net").expect("own netns");
    let host = sh(&rootfs, "exec sleep 1000")
        .network(Network::Host)
        .stdin(Stdio::null())
        .spawn()
        .expect("host network");
    let theirs = fs::read_link(format!("/proc/{}/ns/net", host.id())).expect("their netns");
    assert_eq!(theirs, host_netns);
}

#[test]
fn a_program_that_is_not_there_fails_the_spawn_and_leaves_nothing() {
    if !require_root("a_program_that_is_not_there_fails_the_spawn_and_leaves_nothing") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let leftovers = Leftovers::before();
    let error = Command::new("/bin/no-such-program")
        .rootfs(rootfs.path())
        .init_binary(INIT)
        .spawn()
        .expect_err("no such program");
    let text = error.to_string();
    assert!(text.contains("/bin/no-such-program"), "{text}");
    leftovers.assert_none("after a failed spawn");
}

#[test]
fn a_detached_container_runs_on_after_its_handle() {
    if !require_root("a_detached_container_runs_on_after_its_handle") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let child = sh(&rootfs, "exec sleep 1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let dirs = cgroup_dirs(child.id());
    let pid = child.detach();
    std::thread::sleep(Duration::from_millis(50));
    let state = fs::read_to_string(format!("/proc/{pid}/stat")).expect("still there");
    assert!(!state.contains(") Z "), "not a zombie: {state}");
    // The caller's to end and clean up now.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid.as_raw()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid.as_raw()), None).expect("reap");
    for dir in dirs.iter().rev() {
        let mut left = true;
        for _ in 0..100 {
            if fs::remove_dir(dir).is_ok() || !dir.exists() {
                left = false;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!left, "could not remove {}", dir.display());
    }
}

#[test]
fn a_shared_namespace_is_the_callers_and_a_shared_mount_namespace_is_refused_when_confined() {
    if !require_root(
        "a_shared_namespace_is_the_callers_and_a_shared_mount_namespace_is_refused_when_confined",
    ) {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let leftovers = Leftovers::before();
    let child = sh(&rootfs, "exec sleep 1000")
        .share_namespace(NamespaceKind::Ipc)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let ns = |pid: &str, kind: &str| fs::read_link(format!("/proc/{pid}/ns/{kind}")).expect("ns link");
    let pid = child.id().to_string();
    assert_eq!(ns(&pid, "ipc"), ns("self", "ipc"), "the caller's IPC namespace");
    assert_ne!(ns(&pid, "uts"), ns("self", "uts"), "a UTS namespace of its own");
    drop(child);
    let refused = |command: &mut Command| {
        let error = command.spawn().expect_err("refused");
        assert!(matches!(error, cradle_linux::Error::Plan { .. }), "{error}");
    };
    refused(sh(&rootfs, "true").share_namespace(NamespaceKind::Mount));
    refused(
        sh(&rootfs, "true")
            .share_namespace(NamespaceKind::Uts)
            .hostname("nope"),
    );
    leftovers.assert_none("after the refusals");
}
