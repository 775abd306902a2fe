//! `run --init`: pid 1 is a reaper that passes signals on to the command
//! (pid 2), reaps orphans and exits as the command did; each behaviour is
//! checked against the same run without `--init`, where it is missing.
//! Root only.

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{one_line, read_until, require_root, BusyboxRootfs, Sandbox, DEADLINE};
use nix::pty::openpty;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

/// How long a command under the reaper may take to die of a signal.
const PROMPT: Duration = Duration::from_secs(2);

/// Starts a foreground `cradle run --name NAME FLAGS -- /bin/sleep 30`
/// and waits until the sleep runs: as the init, or as the init's child
/// (with `--init`, whose reaper blocked every signal before its fork).
/// Nothing but the sleep may get the signal: a shell that is to `exec` it
/// catches SIGINT (ash and dash do with `-c`), and exits 130 of its own.
fn start_sleeper(sandbox: &Sandbox, name: &str, flags: &[&str]) -> Child {
    let mut child = sandbox
        .std_cradle()
        .args(["run", "--name", name])
        .args(flags)
        .args(["--", "/bin/sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn cradle");
    let deadline = Instant::now() + DEADLINE;
    while !runs_sleep(sandbox, name) {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "{flags:?}: cradle exited"
        );
        assert!(
            Instant::now() < deadline,
            "{flags:?}: no sleep within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Whether container `name`'s init, or a child of it, is the sleep.
fn runs_sleep(sandbox: &Sandbox, name: &str) -> bool {
    let Ok(output) = sandbox.std_cradle().args(["state", name]).output() else {
        return false;
    };
    let Ok(state) = serde_json::from_slice::<serde_json::Value>(&output.stdout) else {
        return false;
    };
    let Some(init) = state["pid"].as_u64().filter(|&pid| pid > 0) else {
        return false;
    };
    let comm = |pid: &str| fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let children = fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap_or_default();
    std::iter::once(init.to_string().as_str())
        .chain(children.split_whitespace())
        .any(|pid| comm(pid) == "sleep\n")
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pid"))
}

/// Whether `child` is still running `after` it was signalled; a child that
/// still is gets `SIGKILL` and is waited for.
fn survives(child: &mut Child, after: Duration) -> bool {
    std::thread::sleep(after);
    if child.try_wait().expect("try_wait").is_some() {
        return false;
    }
    kill(pid_of(child), Signal::SIGKILL).expect("SIGKILL cradle");
    common::wait(child);
    true
}

#[test]
fn sigint_ends_a_sleep_under_the_reaper_and_not_without_it() {
    if !require_root("sigint_ends_a_sleep_under_the_reaper_and_not_without_it") {
        return;
    }
    let sandbox = Sandbox::new("init-sigint");
    let rootfs = BusyboxRootfs::new();
    let with_rootfs = ["--init", "--rootfs", rootfs.path().to_str().expect("utf-8")];
    for (suffix, flags) in [("rootfs", &with_rootfs[..]), ("host", &["--init"])] {
        let mut child = start_sleeper(&sandbox, &sandbox.name(suffix), flags);
        kill(pid_of(&child), Signal::SIGINT).expect("SIGINT cradle");
        let sent = Instant::now();
        let status = common::wait(&mut child);
        assert!(sent.elapsed() < PROMPT, "{flags:?}: took {:?}", sent.elapsed());
        assert_eq!(status.code(), Some(130), "{flags:?}");
    }
    // The sleep as pid 1: the kernel drops the SIGINT cradle passes on.
    let name = sandbox.name("plain");
    let mut child = start_sleeper(&sandbox, &name, &[]);
    kill(pid_of(&child), Signal::SIGINT).expect("SIGINT cradle");
    assert!(
        survives(&mut child, Duration::from_secs(1)),
        "a sleep as pid 1 ended on SIGINT"
    );
    // Its cradle was killed: the container is left to delete.
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn ctrl_c_on_the_terminal_reaches_the_command_in_its_own_foreground_group() {
    if !require_root("ctrl_c_on_the_terminal_reaches_the_command_in_its_own_foreground_group") {
        return;
    }
    let sandbox = Sandbox::new("init-tty");
    let rootfs = BusyboxRootfs::new();
    let pty = openpty(None, None).expect("openpty");
    let mut master = File::from(pty.master);
    let stdio = || Stdio::from(pty.slave.try_clone().expect("slave"));
    // Fields 5 and 8 of stat: the process group, and the terminal's
    // foreground group.
    let script = concat!(
        r#"read -r _ _ _ _ pgrp _ _ tpgid _ < /proc/self/stat; "#,
        r#"echo "pid $$ pgrp $pgrp fg $tpgid"; exec /bin/sleep 30"#
    );
    let mut child = sandbox
        .std_cradle()
        .args(["run", "-t", "--init", "--rootfs"])
        .arg(rootfs.path())
        .args(["--", "/bin/sh", "-c", script])
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .expect("spawn cradle");
    drop(pty.slave);
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "fg 2");
    assert!(seen.contains("pid 2 pgrp 2 fg 2"), "{seen:?}");
    // Give the shell time to become the sleep.
    std::thread::sleep(Duration::from_millis(200));
    master.write_all(&[0x03]).expect("type ^C");
    let status = common::wait(&mut child);
    assert_eq!(status.code(), Some(130), "{seen:?}");
    sandbox.assert_clean();
}

/// The `(pid, stat, comm)` of every process `ps` lists.
fn processes(ps: &str) -> Vec<(u32, String, String)> {
    ps.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "{line:?}");
            let pid = fields[0].parse().expect("a pid");
            (pid, fields[1].to_owned(), fields[2].to_owned())
        })
        .collect()
}

