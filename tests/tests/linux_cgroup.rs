//! `cradle_linux::cgroup` on a real kernel, as root, in every layout this
//! host offers: its v1 hierarchies alone, its cgroup2 tree alone, both
//! together (a hybrid host), and a pure v2 host made in a private mount
//! namespace with a fresh cgroup2 mount. cgroup2's formats are checked in
//! a tree of plain files too: a hybrid host's cgroup2 offers none of the
//! controllers its v1 hierarchies hold (memory, pids, cpu...), and those it
//! offers reach a test's cgroup only if the machine's own cgroup enables
//! them, which the tests do not change.
//!
//! The processes are the tests' own `sh` children, held at a `read` until
//! they are in the cgroup; two tests launch containers through
//! `cradle_linux::Process` instead, with `cradle-test-init`. Every test
//! cgroup is named `cradle-test-<pid>-…` and lives below the test
//! process's own cgroup; each test ends by checking that no such directory
//! is left in any hierarchy, so the last test to finish checks the whole
//! suite. The tests take one lock: they fork hundreds of processes, freeze
//! and OOM-kill, and time CPU use.

#![forbid(unsafe_code)]

use std::io::Write;
use std::ops::Deref;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cradle_core::launch::Who;
use cradle_core::{ChildStep, Config, LaunchError, Plan, Step};
use cradle_linux::cgroup::{
    Cgroup, CgroupConfig, CgroupDir, CgroupError, CgroupPaths, FreezerState, Hierarchy, Layout, Mode,
    Resources, Version,
};
use cradle_linux::{Options, Process};
use cradle_tests::linux::{self, CgroupTurn};

/// Every test cgroup's name starts so.
const PREFIX: &str = "cradle-test-";
/// Bounds every wait.
const DEADLINE: Duration = Duration::from_secs(10);
/// Set in the re-executed test binary that runs inside the private mount
/// namespace.
const PURE_V2_INNER: &str = "CRADLE_CGROUP_TEST_PURE_V2";
/// The init binary of the launches, with faults on request.
const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
/// An init binary that never answers.
const DEAF_INIT: &str = env!("CARGO_BIN_EXE_cradle-test-deaf");

static NEXT_NAME: AtomicUsize = AtomicUsize::new(0);

fn host() -> Layout {
    Layout::detect().expect("detect the host's cgroups")
}

/// The layouts to test: each version alone, and both where the host is
/// hybrid.
fn layouts() -> Vec<(&'static str, Layout)> {
    let host = host();
    let mut layouts: Vec<(&'static str, Layout)> = [("v1", Version::V1), ("v2", Version::V2)]
        .into_iter()
        .map(|(label, version)| (label, host.clone().only(version)))
        .filter(|(_, layout)| !layout.hierarchies().is_empty())
        .collect();
    if host.mode() == Some(Mode::Hybrid) {
        layouts.push(("hybrid", host));
    }
    layouts
}

/// The layouts where a limit on `controller` can be set; never none, so a
/// test cannot pass without running.
fn layouts_with(controller: &str) -> Vec<(&'static str, Layout)> {
    let found: Vec<_> = layouts()
        .into_iter()
        .filter(|(_, layout)| {
            layout.hierarchies().iter().any(|h| match &h.hierarchy {
                Hierarchy::V1 { .. } => h.hierarchy.is_v1_with(controller),
                Hierarchy::V2 => h.dir(&h.own_cgroup).is_some_and(|dir| {
                    read(&dir.join("cgroup.subtree_control"))
                        .split_whitespace()
                        .any(|c| c == controller)
                }),
            })
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no hierarchy of this host offers the {controller} controller"
    );
    found
}

fn unique_name(label: &str) -> String {
    let sequence = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{}-{sequence}-{label}", std::process::id())
}

fn config(name: &str, resources: Resources) -> CgroupConfig {
    CgroupConfig {
        adopt_empty: false,
        name: name.to_owned(),
        parent: None,
        resources,
    }
}

/// A cgroup a test made, destroyed when the test ends, however it ends.
struct TestCgroup(Cgroup);

impl TestCgroup {
    fn create(layout: &Layout, label: &str, resources: Resources) -> TestCgroup {
        let cgroup = Cgroup::create_in(layout, &config(&unique_name(label), resources));
        TestCgroup(cgroup.unwrap_or_else(|error| panic!("create the {label} cgroup: {error}")))
    }
}

impl Deref for TestCgroup {
    type Target = Cgroup;

    fn deref(&self) -> &Cgroup {
        &self.0
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = self.0.destroy();
    }
}

/// A child of the test, killed and reaped when the test ends.
struct TestChild(Child);

impl TestChild {
    /// `sh -c script`, held at a `read` until [`TestChild::release`]: put it
    /// in a cgroup first, and nothing of the script runs outside it.
    fn held_sh(script: &str) -> TestChild {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _ ; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        TestChild(child)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("a pid fits an i32")
    }

    fn release(&mut self) {
        let mut stdin = self.0.stdin.take().expect("held child has a stdin");
        stdin.write_all(b"go\n").expect("release the child");
    }

    /// Its exit status, within [`DEADLINE`].
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "child {} did not exit in time",
                self.0.id()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TestChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// Waits until `done`, within [`DEADLINE`], or fails naming `what`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the tests read from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    cpu_ticks: u64,
    start_time: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which may hold spaces and parentheses.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        cpu_ticks: number(11)? + number(12)?,
        start_time: number(19)?,
    })
}

/// Whether the process that had `pid` and started at `start_time` still
/// runs: not gone, not a zombie, not replaced by another with its pid.
fn still_runs(pid: i32, start_time: u64) -> bool {
    stat(pid).is_some_and(|now| now.start_time == start_time && !matches!(now.state, 'Z' | 'X'))
}

/// The CPU ticks `pid` uses in 300 ms: for a process that must use none
/// (a loaded machine can only make it use less).
/// Every process in `cgroup`, with its start time (to tell it from a
/// later process that takes its pid).
fn started_in(cgroup: &Cgroup) -> Vec<(i32, u64)> {
    cgroup
        .pids()
        .expect("pids")
        .into_iter()
        .filter_map(|pid| Some((pid, stat(pid)?.start_time)))
        .collect()
}

fn cpu_use(pid: i32) -> u64 {
    let before = stat(pid).expect("process is there").cpu_ticks;
    std::thread::sleep(Duration::from_millis(300));
    stat(pid).expect("process is there").cpu_ticks - before
}

/// Waits until `pid` has used CPU time from now on, failing naming `what`
/// if it has not within [`DEADLINE`] (a spinner that runs at all does, on
/// however loaded a machine).
fn wait_until_it_runs(pid: i32, what: &str) {
    let before = stat(pid).expect("process is there").cpu_ticks;
    wait_until(what, || stat(pid).expect("process is there").cpu_ticks > before);
}

/// Moves process `pid` into each of `dirs` (a cgroup's directories), by
/// hand: the tests' way to put it in some hierarchies and not others.
fn join<'a>(pid: i32, dirs: impl IntoIterator<Item = &'a CgroupDir>) {
    for dir in dirs {
        std::fs::write(dir.file("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("join {}: {e}", dir.path.display()));
    }
}

fn sigkill(pid: i32) -> std::io::Result<()> {
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL).map_err(Into::into)
}

fn assert_removed(cgroup: &Cgroup) {
    for dir in &cgroup.paths().dirs {
        assert!(
            !dir.path.exists(),
            "{} ({}) is still there",
            dir.path.display(),
            dir.hierarchy
        );
    }
}

#[test]
fn the_hosts_layout_is_detected() {
    let Some(turn) = CgroupTurn::take("the_hosts_layout_is_detected", PREFIX) else {
        return;
    };
    let host = host();
    let mountinfo = read(Path::new("/proc/self/mountinfo"));
    let mounted = |fstype: &str| {
        mountinfo
            .lines()
            .any(|line| line.contains(&format!(" - {fstype} ")))
    };
    let expected = match (mounted("cgroup"), mounted("cgroup2")) {
        (true, true) => Some(Mode::Hybrid),
        (true, false) => Some(Mode::Legacy),
        (false, true) => Some(Mode::Unified),
        (false, false) => None,
    };
    assert_eq!(host.mode(), expected);
    let me = std::process::id().to_string();
    for mounted in host.hierarchies() {
        let dir = mounted
            .dir(&mounted.own_cgroup)
            .expect("own cgroup is under its mount");
        let procs = read(&dir.join("cgroup.procs"));
        assert!(
            procs.lines().any(|pid| pid == me),
            "{} does not list this process",
            dir.display()
        );
    }
    turn.finish();
}

/// The limits of [`limits_are_written_in_each_hierarchys_format`].
fn format_resources() -> Resources {
    Resources {
        memory_max: Some(64 << 20),
        memory_swap_max: Some(16 << 20),
        pids_max: Some(20),
        cpu_quota_us: Some(50_000),
        cpu_period_us: Some(100_000),
        cpu_weight: Some(100),
        devices: None,
        ..Resources::default()
    }
}

/// [`format_resources`] in v1's files: controller, file, content.
const V1_FORMATS: [(&str, &str, &str); 6] = [
    ("memory", "memory.limit_in_bytes", "67108864"),
    ("memory", "memory.memsw.limit_in_bytes", "83886080"),
    ("pids", "pids.max", "20"),
    ("cpu", "cpu.cfs_period_us", "100000"),
    ("cpu", "cpu.cfs_quota_us", "50000"),
    ("cpu", "cpu.shares", "2597"),
];

/// [`format_resources`] in cgroup2's files: controller, file, content.
const V2_FORMATS: [(&str, &str, &str); 5] = [
    ("memory", "memory.max", "67108864"),
    ("memory", "memory.swap.max", "16777216"),
    ("pids", "pids.max", "20"),
    ("cpu", "cpu.max", "50000 100000"),
    ("cpu", "cpu.weight", "100"),
];

/// The controllers `/proc/cgroups` shows attached to a v1 hierarchy (a
/// hierarchy id other than 0), with that id: cgroup2 cannot offer them
/// while that hierarchy exists.
fn bound_to_v1() -> Vec<(String, u32)> {
    read(Path::new("/proc/cgroups"))
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?.to_owned();
            let hierarchy: u32 = fields.next()?.parse().ok()?;
            (hierarchy != 0).then_some((name, hierarchy))
        })
        .collect()
}

