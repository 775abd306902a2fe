//! The OCI runtime interface, as engines drive it: bundles written here
//! (`cradle spec`, then edited), `create`/`start`/`state`/`kill`/`delete`
//! across separate `cradle` processes, `run ID`, hooks, and bad bundles
//! refused with one line, exit 1 and nothing left. Root only.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::bundle::{args, create, create_refused, receive_console, wait_for_file, Bundle};
use common::timings::Timings;
use common::{one_line, require_root, Sandbox};
use cradle_core::NamespaceKind;
use cradle_tests::linux::{namespace_of, Unshared};
use serde_json::{json, Value};

#[test]
fn create_holds_and_start_runs_across_processes() {
    if !require_root("create_holds_and_start_runs_across_processes") {
        return;
    }
    let sandbox = Sandbox::new("oci-life");
    let id = sandbox.name("c");
    let bundle = Bundle::new(&sandbox, |config| {
        args(config, "echo ran > /tmp/marker; exec sleep 1000")
    });
    create(&sandbox, bundle.path(), &id);
    // The `create` process is gone; the container holds, set up.
    let state = sandbox.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], id.as_str());
    assert!(state["pid"].as_i64().is_some_and(|pid| pid > 0), "{state}");
    assert_eq!(state["bundle"], json!(bundle.path()));
    assert!(state["ociVersion"].is_string(), "{state}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !bundle.in_rootfs("tmp/marker").exists(),
        "the process ran before start"
    );

    sandbox.cradle().args(["start", &id]).assert().success();
    assert_eq!(wait_for_file(&bundle.in_rootfs("tmp/marker")), "ran\n");
    assert_eq!(sandbox.state(&id)["status"], "running");
    // A second start is refused: one line, exit 1.
    let second = sandbox.cradle().args(["start", &id]).output().expect("start");
    assert_eq!(second.status.code(), Some(1));
    assert!(
        one_line(&second.stderr).contains("running"),
        "{:?}",
        second.stderr
    );

    let ps = sandbox
        .cradle()
        .args(["ps", "--format", "json", &id])
        .output()
        .expect("ps");
    let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).expect("ps JSON");
    assert_eq!(pids, [state["pid"].as_i64().expect("pid")]);

    sandbox.cradle().args(["pause", &id]).assert().success();
    assert_eq!(sandbox.state(&id)["status"], "paused");
    // A process joining the frozen cgroup would freeze with it.
    let exec = sandbox
        .cradle()
        .args(["exec", &id, "--", "true"])
        .output()
        .expect("exec");
    assert!(!exec.status.success(), "exec into a paused container ran");
    assert!(one_line(&exec.stderr).contains("is paused"), "{:?}", exec.stderr);
    sandbox.cradle().args(["resume", &id]).assert().success();
    assert_eq!(sandbox.state(&id)["status"], "running");

    sandbox.cradle().args(["kill", &id, "KILL"]).assert().success();
    sandbox.wait_for_status(&id, "stopped");
    assert!(sandbox
        .state(&id)
        .get("pid")
        .is_none_or(|pid| pid.as_i64() != Some(0)));
    sandbox.cradle().args(["delete", &id]).assert().success();
    sandbox.assert_clean();
}

#[test]
fn create_then_delete_never_runs_the_process() {
    if !require_root("create_then_delete_never_runs_the_process") {
        return;
    }
    let sandbox = Sandbox::new("oci-undo");
    let id = sandbox.name("c");
    let bundle = Bundle::new(&sandbox, |config| args(config, "echo ran > /tmp/marker"));
    create(&sandbox, bundle.path(), &id);
    let pid = sandbox.state(&id)["pid"].as_i64().expect("pid");
    // Not stopped: a plain delete is an error, with no effect.
    let refused = sandbox.cradle().args(["delete", &id]).output().expect("delete");
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(sandbox.state(&id)["status"], "created");
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    // Gone, or a zombie for its reaper (the create that was its parent
    // has exited): no longer running either way.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
    assert!(
        matches!(state, None | Some("Z" | "X")),
        "the held process outlived delete: {stat}"
    );
    assert!(!bundle.in_rootfs("tmp/marker").exists(), "the process ran");
    sandbox.assert_clean();
}

