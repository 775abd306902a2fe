//! `exec` as runc's callers drive it, into a container made from a bundle:
//! a process file (`--process`) run in the foreground with its exit code
//! passed through, its env, cwd and user applied, `--cap` added to its
//! capabilities; containers that are not running and bad process files
//! refused with one line and exit 1, in the JSON log too. Root only. (The
//! detached form, which needs this process as a subreaper, has its own
//! suite: `oci_exec_detach`.)

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::bundle::{args, create, receive_console, Bundle};
use common::{one_line, require_root, try_read_until, Sandbox};
use serde_json::{json, Value};

/// `CAP_SYS_ADMIN`'s bit in `CapEff`.
const SYS_ADMIN: u64 = 1 << 21;

/// A running container of a bundle that sleeps.
fn running(sandbox: &Sandbox, id: &str) -> Bundle {
    let bundle = Bundle::new(sandbox, |config| args(config, "exec sleep 1000"));
    create(sandbox, bundle.path(), id);
    sandbox.cradle().args(["start", id]).assert().success();
    bundle
}

/// `process` written to a file of `dir`.
fn process_file(dir: &Path, name: &str, process: &Value) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, process.to_string()).expect("write the process file");
    path
}

/// A process as root in `/`, running `script`.
fn shell_process(script: &str) -> Value {
    json!({
        "user": { "uid": 0, "gid": 0 },
        "args": ["sh", "-c", script],
        "env": ["PATH=/bin"],
        "cwd": "/"
    })
}

