//! Detached containers: run -d, list, state, kill, exec, delete, and what
//! each leaves behind.

mod common;

use std::path::Path;

use common::timings::Timings;
use common::{one_line, require_root, BusyboxRootfs, Sandbox};
use predicates::prelude::*;

#[test]
fn detach_list_state_kill_delete_round_trip() {
    if !require_root("detach_list_state_kill_delete_round_trip") {
        return;
    }
    let sandbox = Sandbox::new("roundtrip");
    let rootfs = BusyboxRootfs::new();
    let name = sandbox.name("web");
    sandbox
        .cradle()
        .args(["run", "-d", "--name", &name, "--hostname", "web", "--rootfs"])
        .arg(rootfs.path())
        .args(["--memory", "64m", "--pids", "32", "--", "sleep", "1000"])
        .assert()
        .success()
        .stdout(format!("{name}\n"));

    sandbox
        .cradle()
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains(&name).and(predicate::str::contains("running")));
    let listed = sandbox
        .cradle()
        .args(["list", "--format", "json"])
        .output()
        .expect("list");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON list");
    assert_eq!(listed[0]["id"], name.as_str());
    assert_eq!(listed[0]["status"], "running");

    let state = sandbox.state(&name);
    let pid = state["pid"].as_i64().expect("pid");
    assert!(pid > 1 && state["start_time"].as_u64().is_some(), "{state}");
    assert_eq!(state["status"], "running");
    assert!(
        state["created"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{state}"
    );
    assert_eq!(state["namespaces"]["pid"], format!("/proc/{pid}/ns/pid"));
    let cgroups: Vec<&str> = state["cgroup_paths"]
        .as_array()
        .expect("cgroup paths")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(cgroups.iter().all(|dir| Path::new(dir).is_dir()), "{cgroups:?}");
    let memory_limit = cgroups.iter().find_map(|dir| {
        std::fs::read_to_string(Path::new(dir).join("memory.limit_in_bytes"))
            .or_else(|_| std::fs::read_to_string(Path::new(dir).join("memory.max")))
            .ok()
    });
    assert_eq!(memory_limit.as_deref(), Some("67108864\n"));

    // sleep is pid 1 of its namespace, shielded from TERM: KILL by number.
    sandbox.cradle().args(["kill", &name, "9"]).assert().success();
    sandbox.wait_for_status(&name, "stopped");
    // A dead init has no /proc entry: no namespace paths are given for it.
    let stopped = sandbox.state(&name);
    assert!(stopped["namespaces"].is_null(), "{stopped}");
    let output = sandbox.cradle().args(["kill", &name]).output().expect("kill");
    // runc's code for a failed command on a container.
    assert_eq!(output.status.code(), Some(1));
    assert!(one_line(&output.stderr).contains("is not running"));

    sandbox
        .cradle()
        .args(["delete", &name])
        .assert()
        .success()
        .stdout("");
    assert!(cgroups.iter().all(|dir| !Path::new(dir).exists()), "{cgroups:?}");
    sandbox
        .cradle()
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains(&name).not());
    sandbox.assert_clean();
}

#[test]
fn kill_takes_signal_names_and_reaches_a_handler() {
    if !require_root("kill_takes_signal_names_and_reaches_a_handler") {
        return;
    }
    let sandbox = Sandbox::new("killname");
    let name = sandbox.name("c");
    sandbox
        .cradle()
        .args(["run", "-d", "--name", &name, "--"])
        .args([
            "/bin/sh",
            "-c",
            "trap 'exit 0' USR1; while :; do sleep 0.05; done",
        ])
        .assert()
        .success();
    // The shell is its pid namespace's init: a signal it has no handler
    // for yet is dropped, so wait for its trap.
    let pid = sandbox.state(&name)["pid"].as_u64().expect("a pid");
    sandbox.wait_for_handler(pid, nix::sys::signal::Signal::SIGUSR1);
    sandbox
        .cradle()
        .args(["kill", &name, "SIGUSR1"])
        .assert()
        .success();
    sandbox.wait_for_status(&name, "stopped");
    sandbox.cradle().args(["delete", &name]).assert().success();
    sandbox.assert_clean();
}

