//! A new process in a running container (setns), as root, whether a
//! helper forks it or the launcher clones it into the container's pid
//! namespace: it shares the container's namespaces, root, hostname and
//! cgroups, with its own args, env, cwd and user; failures at every step
//! are typed and leave no zombie and no descriptor; a container whose init
//! has exited is refused.
//!
//! The tests count the parent's descriptors and children, so they take
//! turns (`linux::serial`), and other suites run in other processes.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use cradle_core::config::{Rlimit, RlimitResource};
use cradle_core::launch::Who;
use cradle_core::{
    ChildStep, Config, ExitStatus, Launch, LaunchError, NamespaceKind, Pid, Plan, SetnsEntry, Step,
};
use cradle_linux::cgroup::{CgroupConfig, Resources};
use cradle_linux::{clock, Container, Error, ErrorKind, LinuxLaunch, Options, Process};
use cradle_tests::linux::{
    self, birth, new_namespaces, require_root, serial, unique, BusyboxRootfs, Leftovers, DEADLINE,
};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
/// The same, linked as a static PIE where the toolchain can (build.rs).
const INIT_STATIC: &str = env!("CARGO_BIN_EXE_cradle-test-init-static");
const LIMITS: &str = env!("CARGO_BIN_EXE_cradle-test-limits");
const EXEC_BIRTH: &str = env!("CARGO_BIN_EXE_cradle-test-exec-birth");
const ORPHANED_EXEC: &str = env!("CARGO_BIN_EXE_cradle-test-orphaned-exec");

/// The namespace types the test container has of its own: all but user
/// (which needs id maps, and is the host's here), time where the kernel has
/// it.
fn container_namespaces() -> Vec<NamespaceKind> {
    NamespaceKind::ALL
        .into_iter()
        .filter(|&kind| kind != NamespaceKind::User)
        .filter(|kind| fs::metadata(format!("/proc/self/ns/{}", kind.proc_name())).is_ok())
        .collect()
}

/// A running container: busybox rootfs with a marker file, a hostname, its
/// own cgroup, every namespace but user; its init sleeps.
struct Running {
    init: Process,
    hostname: String,
    marker: String,
    _rootfs: BusyboxRootfs,
}

impl Running {
    fn start() -> Running {
        Running::start_with(Resources::default())
    }

    /// The container with `resources` as its cgroup's limits.
    fn start_with(resources: Resources) -> Running {
        let rootfs = BusyboxRootfs::new();
        let marker = unique("marker");
        rootfs.write("etc/marker", &marker);
        let hostname = unique("setns");
        let mut config = Config::new(["/bin/sleep", "1000"]);
        config.namespaces = new_namespaces(&container_namespaces());
        config.rootfs = Some(rootfs.path().to_owned());
        config.hostname = Some(hostname.clone());
        let mut plan = Plan::init(config);
        plan.cgroup = true;
        let options = Options::new().init_binary(INIT).cgroup(CgroupConfig {
            adopt_empty: false,
            name: unique("cradle-setns"),
            resources,
            ..CgroupConfig::default()
        });
        let init = Process::start(plan, options).expect("start the container");
        Running {
            init,
            hostname,
            marker,
            _rootfs: rootfs,
        }
    }

    fn pid(&self) -> String {
        self.init.pid().to_string()
    }

    /// Options for a process in this container by `way`: its init and
    /// cgroups.
    fn options_for(&self, way: Way) -> Options {
        self.options().init_binary(way.init)
    }

    /// Options for a process in this container: its init and cgroups.
    fn options(&self) -> Options {
        let container = Container::of(&self.init).expect("the running container");
        let cgroups = self
            .init
            .cgroup()
            .expect("the container's cgroup")
            .paths()
            .clone();
        Options::new()
            .init_binary(INIT)
            .container(container)
            .container_cgroups(cgroups)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.init.terminate();
        if let Some(cgroup) = self.init.cgroup() {
            let _ = cgroup.destroy();
        }
    }
}

/// A way into the container: how the process gets into its pid namespace,
/// and the init binary it `exec`s, whose linking decides when a cloned
/// process joins the rest (before its `exec` of a static one, after its
/// `exec` of a dynamic one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Way {
    entry: SetnsEntry,
    init: &'static str,
}

/// Every way into the container, for each test of a property all have to
/// run with: a helper's fork, and a process cloned in that joins after its
/// `exec` and before it; each is named on stderr as its turn comes, for a
/// failure's output.
fn ways() -> impl Iterator<Item = Way> {
    let helper = Way {
        entry: SetnsEntry::Helper,
        init: INIT,
    };
    let cloned = |init| Way {
        entry: SetnsEntry::Clone,
        init,
    };
    [helper, cloned(INIT), cloned(INIT_STATIC)]
        .into_iter()
        .inspect(|way| eprintln!("{way:?}"))
}

/// A setns plan for `args`, entering the container's cgroups by `entry`.
fn exec_plan(args: &[&str], entry: SetnsEntry) -> Plan {
    let mut plan = Plan::setns(Config::new(args.iter().copied()));
    plan.cgroup = true;
    plan.setns_entry = entry;
    plan
}

#[test]
fn the_process_is_in_the_container() {
    if !require_root("the_process_is_in_the_container") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let (mut stdout, write) = linux::pipe();
        let script = "cat /etc/marker; echo; hostname; echo $$; ls /; echo done; exec sleep 100";
        let mut process = Process::start(
            exec_plan(&["/bin/sh", "-c", script], way.entry),
            container.options_for(way).stdout(write),
        )
        .expect("exec into the container");
        let mut lines = Vec::new();
        while lines.last().map(String::as_str) != Some("done") {
            let line = linux::read_line(&mut stdout, DEADLINE);
            assert!(!line.is_empty(), "the process ended early: {lines:?}");
            lines.push(line.trim_end().to_owned());
        }
        assert_eq!(lines[0], container.marker, "the container's rootfs: {lines:?}");
        assert_eq!(lines[1], container.hostname, "{lines:?}");
        assert_ne!(lines[2], "1", "a setns process is not the container's pid 1");
        let listing: Vec<&str> = lines[3..lines.len() - 1]
            .iter()
            .flat_map(|line| line.split_whitespace())
            .collect();
        assert_eq!(
            listing,
            ["bin", "dev", "etc", "mnt", "proc", "sys", "tmp"],
            "{lines:?}"
        );

        // From the host: every namespace is the init's, and so are the cgroups.
        let pid = process.pid().to_string();
        for kind in NamespaceKind::ALL {
            if fs::metadata(format!("/proc/self/ns/{}", kind.proc_name())).is_ok() {
                assert_eq!(
                    linux::namespace_of(&pid, kind),
                    linux::namespace_of(&container.pid(), kind),
                    "{kind:?}"
                );
            }
        }
        let cgroups = |pid: &str| fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
        assert_eq!(cgroups(&pid), cgroups(&container.pid()));
        // It sees stdio only (stdin is the test's, stdout the pipe, stderr ours).
        let stdio = BTreeSet::from([0, 1, 2]);
        assert_eq!(linux::settled_fds_of(process.pid().as_raw(), &stdio), stdio);
        assert!(process.start_time().expect("start time") > 0);
        process.signal(cradle_linux::Signal::SIGTERM).expect("signal");
        assert_eq!(
            process.wait_timeout(DEADLINE).expect("wait"),
            Some(ExitStatus::Signaled(libc::SIGTERM))
        );
    }
}

