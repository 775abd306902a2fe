//! `exec --process FILE --detach --pid-file FILE`, as conmon and
//! containerd's shim call it: cradle returns once the process runs, and
//! leaves it running in the container, to the caller, a subreaper, to
//! reap. This suite's process is that subreaper, so it has the suite to
//! itself: every orphan of a `cradle` it runs becomes its child. Root only.

mod common;

use std::fs;
use std::time::Instant;

use common::bundle::{args, create, Bundle};
use common::{require_root, Sandbox, DEADLINE};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::json;

/// Waits for the child `pid` to exit, failing after [`DEADLINE`].
fn reap(pid: Pid) -> WaitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
            WaitStatus::StillAlive => {
                assert!(Instant::now() < deadline, "{pid} did not exit");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            status => return status,
        }
    }
}

/// A field of `/proc/<pid>/status`.
fn status_field(pid: Pid, field: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_owned()
}

#[test]
fn a_detached_process_runs_on_for_the_callers_subreaper() {
    if !require_root("a_detached_process_runs_on_for_the_callers_subreaper") {
        return;
    }
    nix::sys::prctl::set_child_subreaper(true).expect("prctl(PR_SET_CHILD_SUBREAPER)");
    let sandbox = Sandbox::new("ociexec-detach");
    let id = sandbox.name("c");
    let bundle = Bundle::new(&sandbox, |config| args(config, "exec sleep 1000"));
    create(&sandbox, bundle.path(), &id);
    sandbox.cradle().args(["start", &id]).assert().success();
    let init = Pid::from_raw(i32::try_from(sandbox.state(&id)["pid"].as_i64().expect("pid")).expect("a pid"));

    // It says it started, then waits for the go-ahead and exits 7.
    let files = tempfile::tempdir().expect("process files");
    let process = json!({
        "user": { "uid": 0, "gid": 0 },
        "args": ["sh", "-c", "echo $$ > /tmp/started; while [ ! -e /tmp/go ]; do sleep 0.01; done; exit 7"],
        "env": ["PATH=/bin"],
        "cwd": "/"
    });
    let process_path = files.path().join("process.json");
    fs::write(&process_path, process.to_string()).expect("process file");
    let pid_file = files.path().join("exec.pid");
    let mut exec = sandbox
        .std_cradle()
        .args(["exec", "--process"])
        .arg(&process_path)
        .arg("--detach")
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&id)
        .spawn()
        .expect("exec");
    let exec_pid = exec.id();
    let status = common::wait(&mut exec);
    assert!(status.success(), "exec --detach: {status}");

    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("the pid file")
        .trim()
        .parse()
        .expect("a pid");
    let pid = Pid::from_raw(pid);
    // In the container: its pid namespace, running the file's args.
    let namespace = |pid: Pid| fs::read_link(format!("/proc/{pid}/ns/pid")).expect("ns/pid");
    assert_eq!(namespace(pid), namespace(init));
    let started = common::bundle::wait_for_file(&bundle.in_rootfs("tmp/started"));
    assert_eq!(
        status_field(pid, "NSpid").split_whitespace().last(),
        Some(started.trim()),
        "the pid file names another process than the one that started"
    );
    // cradle has exited and let go of it: running, and this process's.
    assert_ne!(status_field(pid, "PPid"), exec_pid.to_string());
    assert_eq!(status_field(pid, "PPid"), std::process::id().to_string());
    assert!(!status_field(pid, "State").starts_with('Z'), "it no longer runs");
    assert_eq!(
        waitpid(pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid"),
        WaitStatus::StillAlive
    );

    fs::write(bundle.in_rootfs("tmp/go"), "").expect("the go-ahead");
    assert_eq!(reap(pid), WaitStatus::Exited(pid, 7));

    // The container's init is this process's too, since `create` exited.
    sandbox.cradle().args(["kill", &id, "KILL"]).assert().success();
    assert!(matches!(reap(init), WaitStatus::Signaled(..)));
    sandbox.cradle().args(["delete", &id]).assert().success();
    sandbox.assert_clean();
}