#[test]
fn spec_then_run_runs_the_bundle_in_the_foreground() {
    if !require_root("spec_then_run_runs_the_bundle_in_the_foreground") {
        return;
    }
    let sandbox = Sandbox::new("oci-run");
    // The default config as `cradle spec` writes it, rootfs aside.
    let plain = Bundle::new(&sandbox, |_| {});
    sandbox
        .cradle()
        .current_dir(plain.path())
        .args(["run", &sandbox.name("plain")])
        .assert()
        .success();
    let bundle = Bundle::new(&sandbox, |config| args(config, "echo \"$(hostname)\"; exit 3"));
    let output = sandbox
        .cradle()
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(sandbox.name("exit"))
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "cradle\n");
    sandbox.assert_clean();
}

#[test]
fn run_of_a_bundle_gives_its_timings_and_starts_once_recorded() {
    if !require_root("run_of_a_bundle_gives_its_timings_and_starts_once_recorded") {
        return;
    }
    let sandbox = Sandbox::new("oci-timings");
    let bundle = Bundle::new(&sandbox, |config| args(config, "echo out"));
    let run = |extra: &[&str], name: &str| {
        let output = sandbox
            .cradle()
            .args(["run", "--timings"])
            .args(extra)
            .arg("--bundle")
            .arg(bundle.path())
            .arg(sandbox.name(name))
            .output()
            .expect("run");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(output.stdout, b"out\n", "the timings go to stderr");
        Timings::parse(&output.stderr)
    };
    let count =
        |timings: &Timings, label: &str| timings.lines.iter().filter(|(_, name)| name == label).count();

    // Nothing to do between the set-up and the start: the start is given
    // as soon as the process is recorded, within the wait for `ready`.
    let early = run(&[], "early");
    early.assert_in_order(&[
        "arguments",
        "the bundle",
        "the state record",
        "launch: create cgroup",
        "launch: spawn",
        "launch: send config",
        "launch: await ready",
        "launch: start",
        "launch: await exec",
        "the command, until it exits",
        "teardown: cgroup and state",
        "total",
    ]);
    assert!(early.text.contains("CPU, user+sys"), "{}", early.text);
    early.assert_child_steps_within_the_wait(&["child: mounts", "child: rootfs", "child: exec"]);
    assert!(
        early.position("recording the process, as the child sets up") > early.position("launch: await ready"),
        "{}",
        early.text
    );
    assert_eq!(count(&early, "launch: await ready"), 2, "{}", early.text);
    assert_eq!(count(&early, "launch: await start"), 0, "{}", early.text);

    // A pid file is written before the start: the process holds until
    // then, after its `ready`.
    let out = tempfile::tempdir().expect("a directory for the pid file");
    let pid_file = out.path().join("pid");
    let held = run(&["--pid-file", &pid_file.display().to_string()], "held");
    held.assert_in_order(&[
        "the bundle",
        "launch: await ready",
        "launch: await start",
        "launch: start",
        "launch: await exec",
        "total",
    ]);
    assert_eq!(count(&held, "launch: await ready"), 1, "{}", held.text);
    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("the pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(pid > 1, "{pid}");
    sandbox.assert_clean();
}

#[test]
fn hooks_get_the_state_on_stdin_at_their_stage() {
    if !require_root("hooks_get_the_state_on_stdin_at_their_stage") {
        return;
    }
    let sandbox = Sandbox::new("oci-hooks");
    let id = sandbox.name("c");
    let out = tempfile::tempdir().expect("hook output directory");
    let hook = |name: &str| {
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{name}", out.path().display())],
            "timeout": 5,
        })
    };
    let (prestart, poststart, poststop) = (hook("prestart"), hook("poststart"), hook("poststop"));
    let bundle = Bundle::new(&sandbox, |config| {
        args(config, "exec sleep 1000");
        config["hooks"] = json!({
            "prestart": [prestart],
            "poststart": [poststart],
            "poststop": [poststop],
        });
    });
    create(&sandbox, bundle.path(), &id);
    sandbox.cradle().args(["start", &id]).assert().success();
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    for (name, status) in [
        ("prestart", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let text = fs::read_to_string(out.path().join(name)).unwrap_or_else(|_| panic!("{name} ran"));
        let state: Value = serde_json::from_str(&text).expect("state JSON on stdin");
        assert_eq!(state["id"], id.as_str(), "{name}: {state}");
        assert_eq!(state["status"], status, "{name}: {state}");
    }
    sandbox.assert_clean();
}