/// A directory of the host that the launcher leaks (open, not
/// close-on-exec, numbered above the child's descriptors) reaches neither
/// the process nor a helper: a working directory through
/// `/proc/self/fd/<n>` does not exist in the container (CVE-2024-21626).
#[test]
fn a_leaked_directory_is_no_way_out_for_an_exec() {
    if !require_root("a_leaked_directory_is_no_way_out_for_an_exec") {
        return;
    }
    let _serial = serial();
    let leaked = linux::HostDirectory::open();
    let through_proc = leaked.through_proc();
    for way in ways() {
        let container = Running::start();
        let mut plan = exec_plan(&["/bin/true"], way.entry);
        plan.config.cwd = through_proc.clone().into();
        let error = linux::child_error(Process::start(plan, container.options_for(way)));
        assert_eq!(
            (error.step, error.errno),
            (ChildStep::Cwd, Some(libc::ENOENT)),
            "{way:?}: {error:?}"
        );
    }
    drop(leaked);
}

/// Mounts over the container's `/proc`, as its root may where it has a
/// user namespace of its own: a tmpfs whose `self/oom_score_adj` is a file
/// of the container's (where it could as well be a bind mount of a host
/// sysctl, which the process, still the host's root, could write).
fn rig_proc(container: &Running) {
    let status = Command::new("nsenter")
        .args(["-t", &container.pid(), "-m", "--", "/bin/sh", "-c"])
        .arg("mount -t tmpfs rigged /proc && mkdir /proc/self && echo untouched > /proc/self/oom_score_adj")
        .status()
        .expect("nsenter");
    assert!(status.success(), "rigging the container's /proc: {status}");
}

/// An exec's `oom_score_adj` is written to the kernel's file of its own
/// process: with the container's `/proc` genuine it is set; with a tmpfs
/// over it the launch is refused at that step, and the container's file
/// is not written (CVE-2025-52881's class: a write of the runtime's
/// redirected by the container's mounts).
#[test]
fn an_exec_writes_its_oom_score_adj_to_the_kernels_file_only() {
    if !require_root("an_exec_writes_its_oom_score_adj_to_the_kernels_file_only") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let mut plan = exec_plan(&["/bin/cat", "/proc/self/oom_score_adj"], way.entry);
        plan.config.oom_score_adj = Some(7);
        let (mut stdout, write) = linux::pipe();
        let mut process =
            Process::start(plan.clone(), container.options_for(way).stdout(write)).expect("exec");
        assert_eq!(linux::read_to_end(&mut stdout, DEADLINE), "7\n", "{way:?}");
        assert_eq!(
            process.wait_timeout(DEADLINE).expect("wait"),
            Some(ExitStatus::Exited(0))
        );

        rig_proc(&container);
        let error = linux::child_error(Process::start(plan, container.options_for(way)));
        assert_eq!(error.step, ChildStep::OomScoreAdj, "{way:?}: {error:?}");
        let rigged = format!("/proc/{}/root/proc/self/oom_score_adj", container.pid());
        assert_eq!(
            fs::read_to_string(&rigged).expect("the container's file"),
            "untouched\n",
            "{way:?}"
        );
    }
}

/// What a child of the launcher is born with, as `cradle-test-limits`,
/// run as its init binary, prints it (see `birth`; the launch itself then
/// fails: that binary takes no role).
fn born_with(plan: Plan, options: Options) -> String {
    let (mut stdout, write) = linux::pipe();
    let result = Process::start(plan, options.init_binary(LIMITS).stdout(write));
    assert!(result.is_err(), "cradle-test-limits takes no role");
    linux::read_to_end(&mut stdout, DEADLINE)
}

/// A process cloned into the container's pid namespace is there, in the
/// host's root and working directory, before it has joined the rest: it
/// is born with every signal blocked, a soft core file size of 0 (the
/// hard one too where it can be raised back) and a real gid apart from
/// its effective one (none of the container's processes matches its ids,
/// so none may change its limits, and its `exec` leaves it not dumpable),
/// so that no process of the container can kill it into a core dump
/// (written in the host's directory) meanwhile. Its command gets the
/// launcher's limits back (the core's, and the stack's, which the secure
/// `exec` capped at 8 MiB), as a helper's fork inherits them, or the
/// config's own, and the config's gid as its real one.
#[test]
fn a_cloned_process_is_born_deaf_and_its_command_gets_the_core_limit() {
    if !require_root("a_cloned_process_is_born_deaf_and_its_command_gets_the_core_limit") {
        return;
    }
    let _serial = serial();
    let _core = birth::SoftLimit::core();
    let _stack = birth::SoftLimit::stack();
    let own = birth::own_core_limit();
    for way in ways() {
        let container = Running::start();
        let born = born_with(exec_plan(&["/bin/true"], way.entry), container.options_for(way));
        match way.entry {
            SetnsEntry::Clone => birth::assert_born_apart(&born),
            // The helper is born in the launcher's pid namespace.
            SetnsEntry::Helper => {
                assert_eq!(birth::core_limit(&born), own, "{way:?}");
                let gids = birth::gids(&born);
                assert_eq!(gids[0], gids[1], "{way:?}: {born}");
            }
        }

        birth::forget_child_masks();
        let (mut stdout, write) = linux::pipe();
        let mut process = Process::start(
            exec_plan(&["/bin/cat", "/proc/self/limits", "/proc/self/status"], way.entry),
            container
                .options_for(way)
                .stdout(write)
                .on_step(birth::record_child_masks),
        )
        .expect("exec into the container");
        let printed = linux::read_to_end(&mut stdout, DEADLINE);
        assert_eq!(birth::core_limit(&printed), own, "{way:?}: {printed}");
        assert_eq!(
            birth::stack_limit(&printed),
            birth::own_stack_limit(),
            "{way:?}: {printed}"
        );
        assert_eq!(birth::gids(&printed), ["0"; 4], "{way:?}: {printed}");
        assert_eq!(
            process.wait_timeout(DEADLINE).expect("wait"),
            Some(ExitStatus::Exited(0))
        );
        if way.entry == SetnsEntry::Clone {
            let mask = birth::child_mask(process.pid().as_raw());
            assert_eq!(mask, birth::every_signal_blocked(), "blocked from its birth");
        }

        // A core limit of the config's own, under the launcher's hard one.
        let mut plan = exec_plan(&["/bin/cat", "/proc/self/limits"], way.entry);
        plan.config.rlimits = vec![Rlimit {
            resource: RlimitResource::Core,
            soft: 1024,
            hard: 1024,
        }];
        let (mut stdout, write) = linux::pipe();
        let mut configured =
            Process::start(plan, container.options_for(way).stdout(write)).expect("exec with a core limit");
        let limits = linux::read_to_end(&mut stdout, DEADLINE);
        assert_eq!(birth::core_limit(&limits), ["1024", "1024"], "{way:?}: {limits}");
        assert_eq!(
            configured.wait_timeout(DEADLINE).expect("wait"),
            Some(ExitStatus::Exited(0))
        );
    }
}