#[test]
fn orphans_are_reaped_by_the_reaper_and_not_without_it() {
    if !require_root("orphans_are_reaped_by_the_reaper_and_not_without_it") {
        return;
    }
    let sandbox = Sandbox::new("init-zombies");
    let rootfs = BusyboxRootfs::new();
    // xargs waits for its own child only, never for orphans: as pid 1 it
    // leaves them zombies. (It runs the script once, on empty input.)
    let script = "for i in 1 2 3; do (sleep 0.1 &); done; sleep 1; ps -o pid,stat,comm";
    let zombies = |flags: &[&str]| {
        let output = sandbox
            .cradle()
            .arg("run")
            .args(flags)
            .arg("--rootfs")
            .arg(rootfs.path())
            .args(["--", "/bin/xargs", "/bin/sh", "-c", script, "sh"])
            .write_stdin("")
            .output()
            .expect("run");
        assert!(output.status.success(), "{flags:?}: {output:?}");
        let ps = String::from_utf8_lossy(&output.stdout).into_owned();
        let listed = processes(&ps);
        assert!(listed.iter().any(|(_, _, comm)| comm == "ps"), "{ps}");
        listed.iter().filter(|(_, stat, _)| stat.starts_with('Z')).count()
    };
    assert_eq!(zombies(&["--init"]), 0);
    assert_eq!(zombies(&[]), 3);
    sandbox.assert_clean();
}

#[test]
fn ps_shows_the_reaper_as_pid_1_and_the_command_as_pid_2() {
    if !require_root("ps_shows_the_reaper_as_pid_1_and_the_command_as_pid_2") {
        return;
    }
    let sandbox = Sandbox::new("init-ps");
    let rootfs = BusyboxRootfs::new();
    let output = sandbox
        .cradle()
        .args(["run", "--init", "--rootfs"])
        .arg(rootfs.path())
        .args(["--", "/bin/ps", "-o", "pid,stat,comm"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let ps = String::from_utf8_lossy(&output.stdout);
    let listed: Vec<(u32, String)> = processes(&ps)
        .into_iter()
        .map(|(pid, _, comm)| (pid, comm))
        .collect();
    assert_eq!(
        listed,
        [(1, "cradle-reaper".to_owned()), (2, "ps".to_owned())],
        "{ps}"
    );
    sandbox.assert_clean();
}

#[test]
fn exit_codes_and_exec_failures_are_the_commands_as_without_the_reaper() {
    if !require_root("exit_codes_and_exec_failures_are_the_commands_as_without_the_reaper") {
        return;
    }
    let sandbox = Sandbox::new("init-exit");
    let rootfs = BusyboxRootfs::new();
    // Found, executable, but no program: its `execve` fails after the
    // fork, in the command's process, which reports it.
    let bad = rootfs.path().join("bad");
    fs::write(&bad, "not a program\n\0").expect("write /bad");
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o755)).expect("chmod /bad");
    let run = |init: bool, command: &[&str]| {
        let mut cradle = sandbox.cradle();
        cradle.arg("run");
        if init {
            cradle.arg("--init");
        }
        let output = cradle
            .arg("--rootfs")
            .arg(rootfs.path())
            .arg("--")
            .args(command)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr)
    };
    assert_eq!(run(true, &["/bin/sh", "-c", "exit 3"]).0, Some(3));
    // The shell is pid 2, not shielded: the signal kills it.
    assert_eq!(run(true, &["/bin/sh", "-c", "kill -TERM $$"]).0, Some(143));
    for (command, code) in [("/nonexistent", 127), ("/bad", 126)] {
        let (with, message) = run(true, &[command]);
        assert_eq!(with, Some(code), "{command}: {message}");
        one_line(message.as_bytes());
        assert!(message.contains("(step: exec)"), "{message}");
        assert_eq!(run(false, &[command]), (with, message), "{command}");
    }
    sandbox.assert_clean();
}

#[test]
fn the_oci_form_takes_init_too() {
    if !require_root("the_oci_form_takes_init_too") {
        return;
    }
    let sandbox = Sandbox::new("init-oci");
    let rootfs = BusyboxRootfs::new();
    let bundle = tempfile::Builder::new()
        .prefix("cradle-bundle-")
        .tempdir()
        .expect("bundle directory");
    sandbox
        .cradle()
        .args(["spec", "--bundle"])
        .arg(bundle.path())
        .assert()
        .success();
    let path = bundle.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("config.json")).expect("JSON");
    config["root"]["path"] = json!(rootfs.path());
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["ps", "-o", "pid,stat,comm"]);
    fs::write(&path, serde_json::to_vec(&config).expect("JSON")).expect("write config.json");
    let output = sandbox
        .cradle()
        .args(["run", "--init", "--bundle"])
        .arg(bundle.path())
        .arg(sandbox.name("c"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let ps = String::from_utf8_lossy(&output.stdout);
    let first = processes(&ps).into_iter().next().expect("a process");
    assert_eq!((first.0, first.2.as_str()), (1, "cradle-reaper"), "{ps}");
    sandbox.assert_clean();
}
