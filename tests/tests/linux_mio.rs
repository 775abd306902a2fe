//! The mio driver, as root: many launches on one thread, each ending with
//! the right outcome, none delayed by a stalled one, nothing left behind;
//! and the tokio example, run for real.
//!
//! The tests count the parent's descriptors and children, so they run one
//! at a time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command as Program;
use std::time::{Duration, Instant};

use cradle_core::{ChildStep, Config, ExitStatus, LaunchError, NamespaceKind, Plan, Step};
use cradle_linux::cgroup::{CgroupConfig, Layout};
use cradle_linux::driver::{Driver, Event, LaunchId, WatchId};
use cradle_linux::{Container, Error, Options, Process};
use cradle_tests::linux::{self, new_namespaces, require_root, unique};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
/// Never reads its config: a large one stalls in the socket.
const DEAF: &str = env!("CARGO_BIN_EXE_cradle-test-deaf");

/// The deadline of the launches meant to time out.
const STALL_TIMEOUT: Duration = Duration::from_secs(3);

/// What a launch should end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// It runs, and exits with this code.
    Exits(i32),
    /// The child reports a failure at this step.
    ChildFails(ChildStep),
    /// A parent-side command fails at this step.
    ParentFails(Step),
    /// The child stalls: the launch times out at this step.
    TimesOut(Step),
}

impl Expect {
    fn stalls(self) -> bool {
        matches!(self, Expect::TimesOut(_))
    }
}

/// A small deterministic generator (xorshift64*), so that a failing mix
/// can be replayed with `CRADLE_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn seed() -> u64 {
    std::env::var("CRADLE_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5eed_c0de)
        .max(1)
}

/// A plan and options that should end as `expect`, with a cgroup named
/// `cgroup` if given.
fn launch(expect: Expect, cgroup: Option<&str>) -> (Plan, Options) {
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount, NamespaceKind::Uts]);
    let mut init = INIT;
    let mut timeout = Plan::DEFAULT_TIMEOUT;
    match expect {
        Expect::Exits(0) => {}
        Expect::Exits(code) => config.args = vec!["/bin/sh".into(), "-c".into(), format!("exit {code}")],
        Expect::ChildFails(ChildStep::Exec) => config.args = vec!["/no/such/command".into()],
        Expect::ChildFails(ChildStep::Cwd) => config.cwd = "/no/such/directory".into(),
        Expect::ChildFails(ChildStep::User) => config.user.uid = u32::MAX,
        Expect::ChildFails(ChildStep::Hostname) => {
            config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
            config.hostname = Some("not-the-host".into());
        }
        Expect::ChildFails(other) => panic!("no recipe for a child failing at {other}"),
        Expect::TimesOut(Step::SendConfig) => {
            // Over the socket's buffer, to a child that never reads.
            init = DEAF;
            config.env.push(format!("PAD={}", "x".repeat(600 << 10)));
            timeout = STALL_TIMEOUT;
        }
        Expect::TimesOut(step) => {
            let at = match step {
                Step::AwaitReady => "cwd",
                // `exec` is after `ready`.
                Step::AwaitExec => "exec",
                other => panic!("no recipe for a stall at {other}"),
            };
            config.env.push(format!("CRADLE_TEST_FAULT=stall@{at}"));
            timeout = STALL_TIMEOUT;
        }
        Expect::ParentFails(Step::CreateCgroup) => {}
        Expect::ParentFails(other) => panic!("no recipe for a parent failing at {other}"),
    }
    let mut plan = Plan::init(config);
    plan.timeout = timeout;
    let mut options = Options::new().init_binary(init);
    if let Some(name) = cgroup {
        plan.cgroup = true;
        let parent = match expect {
            Expect::ParentFails(Step::CreateCgroup) => Some(PathBuf::from("../cradle-climbing-parent")),
            _ => None,
        };
        options = options.cgroup(CgroupConfig {
            adopt_empty: false,
            name: name.to_owned(),
            parent,
            ..CgroupConfig::default()
        });
    }
    (plan, options)
}