/// A process cloned into the container is seen there from its birth: a
/// process of the container that stops it may read its mount table and
/// network tables. Launched from a thread of a multi-threaded program
/// (this test's), it joins the container's namespaces but the user one,
/// and its root, before its `exec` of a static init binary; a dynamic one
/// would load the container's `ld.so`, so that one joins after its `exec`.
/// Held at its first step after the `exec` (the init binary's name asks
/// for it), it is inside. (A single-threaded launcher, as `cradle exec`
/// is, clones it inside: `a_single_threaded_launcher_clones_the_process_inside`.)
#[test]
fn a_cloned_process_execs_a_static_init_inside_the_container() {
    if !require_root("a_cloned_process_execs_a_static_init_inside_the_container") || !static_init_linked() {
        return;
    }
    let _serial = serial();
    let container = Running::start();
    let leftovers = Leftovers::before();
    let held = hold_at_setns(&container, INIT_STATIC, &leftovers, "a held process");
    let process = held.process.to_string();
    let view = birth::View::of(&process);
    assert_eq!(view, birth::View::of(&container.pid()), "after its exec");
    assert_ne!(view, birth::View::of("self"), "the host's");

    held.kill(&leftovers);
}

/// A process of the container, root there without `CAP_SYS_RESOURCE` (as
/// the default confinement leaves it), may not change the limits of a
/// process cloned into the container before that has set itself up (held
/// at its first step after the `exec`, where such a process could stop
/// it): none of its ids matches the newborn's real gid. It may change the
/// container's init's, whose ids are its own: the control.
#[test]
fn the_container_cannot_change_a_cloned_processs_limits() {
    if !require_root("the_container_cannot_change_a_cloned_processs_limits") {
        return;
    }
    let _serial = serial();
    let container = Running::start();
    // Joining after its exec (a dynamic init binary) and before (static).
    for init in [INIT, INIT_STATIC] {
        let leftovers = Leftovers::before();
        let held = hold_at_setns(&container, init, &leftovers, "a held process");
        let status = fs::read_to_string(format!("/proc/{}/status", held.process)).expect("its status");
        let gids = birth::gids(&status);
        assert_ne!(gids[0], gids[1], "{init}: a real gid apart: {status}");
        // The kernel's check (the same ids, or `CAP_SYS_RESOURCE`) does not
        // depend on where the caller is: from the host's namespaces, with
        // the container's want of the capability.
        let prlimit = |pid: &str| {
            Command::new("setpriv")
                .args([
                    "--bounding-set",
                    "-sys_resource",
                    "prlimit",
                    "--pid",
                    pid,
                    "--core=0:0",
                ])
                .output()
                .expect("run setpriv and prlimit")
        };
        let refused = prlimit(&held.process.to_string());
        assert!(
            !refused.status.success(),
            "{init}: the held process's limits changed"
        );
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("Operation not permitted"), "{init}: {stderr}");
        let control = prlimit(&container.pid());
        assert!(
            control.status.success(),
            "the init's: {}",
            String::from_utf8_lossy(&control.stderr)
        );

        held.kill(&leftovers);
    }
}

/// A launcher killed before its cloned process has armed its parent-death
/// signal again (its secure `exec`, with the gid apart, clears it) does
/// not leave that process to set itself up and run its command, whose
/// config is in the socket already: the process, first thing in its
/// role, finds the launcher's end of the launch socket closed, and exits
/// 124, abandoned (later, its `ready` would find it so, and its `SIGPIPE`
/// kill it; once the signal is armed, the launcher's death kills it).
#[test]
fn a_cloned_process_whose_launcher_died_does_not_run_its_command() {
    if !require_root("a_cloned_process_whose_launcher_died_does_not_run_its_command") {
        return;
    }
    let _serial = serial();
    // The launcher's orphans come to this process, which sees how they end.
    let _subreaper = Subreaper::set();
    let rootfs = BusyboxRootfs::new();
    let links = tempfile::tempdir().expect("a directory for the pausing init");
    let paused = links.path().join("pause@setns");
    std::os::unix::fs::symlink(INIT, &paused).expect("link the pausing init");
    let (mut stdout, write) = linux::pipe();
    let mut launcher_child = Command::new(ORPHANED_EXEC)
        .arg(rootfs.path())
        .arg(INIT)
        .arg(&paused)
        .stdout(write)
        .spawn()
        .expect("start the launcher");
    let launcher = nix::unistd::Pid::from_raw(i32::try_from(launcher_child.id()).expect("a pid"));
    let mut ours = Killed::at_the_end(launcher);
    let container: i32 = linux::read_line(&mut stdout, DEADLINE)
        .trim()
        .parse()
        .expect("the container's pid");
    ours.push(nix::unistd::Pid::from_raw(container));
    let announced = linux::read_line(&mut stdout, DEADLINE);
    assert_eq!(announced.trim_end(), "setns");
    let process = linux::children_of(launcher.as_raw())
        .into_iter()
        .find(|&pid| pid != container)
        .expect("the paused process");
    ours.push(nix::unistd::Pid::from_raw(process));
    let deadline = Instant::now() + DEADLINE;
    while !linux::is_stopped(process) {
        assert!(Instant::now() < deadline, "the process never stopped");
        std::thread::sleep(Duration::from_millis(1));
    }

    ours.forget(launcher);
    launcher_child.kill().expect("kill the launcher");
    launcher_child.wait().expect("reap the launcher");
    let process = nix::unistd::Pid::from_raw(process);
    kill(process, Signal::SIGCONT).expect("let the process go on");
    let printed = linux::read_to_end(&mut stdout, DEADLINE);
    assert_eq!(printed, "", "the process ran its command after its launcher died");
    assert_eq!(
        ours.reap(process),
        WaitStatus::Exited(process, 124),
        "it ends at its role's start, abandoned"
    );
}

/// Children of this process (adopted ones too), killed and reaped when
/// dropped, a failed test's included, unless reaped before.
struct Killed(Vec<nix::unistd::Pid>);

impl Killed {
    fn at_the_end(pid: nix::unistd::Pid) -> Killed {
        Killed(vec![pid])
    }

    fn push(&mut self, pid: nix::unistd::Pid) {
        self.0.push(pid);
    }

    /// Reaps `pid` once it has ended, within the deadline.
    fn reap(&mut self, pid: nix::unistd::Pid) -> WaitStatus {
        self.forget(pid);
        reap_within(pid, DEADLINE).unwrap_or_else(|| panic!("{pid} did not end"))
    }

    /// Leaves `pid` alone at the end: it is reaped before (its number may
    /// be another's by then).
    fn forget(&mut self, pid: nix::unistd::Pid) {
        self.0.retain(|&ours| ours != pid);
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = kill(pid, Signal::SIGKILL);
        }
        for &pid in &self.0 {
            let _ = reap_within(pid, DEADLINE);
        }
    }
}

/// This process adopts the orphans among its descendants until dropped.
struct Subreaper;

impl Subreaper {
    fn set() -> Subreaper {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
        Subreaper
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        let _ = nix::sys::prctl::set_child_subreaper(false);
    }
}

/// Reaps child `pid` once it has ended, within `within`: `None` if it
/// still runs then, or cannot be waited for.
fn reap_within(pid: nix::unistd::Pid, within: Duration) -> Option<WaitStatus> {
    let deadline = Instant::now() + within;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).ok()? {
            WaitStatus::StillAlive if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            WaitStatus::StillAlive => return None,
            ended => return Some(ended),
        }
    }
}

