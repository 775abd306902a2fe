//! `cradle run` in the foreground: output, stdin, the exit-code rules,
//! signal forwarding, and that nothing is left behind.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::timings::Timings;
use common::{one_line, require_root, BusyboxRootfs, Sandbox};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use predicates::prelude::*;

#[test]
fn the_readme_command_prints_pid_1_and_the_hostname() {
    if !require_root("the_readme_command_prints_pid_1_and_the_hostname") {
        return;
    }
    let sandbox = Sandbox::new("readme");
    sandbox
        .cradle()
        .args(["run", "--name", &sandbox.name("c")])
        .args([
            "--hostname",
            "demo",
            "--",
            "/bin/sh",
            "-c",
            r#"echo "pid $$ on $(hostname)""#,
        ])
        .assert()
        .success()
        .stdout("pid 1 on demo\n")
        .stderr("");
    sandbox.assert_clean();
}

#[test]
fn the_commands_exit_code_is_cradles() {
    if !require_root("the_commands_exit_code_is_cradles") {
        return;
    }
    let sandbox = Sandbox::new("exitcode");
    sandbox
        .cradle()
        .args(["run", "--", "sh", "-c", "exit 3"])
        .assert()
        .code(3);
    sandbox.cradle().args(["run", "--", "true"]).assert().code(0);
    sandbox.assert_clean();
}

#[test]
fn a_command_killed_by_a_signal_gives_128_plus_the_signal() {
    if !require_root("a_command_killed_by_a_signal_gives_128_plus_the_signal") {
        return;
    }
    let sandbox = Sandbox::new("killed");
    // Not pid 1 of a pid namespace, which the kernel shields from signals
    // it has no handler for.
    sandbox
        .cradle()
        .args(["run", "--ns", "mount,uts", "--", "sh", "-c", "kill -KILL $$"])
        .assert()
        .code(137);
    sandbox.assert_clean();
}

