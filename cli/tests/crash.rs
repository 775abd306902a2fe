//! `cradle` killed (`SIGKILL`) at every step of `run -d`, `run`, `exec` and
//! `delete`, found deterministically (`CRADLE_TEST_KILL_AT` names the point
//! at which it kills itself), then `list` and `delete --force`: what is
//! left must be listed, and nothing may be left after the delete: no
//! process, cgroup, interface, state entry or temporary file. Before its
//! process is recorded and started, the user's command must never run.
//! Also damaged records: listed, never hiding others, removable.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{cgroups_named, require_root, Sandbox};

/// The points of `run` in order, and whether the user's command may have
/// run by then (only once the start byte is written).
const RUN_POINTS: &[(&str, bool)] = &[
    ("run: intent recorded", false),
    ("create cgroup", false),
    ("spawn", false),
    ("apply cgroup", false),
    ("network interface 1", false),
    ("send config", false),
    ("half-close", false),
    ("await ready", false),
    // Recorded while the child sets itself up, then started before its
    // `ready`: it holds until the start byte reaches it.
    ("run: process recorded", false),
    ("start", false),
    ("await exec", true),
    ("run: running", true),
];

/// The points of `exec` in a running container.
const EXEC_POINTS: &[&str] = &[
    "spawn",
    "enter cgroup",
    "send config",
    "await ready",
    "await exec",
];