#[test]
fn limits_are_written_in_each_hierarchys_format() {
    let Some(turn) = CgroupTurn::take("limits_are_written_in_each_hierarchys_format", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let name = unique_name(label);
        match Cgroup::create_in(&layout, &config(&name, format_resources())) {
            Ok(cgroup) => {
                let cgroup = TestCgroup(cgroup);
                let paths = cgroup.paths();
                for (controller, file, value) in V1_FORMATS {
                    if let Some(dir) = paths.v1_with(controller) {
                        assert_eq!(read(&dir.file(file)).trim(), value, "{label}: {file}");
                    }
                }
                for (controller, file, value) in V2_FORMATS {
                    if let Some(dir) = paths.v2().filter(|_| paths.v1_with(controller).is_none()) {
                        assert_eq!(read(&dir.file(file)).trim(), value, "{label}: {file}");
                    }
                }
            }
            // The v2 tree does not offer the first controller the limits
            // need (memory): refused, naming the file, the hierarchy and
            // the controller, and nothing left behind. Only for the reason
            // the host gives, which is said; the formats themselves are
            // checked where they can be (see below).
            Err(error @ CgroupError::ControllerUnavailable { .. }) => {
                let CgroupError::ControllerUnavailable {
                    hierarchy,
                    path,
                    controller,
                } = &error
                else {
                    unreachable!()
                };
                assert_eq!(
                    (hierarchy, *controller),
                    (&Hierarchy::V2, "memory"),
                    "{label}: {error}"
                );
                assert!(
                    path.ends_with(format!("{name}/cgroup.controllers")),
                    "{label}: {error}"
                );
                let message = error.to_string();
                assert!(message.starts_with("cgroup v2: ") && message.contains(&*path.to_string_lossy()));
                let v2 = layout.hierarchies().iter().find(|h| h.hierarchy == Hierarchy::V2);
                let v2 = v2.expect("a v2 hierarchy");
                let own = v2.dir(&v2.own_cgroup).expect("own cgroup is under its mount");
                let offered = read(&own.join("cgroup.subtree_control"));
                assert!(
                    !offered.split_whitespace().any(|c| c == *controller),
                    "{label}: {controller} is offered ({offered:?}), yet {error}"
                );
                let left = v2.dir(&v2.own_cgroup.join(&name)).expect("under the mount");
                assert!(!left.exists(), "{label}: {} is left", left.display());
                let bound = bound_to_v1();
                let reason = match bound.iter().find(|(name, _)| name == controller) {
                    Some((_, id)) => format!("/proc/cgroups binds it to v1 hierarchy {id}"),
                    None => format!("{} does not delegate it", own.display()),
                };
                eprintln!(
                    "{label}: cgroup2 cannot take these limits here ({controller}: {reason}); \
                     v2_formats_in_a_tree_of_plain_files checks what cradle writes, and \
                     pure_v2_in_a_private_mount_namespace a v2 limit for real where the host can"
                );
            }
            Err(error) => panic!("{label}: {error}"),
        }
    }
    turn.finish();
}

/// A cgroup2 tree made of plain files in a temporary directory, which the
/// backend takes for a mounted one: the files and contents cradle writes
/// for each v2 limit, whether or not this host's cgroup2 offers the
/// controllers (a hybrid host's offers none of memory, pids or cpu).
struct PlainTree {
    dir: tempfile::TempDir,
    layout: Layout,
}

impl PlainTree {
    fn new() -> PlainTree {
        let dir = tempfile::Builder::new()
            .prefix("cradle-plain-cgroup2-")
            .tempdir()
            .expect("temporary directory");
        let mountinfo = format!("99 1 0:99 / {} rw - cgroup2 cgroup2 rw", dir.path().display());
        let layout = Layout::parse(&mountinfo, "0::/\n");
        assert_eq!(layout.mode(), Some(Mode::Unified), "{layout:?}");
        PlainTree { dir, layout }
    }

    /// Creates `resources`' cgroup named `name`, whose directory is laid
    /// out beforehand as an empty cgroup offering every controller, with
    /// an empty `files` each (the backend writes only to files the kernel
    /// shows). The directory, to read the files back.
    fn create(&self, name: &str, files: &[&str], resources: Resources) -> Result<PathBuf, CgroupError> {
        let dir = self.dir.path().join(name);
        std::fs::create_dir(&dir).expect("the plain cgroup directory");
        let controllers = "cpuset cpu io memory hugetlb pids rdma misc\n";
        std::fs::write(dir.join("cgroup.controllers"), controllers).expect("cgroup.controllers");
        for file in ["cgroup.procs"].iter().chain(files) {
            std::fs::write(dir.join(file), "").expect("an empty file");
        }
        let config = CgroupConfig {
            adopt_empty: true,
            ..config(name, resources)
        };
        Cgroup::create_in(&self.layout, &config).map(|_| dir)
    }
}

#[test]
fn v2_formats_in_a_tree_of_plain_files() {
    let tree = PlainTree::new();
    let files: Vec<&str> = V2_FORMATS.iter().map(|(_, file, _)| *file).collect();
    let dir = tree
        .create("formats", &files, format_resources())
        .expect("the limits in cgroup2's format");
    for (_, file, value) in V2_FORMATS {
        assert_eq!(read(&dir.join(file)), value, "{file}");
    }
    // Every limit of the every-limit test that cgroup2 has, in its file.
    for case in limit_cases() {
        let what = case.limit;
        let name = format!("case-{what}");
        match &case.v2 {
            Some((_, shown)) => {
                let files: Vec<&str> = shown.iter().map(|(alternatives, _)| alternatives[0]).collect();
                let dir = tree
                    .create(&name, &files, case.resources.clone())
                    .unwrap_or_else(|error| panic!("{what}: {error}"));
                for (alternatives, value) in shown {
                    let content = read(&dir.join(alternatives[0]));
                    assert!(
                        shows(&content, value),
                        "{what}: {} shows {content:?}",
                        alternatives[0]
                    );
                }
            }
            None => match tree.create(&name, &[], case.resources.clone()) {
                Err(CgroupError::LimitUnsupported { limit, hierarchy, .. }) => {
                    assert_eq!((limit, hierarchy), (what, Hierarchy::V2))
                }
                other => panic!("{what}: cgroup2 has no such limit, got {other:?}"),
            },
        }
    }
}