/// A process cloned into `container` by a launch on another thread, of
/// `init` under a name that holds it at its first step (`announce@setns`):
/// before it joins, it has no config to read a fault from.
struct Held {
    /// The process, there.
    process: i32,
    launch: std::thread::JoinHandle<Result<Process, Error>>,
    /// Its stdout, where it announced the step: open until it ends.
    announcements: fs::File,
    _links: tempfile::TempDir,
}

impl Held {
    /// Kills the process: its launch fails, and leaves nothing behind
    /// that `leftovers` did not see before.
    fn kill(self, leftovers: &Leftovers) {
        kill(nix::unistd::Pid::from_raw(self.process), Signal::SIGKILL).expect("kill the held process");
        let result = self.launch.join().expect("the launch thread");
        assert!(
            matches!(result, Err(Error::Launch(LaunchError::Exited { .. }))),
            "{result:?}"
        );
        drop(self.announcements);
        leftovers.assert_none("a held process");
    }
}

/// Holds a cloned process of `init` at its `setns` step, checked to be in
/// the container's pid namespace (no helper of the launch in ours); `what`
/// names it in failures.
fn hold_at_setns(container: &Running, init: &str, leftovers: &Leftovers, what: &str) -> Held {
    let links = tempfile::tempdir().expect("a directory for the holding init");
    let holding = links.path().join("announce@setns");
    std::os::unix::fs::symlink(init, &holding).expect("link the holding init");
    let mut plan = exec_plan(&["/bin/true"], SetnsEntry::Clone);
    plan.timeout = HELD_TIMEOUT;
    let options = container.options().init_binary(&holding);
    let (mut announcements, stdout) = linux::pipe();
    let launch = std::thread::spawn(move || Process::start(plan, options.stdout(stdout)));
    let announced = linux::read_line(&mut announcements, HELD_TIMEOUT);
    assert_eq!(announced.trim_end(), "setns", "{what}");
    let (helper, process) = helper_and_process(&leftovers.children);
    assert_eq!(helper, None, "{what}");
    Held {
        process: process.unwrap_or_else(|| panic!("{what}: no process")),
        launch,
        announcements,
        _links: links,
    }
}

/// The launch timeout of a [`Held`] process's plan.
const HELD_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `cradle-test-init-static` is static (tests/build.rs could link
/// it so); where not, the test that needs it says so and is not run, which
/// CI, with the static C library installed, never allows.
fn static_init_linked() -> bool {
    if env!("CRADLE_TEST_STATIC_INIT") == "1" {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "no static test init in CI");
    eprintln!("no static PIE from this toolchain (tests/build.rs): not run");
    false
}

/// A single-threaded launcher (`cradle exec`) clones the process inside
/// the container: its thread enters the container's namespaces and root
/// for the clone, so that no process of the container ever sees it in the
/// host's. Cloned into a frozen cgroup, the newborn stops before its
/// first instruction, and is inside already.
#[test]
fn a_single_threaded_launcher_clones_the_process_inside() {
    if !require_root("a_single_threaded_launcher_clones_the_process_inside") || !static_init_linked() {
        return;
    }
    let _serial = serial();
    let output = Command::new(EXEC_BIRTH)
        .arg(INIT_STATIC)
        .output()
        .expect("run the launcher");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let [threads, newborn, container, host] = lines[..] else {
        panic!("four lines, not {stdout:?}");
    };
    assert_eq!(threads, "1", "a single-threaded launcher");
    assert_eq!(newborn, container, "born inside");
    assert_ne!(newborn, host, "the host's");
}

#[test]
fn the_process_joins_a_user_namespace_first() {
    if !require_root("the_process_joins_a_user_namespace_first") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        // An identity map: a container of a shifted map cannot make its mounts
        // private yet (user namespaces proper are another issue's), nor have a
        // rootfs.
        let mut config = Config::new(["/bin/sleep", "1000"]);
        config.namespaces = new_namespaces(&[
            NamespaceKind::User,
            NamespaceKind::Mount,
            NamespaceKind::Pid,
            NamespaceKind::Uts,
            NamespaceKind::Ipc,
        ]);
        let mut plan = Plan::init(config);
        plan.id_maps = Some(linux::identity_maps());
        let mut init = Process::start(plan, Options::new().init_binary(INIT)).expect("the container");
        let container = Container::of(&init).expect("container");
        let options = Options::new().init_binary(way.init).container(container);
        let mut exec = Plan::setns(Config::new(["/bin/sleep", "100"]));
        exec.setns_entry = way.entry;
        exec.config.user.uid = 7;
        let mut process = Process::start(exec, options).expect("exec into the container");
        let (pid, init_pid) = (process.pid().to_string(), init.pid().to_string());
        for kind in NamespaceKind::ALL {
            if fs::metadata(format!("/proc/self/ns/{}", kind.proc_name())).is_ok() {
                assert_eq!(
                    linux::namespace_of(&pid, kind),
                    linux::namespace_of(&init_pid, kind),
                    "{kind:?}"
                );
            }
        }
        let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let uids = status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .expect("Uid line");
        assert_eq!(uids.split_whitespace().nth(1), Some("7"), "{status}");
        process.terminate().expect("terminate");
        init.terminate().expect("terminate the container");
    }
}

#[test]
fn the_process_has_its_own_args_env_cwd_user_and_rlimits() {
    if !require_root("the_process_has_its_own_args_env_cwd_user_and_rlimits") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let mut plan = exec_plan(
            &[
                "/bin/sh",
                "-c",
                "echo $FOO $1; pwd; id -u; id -g; ulimit -n",
                "sh",
                "arg",
            ],
            way.entry,
        );
        plan.config.env = vec!["FOO=foo".into(), "PATH=/bin".into()];
        plan.config.cwd = "/tmp".into();
        plan.config.user.uid = 1000;
        plan.config.user.gid = 1001;
        plan.config.rlimits = vec![Rlimit {
            resource: RlimitResource::Nofile,
            soft: 100,
            hard: 200,
        }];
        let (mut process, mut stdout) = {
            let (read, write) = linux::pipe();
            let process = Process::start(plan, container.options_for(way).stdout(write)).expect("exec");
            (process, read)
        };
        let output = linux::read_to_end(&mut stdout, DEADLINE);
        assert_eq!(
            process.wait_timeout(DEADLINE).expect("wait"),
            Some(ExitStatus::Exited(0))
        );
        assert_eq!(output, "foo arg\n/tmp\n1000\n1001\n100\n");
    }
}

#[test]
fn the_process_is_born_in_the_containers_cgroups() {
    if !require_root("the_process_is_born_in_the_containers_cgroups") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let init = fs::read_to_string(format!("/proc/{}/cgroup", container.pid())).expect("cgroup");
        let leftovers = Leftovers::before();
        // `cat` runs until the test closes its stdin.
        let (stdin, typing) = linux::pipe();
        let options = container.options_for(way).stdin(stdin.into());
        let mut backend = LinuxLaunch::new(options).expect("backend");
        let mut launch = Launch::new(exec_plan(&["/bin/cat"], way.entry), clock::now()).expect("plan");
        // A helper's fork is born after the helper joined them all: read
        // when the launch reaches the step that used to move the process
        // in. (A cloned process joins its v1 cgroups itself, before its
        // `exec`: the parent may be at any step by then.)
        let mut seen = None;
        let result = cradle_core::driver::drive_with(&mut launch, &mut backend, |launch, _| {
            if way.entry == SetnsEntry::Helper && seen.is_none() && launch.step() == Step::EnterCgroup {
                let (_, process) = helper_and_process(&leftovers.children);
                let process = process.expect("the process, before its cgroups are entered");
                seen = Some(fs::read_to_string(format!("/proc/{process}/cgroup")).expect("its cgroups"));
            }
        });
        let pid = result.expect("exec into the container");
        if way.entry == SetnsEntry::Helper {
            assert_eq!(seen.as_deref(), Some(init.as_str()), "the process at EnterCgroup");
        }
        // Its command runs in every one of them.
        let running = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroups");
        assert_eq!(running, init, "the command's cgroups");
        let mut process = backend.into_process(pid).expect("the process");
        drop(typing);
        assert_eq!(
            process.wait_timeout(DEADLINE).expect("wait"),
            Some(ExitStatus::Exited(0))
        );
        drop(process);
        leftovers.assert_none("an exec");
    }
}

