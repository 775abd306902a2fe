//! A launch with a cgroup, as root: the process starts in it (every
//! hierarchy), and a failed launch removes it. What the cgroup module does
//! with limits and hierarchies is tested with that module.

use std::fs;

use cradle_core::{Config, ExitStatus, NamespaceKind, Plan, Step};
use cradle_linux::cgroup::{CgroupConfig, Resources};
use cradle_linux::driver::{Driver, Event};
use cradle_linux::{Error, Options, Process};
use cradle_tests::linux::{self, new_namespaces, require_root, unique};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

fn plan(args: &[&str]) -> Plan {
    let mut config = Config::new(args.iter().copied());
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    plan
}

fn options(name: &str) -> Options {
    Options::new().init_binary(INIT).cgroup(CgroupConfig {
        adopt_empty: false,
        name: name.to_owned(),
        ..CgroupConfig::default()
    })
}

#[test]
fn the_process_starts_in_its_cgroup() {
    if !require_root("the_process_starts_in_its_cgroup") {
        return;
    }
    let name = unique("cradle-launch");
    let (read, write) = linux::pipe();
    let mut process = Process::start(
        plan(&["/bin/cat", "/proc/self/cgroup"]),
        options(&name).stdout(write),
    )
    .expect("launch");
    let mut read = read;
    let memberships = linux::read_to_end(&mut read, linux::DEADLINE);
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
    let cgroup = process.cgroup().expect("the launch's cgroup");
    let dirs = &cgroup.paths().dirs;
    assert!(!dirs.is_empty());
    // One line of /proc/self/cgroup per hierarchy the cgroup has a directory
    // in, each ending in its name.
    let ours = memberships
        .lines()
        .filter(|line| line.ends_with(&format!("/{name}")))
        .count();
    assert_eq!(ours, dirs.len(), "{memberships}");
    cgroup.destroy().expect("destroy");
    for dir in dirs {
        assert!(!dir.path.exists(), "{} is left", dir.path.display());
    }
}

#[test]
fn a_failed_launch_removes_its_cgroup() {
    if !require_root("a_failed_launch_removes_its_cgroup") {
        return;
    }
    let name = unique("cradle-failed");
    let result = Process::start(plan(&["/no/such/command"]), options(&name));
    assert!(matches!(result, Err(Error::Launch(_))), "{result:?}");
    // Nothing named so is left in any hierarchy, at any depth.
    let left: Vec<_> = linux::cgroups_named(&name)
        .into_iter()
        .filter(|dir| dir.file_name().is_some_and(|n| n == name.as_str()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_init_the_oom_killer_kills_at_start_fails_as_such_and_leaves_no_cgroup() {
    if !require_root("an_init_the_oom_killer_kills_at_start_fails_as_such_and_leaves_no_cgroup") {
        return;
    }
    // 4 KiB: the init's first page tables after exec are over it (kernel
    // memory counts against the limit on v1 too).
    let tiny = |name: &str| {
        options(name).cgroup(CgroupConfig {
            adopt_empty: false,
            name: name.to_owned(),
            resources: Resources {
                memory_max: Some(4 << 10),
                ..Resources::default()
            },
            ..CgroupConfig::default()
        })
    };
    let check = |result: Result<Process, Error>, name: &str, how: &str| {
        match &result {
            Err(error @ Error::OomKilled { step, limit }) => {
                assert_eq!((*step, *limit), (Step::AwaitReady, Some(4096)), "{how}: {error}");
                assert!(error.to_string().contains("memory limit 4 KiB"), "{how}: {error}");
            }
            other => panic!("{how}: expected an OOM kill, got {other:?}"),
        }
        assert!(linux::cgroups_named(name).is_empty(), "{how}: cgroup left");
    };

    let name = unique("cradle-oom");
    check(
        Process::start(plan(&["/bin/true"]), tiny(&name)),
        &name,
        "Process::start",
    );

    // The mio driver's launches end the same way.
    let name = unique("cradle-oom");
    let mut driver = Driver::new().expect("driver");
    driver.start(plan(&["/bin/true"]), tiny(&name)).expect("start");
    let started = std::time::Instant::now();
    let result = loop {
        assert!(started.elapsed() < linux::DEADLINE, "the launch did not end");
        let events = driver.poll(Some(linux::DEADLINE)).expect("poll");
        if let Some(Event::Launched { result, .. }) = events.into_iter().next() {
            break result;
        }
    };
    check(result, &name, "Driver");
}

#[test]
fn wait_reports_the_exit_when_the_cgroup_was_removed_first() {
    if !require_root("wait_reports_the_exit_when_the_cgroup_was_removed_first") {
        return;
    }
    // The host's pid namespace: `wait` sweeps the cgroup after the init's
    // exit. A `delete` that removed the cgroup first must not cost the
    // caller the exit status.
    let mut config = Config::new(["/bin/sh", "-c", "exit 7"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Mount]);
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    let mut process = Process::start(plan, options(&unique("cradle-removed"))).expect("launch");
    // Let it exit (a zombie, not yet reaped) before the cgroup goes.
    let stat = format!("/proc/{}/stat", process.pid());
    let until = std::time::Instant::now() + linux::DEADLINE;
    while !fs::read_to_string(&stat).is_ok_and(|s| s.rsplit(") ").next().is_some_and(|f| f.starts_with('Z')))
    {
        assert!(std::time::Instant::now() < until, "the init did not exit");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    process
        .cgroup()
        .expect("the launch's cgroup")
        .destroy()
        .expect("destroy");
    assert_eq!(
        process.wait_timeout(linux::DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(7))
    );
    assert_eq!(process.oom_kills(), None, "no count from a removed cgroup");
}