#[test]
fn a_missing_command_gives_127_and_names_the_exec_step() {
    if !require_root("a_missing_command_gives_127_and_names_the_exec_step") {
        return;
    }
    let sandbox = Sandbox::new("missing");
    let output = sandbox
        .cradle()
        .args(["run", "--", "/bin/nope"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(127));
    assert_eq!(
        one_line(&output.stderr),
        "cradle: exec \"/bin/nope\": no such file or directory (step: exec)\n"
    );
    sandbox
        .cradle()
        .args(["run", "--", "no-such-program-anywhere"])
        .assert()
        .code(127);
    sandbox.assert_clean();
}

#[test]
fn a_command_that_cannot_run_gives_126() {
    if !require_root("a_command_that_cannot_run_gives_126") {
        return;
    }
    let sandbox = Sandbox::new("noexec");
    let output = sandbox
        .cradle()
        .args(["run", "--", "/etc/passwd"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(126));
    assert_eq!(
        one_line(&output.stderr),
        "cradle: exec \"/etc/passwd\": permission denied (step: exec)\n"
    );
    sandbox.assert_clean();
}

#[test]
fn a_failed_set_up_gives_125_and_names_the_step() {
    if !require_root("a_failed_set_up_gives_125_and_names_the_step") {
        return;
    }
    let sandbox = Sandbox::new("setup");
    let output = sandbox
        .cradle()
        .args([
            "run",
            "--name",
            &sandbox.name("c"),
            "--cwd",
            "/no/such/dir",
            "--",
            "true",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(125));
    let line = one_line(&output.stderr);
    assert!(
        line.contains("/no/such/dir") && line.ends_with("(step: cwd)\n"),
        "{line}"
    );
    sandbox.assert_clean();
}

#[test]
fn stdin_env_and_cwd_reach_the_command() {
    if !require_root("stdin_env_and_cwd_reach_the_command") {
        return;
    }
    let sandbox = Sandbox::new("stdio");
    sandbox
        .cradle()
        .args(["run", "--env", "GREETING=hi", "--cwd", "/tmp", "--"])
        .args([
            "/bin/sh",
            "-c",
            r#"read line; echo "$GREETING $line $(pwd) ${PATH:+path}""#,
        ])
        .write_stdin("there\n")
        .assert()
        .success()
        .stdout("hi there /tmp path\n");
    sandbox.assert_clean();
}

#[test]
fn the_command_runs_in_its_cgroup_under_its_limits() {
    if !require_root("the_command_runs_in_its_cgroup_under_its_limits") {
        return;
    }
    let sandbox = Sandbox::new("limits");
    let rootfs = BusyboxRootfs::new();
    let name = sandbox.name("c");
    sandbox
        .cradle()
        .args(["run", "--name", &name, "--rootfs"])
        .arg(rootfs.path())
        .args([
            "--memory",
            "32m",
            "--cpus",
            "0.5",
            "--",
            "/bin/cat",
            "/proc/self/cgroup",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("memory:/").and(predicate::str::contains(format!("/cradle-{name}\n"))),
        );
    // The pids limit refuses the fourth process: the shell cannot fork.
    sandbox
        .cradle()
        .args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args([
            "--pids",
            "3",
            "--",
            "/bin/sh",
            "-c",
            "for i in 1 2 3 4 5 6; do sleep 5 & done; echo done",
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("can't fork"));
    sandbox.assert_clean();
}

/// Starts `cradle run` with `script`, waits for its first line, sends it
/// `signal`, and returns its exit code and output.
fn signal_a_foreground_run(sandbox: &Sandbox, ns: &[&str], script: &str, signal: Signal) -> (i32, String) {
    let mut child = sandbox
        .std_cradle()
        .arg("run")
        .args(ns)
        .args(["--", "/bin/sh", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn cradle");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    assert_eq!(first, "ready\n");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, signal).expect("signal cradle");
    let status = common::wait(&mut child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("rest of stdout");
    (status.code().expect("an exit code, not a signal"), rest)
}

#[test]
fn sigterm_to_a_foreground_run_reaches_the_init() {
    if !require_root("sigterm_to_a_foreground_run_reaches_the_init") {
        return;
    }
    let sandbox = Sandbox::new("sigterm");
    // The init (pid 1 in its namespace) has a handler; it exits 143.
    let script = r#"trap 'echo got TERM; exit 143' TERM; echo ready; while :; do sleep 0.05; done"#;
    let (code, rest) = signal_a_foreground_run(&sandbox, &[], script, Signal::SIGTERM);
    assert_eq!((code, rest.as_str()), (143, "got TERM\n"));
    sandbox.assert_clean();
}

#[test]
fn forwarded_signals_kill_a_command_that_has_no_handler() {
    if !require_root("forwarded_signals_kill_a_command_that_has_no_handler") {
        return;
    }
    let sandbox = Sandbox::new("sigint");
    // No pid namespace: the command is an ordinary process and SIGINT's
    // default action kills it.
    let ns = ["--ns", "mount,uts,ipc,net"];
    let (code, _) = signal_a_foreground_run(&sandbox, &ns, "echo ready; exec sleep 30", Signal::SIGINT);
    assert_eq!(code, 130);
    for (signal, expected) in [
        (Signal::SIGHUP, 129),
        (Signal::SIGUSR1, 138),
        (Signal::SIGQUIT, 131),
    ] {
        let (code, _) = signal_a_foreground_run(&sandbox, &ns, "echo ready; exec sleep 30", signal);
        assert_eq!(code, expected, "{signal}");
    }
    sandbox.assert_clean();
}

#[test]
fn a_user_namespace_maps_root_inside_to_the_given_range() {
    if !require_root("a_user_namespace_maps_root_inside_to_the_given_range") {
        return;
    }
    let sandbox = Sandbox::new("userns");
    sandbox
        .cradle()
        .args([
            "run",
            "--name",
            &sandbox.name("c"),
            "--hostname",
            "mapped",
            "--userns",
        ])
        .args(["--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536", "--"])
        .args([
            "/bin/sh",
            "-c",
            "echo $(id -u):$(id -g) $(hostname) $(cat /proc/self/uid_map)",
        ])
        .assert()
        .success()
        .stdout("0:0 mapped 0 100000 65536\n");
    sandbox.assert_clean();
}

#[test]
fn a_caller_without_privileges_is_root_in_a_user_namespace_of_its_own() {
    if !require_root("a_caller_without_privileges_is_root_in_a_user_namespace_of_its_own") {
        return;
    }
    use std::os::unix::process::CommandExt as _;
    const NOBODY: u32 = 65534;
    let sandbox = Sandbox::new("rootless");
    let owner = Some(nix::unistd::Uid::from_raw(NOBODY));
    nix::unistd::chown(sandbox.root(), owner, Some(nix::unistd::Gid::from_raw(NOBODY))).expect("chown");
    let mut command = sandbox.std_cradle();
    command
        .uid(NOBODY)
        .gid(NOBODY)
        .current_dir("/")
        .args([
            "run",
            "--name",
            &sandbox.name("c"),
            "--userns",
            "--hostname",
            "mine",
            "--",
        ])
        .args([
            "/bin/sh",
            "-c",
            "echo $(id -u) $(hostname) $(cat /proc/self/uid_map)",
        ]);
    assert_cmd::Command::from_std(command)
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout(format!("0 mine 0 {NOBODY} 1\n"));
    sandbox.assert_clean();
}

#[test]
fn each_v_shows_more_of_the_launch() {
    if !require_root("each_v_shows_more_of_the_launch") {
        return;
    }
    let sandbox = Sandbox::new("verbose");
    let log_of = |verbosity: &str| {
        let output = sandbox
            .cradle()
            .env_remove("RUST_LOG")
            .args([verbosity, "run", "--name", &sandbox.name("c"), "--", "true"])
            .output()
            .expect("cradle");
        assert!(output.status.success(), "{verbosity}");
        String::from_utf8(output.stderr).expect("utf-8")
    };
    let info = log_of("-v");
    let debug = log_of("-vv");
    assert!(info.contains("INFO") && !info.contains("DEBUG"), "{info}");
    // The namespaces, the cgroup and the state file, on top of -v's lines.
    for line in ["new namespaces", "cgroup", "state written"] {
        assert!(debug.contains(line), "-vv lacks {line:?}: {debug}");
    }
    assert!(debug.lines().count() > info.lines().count(), "{debug}");
    sandbox.assert_clean();
}

#[test]
fn timings_say_where_the_wall_time_went() {
    if !require_root("timings_say_where_the_wall_time_went") {
        return;
    }
    let sandbox = Sandbox::new("timings");
    let rootfs = BusyboxRootfs::new();
    let output = sandbox
        .cradle()
        .args(["run", "--timings", "--rootfs"])
        .arg(rootfs.path())
        .args(["--", "/bin/sh", "-c", "echo out"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"out\n", "the timings go to stderr");
    let timings = Timings::parse(&output.stderr);
    let text = &timings.text;
    timings.assert_in_order(&[
        "arguments",
        "the plan",
        "the state record",
        "launch: create cgroup",
        "launch: spawn",
        "launch: send config",
        "launch: await ready",
        "launch: await exec",
        "the command, until it exits",
        "teardown: cgroup and state",
        "total",
    ]);
    assert!(text.contains("CPU, user+sys"), "{text}");
    // The child's own steps, as it timed them, and the record written
    // meanwhile, shown within the wait for `ready`.
    timings.assert_child_steps_within_the_wait(&[
        "child: mounts",
        "child: rootfs",
        "child: seccomp",
        "child: exec",
    ]);
    let recorded = timings.position("recording the process, as the child sets up");
    assert!(recorded > timings.position("launch: await ready"), "{text}");
    // Started once recorded, before its `ready`: the start comes within
    // the wait, and the child's steps are shown once, under its end.
    let count = |label: &str| timings.lines.iter().filter(|(_, name)| name == label).count();
    assert_eq!(count("launch: await ready"), 2, "{text}");
    assert_eq!(count("launch: await start"), 0, "{text}");
    let start = timings.position("launch: start");
    assert!(
        start > timings.position("launch: await ready") && start < timings.position("launch: await exec"),
        "{text}"
    );
    assert_eq!(count("child: seccomp"), 1, "{text}");
    assert!(timings.position("child: seccomp") > start, "{text}");
    // The kernel's part of the cgroup, hierarchy by hierarchy; the v1
    // hierarchies the child joins itself, first thing.
    assert!(text.contains(": mkdir and limits\n"), "{text}");
    timings.assert_child_steps_within_the_wait(&["child: cgroup", "child: mounts"]);
    // Without the flag, nothing of it.
    let quiet = sandbox
        .cradle()
        .args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args(["--", "/bin/true"])
        .output()
        .expect("run");
    assert!(
        quiet.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    sandbox.assert_clean();
}

/// A directory the caller leaves open across `exec` (a shell's `5<dir`)
/// is not in the container, even at a number the launch leaves unused
/// (5, a foreground run's hand-off slot): a working directory through it
/// is not found there, rather than leading out of the root.
#[test]
fn a_directory_the_caller_left_open_is_no_way_out() {
    if !require_root("a_directory_the_caller_left_open_is_no_way_out") {
        return;
    }
    let sandbox = Sandbox::new("leaked-dir");
    let rootfs = BusyboxRootfs::new();
    let host = tempfile::tempdir().expect("a host directory");
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"exec 5<"$1"; exec "$2" --root "$3" run --rootfs "$4" --cwd /proc/self/fd/5 -- /bin/true"#)
        .arg("sh")
        .arg(host.path())
        .arg(common::cradle_bin())
        .arg(sandbox.root())
        .arg(rootfs.path())
        .output()
        .expect("sh");
    let line = one_line(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{line}");
    assert!(
        line.contains("chdir /proc/self/fd/5: No such file or directory (step: cwd)"),
        "{line}"
    );
    sandbox.assert_clean();
}