#[test]
fn apply_and_enter_put_a_process_in_every_hierarchy() {
    let Some(turn) = CgroupTurn::take("apply_and_enter_put_a_process_in_every_hierarchy", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        let first = TestChild::held_sh("sleep 30");
        let second = TestChild::held_sh("sleep 30");
        cgroup.apply(first.pid()).expect("apply");
        // Again: where it is already, nothing is written.
        cgroup.apply(first.pid()).expect("apply again");
        cradle_linux::cgroup::enter(cgroup.paths(), second.pid()).expect("enter");
        for child in [&first, &second] {
            let membership = read(Path::new(&format!("/proc/{}/cgroup", child.pid())));
            for dir in &cgroup.paths().dirs {
                let line_ends = format!(":{}", dir.cgroup.display());
                assert!(
                    membership.lines().any(|line| line.ends_with(&line_ends)),
                    "{label}: {} not in {}: {membership}",
                    child.pid(),
                    dir.path.display()
                );
            }
        }
        let mut expected = vec![first.pid(), second.pid()];
        expected.sort_unstable();
        assert_eq!(cgroup.pids().expect("pids"), expected, "{label}");
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

#[test]
fn a_cpuset_parent_another_launch_is_still_making_is_filled_before_use() {
    let Some(turn) = CgroupTurn::take(
        "a_cpuset_parent_another_launch_is_still_making_is_filled_before_use",
        PREFIX,
    ) else {
        return;
    };
    let host = host();
    let Some(cpuset) = host
        .hierarchies()
        .iter()
        .find(|mounted| mounted.hierarchy.is_v1_with("cpuset"))
    else {
        eprintln!("no v1 cpuset hierarchy here: nothing to check");
        return turn.finish();
    };
    // A parent as another launch leaves it between its mkdir and its copy
    // of the CPUs: there, without them.
    let parent_name = unique_name("racing-parent");
    let own = cpuset.dir(&cpuset.own_cgroup).expect("the own cpuset");
    let parent = own.join(&parent_name);
    std::fs::create_dir(&parent).expect("mkdir the racing parent");
    assert_eq!(
        read(&parent.join("cpuset.cpus")).trim(),
        "",
        "a new cpuset has no CPUs"
    );
    let config = CgroupConfig {
        parent: Some(PathBuf::from(&parent_name)),
        ..config(&unique_name("below-racing-parent"), Resources::default())
    };
    let created = Cgroup::create_in(&host, &config);
    let joined = created.as_ref().map(|cgroup| {
        let child = TestChild::held_sh("sleep 30");
        let applied = cgroup.apply(child.pid());
        (child, applied)
    });
    let parent_cpus = read(&parent.join("cpuset.cpus"));
    if let Ok(cgroup) = &created {
        cgroup.destroy().expect("destroy");
    }
    // cradle found the parent missing in the other hierarchies and made it.
    for dir in dirs_named(&parent_name) {
        let _ = std::fs::remove_dir(dir);
    }
    let (_child, applied) = joined.expect("a cgroup below the racing parent");
    applied.expect("a process joins it (no ENOSPC)");
    assert_eq!(
        parent_cpus.trim(),
        read(&own.join("cpuset.cpus")).trim(),
        "the parent was filled"
    );
    turn.finish();
}

#[test]
fn a_pids_limit_stops_a_fork_loop() {
    let Some(turn) = CgroupTurn::take("a_pids_limit_stops_a_fork_loop", PREFIX) else {
        return;
    };
    for (label, layout) in layouts_with("pids") {
        let limit = Resources {
            pids_max: Some(5),
            ..Resources::default()
        };
        let cgroup = TestCgroup::create(&layout, label, limit);
        let mut shell = TestChild::held_sh("i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); done; wait");
        cgroup.apply(shell.pid()).expect("apply");
        shell.release();
        // dash gives up when a fork fails.
        assert!(!shell.wait().success(), "{label}: the fork loop ran to its end");
        let paths = cgroup.paths();
        let dir = paths.v1_with("pids").or(paths.v2()).expect("a pids directory");
        let events = read(&dir.file("pids.events"));
        let refused: u64 = events
            .trim()
            .strip_prefix("max ")
            .and_then(|n| n.parse().ok())
            .expect("max count");
        assert!(refused >= 1, "{label}: {events}");
        // The shell is gone; its 4 sleeps are what the limit let in.
        assert_eq!(cgroup.pids().expect("pids").len(), 4, "{label}");
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

#[test]
fn a_memory_limit_gets_the_process_oom_killed() {
    let Some(turn) = CgroupTurn::take("a_memory_limit_gets_the_process_oom_killed", PREFIX) else {
        return;
    };
    for (label, layout) in layouts_with("memory") {
        let limit = Resources {
            memory_max: Some(32 << 20),
            memory_swap_max: Some(0),
            ..Resources::default()
        };
        let cgroup = TestCgroup::create(&layout, label, limit);
        assert_eq!(cgroup.oom_kills().expect("oom_kills"), Some(0), "{label}");
        // tail keeps a line that never ends in memory.
        let mut hog = TestChild::held_sh("exec tail /dev/zero");
        cgroup.apply(hog.pid()).expect("apply");
        hog.release();
        let status = hog.wait();
        assert_eq!(status.signal(), Some(nix::libc::SIGKILL), "{label}: {status}");
        assert_eq!(cgroup.oom_kills().expect("oom_kills"), Some(1), "{label}");
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

#[test]
fn freeze_stops_the_processes_and_thaw_resumes_them() {
    let Some(turn) = CgroupTurn::take("freeze_stops_the_processes_and_thaw_resumes_them", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        let mut spinner = TestChild::held_sh("while :; do :; done");
        cgroup.apply(spinner.pid()).expect("apply");
        spinner.release();
        wait_until("the spinner runs", || {
            stat(spinner.pid()).is_some_and(|s| s.cpu_ticks > 0)
        });
        assert_eq!(
            cgroup.freezer_state().expect("state"),
            FreezerState::Thawed,
            "{label}"
        );

        cgroup.freeze(Instant::now() + DEADLINE).expect("freeze");
        assert_eq!(
            cgroup.freezer_state().expect("state"),
            FreezerState::Frozen,
            "{label}"
        );
        assert_eq!(cpu_use(spinner.pid()), 0, "{label}: a frozen process used CPU");

        cgroup.thaw().expect("thaw");
        assert_eq!(
            cgroup.freezer_state().expect("state"),
            FreezerState::Thawed,
            "{label}"
        );
        wait_until_it_runs(spinner.pid(), &format!("{label}: the thawed process runs"));
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

/// Starts 100 children and 100 double-forked orphans of a shell in
/// `cgroup`, waits until all 200 sleep, and returns the shell and every
/// process with its start time.
fn start_200_descendants(cgroup: &Cgroup) -> (TestChild, Vec<(i32, u64)>) {
    let script = "i=0; while [ $i -lt 100 ]; do sleep 1000 & (sleep 1000 &); i=$((i+1)); done; wait";
    let mut shell = TestChild::held_sh(script);
    cgroup.apply(shell.pid()).expect("apply");
    shell.release();
    let sleeping = || {
        let pids = cgroup.pids().expect("pids");
        let sleeps = pids.iter().filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm == "sleep\n")
        });
        sleeps.count()
    };
    wait_until("200 sleeps run", || sleeping() == 200);
    (shell, started_in(cgroup))
}

#[test]
fn destroy_kills_200_descendants_and_removes_the_cgroup() {
    let Some(turn) = CgroupTurn::take("destroy_kills_200_descendants_and_removes_the_cgroup", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        let (mut shell, started) = start_200_descendants(&cgroup);
        assert!(started.len() > 200, "{label}: {} processes", started.len());

        let began = Instant::now();
        cgroup.destroy().expect("destroy");
        eprintln!(
            "{label}: killed {} processes and removed the cgroup in {:?}",
            started.len(),
            began.elapsed()
        );
        assert_removed(&cgroup);
        // Only the shell is the test's child; the rest were never waited for.
        assert_eq!(shell.wait().signal(), Some(nix::libc::SIGKILL), "{label}");
        let running: Vec<i32> = started
            .iter()
            .filter(|(pid, start)| still_runs(*pid, *start))
            .map(|(pid, _)| *pid)
            .collect();
        assert!(running.is_empty(), "{label}: still running: {running:?}");
    }
    turn.finish();
}

#[test]
fn killing_by_signals_under_the_freezer_empties_the_cgroup() {
    // The path for kernels without `cgroup.kill`, on every layout.
    let Some(turn) = CgroupTurn::take("killing_by_signals_under_the_freezer_empties_the_cgroup", PREFIX)
    else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        let (_shell, started) = start_200_descendants(&cgroup);
        let deadline = Instant::now() + DEADLINE;
        cgroup.kill_all_signalling(deadline, sigkill).expect("kill");
        cgroup.wait_empty(deadline).expect("the cgroup empties");
        assert!(cgroup.pids().expect("pids").is_empty(), "{label}");
        assert_eq!(
            cgroup.freezer_state().expect("state"),
            FreezerState::Thawed,
            "{label}"
        );
        assert!(
            started.iter().all(|(pid, start)| !still_runs(*pid, *start)),
            "{label}"
        );
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

/// `kill --all`'s way: a signal of the caller's choosing reaches every
/// process of the cgroup's subtree, children and orphans alike, and the
/// cgroup is thawed after; a frozen (paused) cgroup stays frozen.
#[test]
fn signal_all_reaches_every_process_and_leaves_a_paused_cgroup_paused() {
    let Some(turn) = CgroupTurn::take(
        "signal_all_reaches_every_process_and_leaves_a_paused_cgroup_paused",
        PREFIX,
    ) else {
        return;
    };
    for (label, layout) in layouts() {
        for paused in [false, true] {
            let cgroup = TestCgroup::create(&layout, label, Resources::default());
            let mut shell = TestChild::held_sh("sleep 1000 & (sleep 1000 &); wait");
            cgroup.apply(shell.pid()).expect("apply");
            shell.release();
            wait_until("the shell and two sleeps run", || {
                cgroup.pids().expect("pids").len() == 3
            });
            let started = started_in(&cgroup);
            let deadline = Instant::now() + DEADLINE;
            if paused {
                cgroup.freeze(deadline).expect("freeze");
            }
            // Twice: a second `kill --all` finds a paused v2 cgroup freezing
            // (its frozen processes ending of the first signal), and must
            // leave it so.
            for _ in 0..2 {
                cgroup
                    .signal_all(cradle_linux::Signal::SIGTERM, deadline)
                    .expect("signal all");
            }
            // Paused, it stays so: frozen, or freezing again while a v2
            // freezer lets the signal end the frozen processes (v1 holds
            // them until the thaw).
            let state = cgroup.freezer_state().expect("state");
            assert_eq!(state == FreezerState::Thawed, !paused, "{label}: {state:?}");
            if paused {
                cgroup.thaw().expect("thaw");
            }
            cgroup.wait_empty(deadline).expect("the cgroup empties");
            assert!(
                started.iter().all(|(pid, start)| !still_runs(*pid, *start)),
                "{label}"
            );
            assert_eq!(shell.wait().signal(), Some(nix::libc::SIGTERM), "{label}");
            cgroup.destroy().expect("destroy");
            assert_removed(&cgroup);
        }
    }
    turn.finish();
}

#[test]
fn a_kill_that_fails_midway_leaves_the_cgroup_thawed() {
    let Some(turn) = CgroupTurn::take("a_kill_that_fails_midway_leaves_the_cgroup_thawed", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        let mut shell =
            TestChild::held_sh("i=0; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done; wait");
        cgroup.apply(shell.pid()).expect("apply");
        shell.release();
        wait_until("21 processes run", || cgroup.pids().expect("pids").len() == 21);
        let started = started_in(&cgroup);

        // The kill of one sleep fails (not the shell's: it would end once
        // its children are gone); the others still go out.
        let mut spared = None;
        let result = cgroup.kill_all_signalling(Instant::now() + DEADLINE, |pid| {
            if spared.is_none() && pid != shell.pid() {
                spared = Some(pid);
                return Err(std::io::Error::from_raw_os_error(nix::libc::EPERM));
            }
            sigkill(pid)
        });
        let spared = spared.expect("a kill failed");
        match result {
            Err(CgroupError::Kill { pid, path, .. }) => {
                assert_eq!(pid, spared, "{label}");
                assert!(path.ends_with("cgroup.procs"), "{label}: {}", path.display());
            }
            other => panic!("{label}: expected the kill's failure, got {other:?}"),
        }
        assert_eq!(
            cgroup.freezer_state().expect("state"),
            FreezerState::Thawed,
            "{label}"
        );
        wait_until("the others are gone", || cgroup.pids().expect("pids") == [spared]);
        let spared_stat = stat(spared).expect("the spared process is there");
        assert_ne!(
            spared_stat.state, 'D',
            "{label}: the spared process is still frozen"
        );
        assert!(started
            .iter()
            .any(|(pid, start)| *pid == spared && still_runs(*pid, *start)));

        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

#[test]
fn a_freeze_that_times_out_leaves_the_cgroup_thawed() {
    let Some(turn) = CgroupTurn::take("a_freeze_that_times_out_leaves_the_cgroup_thawed", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        // Busy processes take a while to reach the freezer; a deadline that
        // has passed gives them none.
        let mut spinners =
            TestChild::held_sh("i=0; while [ $i -lt 8 ]; do while :; do :; done & i=$((i+1)); done; wait");
        cgroup.apply(spinners.pid()).expect("apply");
        spinners.release();
        wait_until("8 spinners run", || cgroup.pids().expect("pids").len() == 9);
        let timeout = (0..50).find_map(|_| match cgroup.freeze(Instant::now()) {
            Err(error @ CgroupError::Timeout { .. }) => Some(error),
            Err(error) => panic!("{label}: {error}"),
            Ok(()) => {
                cgroup.thaw().expect("thaw");
                None
            }
        });
        let timeout = timeout.unwrap_or_else(|| panic!("{label}: every freeze beat an expired deadline"));
        let CgroupError::Timeout { path, hierarchy, .. } = &timeout else {
            unreachable!()
        };
        let watched = if *hierarchy == Hierarchy::V2 {
            "cgroup.events"
        } else {
            "freezer.state"
        };
        assert!(path.ends_with(watched), "{label}: {timeout}");
        assert_eq!(
            cgroup.freezer_state().expect("state"),
            FreezerState::Thawed,
            "{label}"
        );
        let spinner = cgroup
            .pids()
            .expect("pids")
            .into_iter()
            .find(|pid| *pid != spinners.pid());
        wait_until_it_runs(
            spinner.expect("a spinner"),
            &format!("{label}: the spinners run on"),
        );
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

#[test]
fn a_failed_create_leaves_no_directory() {
    let Some(turn) = CgroupTurn::take("a_failed_create_leaves_no_directory", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let would_be = |name: &str| -> Vec<PathBuf> {
            let hierarchies = layout.hierarchies().iter();
            hierarchies
                .filter_map(|h| h.dir(&h.own_cgroup.join(name)))
                .collect()
        };

        // Refused before anything is made: a value no format can hold.
        let name = unique_name(label);
        let bad_weight = Resources {
            cpu_weight: Some(0),
            ..Resources::default()
        };
        match Cgroup::create_in(&layout, &config(&name, bad_weight)) {
            Err(CgroupError::InvalidLimit { path, .. }) => {
                let file = path.file_name().expect("a file");
                assert!(
                    file == "cpu.shares" || file == "cpu.weight",
                    "{label}: {}",
                    path.display()
                );
            }
            other => panic!("{label}: {other:?}"),
        }
        assert!(would_be(&name).iter().all(|dir| !dir.exists()), "{label}");

        // Refused by the kernel after the directories were made.
        if layout.hierarchies().iter().any(|h| h.hierarchy.is_v1_with("cpu")) {
            let name = unique_name(label);
            let short_quota = Resources {
                cpu_quota_us: Some(1),
                ..Resources::default()
            };
            match Cgroup::create_in(&layout, &config(&name, short_quota)) {
                Err(CgroupError::Write { path, .. }) => assert!(path.ends_with("cpu.cfs_quota_us")),
                other => panic!("{label}: {other:?}"),
            }
            assert!(would_be(&name).iter().all(|dir| !dir.exists()), "{label}");
        }

        // A directory that exists already, in the last hierarchy: the
        // others are rolled back and the existing one is left alone.
        let name = unique_name(label);
        let dirs = would_be(&name);
        let existing = dirs.last().expect("a hierarchy");
        std::fs::create_dir(existing).expect("make the existing cgroup");
        let result = Cgroup::create_in(&layout, &config(&name, Resources::default()));
        let kept = existing.exists();
        std::fs::remove_dir(existing).expect("remove the existing cgroup");
        match result {
            Err(CgroupError::Exists { path, .. }) => assert_eq!(&path, existing, "{label}"),
            other => panic!("{label}: {other:?}"),
        }
        assert!(kept, "{label}: the existing cgroup was removed");
        assert!(dirs.iter().all(|dir| !dir.exists()), "{label}");
    }
    turn.finish();
}

#[test]
fn waiting_for_a_busy_cgroup_times_out_naming_the_file() {
    let Some(turn) = CgroupTurn::take("waiting_for_a_busy_cgroup_times_out_naming_the_file", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        let sleeper = TestChild::held_sh("sleep 30");
        cgroup.apply(sleeper.pid()).expect("apply");
        let began = Instant::now();
        let error = cgroup
            .wait_empty(began + Duration::from_millis(50))
            .expect_err("it is busy");
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{label}: waited {:?}",
            began.elapsed()
        );
        let CgroupError::Timeout {
            path,
            hierarchy,
            what,
        } = &error
        else {
            panic!("{label}: {error}")
        };
        let watched = if *hierarchy == Hierarchy::V2 {
            "cgroup.events"
        } else {
            "cgroup.procs"
        };
        assert!(path.ends_with(watched) && *what == "empty", "{label}: {error}");
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
    }
    turn.finish();
}

#[test]
fn destroy_removes_nested_cgroups_and_is_idempotent() {
    let Some(turn) = CgroupTurn::take("destroy_removes_nested_cgroups_and_is_idempotent", PREFIX) else {
        return;
    };
    for (label, layout) in layouts() {
        let cgroup = TestCgroup::create(&layout, label, Resources::default());
        // A cgroup the container made inside its own, with a process in it.
        let nested_process = TestChild::held_sh("sleep 30");
        for dir in &cgroup.paths().dirs {
            let nested = dir.path.join("nested");
            std::fs::create_dir(&nested).expect("nested cgroup");
            if dir.hierarchy.is_v1_with("cpuset") {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    std::fs::write(nested.join(file), read(&dir.file(file)).trim()).expect("cpuset");
                }
            }
            std::fs::write(nested.join("cgroup.procs"), nested_process.pid().to_string()).expect("join");
        }
        assert_eq!(cgroup.pids().expect("pids"), [nested_process.pid()], "{label}");
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
        cgroup.destroy().expect("destroy again");
    }
    turn.finish();
}

#[test]
fn a_process_missing_from_the_v2_tree_is_killed_too() {
    // An apply that failed after the v1 hierarchies leaves a process
    // outside the v2 directory, where `cgroup.kill` does not reach.
    let Some(turn) = CgroupTurn::take("a_process_missing_from_the_v2_tree_is_killed_too", PREFIX) else {
        return;
    };
    let host = host();
    if host.mode() != Some(Mode::Hybrid) {
        eprintln!("not applicable: this host is not hybrid ({:?})", host.mode());
        return turn.finish();
    }
    let cgroup = TestCgroup::create(&host, "v1-only", Resources::default());
    let mut sleeper = TestChild::held_sh("sleep 30");
    join(
        sleeper.pid(),
        cgroup
            .paths()
            .dirs
            .iter()
            .filter(|dir| dir.hierarchy != Hierarchy::V2),
    );
    let v2 = cgroup.paths().v2().expect("a v2 directory");
    assert_eq!(
        read(&v2.file("cgroup.procs")),
        "",
        "the sleeper is not in the v2 tree"
    );
    cgroup.destroy().expect("destroy");
    assert_eq!(sleeper.wait().signal(), Some(nix::libc::SIGKILL));
    assert_removed(&cgroup);
    turn.finish();
}

#[test]
fn a_destroy_that_removes_the_first_directory_at_once_still_kills_what_the_rest_hold() {
    // Destroy first tries one rmdir per directory, with no listing: the
    // first succeeds (its hierarchy holds nothing), the others are
    // refused, and the kill must still reach the process they hold.
    let Some(turn) = CgroupTurn::take(
        "a_destroy_that_removes_the_first_directory_at_once_still_kills_what_the_rest_hold",
        PREFIX,
    ) else {
        return;
    };
    let host = host();
    if host.hierarchies().len() < 2 {
        eprintln!("not applicable: this host mounts one hierarchy");
        return turn.finish();
    }
    let cgroup = TestCgroup::create(&host, "first-empty", Resources::default());
    let mut sleeper = TestChild::held_sh("sleep 30");
    let dirs = &cgroup.paths().dirs;
    join(sleeper.pid(), &dirs[1..]);
    assert_eq!(read(&dirs[0].file("cgroup.procs")), "", "the first holds nothing");
    cgroup.destroy().expect("destroy");
    assert_eq!(sleeper.wait().signal(), Some(nix::libc::SIGKILL));
    assert_removed(&cgroup);
    turn.finish();
}

#[test]
fn a_freezer_directory_already_gone_does_not_fail_a_kill_by_signals() {
    // A process in every v1 directory but the freezer's, and not in the
    // v2 one; the freezer's directory is gone (destroy removes an empty
    // directory at once). The kill by signals finds no freezer to use or
    // thaw, kills the process, and says so; and destroy removes the rest.
    let Some(turn) = CgroupTurn::take(
        "a_freezer_directory_already_gone_does_not_fail_a_kill_by_signals",
        PREFIX,
    ) else {
        return;
    };
    let host = host();
    let cgroup = TestCgroup::create(&host, "no-freezer", Resources::default());
    let Some(freezer) = cgroup.paths().v1_with("freezer").cloned() else {
        eprintln!("not applicable: this host has no v1 freezer hierarchy");
        return turn.finish();
    };
    let mut sleeper = TestChild::held_sh("sleep 30");
    let joined: Vec<_> = cgroup
        .paths()
        .dirs
        .iter()
        .filter(|dir| dir.hierarchy != Hierarchy::V2 && dir.hierarchy != freezer.hierarchy)
        .collect();
    assert!(!joined.is_empty(), "a v1 hierarchy besides the freezer's");
    join(sleeper.pid(), joined);
    std::fs::remove_dir(&freezer.path).expect("remove the empty freezer directory");
    // Its v1 part alone, as on a host without cgroup2, whose freezer would
    // be used instead.
    let v1_part = Cgroup::open(CgroupPaths {
        dirs: cgroup
            .paths()
            .dirs
            .iter()
            .filter(|dir| dir.hierarchy != Hierarchy::V2)
            .cloned()
            .collect(),
    })
    .expect("the v1 part");
    v1_part
        .kill_all_signalling(Instant::now() + linux::DEADLINE, sigkill)
        .expect("kill by signals");
    assert_eq!(sleeper.wait().signal(), Some(nix::libc::SIGKILL));
    cgroup.destroy().expect("destroy");
    assert_removed(&cgroup);
    turn.finish();
}

/// The scenario run on a pure v2 host: this binary again, in a private mount
/// namespace where `/sys/fs/cgroup` is a fresh cgroup2 mount and nothing of
/// v1 is mounted (the host's mounts are not touched).
#[test]
fn pure_v2_in_a_private_mount_namespace() {
    if std::env::var_os(PURE_V2_INNER).is_some() {
        return pure_v2_scenario();
    }
    let Some(turn) = CgroupTurn::take("pure_v2_in_a_private_mount_namespace", PREFIX) else {
        return;
    };
    let exe = std::env::current_exe().expect("test binary");
    let remount = "umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"$0\" \"$@\"";
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", remount])
        .arg(exe)
        .args([
            "--exact",
            "pure_v2_in_a_private_mount_namespace",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PURE_V2_INNER, "1")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "inner run failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the inner test did not run: {stdout}"
    );
    // What the inner run says it checked.
    eprint!("{stderr}");
    turn.finish();
}

fn pure_v2_scenario() {
    let host = host();
    assert_eq!(host.mode(), Some(Mode::Unified), "{host:?}");
    assert_eq!(host.hierarchies()[0].mount_point, Path::new("/sys/fs/cgroup"));

    let cgroup = TestCgroup::create(&host, "pure-v2", Resources::default());
    let [dir] = &cgroup.paths().dirs[..] else {
        panic!("one directory: {:?}", cgroup.paths())
    };
    assert!(dir.path.starts_with("/sys/fs/cgroup"), "{}", dir.path.display());
    assert!(cgroup.clone_into().is_some(), "a v2 cgroup can be cloned into");

    let (mut shell, started) = start_200_descendants(&cgroup);
    cgroup.freeze(Instant::now() + DEADLINE).expect("freeze");
    assert_eq!(cgroup.freezer_state().expect("state"), FreezerState::Frozen);
    cgroup.thaw().expect("thaw");
    cgroup
        .kill_all_and_wait(Instant::now() + DEADLINE)
        .expect("kill all");
    assert_eq!(shell.wait().signal(), Some(nix::libc::SIGKILL));
    assert!(started.iter().all(|(pid, start)| !still_runs(*pid, *start)));
    cgroup.destroy().expect("destroy");
    assert_removed(&cgroup);

    a_v2_limit_for_real(&host);
}

/// Why no v2 limit is written to the kernel here, said rather than passed
/// over: a hybrid host's cgroup2 offers only the controllers no v1
/// hierarchy binds (hugetlb, here), and a controller reaches a test's
/// cgroup only once every cgroup above it enables it in its
/// `cgroup.subtree_control`. Above the test's cgroups is the cgroup this
/// process runs in, which belongs to the machine: the test does not change
/// its settings. The v2 formats are checked in a tree of plain files
/// instead (`v2_formats_in_a_tree_of_plain_files`).
fn a_v2_limit_for_real(host: &Layout) {
    let mounted = &host.hierarchies()[0];
    let offered = read(&mounted.mount_point.join("cgroup.controllers"));
    let own = mounted
        .dir(&mounted.own_cgroup)
        .map(|dir| read(&dir.join("cgroup.subtree_control")))
        .unwrap_or_default();
    eprintln!(
        "no v2 limit written to the kernel: cgroup2 offers {offered:?} (/proc/cgroups binds {:?} to v1), \
         and this process's own cgroup, the machine's, enables {own:?} for the cgroups below it",
        bound_to_v1()
    );
}

/// The launch's directories of a cgroup named `name`, whether or not they
/// exist: one under this process's own cgroup in every hierarchy.
fn dirs_named(name: &str) -> Vec<PathBuf> {
    let host = host();
    host.hierarchies()
        .iter()
        .filter_map(|h| h.dir(&h.own_cgroup.join(name)))
        .collect()
}

fn init_plan(command: &[&str]) -> Plan {
    let mut plan = Plan::init(Config::new(command.iter().copied()));
    plan.cgroup = true;
    plan
}

#[test]
fn a_launched_command_runs_in_its_cgroup_from_its_first_instruction() {
    let Some(turn) = CgroupTurn::take(
        "a_launched_command_runs_in_its_cgroup_from_its_first_instruction",
        PREFIX,
    ) else {
        return;
    };
    // The command's first act is to read its own memberships.
    let plan = init_plan(&["/bin/cat", "/proc/self/cgroup"]);
    let (mut stdout, stdout_end) = linux::pipe();
    let options = Options::new()
        .init_binary(INIT)
        .cgroup(config(&unique_name("launch"), Resources::default()))
        .stdout(stdout_end);
    let mut process = Process::start(plan, options).expect("launch");
    let launched = process.cgroup().expect("the launch's cgroup");
    let paths = launched.paths().clone();
    // The init joins its v1 hierarchies itself, through their `tasks`
    // files: the launcher writes its pid to none (such a write can wait
    // for an RCU grace period), and to cgroup2 neither (the clone put it
    // there).
    let written = launched.timings().attach;
    assert!(written.is_empty(), "the launcher wrote the pid to {written:?}");
    let cgroup = TestCgroup(Cgroup::open(paths).expect("open the launch's cgroup"));
    let memberships = linux::read_to_end(&mut stdout, DEADLINE);
    let status = process.wait_timeout(DEADLINE).expect("wait").expect("cat exits");
    assert_eq!(status, cradle_core::ExitStatus::Exited(0));
    for dir in &cgroup.paths().dirs {
        let hierarchy = match &dir.hierarchy {
            Hierarchy::V1 { controllers } => controllers.join(","),
            Hierarchy::V2 => String::new(),
        };
        let line = format!(":{hierarchy}:{}", dir.cgroup.display());
        assert!(
            memberships
                .lines()
                .any(|l| l.ends_with(&line) && !l[..l.len() - line.len()].contains(':')),
            "not in {} ({}) when it ran:\n{memberships}",
            dir.path.display(),
            dir.hierarchy
        );
    }
    cgroup.destroy().expect("destroy");
    assert_removed(&cgroup);
    turn.finish();
}

/// What [`once_at_step`] does, and at which step (`Options::on_step`
/// takes a plain function, so the action waits here).
type StepAction = (Step, Box<dyn FnOnce() + Send>);
static AT_STEP: std::sync::Mutex<Option<StepAction>> = std::sync::Mutex::new(None);

/// A launch's step hook: runs the action in [`AT_STEP`] once, just before
/// the launch reaches its step.
fn once_at_step(step: Step) {
    let due = {
        let mut pending = AT_STEP.lock().expect("the step's action");
        match pending.take() {
            Some((at, action)) if at == step => Some(action),
            other => {
                *pending = other;
                None
            }
        }
    };
    if let Some(action) = due {
        action();
    }
}

/// The directories of `paths` that exist.
fn existing(paths: &CgroupPaths) -> Vec<&PathBuf> {
    paths
        .dirs
        .iter()
        .map(|dir| &dir.path)
        .filter(|path| path.exists())
        .collect()
}

#[test]
fn a_v1_directory_made_after_the_clone_that_fails_takes_the_child_and_the_rest() {
    let Some(turn) = CgroupTurn::take(
        "a_v1_directory_made_after_the_clone_that_fails_takes_the_child_and_the_rest",
        PREFIX,
    ) else {
        return;
    };
    let config = config(&unique_name("late-v1"), Resources::default());
    let planned = Cgroup::planned(&config).expect("planned");
    // The last v1 directory: the ones before it are made, then removed.
    let Some(planted) = planned
        .dirs
        .iter()
        .rev()
        .find(|dir| dir.hierarchy != Hierarchy::V2)
        .map(|dir| dir.path.clone())
    else {
        eprintln!("no cgroup v1 hierarchy on this host: nothing is made after the clone");
        turn.finish();
        return;
    };
    // Just before the spawn, where the launch is to make its own after
    // the clone.
    let plant = planted.clone();
    *AT_STEP.lock().expect("the step's action") = Some((
        Step::Spawn,
        Box::new(move || std::fs::create_dir(&plant).expect("plant a v1 directory")),
    ));
    let before = linux::children();
    let options = Options::new()
        .init_binary(INIT)
        .cgroup_at(config, planned.clone())
        .on_step(once_at_step);
    let result = Process::start(init_plan(&["/bin/true"]), options);
    let made_after_the_clone = matches!(
        &result,
        Err(cradle_linux::Error::Launch(LaunchError::Command {
            step: Step::Spawn,
            ..
        }))
    );
    assert!(made_after_the_clone, "{result:?}");
    assert!(result.is_err_and(|error| error.errno() == Some(nix::libc::EEXIST)));
    assert_eq!(linux::children(), before, "the child is left");
    assert_eq!(
        existing(&planned),
        [&planted],
        "the launch left its own directories"
    );
    std::fs::remove_dir(&planted).expect("remove the planted directory");
    turn.finish();
}

#[test]
fn a_v1_cgroup_the_init_cannot_join_fails_its_cgroup_step_and_leaves_nothing() {
    let Some(turn) = CgroupTurn::take(
        "a_v1_cgroup_the_init_cannot_join_fails_its_cgroup_step_and_leaves_nothing",
        PREFIX,
    ) else {
        return;
    };
    let config = config(&unique_name("no-join"), Resources::default());
    let planned = Cgroup::planned(&config).expect("planned");
    let Some(cpuset) = planned
        .dirs
        .iter()
        .find(|dir| dir.hierarchy.is_v1_with("cpuset"))
        .map(|dir| dir.path.clone())
    else {
        eprintln!("no v1 cpuset hierarchy on this host: nothing to refuse the join");
        turn.finish();
        return;
    };
    // Just before the config goes: no task can join a cpuset without CPUs.
    *AT_STEP.lock().expect("the step's action") = Some((
        Step::SendConfig,
        Box::new(move || std::fs::write(cpuset.join("cpuset.cpus"), "\n").expect("empty the cpuset")),
    ));
    let before = linux::children();
    let options = Options::new()
        .init_binary(INIT)
        .cgroup_at(config, planned.clone())
        .on_step(once_at_step);
    let result = Process::start(init_plan(&["/bin/true"]), options);
    // The init joins its v1 cgroups itself, first thing after its config:
    // the kernel refuses the empty cpuset, and the init says so.
    match &result {
        Err(cradle_linux::Error::Launch(LaunchError::Child { step, error })) => {
            assert_eq!(
                (*step, error.step, error.errno),
                (Step::AwaitReady, ChildStep::Cgroup, Some(nix::libc::ENOSPC)),
                "{error:?}"
            );
        }
        other => panic!("expected the init's join refused, got {other:?}"),
    }
    assert_eq!(linux::children(), before, "the child is left");
    let left = existing(&planned);
    assert!(left.is_empty(), "the launch left {left:?}");
    turn.finish();
}

/// The set-up steps at which `cradle-test-init` can announce itself and
/// stall, for a launch without a rootfs.
const CHILD_STEPS: [ChildStep; 9] = [
    ChildStep::Setsid,
    ChildStep::Namespaces,
    ChildStep::Hostname,
    ChildStep::Rlimits,
    ChildStep::Network,
    ChildStep::Mounts,
    ChildStep::User,
    ChildStep::Cwd,
    ChildStep::Fds,
];

/// How a launch is made to fail.
enum Failure {
    /// `Process::start` of the plan with this init binary and these limits
    /// fails on its own.
    Start(Box<Plan>, &'static str, Box<Resources>),
    /// The init never reads its config: the launch times out waiting for
    /// `ready`.
    Deaf,
    /// The child announces (on stdout) that it reached this step, and is
    /// killed there.
    KilledAt(ChildStep),
    /// The child announces that it reached this step, and stalls there
    /// until the launch times out.
    StallsAt(ChildStep),
}

/// What a failed launch must have failed with.
#[derive(Debug)]
enum FailedWith {
    /// The init binary cannot be opened, before the launch begins.
    NoInitBinary(&'static str),
    /// A launch command failed at this step.
    Command(Step),
    /// The child reported a failure of its own at this step.
    Child(ChildStep),
    /// The child died of SIGKILL, seen at this step.
    Killed(Step),
    /// The deadline passed at this step.
    TimedOut(Step),
}

/// Runs `failure`'s launch with a cgroup named `name`; the launch's error.
fn launch_failing(failure: Failure, name: &str) -> cradle_linux::Error {
    let options = || {
        Options::new()
            .init_binary(INIT)
            .cgroup(config(name, Resources::default()))
    };
    let result = match failure {
        Failure::Start(plan, init, resources) => Process::start(
            *plan,
            Options::new().init_binary(init).cgroup(config(name, *resources)),
        ),
        Failure::Deaf => {
            let what = "a deaf init";
            linux::with_growing_timeout(what, |timeout| {
                let mut plan = init_plan(&["/bin/true"]);
                plan.timeout = timeout;
                let result = Process::start(plan, options().init_binary(DEAF_INIT));
                // Timed out before its config was even sent: too soon.
                let early = matches!(
                    &result,
                    Err(cradle_linux::Error::Launch(LaunchError::TimedOut { step, .. }))
                        if *step != Step::AwaitReady
                );
                (!early).then_some(result)
            })
        }
        Failure::KilledAt(step) => {
            let (mut announcements, stdout) = linux::pipe();
            let mut plan = init_plan(&["/bin/true"]);
            plan.config.env.push(format!("CRADLE_TEST_FAULT=announce@{step}"));
            let options = options().stdout(stdout);
            let before = linux::children();
            let launch = std::thread::spawn(move || Process::start(plan, options));
            let announced = linux::read_line(&mut announcements, DEADLINE);
            assert_eq!(announced.trim_end(), step.as_str(), "the child's announcement");
            for child in linux::children().difference(&before) {
                sigkill(*child).expect("kill the child");
            }
            launch.join().expect("the launch thread")
        }
        Failure::StallsAt(step) => {
            let mut plan = init_plan(&["/bin/true"]);
            plan.config.env.push(format!("CRADLE_TEST_FAULT=announce@{step}"));
            let stalled = linux::start_stalling(&format!("a stall at {step}"), &plan, options);
            assert_eq!(stalled.announced, step.as_str(), "the child's announcement");
            stalled.result
        }
    };
    match result {
        Err(error) => error,
        Ok(mut process) => {
            let _ = process.terminate();
            if let Some(cgroup) = process.cgroup() {
                let _ = cgroup.destroy();
            }
            panic!("the launch succeeded");
        }
    }
}

/// Panics, naming `case`, unless `error` is what `expected` says.
fn assert_failed_as(case: &str, error: &cradle_linux::Error, expected: &FailedWith) {
    use cradle_linux::Error::{File, Launch};
    let matches = match (expected, error) {
        (FailedWith::NoInitBinary(path), File { path: at, source }) => {
            at == Path::new(path) && source.raw_os_error() == Some(nix::libc::ENOENT)
        }
        (FailedWith::Command(step), Launch(LaunchError::Command { step: at, .. })) => at == step,
        (FailedWith::Child(step), Launch(LaunchError::Child { error, .. })) => error.step == *step,
        (
            FailedWith::Killed(step),
            Launch(LaunchError::Exited {
                step: at,
                who,
                status,
            }),
        ) => {
            (at, who, status)
                == (
                    step,
                    &Who::Process,
                    &cradle_core::ExitStatus::Signaled(nix::libc::SIGKILL),
                )
        }
        (FailedWith::TimedOut(step), Launch(LaunchError::TimedOut { step: at, .. })) => at == step,
        _ => false,
    };
    assert!(matches, "{case}: expected {expected:?}, got {error:?}");
}

#[test]
fn a_failed_launch_leaves_no_cgroup_whichever_step_fails() {
    let Some(turn) = CgroupTurn::take("a_failed_launch_leaves_no_cgroup_whichever_step_fails", PREFIX) else {
        return;
    };
    let bad_weight = Resources {
        cpu_weight: Some(0),
        ..Resources::default()
    };
    let mut failures: Vec<(String, Failure, FailedWith)> = vec![
        (
            "limits refused".into(),
            Failure::Start(Box::new(init_plan(&["/bin/true"])), INIT, Box::new(bad_weight)),
            FailedWith::Command(Step::CreateCgroup),
        ),
        (
            "init binary missing".into(),
            Failure::Start(
                Box::new(init_plan(&["/bin/true"])),
                "/nonexistent/init",
                Box::default(),
            ),
            FailedWith::NoInitBinary("/nonexistent/init"),
        ),
        (
            "init never answers".into(),
            Failure::Deaf,
            FailedWith::TimedOut(Step::AwaitReady),
        ),
        (
            "command missing".into(),
            Failure::Start(
                Box::new(init_plan(&["/nonexistent/command"])),
                INIT,
                Box::default(),
            ),
            FailedWith::Child(ChildStep::Exec),
        ),
    ];
    for step in CHILD_STEPS {
        failures.push((
            format!("init stalls at {step}"),
            Failure::StallsAt(step),
            FailedWith::TimedOut(Step::AwaitReady),
        ));
        failures.push((
            format!("init killed at {step}"),
            Failure::KilledAt(step),
            FailedWith::Killed(Step::AwaitReady),
        ));
    }
    assert_eq!(failures.len(), 22);
    for (case, failure, expected) in failures {
        let name = unique_name("failed-launch");
        let error = launch_failing(failure, &name);
        assert_failed_as(&case, &error, &expected);
        let left: Vec<PathBuf> = dirs_named(&name).into_iter().filter(|dir| dir.exists()).collect();
        assert!(left.is_empty(), "{case}: left behind {left:?}");
    }
    turn.finish();
}

/// One hierarchy of the host alone, for each hierarchy: cgroups placed
/// from each one's own root (absolute parents differ per hierarchy where
/// the own cgroups do).
fn single_hierarchy_layouts() -> Vec<(String, Layout)> {
    let mountinfo = read(Path::new("/proc/self/mountinfo"));
    let memberships = read(Path::new("/proc/self/cgroup"));
    memberships
        .lines()
        .map(|line| Layout::parse(&mountinfo, line))
        .filter_map(|layout| {
            let label = layout.hierarchies().first()?.hierarchy.to_string();
            Some((label, layout))
        })
        .collect()
}

/// A tree of test cgroups that cradle leaves in place (the parents it makes
/// on the way), removed deepest first when the test ends.
struct TestTree(Vec<PathBuf>);

impl TestTree {
    /// `base` below the own cgroup, in every hierarchy of `layout`.
    fn below_own(layout: &Layout, base: &str) -> TestTree {
        let hierarchies = layout.hierarchies().iter();
        TestTree(
            hierarchies
                .filter_map(|h| h.dir(&h.own_cgroup.join(base)))
                .collect(),
        )
    }
}

impl Drop for TestTree {
    fn drop(&mut self) {
        for root in &self.0 {
            let mut pending = vec![root.clone()];
            let mut found = Vec::new();
            while let Some(dir) = pending.pop() {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                        pending.push(entry.path());
                    }
                }
                found.push(dir);
            }
            for dir in found.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// The directory `layout` puts `cgroup` in, for the hierarchy `which`.
fn dir_of(layout: &Layout, which: &Hierarchy, cgroup: &Path) -> PathBuf {
    let mounted = layout
        .hierarchies()
        .iter()
        .find(|h| h.hierarchy == *which)
        .expect("the hierarchy is in the layout");
    mounted.dir(cgroup).expect("under the mount")
}

/// Whether `file` shows `value`: the whole file, or one of its lines
/// (`oom_kill_disable 1`, `lo 5`), or a weight line (`default 500`).
fn shows(content: &str, value: &str) -> bool {
    content.trim() == value
        || content
            .lines()
            .any(|line| line.trim() == value || line.trim() == format!("default {value}"))
}

/// Files with the values they show, each file with its alternatives (the
/// first the kernel has is written).
type Shown = Vec<(&'static [&'static str], String)>;

/// One limit and where each version keeps it.
struct LimitCase {
    /// The `Resources` field, as errors name it.
    limit: &'static str,
    resources: Resources,
    /// The v1 controller, and what its files show.
    v1: (&'static str, Shown),
    /// The cgroup2 controller and files; `None` where cgroup2 refuses it.
    v2: Option<(&'static str, Shown)>,
}

fn limit_cases() -> Vec<LimitCase> {
    let base = Resources::default;
    let one = |files: &'static [&'static str], value: &str| vec![(files, value.to_owned())];
    vec![
        LimitCase {
            limit: "memory_reservation",
            resources: Resources {
                memory_reservation: Some(32 << 20),
                ..base()
            },
            v1: ("memory", one(&["memory.soft_limit_in_bytes"], "33554432")),
            v2: Some(("memory", one(&["memory.low"], "33554432"))),
        },
        LimitCase {
            limit: "memory_swappiness",
            resources: Resources {
                memory_swappiness: Some(10),
                ..base()
            },
            v1: ("memory", one(&["memory.swappiness"], "10")),
            v2: None,
        },
        LimitCase {
            limit: "memory_kernel",
            resources: Resources {
                memory_kernel: Some(64 << 20),
                ..base()
            },
            v1: ("memory", one(&["memory.kmem.limit_in_bytes"], "67108864")),
            v2: None,
        },
        LimitCase {
            limit: "memory_kernel_tcp",
            resources: Resources {
                memory_kernel_tcp: Some(4 << 20),
                ..base()
            },
            v1: ("memory", one(&["memory.kmem.tcp.limit_in_bytes"], "4194304")),
            v2: None,
        },
        LimitCase {
            limit: "oom_kill_disable",
            resources: Resources {
                oom_kill_disable: Some(true),
                ..base()
            },
            v1: ("memory", one(&["memory.oom_control"], "oom_kill_disable 1")),
            v2: None,
        },
        LimitCase {
            limit: "cpu_shares",
            resources: Resources {
                cpu_shares: Some(512),
                ..base()
            },
            v1: ("cpu", one(&["cpu.shares"], "512")),
            v2: Some(("cpu", one(&["cpu.weight"], "20"))),
        },
        LimitCase {
            limit: "cpu_rt_runtime_us",
            resources: Resources {
                cpu_rt_runtime_us: Some(5_000),
                cpu_rt_period_us: Some(100_000),
                ..base()
            },
            v1: (
                "cpu",
                vec![
                    (&["cpu.rt_period_us"], "100000".to_owned()),
                    (&["cpu.rt_runtime_us"], "5000".to_owned()),
                ],
            ),
            v2: None,
        },
        LimitCase {
            limit: "cpuset_cpus",
            resources: Resources {
                cpuset_cpus: Some("0".to_owned()),
                cpuset_mems: Some("0".to_owned()),
                ..base()
            },
            v1: (
                "cpuset",
                vec![
                    (&["cpuset.cpus"], "0".to_owned()),
                    (&["cpuset.mems"], "0".to_owned()),
                ],
            ),
            v2: Some((
                "cpuset",
                vec![
                    (&["cpuset.cpus"], "0".to_owned()),
                    (&["cpuset.mems"], "0".to_owned()),
                ],
            )),
        },
        LimitCase {
            limit: "blkio_weight",
            resources: Resources {
                blkio_weight: Some(500),
                ..base()
            },
            v1: ("blkio", one(&["blkio.weight", "blkio.bfq.weight"], "500")),
            // io.weight on its own scale; io.bfq.weight on blkio's.
            v2: Some(("io", one(&["io.weight"], "4950"))),
        },
        LimitCase {
            limit: "hugetlb",
            resources: Resources {
                hugetlb: vec![("2MB".to_owned(), 4 << 20)],
                ..base()
            },
            v1: ("hugetlb", one(&["hugetlb.2MB.limit_in_bytes"], "4194304")),
            v2: Some(("hugetlb", one(&["hugetlb.2MB.max"], "4194304"))),
        },
        LimitCase {
            limit: "net_cls_classid",
            resources: Resources {
                net_cls_classid: Some(0x0010_0001),
                ..base()
            },
            v1: ("net_cls", one(&["net_cls.classid"], "1048577")),
            v2: None,
        },
        LimitCase {
            limit: "net_prio",
            resources: Resources {
                net_prio: vec![("lo".to_owned(), 5)],
                ..base()
            },
            v1: ("net_prio", one(&["net_prio.ifpriomap"], "lo 5")),
            v2: None,
        },
    ]
}

/// What creating a cgroup with `case`'s limit in `layout` must give.
enum Expected {
    /// No hierarchy has the controller.
    NoController(&'static str),
    /// cgroup2 has no such limit.
    RefusedByCgroup2,
    /// The v2 parent does not delegate the controller.
    NotDelegated(&'static str),
    /// Written to these files of that hierarchy's directory; a file the
    /// kernel lacks (no alternative present) makes it `LimitUnsupported`.
    Written(Hierarchy, Shown),
}

fn expected(layout: &Layout, case: &LimitCase) -> Expected {
    let hierarchies = layout.hierarchies();
    let (v1_controller, v1_files) = &case.v1;
    if let Some(v1) = hierarchies.iter().find(|h| h.hierarchy.is_v1_with(v1_controller)) {
        return Expected::Written(v1.hierarchy.clone(), v1_files.clone());
    }
    let Some(v2) = hierarchies.iter().find(|h| h.hierarchy == Hierarchy::V2) else {
        return Expected::NoController(v1_controller);
    };
    let Some((v2_controller, v2_files)) = &case.v2 else {
        return Expected::RefusedByCgroup2;
    };
    let own = v2.dir(&v2.own_cgroup).expect("own cgroup is under its mount");
    let delegated = read(&own.join("cgroup.subtree_control"))
        .split_whitespace()
        .any(|c| c == *v2_controller);
    if !delegated {
        return Expected::NotDelegated(v2_controller);
    }
    Expected::Written(Hierarchy::V2, v2_files.clone())
}

/// Writes `value` to `file` and tells whether the kernel kept it: the
/// host fact behind a refusal of a limit the kernel takes and ignores.
fn kernel_keeps(file: &Path, value: &str) -> bool {
    let before = read(file);
    std::fs::write(file, value).expect("write the probe's file");
    let after = read(file);
    after != before || after.trim() == value
}

#[test]
fn every_limit_is_written_where_a_hierarchy_has_it_and_refused_elsewhere() {
    let Some(turn) = CgroupTurn::take(
        "every_limit_is_written_where_a_hierarchy_has_it_and_refused_elsewhere",
        PREFIX,
    ) else {
        return;
    };
    let (mut written, mut refused) = (Vec::new(), Vec::new());
    for (label, layout) in layouts() {
        // A cgroup with no limits shows which files this kernel has.
        let probe = TestCgroup::create(&layout, label, Resources::default());
        for case in limit_cases() {
            let name = unique_name(label);
            let result = Cgroup::create_in(&layout, &config(&name, case.resources.clone()));
            let would_be: Vec<PathBuf> = layout
                .hierarchies()
                .iter()
                .filter_map(|h| h.dir(&h.own_cgroup.join(&name)))
                .collect();
            let what = format!("{label}: {}", case.limit);
            match (expected(&layout, &case), result) {
                (Expected::Written(hierarchy, files), result) => {
                    let probe_dir = probe.paths().dirs.iter().find(|d| d.hierarchy == hierarchy);
                    let probe_dir = probe_dir.expect("the probe has every hierarchy");
                    let lacking = files.iter().find_map(|(alternatives, value)| {
                        let present = alternatives.iter().any(|f| probe_dir.file(f).exists());
                        (!present).then_some((alternatives[0], value))
                    });
                    match (lacking, result) {
                        (None, Ok(cgroup)) => {
                            let cgroup = TestCgroup(cgroup);
                            let dir = cgroup.paths().dirs.iter().find(|d| d.hierarchy == hierarchy);
                            let dir = dir.expect("the cgroup has the hierarchy");
                            for (alternatives, value) in &files {
                                let file = alternatives.iter().map(|f| dir.file(f)).find(|f| f.exists());
                                let file = file.expect("the file is there");
                                let content = read(&file);
                                assert!(shows(&content, value), "{what}: {file:?} shows {content:?}");
                            }
                            cgroup.destroy().expect("destroy");
                            written.push(what.clone());
                        }
                        // This host lacks the file: refused, naming it.
                        (
                            Some((file, _)),
                            Err(ref error @ CgroupError::LimitUnsupported { limit, ref path, .. }),
                        ) => {
                            assert_eq!(limit, case.limit, "{what}: {error}");
                            assert!(path.ends_with(file), "{what}: {error}");
                            refused.push(format!("{what}: {error}"));
                        }
                        // The kernel has the file but ignores what it is
                        // given: refused, and the probe shows it ignores it.
                        (None, Err(ref error @ CgroupError::LimitUnsupported { limit, ref path, .. })) => {
                            let file = path.file_name().expect("a file").to_string_lossy().into_owned();
                            let (_, value) = files
                                .iter()
                                .find(|(alternatives, _)| alternatives.contains(&file.as_str()))
                                .unwrap_or_else(|| panic!("{what}: {error}"));
                            assert_eq!(limit, case.limit, "{what}: {error}");
                            assert!(
                                !kernel_keeps(&probe_dir.file(&file), value),
                                "{what}: refused, but the kernel keeps the value: {error}"
                            );
                            refused.push(format!("{what}: {error}"));
                        }
                        (lacking, result) => panic!("{what}: lacking {lacking:?}, got {result:?}"),
                    }
                }
                (
                    Expected::NoController(controller),
                    Err(
                        ref error @ CgroupError::NoController {
                            controller: named, ..
                        },
                    ),
                ) => {
                    assert_eq!(named, controller, "{what}: {error}");
                    refused.push(format!("{what}: {error}"));
                }
                (
                    Expected::RefusedByCgroup2,
                    Err(
                        ref error @ CgroupError::LimitUnsupported {
                            limit, ref hierarchy, ..
                        },
                    ),
                ) => {
                    assert_eq!(
                        (limit, hierarchy),
                        (case.limit, &Hierarchy::V2),
                        "{what}: {error}"
                    );
                    assert!(error.to_string().contains(": cgroup2 "), "{what}: {error}");
                    refused.push(format!("{what}: {error}"));
                }
                (
                    Expected::NotDelegated(controller),
                    Err(
                        ref error @ CgroupError::ControllerUnavailable {
                            controller: named, ..
                        },
                    ),
                ) => {
                    assert_eq!(named, controller, "{what}: {error}");
                    refused.push(format!("{what}: {error}"));
                }
                (_, result) => panic!("{what}: unexpected {result:?}"),
            }
            // Whatever happened, nothing of this cgroup is left.
            let left: Vec<&PathBuf> = would_be.iter().filter(|dir| dir.exists()).collect();
            assert!(left.is_empty(), "{what}: left {left:?}");
        }
        probe.destroy().expect("destroy the probe");
    }
    eprintln!("written and read back: {}", written.join(", "));
    eprintln!("refused on this host:\n{}", refused.join("\n"));
    // Every host with a memory controller takes at least a soft limit.
    assert!(!written.is_empty(), "no limit was written anywhere");
    turn.finish();
}

#[test]
fn a_limit_no_hierarchy_has_a_controller_for_is_refused_before_anything_is_made() {
    let Some(turn) = CgroupTurn::take(
        "a_limit_no_hierarchy_has_a_controller_for_is_refused_before_anything_is_made",
        PREFIX,
    ) else {
        return;
    };
    // One v1 hierarchy without the memory controller, alone: no hierarchy
    // of that layout can take a memory limit.
    let single = single_hierarchy_layouts().into_iter().find(|(_, layout)| {
        let hierarchy = &layout.hierarchies()[0].hierarchy;
        hierarchy.version() == Version::V1 && !hierarchy.is_v1_with("memory")
    });
    let Some((label, layout)) = single else {
        eprintln!("not applicable: no v1 hierarchy without the memory controller");
        return turn.finish();
    };
    let name = unique_name("no-controller");
    let limit = Resources {
        memory_max: Some(64 << 20),
        ..Resources::default()
    };
    match Cgroup::create_in(&layout, &config(&name, limit)) {
        Err(
            error @ CgroupError::NoController {
                controller: "memory", ..
            },
        ) => {
            assert_eq!(
                error.to_string(),
                "no mounted cgroup hierarchy has the memory controller (per /proc/self/mountinfo)"
            );
        }
        other => panic!("{label}: {other:?}"),
    }
    let mounted = &layout.hierarchies()[0];
    let dir = mounted
        .dir(&mounted.own_cgroup.join(&name))
        .expect("under the mount");
    assert!(!dir.exists(), "{label}: {} was made", dir.display());
    turn.finish();
}

#[test]
fn relative_parents_are_made_below_the_own_cgroup_and_left_in_place() {
    let Some(turn) = CgroupTurn::take(
        "relative_parents_are_made_below_the_own_cgroup_and_left_in_place",
        PREFIX,
    ) else {
        return;
    };
    for (label, layout) in layouts() {
        let base = unique_name(label);
        let _tree = TestTree::below_own(&layout, &base);
        let config = CgroupConfig {
            adopt_empty: false,
            name: "leaf".to_owned(),
            parent: Some(PathBuf::from(format!("{base}/x/y"))),
            resources: Resources::default(),
        };
        let planned = Cgroup::paths_in(&layout, &config).expect("planned");
        let cgroup = TestCgroup(Cgroup::create_in(&layout, &config).expect("create"));
        assert_eq!(cgroup.paths(), &planned, "{label}: made where planned");
        for (dir, mounted) in cgroup.paths().dirs.iter().zip(layout.hierarchies()) {
            let expected = mounted.own_cgroup.join(&base).join("x/y/leaf");
            assert_eq!(dir.cgroup, expected, "{label}");
            assert_eq!(dir.path, dir_of(&layout, &dir.hierarchy, &expected), "{label}");
            assert!(dir.path.is_dir(), "{label}: {}", dir.path.display());
        }
        // Each cgroup2 parent made on the way passes on what it was given
        // (nothing where the own cgroup delegates nothing, as on a hybrid
        // host's controller-less tree).
        if let Some(v2) = cgroup.paths().v2() {
            for parent in v2.path.ancestors().skip(1).take(3) {
                let words = |file: &str| -> Vec<String> {
                    read(&parent.join(file))
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect()
                };
                assert_eq!(
                    words("cgroup.subtree_control"),
                    words("cgroup.controllers"),
                    "{label}: {}",
                    parent.display()
                );
            }
        }
        // Every new v1 cpuset on the way has its parent's CPUs and nodes,
        // so a process can join the leaf.
        let sleeper = TestChild::held_sh("sleep 30");
        cgroup.apply(sleeper.pid()).expect("join the nested cgroup");
        let membership = read(Path::new(&format!("/proc/{}/cgroup", sleeper.pid())));
        for dir in &cgroup.paths().dirs {
            let line_ends = format!(":{}", dir.cgroup.display());
            assert!(
                membership.lines().any(|line| line.ends_with(&line_ends)),
                "{label}: not in {}: {membership}",
                dir.path.display()
            );
        }
        // A second container in the same parent: the parents are shared.
        let sibling = CgroupConfig {
            adopt_empty: false,
            name: "sibling".to_owned(),
            ..config.clone()
        };
        let sibling = TestCgroup(Cgroup::create_in(&layout, &sibling).expect("create a sibling"));
        // The leaf exists now: never taken over.
        match Cgroup::create_in(&layout, &config) {
            Err(CgroupError::Exists { path, .. }) => assert_eq!(path, planned.dirs[0].path, "{label}"),
            other => panic!("{label}: {other:?}"),
        }
        assert!(cgroup.paths().dirs.iter().all(|dir| dir.path.is_dir()), "{label}");
        cgroup.destroy().expect("destroy");
        sibling.destroy().expect("destroy the sibling");
        assert_removed(&cgroup);
        for dir in &cgroup.paths().dirs {
            let parent = dir.path.parent().expect("a parent");
            assert!(parent.is_dir(), "{label}: {} was removed", parent.display());
        }
    }
    turn.finish();
}

#[test]
fn absolute_parents_are_made_from_the_root_of_each_hierarchy() {
    let Some(turn) = CgroupTurn::take(
        "absolute_parents_are_made_from_the_root_of_each_hierarchy",
        PREFIX,
    ) else {
        return;
    };
    // One hierarchy at a time: an absolute parent below the own cgroup of
    // one hierarchy need not be below that of another.
    for (label, layout) in single_hierarchy_layouts() {
        let mounted = &layout.hierarchies()[0];
        let base = unique_name("absolute");
        let _tree = TestTree::below_own(&layout, &base);
        let parent = mounted.own_cgroup.join(&base).join("x/y");
        assert!(parent.is_absolute());
        let config = CgroupConfig {
            adopt_empty: false,
            name: "leaf".to_owned(),
            parent: Some(parent.clone()),
            resources: Resources::default(),
        };
        let planned = Cgroup::paths_in(&layout, &config).expect("planned");
        let cgroup = TestCgroup(Cgroup::create_in(&layout, &config).expect("create"));
        assert_eq!(cgroup.paths(), &planned, "{label}: made where planned");
        let [dir] = &cgroup.paths().dirs[..] else {
            panic!("{label}: one directory: {:?}", cgroup.paths())
        };
        assert_eq!(dir.cgroup, parent.join("leaf"), "{label}");
        assert_eq!(dir.path, dir_of(&layout, &dir.hierarchy, &dir.cgroup), "{label}");
        let sleeper = TestChild::held_sh("sleep 30");
        cgroup.apply(sleeper.pid()).expect("join the nested cgroup");
        cgroup.destroy().expect("destroy");
        assert_removed(&cgroup);
        assert!(
            dir.path.parent().is_some_and(Path::is_dir),
            "{label}: the parent was removed"
        );

        // Climbing out is refused, before anything is made.
        let climbing = CgroupConfig {
            adopt_empty: false,
            parent: Some(parent.join("../../..")),
            ..config
        };
        match Cgroup::create_in(&layout, &climbing) {
            Err(CgroupError::InvalidPath { field: "parent", .. }) => {}
            other => panic!("{label}: {other:?}"),
        }
    }
    turn.finish();
}

#[test]
fn a_process_joins_a_new_v1_cpuset_and_runs_on_its_cpus() {
    let Some(turn) = CgroupTurn::take("a_process_joins_a_new_v1_cpuset_and_runs_on_its_cpus", PREFIX) else {
        return;
    };
    let cpus_allowed = |pid: i32| -> String {
        let status = read(Path::new(&format!("/proc/{pid}/status")));
        let line = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"));
        line.expect("Cpus_allowed_list").trim().to_owned()
    };
    let v1_cpuset = layouts_with("cpuset").into_iter().filter(|(_, layout)| {
        layout
            .hierarchies()
            .iter()
            .any(|h| h.hierarchy.is_v1_with("cpuset"))
    });
    let mut tested = 0;
    for (label, layout) in v1_cpuset {
        let mounted = layout
            .hierarchies()
            .iter()
            .find(|h| h.hierarchy.is_v1_with("cpuset"));
        let mounted = mounted.expect("a v1 cpuset hierarchy");
        let own = mounted
            .dir(&mounted.own_cgroup)
            .expect("own cgroup is under its mount");
        let own_cpus = read(&own.join("cpuset.cpus")).trim().to_owned();
        let own_mems = read(&own.join("cpuset.mems")).trim().to_owned();
        let base = unique_name(label);
        let _tree = TestTree::below_own(&layout, &base);

        // No cpuset limit: the new directories, parents included, take
        // the own cgroup's CPUs and nodes, and a process can join.
        let inherits = CgroupConfig {
            adopt_empty: false,
            name: "inherits".to_owned(),
            parent: Some(PathBuf::from(format!("{base}/x"))),
            resources: Resources::default(),
        };
        let cgroup = TestCgroup(Cgroup::create_in(&layout, &inherits).expect("create"));
        let dir = cgroup.paths().v1_with("cpuset").expect("a cpuset directory");
        let parent = dir.path.parent().expect("a parent");
        for path in [parent, dir.path.as_path()] {
            assert_eq!(
                read(&path.join("cpuset.cpus")).trim(),
                own_cpus,
                "{label}: {path:?}"
            );
            assert_eq!(
                read(&path.join("cpuset.mems")).trim(),
                own_mems,
                "{label}: {path:?}"
            );
        }
        let sleeper = TestChild::held_sh("sleep 30");
        cgroup.apply(sleeper.pid()).expect("join the new cpuset");
        assert_eq!(cpus_allowed(sleeper.pid()), own_cpus, "{label}");
        cgroup.destroy().expect("destroy");

        // A cpuset limit narrows it: the process runs on CPU 0 only.
        let narrowed = CgroupConfig {
            adopt_empty: false,
            name: "narrowed".to_owned(),
            resources: Resources {
                cpuset_cpus: Some("0".to_owned()),
                cpuset_mems: Some(own_mems.clone()),
                ..Resources::default()
            },
            ..inherits
        };
        let cgroup = TestCgroup(Cgroup::create_in(&layout, &narrowed).expect("create"));
        let pinned = TestChild::held_sh("sleep 30");
        cgroup.apply(pinned.pid()).expect("join the narrowed cpuset");
        assert_eq!(cpus_allowed(pinned.pid()), "0", "{label}");
        cgroup.destroy().expect("destroy");
        tested += 1;
    }
    if tested == 0 {
        eprintln!("not applicable: no v1 cpuset hierarchy on this host");
    }
    turn.finish();
}

#[test]
fn no_test_cgroup_is_left_in_any_hierarchy() {
    let Some(turn) = CgroupTurn::take("no_test_cgroup_is_left_in_any_hierarchy", PREFIX) else {
        return;
    };
    turn.finish();
}

/// A thread of the process that kills passes through the cgroup's v1
/// pids hierarchy, as a launcher's thread does to clone an exec under a
/// v1 pids limit: the kill passes over the killer itself, and over nothing
/// else. The thread moved is this process's main thread (its tid is the
/// pid; `tasks` moves the thread it names), whose cgroups are the ones
/// `/proc/<pid>/cgroup` shows: were the process killed, this test binary
/// would die with it.
#[test]
fn a_kill_passes_over_the_process_that_kills() {
    let Some(turn) = CgroupTurn::take("a_kill_passes_over_the_process_that_kills", PREFIX) else {
        return;
    };
    let layout = host().only(Version::V1);
    let Some(mounted) = layout
        .hierarchies()
        .iter()
        .find(|mounted| mounted.hierarchy.is_v1_with("pids"))
    else {
        println!("no v1 pids hierarchy here: no launcher's thread passes through one");
        turn.finish();
        return;
    };
    // Where the main thread comes back to: the process's own cgroup.
    let own = mounted
        .dir(&mounted.own_cgroup)
        .expect("the own cgroup is visible");
    let cgroup =
        Cgroup::create_in(&layout, &config(&unique_name("killer"), Resources::default())).expect("create");
    let mut sleeper = Command::new("sleep").arg("1000").spawn().expect("spawn sleep");
    let sleeper_pid = i32::try_from(sleeper.id()).expect("a pid");
    cgroup.apply(sleeper_pid).expect("apply");
    let main_thread = std::process::id().to_string();
    let dir = cgroup
        .paths()
        .v1_with("pids")
        .expect("the cgroup's pids directory");
    std::fs::write(dir.file("tasks"), &main_thread).expect("move the main thread in");
    cgroup.kill_all(Instant::now() + DEADLINE).expect("kill");
    let mut status = None;
    wait_until("the cgroup's process is killed", || {
        status = sleeper.try_wait().expect("wait for sleep");
        status.is_some()
    });
    assert_eq!(status.and_then(|status| status.signal()), Some(libc::SIGKILL));
    // Back with every thread: one the test harness's main thread started
    // meanwhile (another test's) was born in the cgroup too.
    for task in std::fs::read_dir("/proc/self/task").expect("this process's threads") {
        let tid = task.expect("a thread").file_name();
        match std::fs::write(own.join("tasks"), tid.as_encoded_bytes()) {
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {} // ended meanwhile
            result => result.expect("move a thread back"),
        }
    }
    cgroup.destroy().expect("destroy");
    assert_removed(&cgroup);
    turn.finish();
}