/// Any process still in a cgroup named `name`, in any hierarchy.
fn processes_in(name: &str) -> Vec<String> {
    let suffix = format!("/{name}");
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid.to_str().filter(|p| p.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let Ok(cgroups) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        if cgroups.lines().any(|line| line.ends_with(&suffix)) {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            found.push(format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

/// The host end `run --net veth` gives container `id`: `cr-` and FNV-1a.
fn host_end(id: &str) -> String {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("cr-{hash:08x}")
}

/// Everything of container `id` that is left, by kind.
fn leftovers(sandbox: &Sandbox, id: &str) -> Vec<String> {
    let cgroup = format!("cradle-{id}");
    let mut left: Vec<String> = processes_in(&cgroup)
        .into_iter()
        .map(|p| format!("process {p}"))
        .collect();
    left.extend(
        cgroups_named(&cgroup)
            .into_iter()
            .filter(|dir| dir.file_name().is_some_and(|n| n == cgroup.as_str()))
            .map(|dir| format!("cgroup {}", dir.display())),
    );
    let interface = host_end(id);
    if Path::new("/sys/class/net").join(&interface).exists() {
        left.push(format!("interface {interface}"));
    }
    left.extend(
        cradle_tests::linux::state_leftovers(sandbox.root())
            .into_iter()
            .map(|name| format!("state entry {name}")),
    );
    left
}

/// Waits (boundedly) until nothing of `id` is left; the state entries of
/// `keep` (containers the case leaves running) are not leftovers.
fn wait_clean(sandbox: &Sandbox, id: &str, keep: &[&str]) -> Vec<String> {
    let kept: Vec<String> = keep.iter().map(|k| format!("state entry {k}")).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut left = leftovers(sandbox, id);
        left.retain(|entry| !kept.contains(entry));
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `delete --force id`; why it failed, if it did.
fn force_delete(sandbox: &Sandbox, id: &str) -> Result<(), String> {
    let output = sandbox
        .std_cradle()
        .args(["delete", "--force", id])
        .output()
        .expect("delete");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `list --format json` succeeds; `id`'s status in it, if it is listed.
fn listed(sandbox: &Sandbox, id: &str) -> Option<String> {
    let output = sandbox
        .std_cradle()
        .args(["list", "--format", "json"])
        .output()
        .expect("list");
    assert!(
        output.status.success(),
        "list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("list json");
    rows.as_array()
        .expect("an array")
        .iter()
        .find(|row| row["id"] == id)
        .map(|row| row["status"].as_str().unwrap_or_default().to_owned())
}

/// Runs `command` to its end, within the suites' deadline (a point never
/// reached would otherwise leave a foreground `sleep 1000` waited for).
fn bounded(command: &mut std::process::Command) -> std::process::ExitStatus {
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cradle");
    common::wait(&mut child)
}

fn killed(status: std::process::ExitStatus) -> bool {
    status.signal() == Some(nix::sys::signal::Signal::SIGKILL as i32)
}

#[test]
fn run_killed_at_every_step_leaves_nothing_delete_cannot_remove() {
    if !require_root("run_killed_at_every_step_leaves_nothing_delete_cannot_remove") {
        return;
    }
    let sandbox = Sandbox::new("crash-run");
    let marks = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (index, &(point, may_have_run)) in RUN_POINTS.iter().enumerate() {
        for detach in [true, false] {
            let id = sandbox.name(&format!("{index}{}", if detach { "d" } else { "f" }));
            let mark = marks.path().join(&id);
            let script = format!("touch {}; exec sleep 1000", mark.display());
            let mut command = sandbox.std_cradle();
            command.env("CRADLE_TEST_KILL_AT", point).arg("run");
            if detach {
                command.arg("-d");
            }
            command.args(["--name", &id, "--net", "veth", "--", "sh", "-c", &script]);
            let status = bounded(&mut command);
            let case = format!("run{} killed at {point:?}", if detach { " -d" } else { "" });
            if !killed(status) {
                failures.push(format!("{case}: the point was not reached ({status})"));
            }
            // A held process whose cradle died exits by itself; give it
            // the moment that takes before looking for its command.
            std::thread::sleep(Duration::from_millis(100));
            if !may_have_run && mark.exists() {
                failures.push(format!(
                    "{case}: the command ran before it was recorded and started"
                ));
            }
            match listed(&sandbox, &id) {
                Some(_) => {}
                None => failures.push(format!("{case}: list does not show it")),
            }
            if let Err(error) = force_delete(&sandbox, &id) {
                failures.push(format!("{case}: delete --force failed: {error}"));
            }
            let left = wait_clean(&sandbox, &id, &[]);
            if !left.is_empty() {
                failures.push(format!("{case}: left {left:?}"));
            }
            if force_delete(&sandbox, &id).is_ok() {
                failures.push(format!("{case}: a second delete --force found it again"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn exec_and_delete_killed_at_every_step_leave_nothing_delete_cannot_remove() {
    if !require_root("exec_and_delete_killed_at_every_step_leave_nothing_delete_cannot_remove") {
        return;
    }
    let sandbox = Sandbox::new("crash-exec");
    let mut failures = Vec::new();
    let free = EXEC_POINTS.iter().map(|&point| (point, false));
    // With a v1 pids hierarchy, under a pids limit `exec` clones from the
    // container's pids cgroup, which it enters for the clone.
    let limited = EXEC_POINTS.iter().map(|&point| (point, true));
    let limited = limited.filter(|_| common::own_pids_cgroup().is_some());
    for (index, (point, limited)) in free.chain(limited).enumerate() {
        let id = sandbox.name(&format!("e{index}"));
        let pids: &[&str] = if limited { &["--pids", "100"] } else { &[] };
        sandbox
            .cradle()
            .args(["run", "-d", "--name", &id])
            .args(pids)
            .args(["--", "sleep", "1000"])
            .assert()
            .success();
        let status = bounded(
            sandbox
                .std_cradle()
                .env("CRADLE_TEST_KILL_AT", point)
                .args(["exec", &id, "--", "sleep", "1000"]),
        );
        let under = if limited { " under a v1 pids limit" } else { "" };
        let case = format!("exec{under} killed at {point:?}");
        if !killed(status) {
            failures.push(format!("{case}: the point was not reached ({status})"));
        }
        if listed(&sandbox, &id).as_deref() != Some("running") {
            failures.push(format!("{case}: the container is not listed as running"));
        }
        if let Err(error) = force_delete(&sandbox, &id) {
            failures.push(format!("{case}: delete --force failed: {error}"));
        }
        let left = wait_clean(&sandbox, &id, &[]);
        if !left.is_empty() {
            failures.push(format!("{case}: left {left:?}"));
        }
    }
    // `delete` itself killed after it killed the init: the next one
    // finishes the job.
    let id = sandbox.name("del");
    sandbox.start_sleeping(&id);
    let status = sandbox
        .std_cradle()
        .env("CRADLE_TEST_KILL_AT", "delete: killed")
        .args(["delete", "--force", &id])
        .output()
        .expect("delete")
        .status;
    if !killed(status) {
        failures.push(format!(
            "delete killed at \"delete: killed\": not reached ({status})"
        ));
    }
    if listed(&sandbox, &id).is_none() {
        failures.push("a half-done delete: the container is not listed".to_owned());
    }
    if let Err(error) = force_delete(&sandbox, &id) {
        failures.push(format!("finishing a half-done delete failed: {error}"));
    }
    let left = wait_clean(&sandbox, &id, &[]);
    if !left.is_empty() {
        failures.push(format!("a half-done delete, finished: left {left:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_damaged_record_is_listed_never_hides_others_and_is_removable() {
    if !require_root("a_damaged_record_is_listed_never_hides_others_and_is_removable") {
        return;
    }
    let sandbox = Sandbox::new("crash-damaged");
    let healthy = sandbox.name("ok");
    sandbox.start_sleeping(&healthy);
    let damages: &[(&str, &[u8])] = &[
        ("empty", b""),
        ("truncated", b"{\"id\": \"x\", \"stage\": \"sta"),
        ("garbage", b"\x00\xffnot json at all"),
        ("field", b"{\"id\": \"ID\"}"),
    ];
    let mut failures = Vec::new();
    for (kind, bytes) in damages {
        let id = sandbox.name(kind);
        // A real container, whose record is then damaged: delete --force
        // must still find and remove it by cradle's own names for it.
        sandbox.start_sleeping(&id);
        let bytes = String::from_utf8_lossy(bytes).replace("ID", &id);
        fs::write(sandbox.root().join(&id).join("state.json"), bytes.as_bytes()).expect("damage");
        match listed(&sandbox, &id).as_deref() {
            Some("damaged") => {}
            other => failures.push(format!("{kind}: listed as {other:?}, not damaged")),
        }
        if listed(&sandbox, &healthy).as_deref() != Some("running") {
            failures.push(format!("{kind}: the healthy container is hidden"));
        }
        let plain = sandbox
            .std_cradle()
            .args(["delete", &id])
            .output()
            .expect("delete");
        if plain.status.success() {
            failures.push(format!("{kind}: a plain delete went ahead on a damaged record"));
        }
        if let Err(error) = force_delete(&sandbox, &id) {
            failures.push(format!("{kind}: delete --force failed: {error}"));
        }
        let left = wait_clean(&sandbox, &id, &[healthy.as_str()]);
        if !left.is_empty() {
            failures.push(format!("{kind}: left {left:?}"));
        }
    }
    // A directory with no record at all (an older cradle's leftover).
    let id = sandbox.name("norecord");
    fs::create_dir(sandbox.root().join(&id)).expect("mkdir");
    if listed(&sandbox, &id).as_deref() != Some("damaged") {
        failures.push("no record: not listed as damaged".to_owned());
    }
    if force_delete(&sandbox, &id).is_err() || sandbox.root().join(&id).exists() {
        failures.push("no record: delete --force did not remove it".to_owned());
    }
    // The temporary directory of a cradle killed before it took the id.
    let staging = sandbox.root().join(format!(".{id}.999999"));
    fs::create_dir(&staging).expect("staging");
    fs::write(staging.join(".state.json.tmp"), b"{").expect("temporary");
    let _ = listed(&sandbox, &healthy);
    if staging.exists() {
        failures.push("a dead cradle's temporary directory survived list".to_owned());
    }
    let _ = force_delete(&sandbox, &healthy);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