#[test]
fn a_full_pids_limit_refuses_the_fork() {
    if !require_root("a_full_pids_limit_refuses_the_fork") {
        return;
    }
    let _serial = serial();
    // The init, and the helper while it forks: a limit of 2 is full.
    let container = Running::start_with(Resources {
        pids_max: Some(2),
        ..Resources::default()
    });
    let pids = container
        .init
        .cgroup()
        .expect("the container's cgroup")
        .paths()
        .clone();
    let current = || {
        let dir = pids.v1_with("pids").or(pids.v2()).expect("a pids hierarchy");
        fs::read_to_string(dir.file("pids.current")).expect("pids.current")
    };
    assert_eq!(current(), "1\n");
    let leftovers = Leftovers::before();
    let result = Process::start(exec_plan(&["/bin/true"], SetnsEntry::Helper), container.options());
    if let Err(error) = &result {
        assert_eq!(error.kind(), ErrorKind::ResourceLimit, "{error}");
        assert_eq!(error.errno(), Some(libc::EAGAIN), "{error}");
    }
    let error = linux::child_error(result);
    assert_eq!(
        (error.step, error.errno),
        (ChildStep::Fork, Some(libc::EAGAIN)),
        "{error:?}"
    );
    leftovers.assert_none("a refused fork");
    assert_eq!(current(), "1\n", "the helper is gone from the cgroup");
}

#[test]
fn a_cgroup_the_helper_cannot_join_fails_the_launch_as_it_reports() {
    if !require_root("a_cgroup_the_helper_cannot_join_fails_the_launch_as_it_reports") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let leftovers = Leftovers::before();
        let mut options = container.options_for(way);
        let mut paths = container
            .init
            .cgroup()
            .expect("the container's cgroup")
            .paths()
            .clone();
        let Some(cpuset) = paths
            .dirs
            .iter_mut()
            .find(|dir| dir.hierarchy.is_v1_with("cpuset"))
        else {
            println!("SKIPPED: no v1 cpuset hierarchy");
            return;
        };
        // A new v1 cpuset has no CPUs, and no task can join it (ENOSPC).
        cpuset.path = cpuset.path.join("no-cpus");
        cpuset.cgroup = cpuset.cgroup.join("no-cpus");
        fs::create_dir(&cpuset.path).expect("a cpuset of the test's own");
        let empty = cpuset.path.clone();
        options = options.container_cgroups(paths);
        let result = Process::start(exec_plan(&["/bin/true"], way.entry), options);
        fs::remove_dir(&empty).expect("the cpuset is empty still");
        // The child joins the v1 cgroups itself before its exec: it reports
        // the refusal, naming the file, and the launch fails with nothing
        // left. A cloned process is the launch's at once, which may meet the
        // refusal first as it enters the cgroups (naming the directory).
        match (way.entry, result) {
            (_, Err(Error::Launch(LaunchError::Child { step, error }))) => {
                assert_eq!(
                    (error.step, error.errno),
                    (ChildStep::Cgroup, Some(libc::ENOSPC)),
                    "{error:?}"
                );
                if way.entry == SetnsEntry::Helper {
                    assert_eq!(step, Step::ReportPid, "{error:?}");
                }
                let tasks = empty.join("tasks");
                assert!(error.message.contains(&*tasks.to_string_lossy()), "{error:?}");
            }
            (
                SetnsEntry::Clone,
                Err(Error::Launch(LaunchError::Command {
                    step: Step::EnterCgroup,
                    error,
                })),
            ) => {
                assert_eq!(error.errno, Some(libc::ENOSPC), "{error:?}");
                assert!(error.message.contains(&*empty.to_string_lossy()), "{error:?}");
            }
            (_, other) => panic!("expected the cgroup's join refused, got {other:?}"),
        }
        leftovers.assert_none("a cgroup the helper cannot join");
    }
}

#[test]
fn a_missing_command_fails_at_exec_with_enoent() {
    if !require_root("a_missing_command_fails_at_exec_with_enoent") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let leftovers = Leftovers::before();
        let result = Process::start(
            exec_plan(&["/no/such/command"], way.entry),
            container.options_for(way),
        );
        let error = linux::child_error(result);
        assert_eq!(
            (error.step, error.errno),
            (ChildStep::Exec, Some(libc::ENOENT)),
            "{error:?}"
        );
        leftovers.assert_none("a missing command");
    }
}

#[test]
fn a_setns_process_cannot_set_up_the_container() {
    if !require_root("a_setns_process_cannot_set_up_the_container") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let leftovers = Leftovers::before();
        let mut plan = exec_plan(&["/bin/true"], way.entry);
        plan.config.hostname = Some("other".into());
        let result = Process::start(plan, container.options_for(way));
        let error = linux::child_error(result);
        assert_eq!(error.step, ChildStep::Hostname, "{error:?}");
        assert!(error.message.contains("cannot set a hostname"), "{error:?}");
        leftovers.assert_none("a refused hostname");
        // The container's own name, as its UTS namespace has it, is untouched.
        let seen = Command::new("nsenter")
            .args(["--uts", "--target", &container.pid(), "hostname"])
            .output()
            .expect("nsenter");
        assert!(seen.status.success(), "nsenter: {seen:?}");
        assert_eq!(
            String::from_utf8_lossy(&seen.stdout).trim_end(),
            container.hostname
        );
    }
}

#[test]
fn an_exited_container_is_refused_at_once() {
    if !require_root("an_exited_container_is_refused_at_once") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let mut container = Running::start();
        let pid = container.init.pid();
        let start_time = container.init.start_time().expect("start time");
        let fds = linux::open_fds();
        let handle = Container::of(&container.init).expect("container");
        container.init.terminate().expect("terminate the init");
        let leftovers = Leftovers {
            fds,
            children: linux::children(),
        };
        let options = Options::new().init_binary(way.init).container(handle);
        // At once: the spawn itself refuses, before any process is made that
        // the launch would have to wait for (its deadline is the default one).
        let mut backend = LinuxLaunch::new(options).expect("backend");
        let mut plan = Plan::setns(Config::new(["/bin/true"]));
        plan.setns_entry = way.entry;
        let mut launch = Launch::new(plan, clock::now()).expect("plan");
        let mut made = BTreeSet::<i32>::new();
        let result = cradle_core::driver::drive_with(&mut launch, &mut backend, |_, _| {
            made.extend(linux::children().difference(&leftovers.children));
        });
        match &result {
            Err(LaunchError::Command { step, error }) => {
                assert_eq!(*step, Step::Spawn);
                assert!(error.message.contains("has exited"), "{error:?}");
            }
            other => panic!("expected a refusal at spawn, got {other:?}"),
        }
        assert_eq!(made, BTreeSet::new(), "processes made for an exited container");
        drop(backend);
        leftovers.assert_none("an exited container");
        // By pid and start time, as a state file would name it: gone too.
        let reopened = Container::open(pid, start_time);
        assert!(
            matches!(reopened, Err(Error::ContainerGone { .. })),
            "{reopened:?}"
        );
    }
}