/// `CapEff` of what `exec` ran with `flags` printed (its `/proc/self/status`
/// line).
fn cap_eff(sandbox: &Sandbox, id: &str, flags: &[&str], process: &Path) -> u64 {
    let output = sandbox
        .cradle()
        .arg("exec")
        .args(flags)
        .arg("--process")
        .arg(process)
        .arg(id)
        .output()
        .expect("exec");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{flags:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hex = stdout
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {stdout:?}"));
    u64::from_str_radix(hex.trim(), 16).expect("hexadecimal")
}

fn delete(sandbox: &Sandbox, id: &str) {
    sandbox
        .cradle()
        .args(["delete", "--force", id])
        .assert()
        .success();
}

#[test]
fn a_process_file_runs_in_the_foreground_with_its_env_cwd_and_user() {
    if !require_root("a_process_file_runs_in_the_foreground_with_its_env_cwd_and_user") {
        return;
    }
    let sandbox = Sandbox::new("ociexec-fg");
    let id = sandbox.name("c");
    let _bundle = running(&sandbox, &id);
    let files = tempfile::tempdir().expect("process files");
    let process = json!({
        "user": { "uid": 1000, "gid": 1001, "additionalGids": [1002] },
        "args": ["sh", "-c", "echo $FOO; pwd; id -u; id -g; id -G; exit 3"],
        "env": ["PATH=/bin", "FOO=from the file"],
        "cwd": "/tmp"
    });
    let path = process_file(files.path(), "p.json", &process);
    let output = sandbox
        .cradle()
        .args(["exec", "--process"])
        .arg(&path)
        .arg(&id)
        .output()
        .expect("exec");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "from the file\n/tmp\n1000\n1001\n1001 1002\n"
    );
    // The flags apply over the file.
    let output = sandbox
        .cradle()
        .args([
            "exec",
            "--env",
            "FOO=flag",
            "--cwd",
            "/",
            "--user",
            "0:0",
            "--process",
        ])
        .arg(&path)
        .arg(&id)
        .output()
        .expect("exec");
    assert_eq!(output.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("flag\n/\n0\n0\n"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    delete(&sandbox, &id);
    sandbox.assert_clean();
}

#[test]
fn cap_adds_to_the_containers_capabilities_or_to_the_files() {
    if !require_root("cap_adds_to_the_containers_capabilities_or_to_the_files") {
        return;
    }
    let sandbox = Sandbox::new("ociexec-cap");
    let id = sandbox.name("c");
    let _bundle = running(&sandbox, &id);
    let files = tempfile::tempdir().expect("process files");
    let status = shell_process("grep CapEff /proc/self/status");
    // No capabilities in the file: the container's (the default spec's).
    let plain = process_file(files.path(), "plain.json", &status);
    let container = cap_eff(&sandbox, &id, &[], &plain);
    assert_eq!(container & SYS_ADMIN, 0, "{container:x}");
    assert_eq!(
        cap_eff(&sandbox, &id, &["--cap", "CAP_SYS_ADMIN"], &plain),
        container | SYS_ADMIN
    );
    // The file's own sets, and --cap over them.
    let mut chown_only = status.clone();
    chown_only["capabilities"] = json!({
        "bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]
    });
    let chown_only = process_file(files.path(), "chown.json", &chown_only);
    assert_eq!(cap_eff(&sandbox, &id, &[], &chown_only), 1);
    assert_eq!(
        cap_eff(&sandbox, &id, &["-c", "SYS_ADMIN"], &chown_only),
        1 | SYS_ADMIN
    );
    delete(&sandbox, &id);
    sandbox.assert_clean();
}

#[test]
fn exec_into_a_created_or_stopped_container_exits_1_and_writes_no_pid() {
    if !require_root("exec_into_a_created_or_stopped_container_exits_1_and_writes_no_pid") {
        return;
    }
    let sandbox = Sandbox::new("ociexec-state");
    let id = sandbox.name("c");
    let bundle = Bundle::new(&sandbox, |config| args(config, "exec sleep 1000"));
    create(&sandbox, bundle.path(), &id);
    let files = tempfile::tempdir().expect("process files");
    let process = process_file(files.path(), "p.json", &shell_process("echo ran > /tmp/marker"));
    let pid_file = files.path().join("exec.pid");
    let refused = |expected: &str| {
        let output = sandbox
            .cradle()
            .args(["exec", "--detach", "--process"])
            .arg(&process)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&id)
            .output()
            .expect("exec");
        assert_eq!(output.status.code(), Some(1), "{expected}");
        let line = one_line(&output.stderr);
        assert!(line.contains(expected), "{line:?} does not say {expected:?}");
        assert!(!pid_file.exists(), "a pid file for a process that never ran");
    };
    refused("is created, not running");
    sandbox.cradle().args(["start", &id]).assert().success();
    sandbox.cradle().args(["kill", &id, "KILL"]).assert().success();
    sandbox.wait_for_status(&id, "stopped");
    refused("is not running");
    assert!(!bundle.in_rootfs("tmp/marker").exists(), "the process ran");
    sandbox.cradle().args(["delete", &id]).assert().success();
    sandbox.assert_clean();
}

#[test]
fn bad_process_files_and_flags_are_refused_with_one_line_and_exit_1() {
    if !require_root("bad_process_files_and_flags_are_refused_with_one_line_and_exit_1") {
        return;
    }
    let sandbox = Sandbox::new("ociexec-bad");
    let id = sandbox.name("c");
    let _bundle = running(&sandbox, &id);
    let files = tempfile::tempdir().expect("process files");
    let refused = |flags: &[&str], file: &Path, expected: &str| {
        let output = sandbox
            .cradle()
            .arg("exec")
            .args(flags)
            .arg("--process")
            .arg(file)
            .arg(&id)
            .output()
            .expect("exec");
        assert_eq!(output.status.code(), Some(1), "{expected}");
        let line = one_line(&output.stderr);
        assert!(line.contains(expected), "{line:?} does not say {expected:?}");
        line
    };
    let mut bad_uid = shell_process("true");
    bad_uid["user"]["uid"] = json!("root");
    let path = process_file(files.path(), "uid.json", &bad_uid);
    let line = refused(&["-d"], &path, "process.user.uid");
    assert!(line.contains("uid.json"), "{line}");
    let mut labelled = shell_process("true");
    labelled["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    let path = process_file(files.path(), "label.json", &labelled);
    refused(&["-d"], &path, "process.selinuxLabel: not supported");
    let broken = files.path().join("broken.json");
    fs::write(&broken, "{ not json").expect("write");
    refused(&["-d"], &broken, "broken.json: not JSON");
    refused(&["-d"], &files.path().join("missing.json"), "missing.json");

    let good = process_file(files.path(), "good.json", &shell_process("true"));
    refused(
        &["-d", "--console-socket", "/tmp/nowhere.sock"],
        &good,
        "--console-socket needs a terminal",
    );
    let no_socket = "a detached exec with a terminal needs --console-socket";
    refused(&["-d", "--tty"], &good, no_socket);
    let mut terminal = shell_process("true");
    terminal["terminal"] = json!(true);
    let terminal = process_file(files.path(), "terminal.json", &terminal);
    refused(&["-d"], &terminal, no_socket);

    // A command and a process file both: which one to run?
    let output = sandbox
        .cradle()
        .args(["exec", "--process"])
        .arg(&good)
        .args([&id, "--", "true"])
        .output()
        .expect("exec");
    assert_eq!(output.status.code(), Some(1));
    assert!(one_line(&output.stderr).contains("--process"));
    delete(&sandbox, &id);
    sandbox.assert_clean();
}

#[test]
fn a_failed_exec_is_logged_as_json_for_the_engine() {
    if !require_root("a_failed_exec_is_logged_as_json_for_the_engine") {
        return;
    }
    let sandbox = Sandbox::new("ociexec-log");
    let id = sandbox.name("c");
    let _bundle = running(&sandbox, &id);
    let files = tempfile::tempdir().expect("process files");
    let mut missing = shell_process("true");
    missing["args"] = json!(["/bin/no-such-program"]);
    let path = process_file(files.path(), "p.json", &missing);
    let log = files.path().join("log.json");
    let output = sandbox
        .cradle()
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "exec", "--process"])
        .arg(&path)
        .args(["--detach", &id])
        .output()
        .expect("exec");
    assert_eq!(output.status.code(), Some(1));
    let text = fs::read_to_string(&log).expect("the log");
    let error = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        // What containerd's shim reads: runc's (logrus's) keys and level.
        .find(|entry| entry["level"] == "error")
        .unwrap_or_else(|| panic!("no error in the log: {text}"));
    assert!(
        error["msg"]
            .as_str()
            .is_some_and(|msg| msg.contains("no-such-program")),
        "the error's msg does not name the program: {error}"
    );
    delete(&sandbox, &id);
    sandbox.assert_clean();
}