fn random_expectation(rng: &mut Rng) -> Expect {
    match rng.below(20) {
        0..=7 => Expect::Exits(0),
        8..=9 => Expect::Exits(3),
        10 => Expect::ChildFails(ChildStep::Exec),
        11 => Expect::ChildFails(ChildStep::Cwd),
        12 => Expect::ChildFails(ChildStep::User),
        13 => Expect::ChildFails(ChildStep::Hostname),
        14 => Expect::ParentFails(Step::CreateCgroup),
        15..=16 => Expect::TimesOut(Step::AwaitReady),
        17..=18 => Expect::TimesOut(Step::AwaitExec),
        _ => Expect::TimesOut(Step::SendConfig),
    }
}

/// Checks a launch's outcome against what was expected of it.
fn check_launched(expect: Expect, result: &Result<Process, Error>, what: &str) {
    match (expect, result) {
        (Expect::Exits(_), Ok(_)) => {}
        (Expect::ChildFails(step), Err(Error::Launch(LaunchError::Child { error, .. }))) => {
            assert_eq!(error.step, step, "{what}: {error}");
        }
        (Expect::ParentFails(step), Err(Error::Launch(LaunchError::Command { step: at, .. }))) => {
            assert_eq!(*at, step, "{what}");
        }
        (Expect::TimesOut(step), Err(Error::Launch(LaunchError::TimedOut { step: at, after }))) => {
            assert_eq!((*at, *after), (step, STALL_TIMEOUT), "{what}");
        }
        (expect, result) => panic!("{what}: expected {expect:?}, got {result:?}"),
    }
}

/// The directories a cgroup named `name` would have, one per hierarchy.
fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let layout = Layout::detect().expect("cgroup layout");
    layout
        .hierarchies()
        .iter()
        .filter_map(|h| h.dir(&h.own_cgroup.join(name)))
        .collect()
}

/// The launches of a run, what each should end with, and what has ended.
#[derive(Default)]
struct Tally {
    expected: HashMap<LaunchId, (Expect, Option<String>)>,
    started: HashMap<LaunchId, Instant>,
    launched: usize,
    /// Watched process to its launch.
    running: HashMap<WatchId, LaunchId>,
    exited: usize,
    /// The longest any launch that should not stall took, from its start,
    /// and what it was.
    slowest_quick: (Duration, Option<Expect>),
}