#[test]
fn a_recycled_pid_is_not_taken_for_the_container() {
    if !require_root("a_recycled_pid_is_not_taken_for_the_container") {
        return;
    }
    let _serial = serial();
    let mut container = Running::start();
    let pid = container.init.pid();
    let start_time = container.init.start_time().expect("start time");
    let same = Container::open(pid, start_time).expect("the same container");
    assert_eq!((same.pid(), same.start_time()), (pid, start_time));
    drop(same);
    container.init.terminate().expect("end the init");

    // Another process with the init's pid, as a state file outliving its
    // container would meet it.
    let mut other = process_with_pid(pid.as_raw(), start_time);
    let reopened = Container::open(pid, start_time);
    let other_start = cradle_linux::proc_stat::start_time(pid).expect("the other's start time");
    let other_opened = Container::open(pid, other_start).map(|c| c.start_time());
    other.kill().expect("kill the other process");
    other.wait().expect("reap the other process");
    match reopened {
        Err(Error::ContainerGone { pid: gone, reason }) => {
            assert_eq!(gone, pid);
            assert!(reason.contains("belongs to another process"), "{reason}");
        }
        other => panic!("the pid's new process taken for the container: {other:?}"),
    }
    // The pid itself opens, with its own start time: the refusal was the
    // start time's.
    assert_eq!(other_opened.ok(), Some(other_start));
}

/// A `sleep` of this process's with pid `pid`, which must be free, and a
/// start time other than `not_at` (start times count clock ticks, and a
/// process started in the init's tick would be the init by pid and start
/// time). The kernel gives a new process the pid after `ns_last_pid` when
/// that one is free; another process of the machine may take it first, or
/// the tick may not have passed: then it is tried again, a few times.
fn process_with_pid(pid: i32, not_at: u64) -> std::process::Child {
    for _ in 0..50 {
        fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).expect("write ns_last_pid");
        let mut child = Command::new("sleep").arg("1000").spawn().expect("spawn sleep");
        let started = Pid::new(pid).and_then(|pid| cradle_linux::proc_stat::start_time(pid).ok());
        if i32::try_from(child.id()) == Ok(pid) && started.is_some_and(|at| at != not_at) {
            return child;
        }
        child.kill().expect("kill the sleep that will not do");
        child.wait().expect("reap it");
        std::thread::yield_now();
    }
    panic!("no process could be given pid {pid} after the init's start");
}

#[test]
fn a_hundred_execs_in_a_row_leave_nothing() {
    if !require_root("a_hundred_execs_in_a_row_leave_nothing") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let leftovers = Leftovers::before();
        for round in 0..100 {
            let mut process =
                Process::start(exec_plan(&["/bin/true"], way.entry), container.options_for(way))
                    .unwrap_or_else(|error| panic!("exec {round}: {error}"));
            assert_eq!(
                process.wait_timeout(DEADLINE).expect("wait"),
                Some(ExitStatus::Exited(0)),
                "exec {round}"
            );
        }
        leftovers.assert_none("100 execs");
    }
}

/// Which of the launch's processes a test kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    Helper,
    Process,
}

/// The launch's live processes, as `(helper, process)`: the new children
/// since `before` that are no zombies, told apart by pid namespace (the
/// helper stays in ours).
fn helper_and_process(before: &BTreeSet<i32>) -> (Option<i32>, Option<i32>) {
    let own = linux::namespace_of("self", NamespaceKind::Pid);
    let mut found = (None, None);
    for &pid in linux::children().difference(before) {
        if linux::is_zombie(pid) {
            continue;
        }
        match fs::read_link(format!("/proc/{pid}/ns/pid")) {
            Ok(ns) if ns.display().to_string() == own => found.0 = Some(pid),
            Ok(_) => found.1 = Some(pid),
            // Gone meanwhile: nothing to kill.
            Err(_) => {}
        }
    }
    found
}

/// What [`drive_killing`] found at its step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shot {
    /// The launch never stood at the step.
    NotReached,
    /// The victim was not there to kill: not forked yet, or already ended.
    Absent,
    /// The victim was alive, and SIGKILL went to it.
    Killed,
}

/// `cradle_core::driver::drive`, killing `victim` just before the launch
/// reaches `kill_at` (before its command, or before waiting at it), if it
/// is alive then; the launch's result, and what the kill found.
fn drive_killing(
    launch: &mut Launch,
    backend: &mut LinuxLaunch,
    kill_at: Step,
    victim: Victim,
    before: &BTreeSet<i32>,
) -> (Result<Pid, LaunchError>, Shot) {
    let mut shot = Shot::NotReached;
    let kill_if_due = |launch: &mut Launch, _: &mut LinuxLaunch| {
        if shot == Shot::NotReached && launch.step() == kill_at {
            let target = match (victim, helper_and_process(before)) {
                (Victim::Helper, (helper, _)) => helper,
                (Victim::Process, (_, process)) => process,
            };
            shot = match target {
                // Only the launch reaps, and it is waiting for this hook:
                // a live child cannot be gone before the signal.
                Some(pid) => {
                    kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).expect("kill a live child");
                    Shot::Killed
                }
                None => Shot::Absent,
            };
        }
    };
    let result = cradle_core::driver::drive_with(launch, backend, kill_if_due);
    (result, shot)
}