#[test]
fn a_detached_exec_sends_its_terminal_to_the_console_socket() {
    if !require_root("a_detached_exec_sends_its_terminal_to_the_console_socket") {
        return;
    }
    let sandbox = Sandbox::new("ociexec-console");
    let id = sandbox.name("c");
    let _bundle = running(&sandbox, &id);
    let files = tempfile::tempdir().expect("process files");
    // It outlives its answer (`delete --force` ends it), so that an early
    // end of the terminal is the process's, never the test's doing.
    let mut process = shell_process(
        r#"echo "name=$(tty). size=$(stty size)."; read line; echo "got $line"; exec sleep 1000"#,
    );
    process["terminal"] = json!(true);
    process["consoleSize"] = json!({ "height": 30, "width": 70 });
    let path = process_file(files.path(), "p.json", &process);
    let socket = files.path().join("console.sock");
    let pid_file = files.path().join("exec.pid");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let receiving = std::thread::spawn(move || receive_console(&listener));
    sandbox
        .cradle()
        .args(["exec", "--detach", "--console-socket"])
        .arg(&socket)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--process")
        .arg(&path)
        .arg(&id)
        .assert()
        .success();
    let (mut master, name) = receiving.join().expect("the console arrives");
    // The container's init has no terminal: this is its devpts' first.
    assert_eq!(name, "/dev/pts/0");
    // Typed ahead: the shell has not read its line yet, may not have run.
    std::io::Write::write_all(&mut master, b"hi\n").expect("type");
    let mut seen = String::new();
    for needle in ["name=/dev/pts/0. size=30 70.", "got hi"] {
        if let Err(why) = try_read_until(&mut master, &mut seen, needle) {
            let pid = fs::read_to_string(&pid_file).unwrap_or_default();
            let process = fs::read_to_string(format!("/proc/{pid}/status")).map_or_else(
                |_| "gone".to_owned(),
                |status| status.lines().take(3).collect::<Vec<_>>().join(", "),
            );
            panic!("{why}; the process ({pid}): {process}");
        }
    }
    delete(&sandbox, &id);
    sandbox.assert_clean();
}