impl Tally {
    /// Checks `event` against what was expected, and watches the processes
    /// that run.
    fn on(&mut self, driver: &mut Driver, event: Event) {
        match event {
            Event::Launched { id, result } => {
                let (expect, _) = self.expected[&id];
                check_launched(expect, &result, &format!("launch {id:?}"));
                self.launched += 1;
                if !expect.stalls() {
                    let took = self.started[&id].elapsed();
                    if took > self.slowest_quick.0 {
                        self.slowest_quick = (took, Some(expect));
                    }
                }
                if let Ok(process) = result {
                    self.running.insert(driver.watch(process), id);
                }
            }
            Event::Exited { id, process, status } => {
                let launch = self.running[&id];
                let (expect, _) = self.expected[&launch];
                let status = status.expect("reaped");
                assert_eq!(Expect::Exits(status.code()), expect, "launch {launch:?}");
                if let Some(cgroup) = process.cgroup() {
                    cgroup.destroy().expect("destroy the cgroup");
                }
                self.exited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn two_hundred_launches_on_one_thread_end_right_and_leave_nothing() {
    if !require_root("two_hundred_launches_on_one_thread_end_right_and_leave_nothing") {
        return;
    }
    let _serial = linux::serial();
    let fds = linux::open_fds();
    let children = linux::children();
    let seed = seed();
    println!("CRADLE_TEST_SEED={seed}");
    let mut rng = Rng(seed);

    let mut driver = Driver::new().expect("driver");
    let mut tally = Tally::default();
    let started = Instant::now();
    // Time spent in `start`, without and with a cgroup.
    let mut in_start = [Duration::ZERO; 2];
    for _ in 0..200 {
        let expect = random_expectation(&mut rng);
        let with_cgroup = matches!(expect, Expect::ParentFails(_)) || rng.below(4) == 0;
        let cgroup = with_cgroup.then(|| unique("cradle-mio"));
        let (plan, options) = launch(expect, cgroup.as_deref());
        let starting = Instant::now();
        let id = driver.start(plan, options).expect("start");
        in_start[usize::from(with_cgroup)] += starting.elapsed();
        tally.started.insert(id, starting);
        tally.expected.insert(id, (expect, cgroup));
        // As a server would: start a launch, then see to what is ready.
        for event in driver.poll(Some(Duration::ZERO)).expect("poll") {
            tally.on(&mut driver, event);
        }
    }
    let all_started = started.elapsed();
    let give_up = Instant::now() + STALL_TIMEOUT + linux::DEADLINE;
    while !driver.is_idle() {
        assert!(Instant::now() < give_up, "the driver did not finish");
        for event in driver.poll(Some(Duration::from_secs(1))).expect("poll") {
            tally.on(&mut driver, event);
        }
    }
    let total = started.elapsed();
    assert_eq!(tally.launched, 200, "every launch ended");
    let ran = tally
        .expected
        .values()
        .filter(|(e, _)| matches!(e, Expect::Exits(_)))
        .count();
    assert_eq!(tally.exited, ran, "every running process was reaped");
    println!(
        "200 launches: all started after {all_started:?} (in `start`: {:?} without a cgroup, {:?} with), \
         all ended after {total:?}; the slowest that did not stall took {:?}",
        in_start[0], in_start[1], tally.slowest_quick
    );
    // The stalled launches held none of the others up until their deadline.
    assert!(
        tally.slowest_quick.0 < STALL_TIMEOUT,
        "a launch that did not stall took {:?}",
        tally.slowest_quick
    );

    drop(driver);
    assert_eq!(linux::open_fds(), fds, "descriptors left in the parent");
    assert_eq!(linux::children(), children, "children left");
    for (expect, cgroup) in tally.expected.values() {
        for dir in cgroup.iter().flat_map(|name| cgroup_dirs(name)) {
            assert!(!dir.exists(), "{expect:?}: {} is left", dir.display());
        }
    }
}

#[test]
fn a_config_stuck_in_a_full_socket_is_abandoned_at_the_deadline() {
    if !require_root("a_config_stuck_in_a_full_socket_is_abandoned_at_the_deadline") {
        return;
    }
    let _serial = linux::serial();
    let children = linux::children();
    let mut driver = Driver::new().expect("driver");
    let (plan, options) = launch(Expect::TimesOut(Step::SendConfig), None);
    let stuck = driver.start(plan, options).expect("start");
    let started = Instant::now();
    // Started after the stuck one, ended long before it.
    let (plan, options) = launch(Expect::Exits(0), None);
    let quick = driver.start(plan, options).expect("start");
    let mut ended = HashMap::new();
    while !driver.is_idle() {
        assert!(started.elapsed() < linux::DEADLINE, "the driver did not finish");
        for event in driver.poll(None).expect("poll") {
            match event {
                Event::Launched { id, result } => {
                    let expect = if id == stuck {
                        Expect::TimesOut(Step::SendConfig)
                    } else {
                        Expect::Exits(0)
                    };
                    check_launched(expect, &result, &format!("launch {id:?}"));
                    if id == quick {
                        assert!(
                            !ended.contains_key(&stuck),
                            "the quick launch ended only after the stuck one"
                        );
                    }
                    ended.insert(id, started.elapsed());
                    if let Ok(process) = result {
                        driver.watch(process);
                    }
                }
                Event::Exited { status, .. } => assert_eq!(status.expect("reaped"), ExitStatus::Exited(0)),
                _ => {}
            }
        }
    }
    assert!(
        ended[&stuck] >= STALL_TIMEOUT - Duration::from_millis(100),
        "{ended:?}"
    );
    assert_eq!(linux::children(), children, "children left");
}

#[test]
fn a_process_that_exited_before_it_was_watched_is_still_reported() {
    if !require_root("a_process_that_exited_before_it_was_watched_is_still_reported") {
        return;
    }
    let _serial = linux::serial();
    let children = linux::children();
    // Started and exited with no driver watching: no exit to miss.
    let mut config = Config::new(["/bin/sh", "-c", "exit 7"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    let process = Process::start(Plan::init(config), Options::new().init_binary(INIT)).expect("start");
    // Until it has exited, left for the driver to reap (WNOWAIT).
    let pid = nix::unistd::Pid::from_raw(process.pid().as_raw());
    let exited = waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT).expect("waitid");
    assert_eq!(exited, WaitStatus::Exited(pid, 7));
    let mut driver = Driver::new().expect("driver");
    let watched = driver.watch(process);
    let events = driver.poll(Some(linux::DEADLINE)).expect("poll");
    match events.as_slice() {
        [Event::Exited { id, status, .. }] => {
            assert_eq!(*id, watched);
            assert_eq!(status.as_ref().ok(), Some(&ExitStatus::Exited(7)));
        }
        other => panic!("expected the exit, got {other:?}"),
    }
    assert!(driver.is_idle());
    assert_eq!(linux::children(), children, "children left");
}

#[test]
fn a_cancelled_launch_fails_as_cancelled_and_leaves_nothing() {
    if !require_root("a_cancelled_launch_fails_as_cancelled_and_leaves_nothing") {
        return;
    }
    let _serial = linux::serial();
    let children = linux::children();
    let mut driver = Driver::new().expect("driver");
    let (plan, options) = launch(Expect::TimesOut(Step::AwaitReady), None);
    let id = driver.start(plan, options).expect("start");
    assert!(driver.cancel(id));
    // The ending kills the child, then reaps it once its pidfd says so.
    let mut events = Vec::new();
    let started = Instant::now();
    while events.is_empty() && started.elapsed() < linux::DEADLINE {
        events = driver.poll(Some(linux::DEADLINE)).expect("poll");
    }
    match events.as_slice() {
        [Event::Launched {
            id: ended,
            result: Err(Error::Launch(LaunchError::Cancelled { .. })),
        }] => assert_eq!(*ended, id),
        other => panic!("expected the cancellation, got {other:?}"),
    }
    assert!(!driver.cancel(id), "it has ended");
    assert_eq!(linux::children(), children, "children left");
}

#[test]
fn the_tokio_example_launches_and_waits_through_async_fd() {
    if !require_root("the_tokio_example_launches_and_waits_through_async_fd") {
        return;
    }
    let _serial = linux::serial();
    // A real run of the example, built by cargo as a user would run it.
    let output = Program::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "-p",
            "cradle-linux",
            "--features",
            "tokio",
            "--example",
            "tokio",
        ])
        .output()
        .expect("cargo run --example tokio");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stdout}\n{stderr}", output.status);
    // Its own checks passed; it says what it saw.
    assert!(
        stdout.contains("all launches ended as expected"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn setns_processes_run_through_the_driver_too() {
    if !require_root("setns_processes_run_through_the_driver_too") {
        return;
    }
    let _serial = linux::serial();
    let fds = linux::open_fds();
    let children = linux::children();
    let mut config = Config::new(["/bin/sleep", "1000"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount, NamespaceKind::Uts]);
    let mut container =
        Process::start(Plan::init(config), Options::new().init_binary(INIT)).expect("container");

    // A helper and then the process it forks, each with a pidfd: ten that
    // run and exit 5, one that fails at exec.
    let mut driver = Driver::new().expect("driver");
    let mut expected = HashMap::new();
    for i in 0..11 {
        let args = if i < 10 {
            vec!["/bin/sh", "-c", "exit 5"]
        } else {
            vec!["/no/such/command"]
        };
        let plan = Plan::setns(Config::new(args));
        let handle = Container::of(&container).expect("the running container");
        let options = Options::new().init_binary(INIT).container(handle);
        let id = driver.start(plan, options).expect("start");
        expected.insert(id, i < 10);
    }
    let (mut ran, mut failed, mut exited) = (0, 0, 0);
    let started = Instant::now();
    while !driver.is_idle() {
        assert!(started.elapsed() < linux::DEADLINE, "the driver did not finish");
        for event in driver.poll(Some(Duration::from_secs(1))).expect("poll") {
            match event {
                Event::Launched {
                    id,
                    result: Ok(process),
                } => {
                    assert!(expected[&id], "launch {id:?} should have failed");
                    ran += 1;
                    driver.watch(process);
                }
                Event::Launched {
                    id,
                    result: Err(error),
                } => {
                    assert!(!expected[&id], "launch {id:?}: {error}");
                    match error {
                        Error::Launch(LaunchError::Child { error, .. }) => {
                            assert_eq!(error.step, ChildStep::Exec, "{error}");
                        }
                        other => panic!("expected the child's error, got {other}"),
                    }
                    failed += 1;
                }
                Event::Exited { status, .. } => {
                    assert_eq!(status.expect("reaped"), ExitStatus::Exited(5));
                    exited += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!((ran, failed, exited), (10, 1, 10));
    drop(driver);
    container.terminate().expect("end the container");
    drop(container);
    assert_eq!(linux::open_fds(), fds, "descriptors left in the parent");
    assert_eq!(linux::children(), children, "children left");
}