#[test]
fn the_helper_or_the_process_killed_before_each_parent_step() {
    if !require_root("the_helper_or_the_process_killed_before_each_parent_step") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let timeout = Duration::from_secs(5);
        // `cat` runs until the test closes its stdin: killed, it cannot have
        // exited on its own first, and spared, it exits 0.
        let plan = || {
            let mut plan = exec_plan(&["/bin/cat"], way.entry);
            plan.timeout = timeout;
            plan
        };
        let steps = Launch::new(plan(), clock::now()).expect("plan").steps().to_vec();
        let mut shots = Vec::new();
        let victims: &[Victim] = match way.entry {
            SetnsEntry::Helper => &[Victim::Helper, Victim::Process],
            _ => &[Victim::Process],
        };
        for &victim in victims {
            for &step in &steps {
                let what = format!("{victim:?} killed before {step}");
                let leftovers = Leftovers::before();
                let (stdin, typing) = linux::pipe();
                let options = container.options_for(way).stdin(stdin.into());
                let mut backend = LinuxLaunch::new(options).expect("backend");
                let started = Instant::now();
                let mut launch = Launch::new(plan(), clock::now()).expect("plan");
                let (result, shot) =
                    drive_killing(&mut launch, &mut backend, step, victim, &leftovers.children);
                assert!(
                    started.elapsed() < timeout,
                    "{what}: took {:?}",
                    started.elapsed()
                );
                match (shot, result) {
                    (Shot::NotReached, result) => panic!("{what}: the launch never got there: {result:?}"),
                    // Nothing was killed: the process runs, and exits 0 at the
                    // end of its input; so does it when the helper took the
                    // signal only as it was exiting 0 already. A process killed
                    // where its launch could no longer tell (after `ready`)
                    // has its status say so.
                    (shot, Ok(pid)) => {
                        let mut process = backend.into_process(pid).expect("the process");
                        drop(typing);
                        let expected = match (shot, victim) {
                            (Shot::Killed, Victim::Process) => ExitStatus::Signaled(libc::SIGKILL),
                            _ => ExitStatus::Exited(0),
                        };
                        let status = process.wait_timeout(DEADLINE).expect("wait");
                        assert_eq!(status, Some(expected), "{what}");
                    }
                    // The death of the one killed, told as such.
                    (Shot::Killed, Err(LaunchError::Exited { who, status, .. })) => {
                        let killed = match victim {
                            Victim::Helper => Who::Helper,
                            Victim::Process => Who::Process,
                        };
                        assert_eq!(
                            (who, status),
                            (killed, ExitStatus::Signaled(libc::SIGKILL)),
                            "{what}"
                        );
                        drop((backend, typing));
                    }
                    (Shot::Killed, Err(error)) => panic!("{what}: expected its death, got {error:?}"),
                    (Shot::Absent, Err(error)) => panic!("{what}: nothing was killed, yet {error:?}"),
                }
                shots.push((victim, step, shot));
                leftovers.assert_none(&what);
            }
        }
        // Once its pid is reported (or, cloned, once spawned) it lives until
        // its input ends: from then on every kill must have found it.
        // (Whether the helper is still there when the parent looks depends
        // on the scheduler; the helper killed for sure is
        // the_helper_killed_at_each_of_its_steps's.)
        let known = match way.entry {
            SetnsEntry::Helper => Step::Adopt,
            _ => Step::EnterCgroup,
        };
        let reported = steps.iter().position(|&s| s == known).expect("the step");
        for &step in &steps[reported..] {
            assert!(
                shots.contains(&(Victim::Process, step, Shot::Killed)),
                "the process was not there to kill before {step}: {shots:?}"
            );
        }
    }
}

/// The process's own set-up steps, in order.
const PROCESS_STEPS: [ChildStep; 6] = [
    ChildStep::Setsid,
    ChildStep::Rlimits,
    ChildStep::User,
    ChildStep::Cwd,
    ChildStep::NoNewPrivileges,
    ChildStep::Fds,
];

#[test]
fn the_process_killed_at_each_of_its_steps() {
    if !require_root("the_process_killed_at_each_of_its_steps") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let timeout = Duration::from_secs(5);
        for step in PROCESS_STEPS {
            let what = format!("killed at {step}");
            let mut plan = exec_plan(&["/bin/true"], way.entry);
            plan.timeout = timeout;
            plan.config.env = vec![format!("CRADLE_TEST_FAULT=announce@{step}")];
            let leftovers = Leftovers::before();
            let options = container.options_for(way);
            let (mut announcements, stdout) = linux::pipe();
            let started = Instant::now();
            let launch = std::thread::spawn(move || Process::start(plan, options.stdout(stdout)));
            let announced = linux::read_line(&mut announcements, timeout);
            assert_eq!(announced.trim_end(), step.as_str(), "{what}");
            let (_, process) = helper_and_process(&leftovers.children);
            let process = process.unwrap_or_else(|| panic!("{what}: no process in the container"));
            kill(nix::unistd::Pid::from_raw(process), Signal::SIGKILL).expect("kill the process");
            match launch.join().expect("the launch thread") {
                Err(Error::Launch(LaunchError::Exited { status, .. })) => {
                    assert_eq!(status, ExitStatus::Signaled(Signal::SIGKILL as i32), "{what}");
                }
                other => panic!("{what}: expected the process's death, got {other:?}"),
            }
            assert!(
                started.elapsed() < timeout,
                "{what}: took {:?}",
                started.elapsed()
            );
            drop(announcements);
            leftovers.assert_none(&what);
        }
    }
}

#[test]
fn a_helper_that_never_reports_times_out_at_the_report() {
    if !require_root("a_helper_that_never_reports_times_out_at_the_report") {
        return;
    }
    let _serial = serial();
    let container = Running::start();
    let leftovers = Leftovers::before();
    let what = "a deaf helper";
    let deaf = env!("CARGO_BIN_EXE_cradle-test-deaf");
    // Until the helper is spawned the launch is not waiting on it: a
    // deadline that passed during the spawn (a loaded machine) is tried
    // again with more time.
    let (result, timeout, took) = linux::with_growing_timeout(what, |timeout| {
        let mut plan = exec_plan(&["/bin/true"], SetnsEntry::Helper);
        plan.timeout = timeout;
        let started = Instant::now();
        let result = Process::start(plan, container.options().init_binary(deaf));
        let took = started.elapsed();
        let early = matches!(
            &result,
            Err(Error::Launch(LaunchError::TimedOut {
                step: Step::Spawn,
                ..
            }))
        );
        (!early).then_some((result, timeout, took))
    });
    match result {
        Err(Error::Launch(LaunchError::TimedOut { step, after })) => {
            assert_eq!((step, after), (Step::ReportPid, timeout), "{what}");
        }
        other => panic!("{what}: expected a timeout at {}, got {other:?}", Step::ReportPid),
    }
    assert!(took < timeout + Duration::from_secs(2), "{what}: took {took:?}");
    leftovers.assert_none(what);
}

#[test]
fn a_process_that_stalls_times_out_with_its_step() {
    if !require_root("a_process_that_stalls_times_out_with_its_step") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let leftovers = Leftovers::before();
        let mut plan = exec_plan(&["/bin/true"], way.entry);
        plan.config.env = vec!["CRADLE_TEST_FAULT=announce@cwd".into()];
        let what = "a stalled process";
        let stalled = linux::start_stalling(what, &plan, || container.options_for(way));
        assert_eq!(stalled.announced, "cwd", "{what}");
        match stalled.result {
            Err(Error::Launch(LaunchError::TimedOut { step, after })) => {
                assert_eq!((step, after), (Step::AwaitReady, stalled.timeout), "{what}");
            }
            other => panic!(
                "{what}: expected a timeout at {}, got {other:?}",
                Step::AwaitReady
            ),
        }
        leftovers.assert_none(what);
    }
}

#[test]
fn a_preserved_descriptor_is_passed_on() {
    if !require_root("a_preserved_descriptor_is_passed_on") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let (mut read, write) = linux::pipe();
        let mut plan = exec_plan(&["/bin/sh", "-c", "ls /proc/self/fd >&3"], way.entry);
        plan.config.preserved_fds = 1;
        let options = container.options_for(way).preserve_fd(write);
        let mut process = Process::start(plan, options).expect("exec");
        let listing = linux::read_to_end(&mut read, DEADLINE);
        assert_eq!(
            process.wait_timeout(DEADLINE).expect("wait"),
            Some(ExitStatus::Exited(0))
        );
        // stdio, the preserved pipe, and the descriptor `ls` reads the
        // directory with; nothing of the launcher's or the helper's.
        assert_eq!(
            listing.split_whitespace().collect::<Vec<_>>(),
            ["0", "1", "2", "3", "4"]
        );
    }
}

