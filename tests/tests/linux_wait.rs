//! When a launched container has ended, as root: `Process::wait` returns
//! once its init has exited *and* nothing of the container is left.
//!
//! Sharing the host's pid namespace, the waits kill what the init left in
//! the container's cgroup; in a pid namespace of its own, the kernel does.
//! Every test cgroup is named `cradle-wait-<pid>-…`, lives below the test
//! process's own cgroup and is destroyed by its test, which then checks that
//! none of the suite's is left in any hierarchy. The tests take one lock:
//! they fork hundreds of processes and OOM-kill.

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cradle_core::{Config, ExitStatus, NamespaceKind, Plan};
use cradle_linux::cgroup::{Cgroup, CgroupConfig, Resources};
use cradle_linux::{Options, Process};
use cradle_tests::linux::{self, new_namespaces, CgroupTurn, DEADLINE};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
const PREFIX: &str = "cradle-wait-";

static NEXT_NAME: AtomicUsize = AtomicUsize::new(0);

fn options(resources: Resources) -> Options {
    let sequence = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
    Options::new().init_binary(INIT).cgroup(CgroupConfig {
        adopt_empty: false,
        name: format!("{PREFIX}{}-{sequence}", std::process::id()),
        parent: None,
        resources,
    })
}

/// `/bin/sh -c script` with a cgroup, in new `namespaces`.
fn plan(script: &str, namespaces: &[NamespaceKind]) -> Plan {
    let mut config = Config::new(["/bin/sh", "-c", script]);
    config.namespaces = new_namespaces(namespaces);
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    plan
}

/// Pid and start time of a process.
type Started = (i32, u64);

/// Field `n` (1-based, as proc(5) counts) of `/proc/<pid>/stat` and the
/// state.
fn stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // starttime is field 22; fields[0] is field 3.
    Some((state, fields.get(19)?.parse().ok()?))
}

/// Whether the process that had `pid` and started at `start` still runs
/// (not gone, not a zombie, not replaced by another with its pid).
fn still_runs((pid, start): Started) -> bool {
    stat(pid).is_some_and(|(state, now)| now == start && !matches!(state, 'Z' | 'X'))
}

/// Waits until `cgroup` holds `count` `sleep` processes; every process in
/// it then, with its start time.
fn wait_for_sleeps(cgroup: &Cgroup, count: usize) -> Vec<Started> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let pids = cgroup.pids().expect("pids");
        let sleeping = pids
            .iter()
            .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n"))
            .count();
        if sleeping == count {
            return pids
                .into_iter()
                .filter_map(|pid| Some((pid, stat(pid)?.1)))
                .collect();
        }
        assert!(Instant::now() < deadline, "{sleeping} of {count} sleeps run");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// 100 children, 50 double-forked orphans, and 50 orphans that fork a
/// child of their own: 250 `sleep`s. Then the init waits for a line (or
/// the end) of its stdin, and exits 3.
const DESCENDANTS: &str = "i=0; while [ $i -lt 50 ]; do \
     sleep 1000 & sleep 1000 & (sleep 1000 &); (sh -c 'sleep 1000 & exec sleep 1000' &); \
     i=$((i+1)); done; read line; exit 3";
const SLEEPS: usize = 250;

/// A launched container whose cgroup is destroyed on drop, so that a test
/// that fails leaves nothing running (its processes hold the harness's
/// output pipes).
struct Launched(Process);

impl Launched {
    fn start(plan: Plan, options: Options) -> Launched {
        Launched(Process::start(plan, options).expect("launch"))
    }
}

impl std::ops::Deref for Launched {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.0
    }
}

impl std::ops::DerefMut for Launched {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.0
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(cgroup) = self.0.cgroup() {
            let _ = cgroup.destroy();
        }
    }
}

/// Starts [`DESCENDANTS`] in new `namespaces`; the process, the pipe end
/// whose closing lets its init exit, and everything running in its cgroup.
fn start_descendants(namespaces: &[NamespaceKind]) -> (Launched, File, Vec<Started>) {
    let (read, write) = linux::pipe();
    let options = options(Resources::default()).stdin(read.into());
    let process = Launched::start(plan(DESCENDANTS, namespaces), options);
    let cgroup = process.cgroup().expect("the launch's cgroup");
    let started = wait_for_sleeps(cgroup, SLEEPS);
    (process, File::from(write), started)
}

/// Destroys the cgroup of `process`, checking that nothing was left in it
/// and that its directories are gone.
fn destroy(process: &Process) {
    let cgroup = process.cgroup().expect("the launch's cgroup");
    assert_eq!(
        cgroup.pids().expect("pids"),
        Vec::<i32>::new(),
        "left in the cgroup"
    );
    cgroup.destroy().expect("destroy");
    for dir in &cgroup.paths().dirs {
        assert!(!dir.path.exists(), "{} is still there", dir.path.display());
    }
}