#[test]
fn a_failing_prestart_hook_fails_create_and_leaves_nothing() {
    if !require_root("a_failing_prestart_hook_fails_create_and_leaves_nothing") {
        return;
    }
    let sandbox = Sandbox::new("oci-hookfail");
    let id = sandbox.name("c");
    let bundle = Bundle::new(&sandbox, |config| {
        config["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    });
    let line = create_refused(&sandbox, [""; 0], bundle.path(), &id);
    assert!(line.contains("prestart hook"), "{line}");
    sandbox.assert_clean();
}

/// A bundle's `linux.namespaces` with the mount and pid entries joining
/// `target`'s namespaces by path.
fn join_mount_and_pid(config: &mut Value, target: &Unshared) {
    let namespaces = config["linux"]["namespaces"].as_array_mut().expect("namespaces");
    for namespace in namespaces {
        let kind = match namespace["type"].as_str() {
            Some("mount") => NamespaceKind::Mount,
            Some("pid") => NamespaceKind::Pid,
            _ => continue,
        };
        namespace["path"] = json!(target.path(kind));
    }
}

#[test]
fn a_bundle_joins_mount_and_pid_namespaces_by_path() {
    if !require_root("a_bundle_joins_mount_and_pid_namespaces_by_path") {
        return;
    }
    let sandbox = Sandbox::new("oci-nspath");
    // A container's set-up pivots the mount namespace it joins into its
    // rootfs, for every process there (as runc's does): one target each.
    let target = Unshared::new(&["--mount", "--pid"], "true");

    // In the foreground: what the process sees of itself.
    let bundle = Bundle::new(&sandbox, |config| {
        join_mount_and_pid(config, &target);
        args(
            config,
            "echo $$; readlink /proc/self/ns/mnt; readlink /proc/self/ns/pid",
        );
    });
    let output = sandbox
        .cradle()
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(sandbox.name("run"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_ne!(lines[0], "1", "pid 1 of a joined pid namespace is its owner's");
    assert_eq!(lines[1], target.namespace(NamespaceKind::Mount));
    assert_eq!(lines[2], target.namespace(NamespaceKind::Pid));
    drop(target);

    // Created, as runtime-tools' `linux_ns_path` checks it: the state's pid
    // is in both; deleting the container leaves the namespaces' owner.
    let target = Unshared::new(&["--mount", "--pid"], "true");
    let id = sandbox.name("created");
    let held = Bundle::new(&sandbox, |config| {
        join_mount_and_pid(config, &target);
        args(config, "exec sleep 1000");
    });
    create(&sandbox, held.path(), &id);
    let pid = sandbox.state(&id)["pid"].as_i64().expect("pid").to_string();
    for kind in [NamespaceKind::Mount, NamespaceKind::Pid] {
        assert_eq!(namespace_of(&pid, kind), target.namespace(kind), "{kind:?}");
    }
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    assert!(
        fs::metadata(format!("/proc/{}", target.sleeper())).is_ok(),
        "the joined pid namespace ended with the container"
    );
    sandbox.assert_clean();
}

#[test]
fn bad_bundles_are_refused_with_one_line_and_nothing_left() {
    if !require_root("bad_bundles_are_refused_with_one_line_and_nothing_left") {
        return;
    }
    let sandbox = Sandbox::new("oci-bad");
    let refused = |bundle: &Path, id: &str, expected: &str| {
        let line = create_refused(&sandbox, [""; 0], bundle, id);
        assert!(line.contains(expected), "{line:?} does not name {expected:?}");
    };
    let empty = tempfile::tempdir().expect("empty bundle");
    refused(empty.path(), &sandbox.name("none"), "config.json");

    let malformed = tempfile::tempdir().expect("malformed bundle");
    fs::write(malformed.path().join("config.json"), "{ not json").expect("write");
    refused(malformed.path(), &sandbox.name("malformed"), "config.json");

    let escape = Bundle::new(&sandbox, |config| config["root"]["path"] = json!("../../etc"));
    refused(escape.path(), &sandbox.name("escape"), "root.path");

    let outside = tempfile::tempdir().expect("outside");
    let link = Bundle::new(&sandbox, |config| config["root"]["path"] = json!("link"));
    std::os::unix::fs::symlink(outside.path(), link.path().join("link")).expect("symlink");
    refused(link.path(), &sandbox.name("link"), "root.path");

    let rdt = Bundle::new(&sandbox, |config| {
        config["linux"]["intelRdt"] = json!({"closID": "x"})
    });
    refused(rdt.path(), &sandbox.name("rdt"), "linux.intelRdt");

    // An id in use: the second create is refused, the first left alone.
    let id = sandbox.name("taken");
    let good = Bundle::new(&sandbox, |config| args(config, "exec sleep 1000"));
    create(&sandbox, good.path(), &id);
    refused(good.path(), &id, &id);
    assert_eq!(sandbox.state(&id)["status"], "created");
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_create_killed_at_any_point_is_finished_by_delete_force() {
    if !require_root("a_create_killed_at_any_point_is_finished_by_delete_force") {
        return;
    }
    let sandbox = Sandbox::new("oci-crash");
    let bundle = Bundle::new(&sandbox, |config| args(config, "echo ran > /tmp/marker"));
    for point in [
        "create: intent recorded",
        "spawn",
        "await ready",
        "create: process recorded",
        "hand off",
        "create: handed off",
    ] {
        let id = sandbox.name(&point.replace([' ', ':'], ""));
        let status = sandbox
            .std_cradle()
            .env("CRADLE_TEST_KILL_AT", point)
            .args(["create", "--bundle"])
            .arg(bundle.path())
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("create");
        assert!(!status.success(), "{point}: create was not killed");
        if sandbox.root().join(&id).exists() {
            sandbox
                .cradle()
                .args(["delete", "--force", &id])
                .assert()
                .success();
        }
        assert!(
            !bundle.in_rootfs("tmp/marker").exists(),
            "{point}: the process ran"
        );
        sandbox.assert_clean();
    }
}

#[test]
fn features_and_spec_describe_what_cradle_runs() {
    let sandbox = Sandbox::new("oci-docs");
    let output = sandbox.cradle().arg("features").output().expect("features");
    assert!(output.status.success());
    let features: Value = serde_json::from_slice(&output.stdout).expect("features JSON");
    assert!(features["ociVersionMin"].is_string(), "{features}");
    let dir = tempfile::tempdir().expect("bundle");
    sandbox
        .cradle()
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .assert()
        .success();
    // An existing config.json is kept.
    let again = sandbox
        .cradle()
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .expect("spec");
    assert_eq!(again.status.code(), Some(1));
    let mode = fs::metadata(dir.path().join("config.json"))
        .expect("config.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o022, 0, "config.json is writable by others");
}

#[test]
fn a_terminal_is_made_inside_and_sent_to_the_console_socket() {
    if !require_root("a_terminal_is_made_inside_and_sent_to_the_console_socket") {
        return;
    }
    use std::io::Read as _;
    let sandbox = Sandbox::new("oci-console");
    let id = sandbox.name("c");
    let bundle = Bundle::new(&sandbox, |config| {
        args(
            config,
            "echo \"name=$(tty). size=$(stty size).\"; read line; echo \"got $line\"",
        );
        config["process"]["terminal"] = json!(true);
        config["process"]["consoleSize"] = json!({ "height": 24, "width": 91 });
    });
    let sockets = tempfile::tempdir().expect("socket directory");
    let socket = sockets.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let receiving = std::thread::spawn(move || receive_console(&listener));
    let errors = tempfile::NamedTempFile::new().expect("stderr file");
    let status = sandbox
        .std_cradle()
        .args(["create", "--console-socket"])
        .arg(&socket)
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errors.reopen().expect("stderr file"))
        .status()
        .expect("create");
    let text = fs::read_to_string(errors.path()).unwrap_or_default();
    assert!(status.success(), "create {id}: {text}");
    let (mut master, name) = receiving.join().expect("the console arrives during create");
    assert_eq!(name, "/dev/pts/0");

    sandbox.cradle().args(["start", &id]).assert().success();
    std::io::Write::write_all(&mut master, b"hello\n").expect("type");
    let mut seen = String::new();
    let mut buf = [0; 1024];
    // Until the container's side closes (EIO) or all has come.
    while !seen.contains("got hello") {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    // Its own devpts, so the first terminal of it; the bundle's size.
    assert!(seen.contains("name=/dev/pts/0. size=24 91."), "{seen:?}");
    assert!(seen.contains("got hello"), "{seen:?}");
    sandbox.wait_for_status(&id, "stopped");
    sandbox.cradle().args(["delete", &id]).assert().success();
    sandbox.assert_clean();
}

#[test]
fn a_ptmx_that_is_not_the_multiplexer_is_refused() {
    if !require_root("a_ptmx_that_is_not_the_multiplexer_is_refused") {
        return;
    }
    let sandbox = Sandbox::new("oci-ptmx");
    let id = sandbox.name("c");
    // The bundle puts /dev/null's device at /dev/ptmx.
    let bundle = Bundle::new(&sandbox, |config| {
        args(config, "true");
        config["process"]["terminal"] = json!(true);
        config["linux"]["devices"] = json!([
            { "path": "/dev/ptmx", "type": "c", "major": 1, "minor": 3, "fileMode": 438 }
        ]);
    });
    let sockets = tempfile::tempdir().expect("socket directory");
    let socket = sockets.path().join("console.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let line = create_refused(
        &sandbox,
        [std::ffi::OsStr::new("--console-socket"), socket.as_os_str()],
        bundle.path(),
        &id,
    );
    assert!(line.contains("console"), "{line}");
    assert!(line.contains("not the pseudo-terminal multiplexer"), "{line}");
    sandbox.assert_clean();
}

#[test]
fn container_hooks_run_inside_with_the_state_on_stdin() {
    if !require_root("container_hooks_run_inside_with_the_state_on_stdin") {
        return;
    }
    let sandbox = Sandbox::new("oci-inhooks");
    let id = sandbox.name("c");
    let out = tempfile::tempdir().expect("hook output directory");
    // createContainer: a path of the host's, run before the pivot, in the
    // container's namespaces: it records its state, its UTS namespace and
    // its host name. startContainer: a path of the container's, after the
    // start, before the program: it writes where only the container sees.
    let create_script = format!(
        "cat > {dir}/create.json; readlink /proc/self/ns/uts > {dir}/create.uts; hostname > {dir}/create.hostname",
        dir = out.path().display()
    );
    let bundle = Bundle::new(&sandbox, |config| {
        args(
            config,
            "cat /tmp/started.json > /tmp/seen-by-the-program; exec sleep 1000",
        );
        config["hostname"] = json!("inside");
        config["hooks"] = json!({
            "createContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", create_script], "timeout": 5 }],
            "startContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/started.json"], "timeout": 5 }],
        });
    });
    create(&sandbox, bundle.path(), &id);
    let state = sandbox.state(&id);
    let pid = state["pid"].as_i64().expect("a pid");
    let created: Value = serde_json::from_str(
        &fs::read_to_string(out.path().join("create.json")).expect("createContainer ran"),
    )
    .expect("state JSON on stdin");
    assert_eq!(created["id"], id.as_str(), "{created}");
    assert_eq!(created["status"], "creating", "{created}");
    assert_eq!(created["pid"], pid, "the pid as the runtime sees it: {created}");
    let container_uts = fs::read_link(format!("/proc/{pid}/ns/uts")).expect("the container's uts namespace");
    let hook_uts = fs::read_to_string(out.path().join("create.uts")).expect("uts");
    assert_eq!(
        hook_uts.trim(),
        container_uts.to_string_lossy(),
        "in the container's namespaces"
    );
    assert_eq!(
        fs::read_to_string(out.path().join("create.hostname"))
            .expect("hostname")
            .trim(),
        "inside"
    );
    assert!(
        !bundle.in_rootfs("tmp/started.json").exists(),
        "startContainer ran before start"
    );
    sandbox.cradle().args(["start", &id]).assert().success();
    let seen = wait_for_file(&bundle.in_rootfs("tmp/seen-by-the-program"));
    let started: Value = serde_json::from_str(&seen).expect("state JSON");
    assert_eq!(started["status"], "created", "{started}");
    assert_eq!(started["pid"], pid, "{started}");
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_failing_container_hook_fails_its_step() {
    if !require_root("a_failing_container_hook_fails_its_step") {
        return;
    }
    let sandbox = Sandbox::new("oci-inhookfail");
    // createContainer: create fails, naming the hook and the step, and
    // nothing is left.
    let id = sandbox.name("c");
    let bundle = Bundle::new(&sandbox, |config| {
        config["hooks"] = json!({"createContainer": [{"path": "/bin/false"}]});
    });
    let line = create_refused(&sandbox, [""; 0], bundle.path(), &id);
    assert!(line.contains("createContainer hook /bin/false"), "{line}");
    assert!(line.contains("create_container_hooks"), "{line}");
    sandbox.assert_clean();
    // A startContainer hook past its timeout: start fails, and the
    // program never runs.
    let id = sandbox.name("s");
    let bundle = Bundle::new(&sandbox, |config| {
        args(config, "echo ran > /tmp/ran; exec sleep 1000");
        config["hooks"] =
            json!({"startContainer": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    });
    create(&sandbox, bundle.path(), &id);
    let output = sandbox.cradle().args(["start", &id]).output().expect("start");
    assert_eq!(output.status.code(), Some(1));
    let line = one_line(&output.stderr);
    assert!(line.contains("startContainer hook /bin/sleep"), "{line}");
    assert!(line.contains("timeout"), "{line}");
    assert!(!bundle.in_rootfs("tmp/ran").exists(), "the program ran");
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    sandbox.assert_clean();
}