#[test]
fn a_detached_process_runs_on_for_the_caller_to_reap() {
    if !require_root("a_detached_process_runs_on_for_the_caller_to_reap") {
        return;
    }
    let _serial = serial();
    for way in ways() {
        let container = Running::start();
        let (read, write) = linux::pipe();
        // It exits once the test closes its stdin: detaching killed nothing.
        let plan = exec_plan(&["/bin/sh", "-c", "read line; exit 7"], way.entry);
        let process = Process::start(plan, container.options_for(way).stdin(read.into())).expect("exec");
        let pid = process.detach();
        let pid = nix::unistd::Pid::from_raw(pid.as_raw());
        assert_eq!(
            nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)).expect("waitpid"),
            nix::sys::wait::WaitStatus::StillAlive,
            "detach reaped or killed it"
        );
        drop(write);
        // Still the caller's child, and its status is the caller's to take.
        assert_eq!(
            nix::sys::wait::waitpid(pid, None).expect("waitpid"),
            nix::sys::wait::WaitStatus::Exited(pid, 7)
        );
    }
}

#[test]
fn the_helper_killed_at_each_of_its_steps() {
    if !require_root("the_helper_killed_at_each_of_its_steps") {
        return;
    }
    let _serial = serial();
    let container = Running::start();
    let links = tempfile::tempdir().expect("a directory for the faulty helpers");
    let timeout = Duration::from_secs(5);
    // At `report` the helper has forked: the process it never reports must
    // be found and reaped all the same.
    for step in [ChildStep::Setns, ChildStep::Fork, ChildStep::Report] {
        let what = format!("the helper killed at {step}");
        // The helper has no config to read a fault from: it takes it from
        // the name it runs under.
        let faulty = links.path().join(format!("announce@{step}"));
        std::os::unix::fs::symlink(INIT, &faulty).expect("link the faulty helper");
        let mut plan = exec_plan(&["/bin/true"], SetnsEntry::Helper);
        plan.timeout = timeout;
        let leftovers = Leftovers::before();
        let options = container.options().init_binary(&faulty);
        let (mut announcements, stdout) = linux::pipe();
        let started = Instant::now();
        let launch = std::thread::spawn(move || Process::start(plan, options.stdout(stdout)));
        let announced = linux::read_line(&mut announcements, timeout);
        assert_eq!(announced.trim_end(), step.as_str(), "{what}");
        let (helper, process) = helper_and_process(&leftovers.children);
        let forked = step == ChildStep::Report;
        assert_eq!(process.is_some(), forked, "{what}: a process {process:?}");
        let helper = helper.unwrap_or_else(|| panic!("{what}: no helper"));
        kill(nix::unistd::Pid::from_raw(helper), Signal::SIGKILL).expect("kill the helper");
        match launch.join().expect("the launch thread") {
            Err(Error::Launch(LaunchError::Exited { step, who, status })) => {
                assert_eq!(
                    (step, who, status),
                    (
                        Step::ReportPid,
                        Who::Helper,
                        ExitStatus::Signaled(Signal::SIGKILL as i32)
                    ),
                    "{what}"
                );
            }
            other => panic!("{what}: expected the helper's death, got {other:?}"),
        }
        assert!(
            started.elapsed() < timeout,
            "{what}: took {:?}",
            started.elapsed()
        );
        drop(announcements);
        leftovers.assert_none(&what);
    }
}

#[test]
fn root_clones_into_the_pid_namespace_held_to_the_pids_limit() {
    if !require_root("root_clones_into_the_pid_namespace_held_to_the_pids_limit") {
        return;
    }
    let _serial = serial();
    let free = Running::start();
    let handle = Container::of(&free.init).expect("container");
    assert_eq!(handle.setns_entry(None), SetnsEntry::Clone, "root, no cgroups");
    drop(free);

    // A move into a v1 cgroup is held to no pids limit, a fork there is:
    // under a v1 limit the launching thread clones from the container's
    // pids cgroup, where it counts meanwhile, as a helper does. A clone
    // into a cgroup2 directory is held to its limit by the kernel.
    let own = || fs::read_to_string("/proc/thread-self/cgroup").expect("own cgroups");
    let before = own();
    for (limit, fits) in [(2, false), (3, true)] {
        let limited = Running::start_with(Resources {
            pids_max: Some(limit),
            ..Resources::default()
        });
        let cgroups = limited
            .init
            .cgroup()
            .expect("the container's cgroup")
            .paths()
            .clone();
        let handle = Container::of(&limited.init).expect("container");
        assert_eq!(
            handle.setns_entry(Some(&cgroups)),
            SetnsEntry::Clone,
            "root, a pids limit of {limit}"
        );
        let dir = cgroups
            .v1_with("pids")
            .or(cgroups.v2())
            .expect("a pids hierarchy");
        let current = || fs::read_to_string(dir.file("pids.current")).expect("pids.current");
        assert_eq!(current(), "1\n");
        let leftovers = Leftovers::before();
        let (mut stdout, write) = linux::pipe();
        let plan = exec_plan(
            &["/bin/sh", "-c", "echo ready; exec sleep 100"],
            SetnsEntry::Clone,
        );
        let result = Process::start(plan, limited.options().stdout(write));
        // The thread counts too in v1: a limit of 2 is full there.
        let refused = cgroups.v1_with("pids").is_some() && !fits;
        match result {
            Ok(mut process) if !refused => {
                assert_eq!(linux::read_line(&mut stdout, DEADLINE), "ready\n");
                let cgroups = |pid: &str| fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
                assert_eq!(
                    cgroups(&process.pid().to_string()),
                    cgroups(&limited.pid()),
                    "limit {limit}: in the container's cgroups"
                );
                assert_eq!(current(), "2\n", "limit {limit}: counted");
                process.terminate().expect("terminate");
            }
            Err(Error::Launch(LaunchError::Command {
                step: Step::Spawn,
                error,
            })) if refused => assert_eq!(error.errno, Some(libc::EAGAIN), "limit {limit}: {error:?}"),
            other => panic!("limit {limit}: expected refused = {refused}, got {other:?}"),
        }
        drop(stdout);
        leftovers.assert_none("an exec at a pids limit");
        assert_eq!(
            own(),
            before,
            "limit {limit}: the launching thread went back to its cgroups"
        );
        assert_eq!(current(), "1\n", "limit {limit}: only the init is left");
    }
}

#[test]
fn a_cloned_process_killed_as_it_joins_fails_the_launch_with_its_death() {
    if !require_root("a_cloned_process_killed_as_it_joins_fails_the_launch_with_its_death") {
        return;
    }
    let _serial = serial();
    // Joining after its exec (a dynamic init binary) and before (static).
    for init in [INIT, INIT_STATIC] {
        let container = Running::start();
        let what = format!("a cloned process of {init} killed at setns");
        let what = what.as_str();
        let leftovers = Leftovers::before();
        let started = Instant::now();
        let held = hold_at_setns(&container, init, &leftovers, what);
        kill(nix::unistd::Pid::from_raw(held.process), Signal::SIGKILL).expect("kill the process");
        match held.launch.join().expect("the launch thread") {
            Err(Error::Launch(LaunchError::Exited { who, status, .. })) => {
                assert_eq!(
                    (who, status),
                    (Who::Process, ExitStatus::Signaled(Signal::SIGKILL as i32)),
                    "{what}"
                );
            }
            other => panic!("{what}: expected the process's death, got {other:?}"),
        }
        assert!(
            started.elapsed() < HELD_TIMEOUT,
            "{what}: took {:?}",
            started.elapsed()
        );
        drop(held.announcements);
        leftovers.assert_none(what);
    }
}