#[test]
fn sharing_the_host_pid_namespace_wait_kills_what_init_left() {
    let Some(turn) = CgroupTurn::take("sharing_the_host_pid_namespace_wait_kills_what_init_left", PREFIX)
    else {
        return;
    };
    let (mut process, init_stdin, started) = start_descendants(&[NamespaceKind::Mount]);
    assert!(started.len() > SLEEPS, "{} processes", started.len());
    drop(init_stdin);
    let began = Instant::now();
    let status = process.wait_timeout(DEADLINE).expect("wait");
    eprintln!(
        "init exit to an empty cgroup of {} processes: {:?}",
        started.len(),
        began.elapsed()
    );
    // The init's own status, whatever the kill did to the rest.
    assert_eq!(status, Some(ExitStatus::Exited(3)));
    let running: Vec<Started> = started.iter().copied().filter(|&p| still_runs(p)).collect();
    assert!(running.is_empty(), "still running: {running:?}");
    assert_eq!(process.try_wait().expect("try_wait"), Some(ExitStatus::Exited(3)));
    destroy(&process);
    turn.finish();
}

#[test]
fn try_wait_reports_the_end_only_once_the_cgroup_is_empty() {
    let Some(turn) = CgroupTurn::take("try_wait_reports_the_end_only_once_the_cgroup_is_empty", PREFIX)
    else {
        return;
    };
    let (mut process, init_stdin, started) = start_descendants(&[NamespaceKind::Mount]);
    drop(init_stdin);
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = process.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the container did not end");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status, ExitStatus::Exited(3));
    let running: Vec<Started> = started.iter().copied().filter(|&p| still_runs(p)).collect();
    assert!(running.is_empty(), "still running: {running:?}");
    destroy(&process);
    turn.finish();
}

#[test]
fn in_its_own_pid_namespace_the_kernel_ends_the_rest_with_init() {
    let Some(turn) = CgroupTurn::take(
        "in_its_own_pid_namespace_the_kernel_ends_the_rest_with_init",
        PREFIX,
    ) else {
        return;
    };
    let (mut process, init_stdin, started) = start_descendants(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    drop(init_stdin);
    let status = process.wait_timeout(DEADLINE).expect("wait");
    assert_eq!(status, Some(ExitStatus::Exited(3)));
    // cradle killed nothing here: by the time the init is reaped, the
    // kernel has ended every other process of its namespace.
    let running: Vec<Started> = started.iter().copied().filter(|&p| still_runs(p)).collect();
    assert!(running.is_empty(), "still running: {running:?}");
    destroy(&process);
    turn.finish();
}

#[test]
fn a_memory_limit_gets_the_container_oom_killed_and_wait_says_so() {
    let Some(turn) = CgroupTurn::take(
        "a_memory_limit_gets_the_container_oom_killed_and_wait_says_so",
        PREFIX,
    ) else {
        return;
    };
    let limit = Resources {
        memory_max: Some(32 << 20),
        memory_swap_max: Some(0),
        ..Resources::default()
    };
    // tail keeps a line that never ends in memory.
    let mut process = Launched::start(
        plan("exec tail /dev/zero", &[NamespaceKind::Mount]),
        options(limit),
    );
    assert_eq!(process.oom_kills(), None, "not ended yet");
    let status = process.wait_timeout(DEADLINE).expect("wait");
    assert_eq!(status, Some(ExitStatus::Signaled(9)));
    assert_eq!(process.oom_kills(), Some(1));
    destroy(&process);

    // A container that was not OOM-killed says so too.
    let mut process = Launched::start(
        plan("exit 0", &[NamespaceKind::Mount]),
        options(Resources::default()),
    );
    assert_eq!(
        process.wait_timeout(DEADLINE).expect("wait"),
        Some(ExitStatus::Exited(0))
    );
    assert_eq!(process.oom_kills(), Some(0));
    destroy(&process);
    turn.finish();
}

#[test]
fn a_pids_limit_stops_a_fork_loop_in_a_launched_container() {
    let Some(turn) = CgroupTurn::take("a_pids_limit_stops_a_fork_loop_in_a_launched_container", PREFIX)
    else {
        return;
    };
    let limit = Resources {
        pids_max: Some(10),
        ..Resources::default()
    };
    let fork_loop = "i=0; while [ $i -lt 100 ]; do sleep 1000 & i=$((i+1)); done; wait";
    let mut process = Launched::start(plan(fork_loop, &[NamespaceKind::Mount]), options(limit));
    let status = process.wait_timeout(DEADLINE).expect("wait").expect("ended");
    // dash gives up when a fork fails; the sleeps it started are killed.
    assert!(!status.success(), "the fork loop ran to its end: {status}");
    let cgroup = process.cgroup().expect("the launch's cgroup");
    let paths = cgroup.paths();
    let dir = paths.v1_with("pids").or(paths.v2()).expect("a pids directory");
    let events = std::fs::read_to_string(dir.file("pids.events")).expect("pids.events");
    let refused: u64 = events
        .trim()
        .strip_prefix("max ")
        .and_then(|n| n.parse().ok())
        .expect("max count");
    assert!(refused >= 1, "{events}");
    destroy(&process);
    turn.finish();
}

#[test]
fn no_test_cgroup_is_left_in_any_hierarchy() {
    let Some(turn) = CgroupTurn::take("no_test_cgroup_is_left_in_any_hierarchy", PREFIX) else {
        return;
    };
    turn.finish();
}
