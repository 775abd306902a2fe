//! A container the kernel's OOM killer kills says so: at start, as the
//! launch's error with the memory limit.

mod common;

use common::{one_line, require_root, Sandbox};

#[test]
fn an_init_killed_at_start_names_the_oom_killer_and_the_limit() {
    if !require_root("an_init_killed_at_start_names_the_oom_killer_and_the_limit") {
        return;
    }
    let sandbox = Sandbox::new("oomstart");
    // No init runs in 4 KiB: the kernel charges a process's page tables
    // to its memory limit (on v1 too, as kernel memory), and the init's
    // first faults after exec, in its dynamic loader, meet the limit long
    // before `ready`.
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
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("killed by the OOM killer: memory limit 4 KiB"),
        "{stderr}"
    );
    // The failed launch removed its cgroup after reading the count.
    sandbox.assert_clean();
}