/// `kill --all` signals every process of the container, not only its
/// init: the shell, its pid namespace's init, ignores `TERM` it has no
/// handler for, and ends only when both of its sleeps are gone.
#[test]
fn kill_all_reaches_every_process_of_the_container() {
    if !require_root("kill_all_reaches_every_process_of_the_container") {
        return;
    }
    let sandbox = Sandbox::new("killall");
    let name = sandbox.name("c");
    sandbox
        .cradle()
        .args(["run", "-d", "--name", &name, "--"])
        .args(["/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait"])
        .assert()
        .success();
    let pid = sandbox.state(&name)["pid"].as_u64().expect("a pid");
    let children = format!("/proc/{pid}/task/{pid}/children");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&children)
        .unwrap_or_default()
        .split_whitespace()
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "the sleeps never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    sandbox
        .cradle()
        .args(["kill", "--all", &name, "TERM"])
        .assert()
        .success();
    sandbox.wait_for_status(&name, "stopped");
    sandbox.cradle().args(["delete", &name]).assert().success();
    sandbox.assert_clean();
}

#[test]
fn delete_refuses_a_running_container_unless_forced() {
    if !require_root("delete_refuses_a_running_container_unless_forced") {
        return;
    }
    let sandbox = Sandbox::new("force");
    let name = sandbox.name("c");
    sandbox.start_sleeping(&name);
    let output = sandbox.cradle().args(["delete", &name]).output().expect("delete");
    assert_eq!(output.status.code(), Some(1));
    assert!(one_line(&output.stderr).contains("is running"));
    assert_eq!(sandbox.state(&name)["status"], "running");
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_generated_id_is_printed_and_usable() {
    if !require_root("a_generated_id_is_printed_and_usable") {
        return;
    }
    let sandbox = Sandbox::new("genid");
    let output = sandbox
        .cradle()
        .args(["run", "-d", "--", "sleep", "1000"])
        .output()
        .expect("run");
    assert!(output.status.success());
    let id = String::from_utf8(output.stdout).expect("utf-8");
    let id = id.trim_end();
    assert_eq!(id.len(), 12, "{id:?}");
    assert_eq!(sandbox.state(id)["status"], "running");
    sandbox
        .cradle()
        .args(["delete", "--force", id])
        .assert()
        .success();
    let left = cradle_tests::linux::state_leftovers(sandbox.root());
    assert!(left.is_empty(), "{left:?}");
    assert!(common::cgroups_named(&format!("cradle-{id}")).is_empty());
}

#[test]
fn exec_runs_in_the_container_with_the_exit_code_rules() {
    if !require_root("exec_runs_in_the_container_with_the_exit_code_rules") {
        return;
    }
    let sandbox = Sandbox::new("exec");
    let rootfs = BusyboxRootfs::new();
    let name = sandbox.name("c");
    sandbox
        .cradle()
        .args(["run", "-d", "--name", &name, "--hostname", "inside", "--rootfs"])
        .arg(rootfs.path())
        .args(["--", "sleep", "1000"])
        .assert()
        .success();
    // Its namespaces (hostname, pid 1 is the init), its cgroup, its root.
    sandbox
        .cradle()
        .args(["exec", &name, "--", "/bin/sh", "-c"])
        .arg(concat!(
            r#"echo "$(hostname) $(cat /proc/1/cmdline | tr '\0' ' ')$(ls /bin/busybox)"; "#,
            r#"grep -q "/cradle-$0$" /proc/self/cgroup && echo in-cgroup"#
        ))
        .arg(&name)
        .assert()
        .success()
        .stdout("inside sleep 1000 /bin/busybox\nin-cgroup\n");
    sandbox
        .cradle()
        .args([
            "exec",
            "--env",
            "A=1",
            "--cwd",
            "/tmp",
            "--user",
            "1000:1000",
            &name,
            "--",
        ])
        .args(["/bin/sh", "-c", r#"echo "$A $(pwd) $(id -u):$(id -g)""#])
        .assert()
        .success()
        .stdout("1 /tmp 1000:1000\n");
    sandbox
        .cradle()
        .args(["exec", &name, "--", "sh", "-c", "exit 5"])
        .assert()
        .code(5);
    let output = sandbox
        .cradle()
        .args(["exec", &name, "--", "/bin/nope"])
        .output()
        .expect("exec");
    assert_eq!(output.status.code(), Some(127));
    assert_eq!(
        one_line(&output.stderr),
        "cradle: exec \"/bin/nope\": no such file or directory (step: exec)\n"
    );
    sandbox
        .cradle()
        .args(["exec", &name, "--", "/bin"])
        .assert()
        .code(126);

    // Once the init has gone, exec is refused.
    sandbox.cradle().args(["kill", &name, "KILL"]).assert().success();
    sandbox.wait_for_status(&name, "stopped");
    let output = sandbox
        .cradle()
        .args(["exec", &name, "--", "true"])
        .output()
        .expect("exec");
    assert_eq!(output.status.code(), Some(125));
    assert!(one_line(&output.stderr).contains("is not running"));
    sandbox.cradle().args(["delete", &name]).assert().success();
    sandbox.assert_clean();
}

#[test]
fn exec_timings_say_where_the_wall_time_went() {
    if !require_root("exec_timings_say_where_the_wall_time_went") {
        return;
    }
    let sandbox = Sandbox::new("exectimings");
    let name = sandbox.name("c");
    sandbox.start_sleeping(&name);
    let output = sandbox
        .cradle()
        .args(["exec", "--timings", &name, "--", "/bin/sh", "-c", "echo out"])
        .output()
        .expect("exec");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"out\n", "the timings go to stderr");
    let timings = Timings::parse(&output.stderr);
    timings.assert_in_order(&[
        "arguments",
        "the container's record",
        "proving the container's init",
        "the plan and the launch's options",
        "launch: spawn",
        "launch: enter cgroup",
        "launch: send config",
        "launch: await ready",
        "launch: await exec",
        "the command, until it exits",
        "total",
    ]);
    timings.assert_child_steps_within_the_wait(&["child: capabilities", "child: seccomp", "child: exec"]);
    // Root, and no pids limit to hold a fork to: the process is cloned into
    // the container's pid namespace, with no helper to hear from.
    for phase in ["launch: pid report", "launch: adopt", "launch: reap helper"] {
        let helper = timings.lines.iter().any(|(_, label)| label == phase);
        assert!(!helper, "{phase:?} in {}", timings.text);
    }
    // Not for a process nobody waits for.
    let detached = sandbox
        .cradle()
        .args(["exec", "--timings", "--detach", &name, "--", "true"])
        .output()
        .expect("exec");
    assert_eq!(detached.status.code(), Some(125), "{detached:?}");
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_veth_container_is_reachable_and_its_interface_goes_with_delete() {
    if !require_root("a_veth_container_is_reachable_and_its_interface_goes_with_delete") {
        return;
    }
    let sandbox = Sandbox::new("veth");
    let rootfs = BusyboxRootfs::new();
    let name = sandbox.name("c");
    let host_end = format!("crt{}", std::process::id() % 1_000_000);
    // A /24 of this test's own, from its pid: nothing else uses it.
    let subnet = format!("10.231.{}", std::process::id() % 250);
    sandbox
        .cradle()
        .args(["run", "-d", "--name", &name, "--rootfs"])
        .arg(rootfs.path())
        .arg("--net")
        .arg(format!("veth:host={host_end},address={subnet}.2/24"))
        .args(["--", "sleep", "1000"])
        .assert()
        .success();
    assert_eq!(sandbox.state(&name)["interfaces"][0], host_end.as_str());
    let added = std::process::Command::new("ip")
        .args(["addr", "add", &format!("{subnet}.1/24"), "dev", &host_end])
        .status()
        .expect("ip addr add");
    assert!(added.success());
    sandbox
        .cradle()
        .args([
            "exec",
            &name,
            "--",
            "ping",
            "-c",
            "1",
            "-W",
            "5",
            &format!("{subnet}.1"),
        ])
        .assert()
        .success();
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    assert!(!Path::new("/sys/class/net").join(&host_end).exists());
    sandbox.assert_clean();
}

#[test]
fn a_foreground_container_is_listed_and_can_be_deleted_from_elsewhere() {
    if !require_root("a_foreground_container_is_listed_and_can_be_deleted_from_elsewhere") {
        return;
    }
    let sandbox = Sandbox::new("foreground");
    let name = sandbox.name("c");
    let mut child = sandbox
        .std_cradle()
        .args(["run", "--name", &name, "--", "sleep", "1000"])
        .spawn()
        .expect("spawn cradle");
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while !sandbox.root().join(&name).join("state.json").exists() {
        assert!(std::time::Instant::now() < deadline, "never recorded");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let state = sandbox.state(&name);
    assert_eq!(
        (state["status"].as_str(), state["detached"].as_bool()),
        (Some("running"), Some(false))
    );
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    let status = common::wait(&mut child);
    assert_eq!(status.code(), Some(137));
    sandbox.assert_clean();
}

#[test]
fn of_two_runs_with_one_name_exactly_one_starts() {
    if !require_root("of_two_runs_with_one_name_exactly_one_starts") {
        return;
    }
    let sandbox = Sandbox::new("race");
    let name = sandbox.name("c");
    let start = || {
        sandbox
            .std_cradle()
            .args(["run", "-d", "--name", &name, "--", "sleep", "1000"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn cradle")
    };
    let outputs = [start(), start()].map(|mut child| {
        common::wait(&mut child);
        child.wait_with_output().expect("output of an exited cradle")
    });
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(125)),
        "{codes:?}"
    );
    let loser = outputs
        .iter()
        .find(|o| o.status.code() == Some(125))
        .expect("one refused");
    assert!(one_line(&loser.stderr).contains("already exists"));
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_pid_with_another_start_time_is_not_the_container() {
    if !require_root("a_pid_with_another_start_time_is_not_the_container") {
        return;
    }
    let sandbox = Sandbox::new("pidreuse");
    let name = sandbox.name("c");
    sandbox.start_sleeping(&name);
    // As if the init had died and another process had got its pid.
    let file = sandbox.root().join(&name).join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("state file")).expect("JSON");
    let pid = state["pid"].as_i64().expect("pid");
    state["start_time"] = (state["start_time"].as_u64().expect("start time") + 1).into();
    std::fs::write(&file, serde_json::to_vec(&state).expect("JSON")).expect("state file");

    assert_eq!(sandbox.state(&name)["status"], "stopped");
    // kill exits 1 as runc's does; exec 125 as docker's.
    for (refused, code) in [
        (&["kill", &name, "KILL"][..], 1),
        (&["exec", &name, "--", "true"], 125),
    ] {
        let output = sandbox.cradle().args(refused).output().expect("cradle");
        assert_eq!(output.status.code(), Some(code), "{refused:?}");
        assert!(one_line(&output.stderr).contains("is not running"), "{refused:?}");
    }
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the process was signalled"
    );
    // delete takes it for stopped; removing its cgroup ends what is in it.
    sandbox.cradle().args(["delete", &name]).assert().success();
    sandbox.assert_clean();
}

#[test]
fn signals_to_exec_reach_its_process() {
    if !require_root("signals_to_exec_reach_its_process") {
        return;
    }
    use std::io::BufRead as _;
    let sandbox = Sandbox::new("execsig");
    let name = sandbox.name("c");
    sandbox.start_sleeping(&name);
    let mut child = sandbox
        .std_cradle()
        .args(["exec", &name, "--", "/bin/sh", "-c", "echo ready; exec sleep 30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cradle exec");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "ready\n");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal cradle exec");
    assert_eq!(common::wait(&mut child).code(), Some(143));
    assert_eq!(sandbox.state(&name)["status"], "running");
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_detached_run_interrupted_at_any_point_is_recorded_or_gone() {
    if !require_root("a_detached_run_interrupted_at_any_point_is_recorded_or_gone") {
        return;
    }
    let sandbox = Sandbox::new("interrupt");
    for round in 0..12u64 {
        let name = sandbox.name(&round.to_string());
        let mut child = sandbox
            .std_cradle()
            .args(["run", "-d", "--name", &name, "--", "sleep", "1000"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn cradle");
        // From before the launch to after it, in 2 ms steps.
        std::thread::sleep(std::time::Duration::from_millis(2 * round));
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let status = common::wait(&mut child);
        let recorded = sandbox.root().join(&name).exists();
        assert_eq!(status.success(), recorded, "round {round}: {status:?}");
        if recorded {
            assert_eq!(sandbox.state(&name)["status"], "running");
            sandbox
                .cradle()
                .args(["delete", "--force", &name])
                .assert()
                .success();
        } else {
            assert!(
                common::cgroups_named(&format!("cradle-{name}")).is_empty(),
                "round {round}"
            );
        }
    }
    sandbox.assert_clean();
}

#[test]
fn output_to_a_reader_that_went_away_is_no_failure() {
    if !require_root("output_to_a_reader_that_went_away_is_no_failure") {
        return;
    }
    let sandbox = Sandbox::new("epipe");
    // A pipe whose reading end is closed before cradle writes: `| head -0`.
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let output = sandbox
        .std_cradle()
        .arg("list")
        .stdout(std::process::Stdio::from(write))
        .output()
        .expect("run cradle list");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn exec_joins_a_container_started_without_privileges() {
    if !require_root("exec_joins_a_container_started_without_privileges") {
        return;
    }
    use std::os::unix::process::CommandExt as _;
    const NOBODY: u32 = 65534;
    let sandbox = Sandbox::new("rootlessexec");
    let owner = Some(nix::unistd::Uid::from_raw(NOBODY));
    nix::unistd::chown(sandbox.root(), owner, Some(nix::unistd::Gid::from_raw(NOBODY))).expect("chown");
    let as_nobody = |args: &[&str]| {
        let mut command = sandbox.std_cradle();
        command.uid(NOBODY).gid(NOBODY).current_dir("/").args(args);
        let mut command = assert_cmd::Command::from_std(command);
        command.timeout(common::DEADLINE);
        command
    };
    let name = sandbox.name("c");
    as_nobody(&["run", "-d", "--name", &name, "--userns", "--", "sleep", "1000"])
        .assert()
        .success();
    // Its process is non-dumpable until its exec: the check that it is in
    // the container's pid namespace must not need ptrace access to it.
    as_nobody(&[
        "exec",
        &name,
        "--",
        "/bin/sh",
        "-c",
        "echo $$ $(id -u) $(cat /proc/self/uid_map)",
    ])
    .assert()
    .success()
    .stdout(predicate::str::is_match(r"^[0-9]+ 0 0 65534 1\n$").expect("regex"));
    as_nobody(&["kill", &name, "KILL"]).assert().success();
    // Asked as nobody: root refuses a state root that is not its own.
    let deadline = std::time::Instant::now() + common::DEADLINE;
    loop {
        let output = as_nobody(&["state", &name]).output().expect("state");
        let state: serde_json::Value = serde_json::from_slice(&output.stdout).expect("state is JSON");
        if state["status"] == "stopped" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{name} never stopped");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    as_nobody(&["delete", &name]).assert().success();
    sandbox.assert_clean();
}
