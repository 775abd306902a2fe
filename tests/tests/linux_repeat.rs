//! 500 launches in a row, half of them failing, as root: the parent's
//! descriptors and children end where they started.
//!
//! Alone in its process: it counts the parent's descriptors and children.

use cradle_core::{Config, ExitStatus, LaunchError, NamespaceKind, Plan};
use cradle_linux::{Error, Options, Process};
use cradle_tests::linux::{self, new_namespaces, require_root};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

#[test]
fn five_hundred_launches_leave_nothing_behind() {
    if !require_root("five_hundred_launches_leave_nothing_behind") {
        return;
    }
    let fds = linux::open_fds();
    let children = linux::children();
    let namespaces = new_namespaces(&[
        NamespaceKind::Pid,
        NamespaceKind::Mount,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
    ]);
    let (mut ran, mut failed) = (0, 0);
    for i in 0..500 {
        let command = if i % 2 == 0 {
            "/bin/true"
        } else {
            "/no/such/command"
        };
        let mut config = Config::new([command]);
        config.namespaces = namespaces.clone();
        match Process::start(Plan::init(config), Options::new().init_binary(INIT)) {
            Ok(mut process) => {
                let status = process.wait_timeout(linux::DEADLINE).expect("wait");
                assert_eq!(status, Some(ExitStatus::Exited(0)), "launch {i}");
                ran += 1;
            }
            Err(Error::Launch(LaunchError::Child { .. })) => failed += 1,
            Err(other) => panic!("launch {i}: {other}"),
        }
    }
    assert_eq!((ran, failed), (250, 250));
    assert_eq!(linux::open_fds(), fds, "descriptors left in the parent");
    assert_eq!(linux::children(), children, "children left");
}
