//! `cradle run` where the devices are cgroup2's: its device program is
//! shared through the state root's `.devices/`, so a container started
//! while another with the same rules runs attaches that one's program
//! instead of loading its own. This host is hybrid (its devices are v1's),
//! so the commands run, as root, in `bench/cgroup-view v2`: new mount and
//! cgroup namespaces that show only a cgroup2 tree, below this test's own
//! cgroup, removed afterwards.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{cradle_bin, require_root, BusyboxRootfs, Sandbox};

/// `bench/cgroup-view`, in the repository.
fn cgroup_view() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/cgroup-view")
}

#[test]
fn a_run_attaches_the_device_program_a_running_container_holds() {
    if !require_root("a_run_attaches_the_device_program_a_running_container_holds") {
        return;
    }
    let sandbox = Sandbox::new("devprogram");
    let rootfs = BusyboxRootfs::new();
    let (held, next) = (sandbox.name("held"), sandbox.name("next"));
    // The entry after each run: the id of the program loaded last. A run
    // that did not find the held container's program loads its own and
    // writes its id over it.
    let script = r#"
        set -eu
        cradle() { "$CRADLE" --root "$ROOT" "$@"; }
        cradle run -d --name "$HELD" --rootfs "$ROOTFS" -- /bin/sleep 100 >/dev/null
        echo "held: $(cat "$ROOT"/.devices/*)"
        cradle run --name "$NEXT" --rootfs "$ROOTFS" -- /bin/true
        echo "next: $(cat "$ROOT"/.devices/*)"
        echo "entries: $(ls "$ROOT"/.devices | wc -l)"
        cradle delete --force "$HELD"
    "#;
    let output = Command::new(cgroup_view())
        .args(["v2", "sh", "-c", script])
        .env("CRADLE", cradle_bin())
        .env("ROOT", sandbox.root())
        .env("ROOTFS", rootfs.path())
        .env("HELD", &held)
        .env("NEXT", &next)
        .output()
        .expect("run bench/cgroup-view");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stdout}{stderr}", output.status);
    let line = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} line in {stdout}"))
            .to_owned()
    };
    let held_program = line("held: ");
    assert!(held_program.parse::<u32>().is_ok(), "an id: {held_program:?}");
    assert_eq!(
        line("next: "),
        held_program,
        "the next run loaded a program of its own"
    );
    assert_eq!(line("entries: "), "1");
    sandbox.assert_clean();
}
