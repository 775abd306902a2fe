//! A container the kernel's OOM killer kills says so: at start, as the
//! launch's error with the memory limit; at exit, as one line beside the
//! 137 of its SIGKILL.
//!
//! With swap on, an allocation over the limit may be swapped out rather
//! than killed: these tests assume a host without swap, and say so when
//! they fail on one.

mod common;

use common::{one_line, require_root, BusyboxRootfs, Sandbox};
use predicates::prelude::*;

/// What `/proc/swaps` lists beside its header: the swap a failure may be
/// down to.
fn swap() -> String {
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    swaps.lines().skip(1).collect::<Vec<_>>().join("; ")
}

/// `cradle run --name NAME --rootfs ROOTFS --memory LIMIT -- COMMAND`.
fn run_in(
    sandbox: &Sandbox,
    name: &str,
    rootfs: &BusyboxRootfs,
    limit: &str,
    command: &[&str],
) -> assert_cmd::Command {
    let mut run = sandbox.cradle();
    run.args(["run", "--name", name, "--rootfs"])
        .arg(rootfs.path())
        .args(["--memory", limit, "--"])
        .args(command);
    run
}

/// dd's 64 MiB block is one buffer, filled by one read: over 16 MiB
/// before it is written anywhere.
const DD_64M: [&str; 5] = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];

#[test]
fn an_init_killed_at_start_names_the_oom_killer_and_the_limit() {
    if !require_root("an_init_killed_at_start_names_the_oom_killer_and_the_limit") {
        return;
    }
    let sandbox = Sandbox::new("oomstart");
    // Nothing runs in 4 KiB: the kernel charges a process's page tables
    // to its memory limit (on v1 too, as kernel memory), and the first
    // faults after an `exec`, in the dynamic loader, meet the limit. The
    // init sets itself up while it is put in its v1 cgroups: the limit is
    // met either by its set-up, once the attach is done (the launch fails,
    // 125), or by the command as it starts (the container is killed, 137).
    // Either way the OOM killer and the limit are named.
    let output = sandbox
        .cradle()
        .args([
            "run",
            "--name",
            &sandbox.name("c"),
            "--memory",
            "4k",
            "--",
            "true",
        ])
        .output()
        .expect("run");
    let stderr = one_line(&output.stderr);
    let named = match output.status.code() {
        Some(125) => "killed by the OOM killer: memory limit 4 KiB",
        Some(137) => "was killed by the OOM killer (memory limit 4 KiB)",
        other => panic!("exit {other:?}: {stderr}"),
    };
    assert!(stderr.contains(named), "{stderr}");
    // The failed launch removed its cgroup after reading the count.
    sandbox.assert_clean();
}

#[test]
fn a_container_killed_at_exit_says_so_beside_137() {
    if !require_root("a_container_killed_at_exit_says_so_beside_137") {
        return;
    }
    let sandbox = Sandbox::new("oomexit");
    let rootfs = BusyboxRootfs::new();
    let name = sandbox.name("c");
    let output = run_in(&sandbox, &name, &rootfs, "16m", &DD_64M)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(137), "{stderr} (swap: {})", swap());
    assert_eq!(
        stderr,
        format!("cradle: container {name} was killed by the OOM killer (memory limit 16 MiB)\n")
    );
    // A limit with room for the block: no OOM kill, and no such line.
    run_in(&sandbox, &name, &rootfs, "128m", &DD_64M)
        .assert()
        .success()
        .stderr(predicates::str::contains("OOM").not());
    sandbox.assert_clean();
}

#[test]
fn a_process_killed_inside_a_container_that_lives_on_is_noted() {
    if !require_root("a_process_killed_inside_a_container_that_lives_on_is_noted") {
        return;
    }
    let sandbox = Sandbox::new("oomchild");
    let rootfs = BusyboxRootfs::new();
    let name = sandbox.name("c");
    // The shell is the init and outlives dd: the container's status is
    // the shell's exit 3, and the note counts the one kill.
    let script = "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; exit 3";
    let output = run_in(&sandbox, &name, &rootfs, "16m", &["sh", "-c", script])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    // The shell's own word on its job ("Killed") comes first.
    let note = format!("cradle: the OOM killer killed 1 process in container {name} (memory limit 16 MiB)");
    assert_eq!(
        stderr.lines().last(),
        Some(note.as_str()),
        "{stderr} (swap: {})",
        swap()
    );
    assert_eq!(stderr.matches("cradle:").count(), 1, "{stderr}");
    sandbox.assert_clean();
}
