//! The hold after `ready`, as root: a held init runs nothing of the user's
//! until it is started, and a hold that is dropped, or outlasts the
//! launch's deadline, leaves nothing behind.

use std::path::Path;
use std::time::{Duration, Instant};

use cradle_core::{Config, LaunchError, NamespaceKind, Plan, Step};
use cradle_linux::cgroup::CgroupConfig;
use cradle_linux::{Error, HeldProcess, Options, Process};
use cradle_tests::linux::{self, new_namespaces, require_root, unique};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

/// An init in new namespaces and a cgroup that writes `marker` first thing.
fn plan(marker: &Path) -> Plan {
    let script = format!("echo ran > {}; exec sleep 30", marker.display());
    let mut config = Config::new(["/bin/sh", "-c", &script]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    plan
}

fn options(name: &str) -> Options {
    Options::new().init_binary(INIT).cgroup(CgroupConfig {
        name: name.to_owned(),
        ..CgroupConfig::default()
    })
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn cgroups_left(name: &str) -> Vec<std::path::PathBuf> {
    linux::cgroups_named(name)
        .into_iter()
        .filter(|dir| dir.file_name().is_some_and(|n| n == name))
        .collect()
}

fn wait_for(what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + linux::DEADLINE;
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_held_process_runs_nothing_until_it_is_started() {
    if !require_root("a_held_process_runs_nothing_until_it_is_started") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-held");
    let held: HeldProcess = Process::start_held(plan(&marker), options(&name)).expect("held");
    let pid = held.pid().as_raw();
    assert!(held.start_time().expect("start time") > 0);
    let cgroup = held.cgroup().expect("the launch's cgroup").paths().clone();
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "the held process is there");
    assert!(!marker.exists(), "the command ran before its start");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    assert!(!exe.ends_with("sh"), "exec'd before its start: {exe:?}");

    let mut process = held.start().expect("start");
    assert_eq!(process.pid().as_raw(), pid);
    assert!(wait_for(|| marker.exists()), "the command never ran");
    process.terminate().expect("terminate");
    process.cgroup().expect("cgroup").destroy().expect("destroy");
    for dir in &cgroup.dirs {
        assert!(!dir.path.exists(), "{} is left", dir.path.display());
    }
}

#[test]
fn a_dropped_hold_kills_the_process_and_removes_its_cgroup() {
    if !require_root("a_dropped_hold_kills_the_process_and_removes_its_cgroup") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-dropped");
    let held = Process::start_held(plan(&marker), options(&name)).expect("held");
    let pid = held.pid().as_raw();
    drop(held);
    assert!(!alive(pid), "process {pid} (or its zombie) is left");
    assert!(cgroups_left(&name).is_empty(), "{:?}", cgroups_left(&name));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn a_hold_past_the_deadline_fails_at_await_start_and_leaves_nothing() {
    if !require_root("a_hold_past_the_deadline_fails_at_await_start_and_leaves_nothing") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-late");
    let mut plan = plan(&marker);
    plan.timeout = Duration::from_millis(500);
    let held = Process::start_held(plan, options(&name)).expect("held");
    let pid = held.pid().as_raw();
    std::thread::sleep(Duration::from_millis(700));
    let result = held.start();
    assert!(
        matches!(
            result,
            Err(Error::Launch(LaunchError::TimedOut {
                step: Step::AwaitStart,
                ..
            }))
        ),
        "{result:?}"
    );
    assert!(!alive(pid), "process {pid} is left");
    assert!(cgroups_left(&name).is_empty());
    assert!(!marker.exists(), "the command ran");
}
