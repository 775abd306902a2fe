//! The conformance scenarios on the real kernel, as root: every scenario
//! ends with the verdict it names (the same one `mock_conformance` requires
//! of the mock) and leaves no process, zombie, descriptor, cgroup or
//! interface.
//!
//! The scenarios count the parent's descriptors and children, so they take
//! turns (`linux::serial`), and other suites run in other processes.

use cradle_tests::conformance::{check, linux::LinuxWorld, scenarios};
use cradle_tests::linux::{require_root, serial};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

#[test]
fn linux_agrees_with_every_verdict() {
    if !require_root("linux_agrees_with_every_verdict") {
        return;
    }
    let _serial = serial();
    let wrong = check(&mut LinuxWorld::new(INIT), &scenarios());
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
