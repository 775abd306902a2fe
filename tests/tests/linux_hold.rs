//! The hold after `ready`, as root: a held init runs nothing of the user's
//! until it is started (or, in a recorded run, until the caller's work
//! ends), and a hold that is dropped, or outlasts the launch's deadline,
//! leaves nothing behind. A hold handed off (the OCI
//! `create`) outlives its launcher until another one resumes it (the OCI
//! `start`) through the listening socket it was given.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cradle_core::{ChildStep, Config, LaunchError, NamespaceKind, Pid, Plan, Step};
use cradle_linux::cgroup::{Cgroup, CgroupConfig};
use cradle_linux::{CreatedProcess, Error, HeldProcess, Options, Process};
use cradle_tests::linux::{self, new_namespaces, require_root, unique};
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};

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
        adopt_empty: false,
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

/// Nothing of the launch of process `pid`, in cgroups named `name`, is
/// left, and its command (which makes `marker`) never ran.
#[track_caller]
fn assert_undone(pid: i32, name: &str, marker: &Path) {
    assert!(!alive(pid), "process {pid} (or its zombie) is left");
    assert!(cgroups_left(name).is_empty(), "{:?}", cgroups_left(name));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!marker.exists(), "the command ran");
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

/// A copy of the child's end of the launch socket held by another process
/// (as a fork of the caller's on another thread holds it, until its own
/// `exec`) delays the end of stream that tells the launch its process
/// `exec`d. A process that `exec`d and exited meanwhile is reported
/// running, with its exit status, once the copy is closed within the
/// launch's grace; not failed at `AwaitExec` for its exit.
#[test]
fn a_copy_of_the_childs_socket_held_elsewhere_delays_the_verdict_only() {
    if !require_root("a_copy_of_the_childs_socket_held_elsewhere_delays_the_verdict_only") {
        return;
    }
    const HELD_FOR: Duration = Duration::from_millis(400);
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid]);
    let held = Process::start_held(Plan::init(config), Options::new().init_binary(INIT)).expect("held");
    // The child's end is at 3: no stdio or preserved descriptors precede it.
    let pid = rustix::process::Pid::from_raw(held.pid().as_raw()).expect("a pid");
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).expect("pidfd_open");
    let copy = rustix::process::pidfd_getfd(&pidfd, 3, rustix::process::PidfdGetfdFlags::empty())
        .expect("pidfd_getfd of the child's end");
    let kind = rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&copy).expect("fstat").st_mode);
    assert_eq!(kind, rustix::fs::FileType::Socket);
    let holder = std::thread::spawn(move || {
        std::thread::sleep(HELD_FOR);
        drop(copy);
    });
    let started = Instant::now();
    let mut process = held.start().expect("the exec, told once the copy is closed");
    let told_after = started.elapsed();
    holder.join().expect("the holder");
    // The copy did hold the end of stream: `true` exits at once.
    assert!(told_after >= HELD_FOR / 2, "told after {told_after:?}");
    let status = process.wait_timeout(linux::DEADLINE).expect("wait");
    assert_eq!(status, Some(cradle_core::ExitStatus::Exited(0)));
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
    assert_undone(pid, &name, &marker);
}

#[test]
fn work_meanwhile_runs_while_the_child_sets_up_and_before_it_can_run() {
    if !require_root("work_meanwhile_runs_while_the_child_sets_up_and_before_it_can_run") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-meanwhile");
    let mut seen = None;
    let held = Process::start_held_while(plan(&marker), options(&name), |pid| {
        // The child is there, in its cgroup, and has not got far: its
        // command cannot have run, and it is not held yet.
        let raw = pid.as_raw();
        let exe = std::fs::read_link(format!("/proc/{raw}/exe")).ok();
        let in_cgroup = linux::cgroups_named(&name).iter().any(|dir| {
            std::fs::read_to_string(dir.join("cgroup.procs"))
                .is_ok_and(|procs| procs.lines().any(|line| line == raw.to_string()))
        });
        seen = Some((raw, exe, in_cgroup, marker.exists()));
        // As long as it takes: the child goes on and holds meanwhile.
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    })
    .expect("held");
    let (pid, exe, in_cgroup, ran) = seen.expect("the work ran");
    assert_eq!(pid, held.pid().as_raw(), "the work got another pid");
    assert!(in_cgroup, "process {pid} is not in its cgroup yet");
    assert!(!ran, "the command ran before the work");
    assert!(
        !exe.is_some_and(|exe| exe.ends_with("sh")),
        "exec'd before the work"
    );
    assert!(!marker.exists(), "the command ran before its start");
    let mut process = held.start().expect("start");
    assert!(wait_for(|| marker.exists()), "the command never ran");
    process.terminate().expect("terminate");
    process.cgroup().expect("cgroup").destroy().expect("destroy");
}

#[test]
fn failed_work_meanwhile_undoes_the_launch_and_is_the_error() {
    if !require_root("failed_work_meanwhile_undoes_the_launch_and_is_the_error") {
        return;
    }
    failed_work_undoes_the_launch("cradle-meanwhile-failed", |plan, options, work| {
        Process::start_held_while(plan, options, work).map(drop)
    });
}

/// The work a caller does while the child sets up, failing.
type Work<'a> = &'a mut dyn FnMut(Pid) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A launch by `start` (held, or recorded) whose work fails is undone,
/// and the work's error is the launch's; the command never runs.
fn failed_work_undoes_the_launch(name: &str, start: fn(Plan, Options, Work<'_>) -> Result<(), Error>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique(name);
    let mut child = None;
    let result = start(plan(&marker), options(&name), &mut |pid| {
        child = Some(pid.as_raw());
        Err("the record could not be written".into())
    });
    match result {
        Err(Error::Meanwhile(error)) => assert_eq!(error.to_string(), "the record could not be written"),
        other => panic!("not the work's error: {other:?}"),
    }
    let pid = child.expect("the work ran");
    assert_undone(pid, &name, &marker);
}

#[test]
fn a_recorded_run_holds_until_the_work_ends_then_runs_unstarted() {
    if !require_root("a_recorded_run_holds_until_the_work_ends_then_runs_unstarted") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-recorded");
    let mut seen = None;
    let mut process = Process::start_recorded_while(plan(&marker), options(&name), |pid| {
        // Long enough for the child to be set up and at its hold: it
        // waits there for the work, whatever its `ready` says.
        std::thread::sleep(Duration::from_millis(200));
        let raw = pid.as_raw();
        let exe = std::fs::read_link(format!("/proc/{raw}/exe")).ok();
        seen = Some((raw, exe, marker.exists()));
        Ok(())
    })
    .expect("running");
    let (pid, exe, ran) = seen.expect("the work ran");
    assert_eq!(pid, process.pid().as_raw(), "the work got another pid");
    assert!(!ran, "the command ran before the work ended");
    assert!(
        !exe.is_some_and(|exe| exe.ends_with("sh")),
        "exec'd before the work ended"
    );
    // Running with no start of the caller's.
    assert!(wait_for(|| marker.exists()), "the command never ran");
    process.terminate().expect("terminate");
    process.cgroup().expect("cgroup").destroy().expect("destroy");
    assert!(cgroups_left(&name).is_empty(), "{:?}", cgroups_left(&name));
}

#[test]
fn failed_work_in_a_recorded_run_undoes_the_launch_and_is_the_error() {
    if !require_root("failed_work_in_a_recorded_run_undoes_the_launch_and_is_the_error") {
        return;
    }
    failed_work_undoes_the_launch("cradle-recorded-failed", |plan, options, work| {
        Process::start_recorded_while(plan, options, work).map(drop)
    });
}

#[test]
fn a_recorded_run_whose_child_fails_its_set_up_names_the_childs_step() {
    if !require_root("a_recorded_run_whose_child_fails_its_set_up_names_the_childs_step") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-recorded-cwd");
    let mut plan = plan(&marker);
    plan.config.cwd = PathBuf::from("/no/such/directory");
    // The work outlasts the child, which has failed and exited when the
    // start is given: the start pipe's EPIPE is not what is reported.
    let result = Process::start_recorded_while(plan, options(&name), |_| {
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    });
    match &result {
        Err(Error::Launch(LaunchError::Child { error, .. })) => {
            assert_eq!((error.step, error.errno), (ChildStep::Cwd, Some(libc::ENOENT)));
        }
        other => panic!("expected the child's cwd error, got {other:?}"),
    }
    assert!(cgroups_left(&name).is_empty(), "{:?}", cgroups_left(&name));
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

/// How long a resume waits for the `exec`.
const RESUME_TIMEOUT: Duration = Duration::from_secs(5);

/// A hand-off socket bound in `dir`: where a resume connects, and the
/// listener for [`Options::hand_off_listener`].
fn hold_socket(dir: &Path) -> (PathBuf, UnixListener) {
    let path = dir.join("hold.sock");
    let listener = UnixListener::bind(&path).expect("bind the hold socket");
    (path, listener)
}

/// The state letter of `/proc/<pid>/stat`, while there is one.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which may hold anything but ends at the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits for `pid`, our child, to end and reaps it.
fn reap(pid: i32) -> WaitStatus {
    waitpid(nix::unistd::Pid::from_raw(pid), None).expect("waitpid of our child")
}

/// `plan`, held and handed off with a listener bound in `dir`: the created
/// process, its start time, and where its hold listens.
fn create(plan: Plan, options: Options, dir: &Path) -> (CreatedProcess, u64, PathBuf) {
    let (hold, listener) = hold_socket(dir);
    let held = Process::start_held(plan, options.hand_off_listener(listener.into())).expect("held");
    let start_time = held.start_time().expect("start time");
    let pid = held.pid();
    let created = held.hand_off().expect("hand off");
    assert_eq!(created.pid, pid);
    (created, start_time, hold)
}

/// Its directories are gone.
#[track_caller]
fn destroyed(cgroup: &Cgroup) {
    for dir in &cgroup.paths().dirs {
        assert!(!dir.path.exists(), "{} is left", dir.path.display());
    }
}

#[test]
fn a_handed_off_process_outlives_its_launcher_and_a_resume_runs_it() {
    if !require_root("a_handed_off_process_outlives_its_launcher_and_a_resume_runs_it") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-created");
    let (created, start_time, hold) = create(plan(&marker), options(&name), dir.path());
    let pid = created.pid.as_raw();
    let cgroup = created.cgroup.expect("the launch's cgroup");
    // Nothing of the launch is left in this process: the launch socket and
    // the start pipe are closed, the listener is the init's alone.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        matches!(state(pid), Some('S')),
        "the handed-off process waits for its start: {:?}",
        state(pid)
    );
    assert!(!marker.exists(), "the command ran before its start");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    assert!(!exe.ends_with("sh"), "exec'd before its start: {exe:?}");

    cradle_linux::resume(created.pid, start_time, &hold, RESUME_TIMEOUT).expect("resume");
    assert!(wait_for(|| marker.exists()), "the command never ran");

    // Started: nobody listens any more. A second start is refused, and
    // the running container is left alone.
    let again = cradle_linux::resume(created.pid, start_time, &hold, RESUME_TIMEOUT);
    match &again {
        Err(Error::Launch(LaunchError::Command {
            step: Step::Start,
            error,
        })) => assert_eq!(error.errno, Some(libc::ECONNREFUSED), "{error}"),
        other => panic!("a second resume must be refused at its start: {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        matches!(state(pid), Some('S' | 'R')),
        "the refused start harmed the running process: {:?}",
        state(pid)
    );

    kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    assert_eq!(
        reap(pid),
        WaitStatus::Signaled(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL, false)
    );
    cgroup.destroy().expect("destroy");
    destroyed(&cgroup);
}

#[test]
fn a_resume_of_a_command_gone_since_its_creation_fails_naming_exec() {
    if !require_root("a_resume_of_a_command_gone_since_its_creation_fails_naming_exec") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // There at the creation (its set-up finds it), gone at the start.
    let program = dir.path().join("program");
    std::fs::copy("/bin/true", &program).expect("copy /bin/true");
    let mut config = Config::new([program.to_str().expect("a UTF-8 path")]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    let options = Options::new().init_binary(INIT);
    let (created, start_time, hold) = create(Plan::init(config), options, dir.path());
    let pid = created.pid.as_raw();
    assert!(created.cgroup.is_none());
    std::fs::remove_file(&program).expect("remove the program");

    let result = cradle_linux::resume(created.pid, start_time, &hold, RESUME_TIMEOUT);
    let error = match &result {
        Err(Error::Launch(LaunchError::Child {
            step: Step::AwaitExec,
            error,
        })) => error,
        other => panic!("expected the child's exec error, got {other:?}"),
    };
    assert_eq!((error.step, error.errno), (ChildStep::Exec, Some(libc::ENOENT)));
    let message = result.unwrap_err().to_string();
    assert!(message.contains("exec"), "{message}");
    // It exits as a shell would for a command not found (unless the
    // resume's kill came first), and it is this process's child to reap.
    let status = reap(pid);
    let child = nix::unistd::Pid::from_raw(pid);
    assert!(
        status == WaitStatus::Exited(child, 127)
            || status == WaitStatus::Signaled(child, Signal::SIGKILL, false),
        "{status:?}"
    );
}

#[test]
fn a_handed_off_process_killed_leaves_no_zombie_once_reaped() {
    if !require_root("a_handed_off_process_killed_leaves_no_zombie_once_reaped") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-killed");
    let (created, start_time, hold) = create(plan(&marker), options(&name), dir.path());
    let pid = created.pid.as_raw();
    let child = nix::unistd::Pid::from_raw(pid);
    kill(child, Signal::SIGKILL).expect("kill");
    assert_eq!(reap(pid), WaitStatus::Signaled(child, Signal::SIGKILL, false));
    assert_eq!(state(pid), None, "process {pid} (or its zombie) is left");
    assert!(!marker.exists(), "the command ran");
    // Nothing is there to resume.
    let result = cradle_linux::resume(created.pid, start_time, &hold, RESUME_TIMEOUT);
    assert!(result.is_err(), "{result:?}");
    let cgroup = created.cgroup.expect("the launch's cgroup");
    cgroup.destroy().expect("destroy");
    destroyed(&cgroup);
}

#[test]
fn the_cgroup_of_a_created_process_is_the_callers_to_destroy() {
    if !require_root("the_cgroup_of_a_created_process_is_the_callers_to_destroy") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-owned");
    let (created, _, _) = create(plan(&marker), options(&name), dir.path());
    let pid = created.pid.as_raw();
    let cgroup = created.cgroup.expect("the launch's cgroup");
    assert!(cgroup.pids().expect("cgroup.procs").contains(&pid));
    // The destroy kills what is in it, the held process too.
    cgroup.destroy().expect("destroy");
    destroyed(&cgroup);
    assert!(cgroups_left(&name).is_empty(), "{:?}", cgroups_left(&name));
    let child = nix::unistd::Pid::from_raw(pid);
    assert_eq!(reap(pid), WaitStatus::Signaled(child, Signal::SIGKILL, false));
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn a_hand_off_without_a_listener_fails_and_leaves_nothing() {
    if !require_root("a_hand_off_without_a_listener_fails_and_leaves_nothing") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let name = unique("cradle-unheard");
    let held = Process::start_held(plan(&marker), options(&name)).expect("held");
    let pid = held.pid().as_raw();
    let result = held.hand_off();
    assert!(
        matches!(
            result,
            Err(Error::Launch(LaunchError::Command {
                step: Step::HandOff,
                ..
            }))
        ),
        "{result:?}"
    );
    assert!(!alive(pid), "process {pid} is left");
    assert!(cgroups_left(&name).is_empty(), "{:?}", cgroups_left(&name));
    assert!(!marker.exists(), "the command ran");
}

/// A launcher may hold descriptors it inherited without close-on-exec (a
/// shell's `5>log`); the init gets them too, one of them perhaps where a
/// hand-off listener would go. A hold started without a hand-off must not
/// take that for a listener, nor fail over it.
#[test]
fn a_started_hold_leaves_alone_what_the_launcher_left_where_a_listener_goes() {
    if !require_root("a_started_hold_leaves_alone_what_the_launcher_left_where_a_listener_goes") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    // A stray at some free number from 5 on (the lower ones it skips are
    // held meanwhile), then made to survive `exec`, as an inherited one.
    let mut skipped = Vec::new();
    let stray = loop {
        let fd = OwnedFd::from(null.try_clone().expect("dup /dev/null"));
        if fd.as_raw_fd() >= 5 {
            break fd;
        }
        skipped.push(fd);
    };
    drop(skipped);
    fcntl(&stray, FcntlArg::F_SETFD(FdFlag::empty())).expect("clear close-on-exec");
    // Enough preserved descriptors that the stray's number is where the
    // init looks for a listener: after stdio, the preserved ones, the
    // launch socket and the start pipe.
    let preserved = usize::try_from(stray.as_raw_fd() - 5).expect("at least 5");
    let mut plan = plan(&marker);
    plan.config.preserved_fds = u32::try_from(preserved).expect("a few");
    let name = unique("cradle-stray");
    let mut options = options(&name);
    for _ in 0..preserved {
        let fd = null.try_clone().expect("dup /dev/null");
        options = options.preserve_fd(fd.into());
    }
    let held = Process::start_held(plan, options).expect("held");
    let mut process = held.start().expect("start, with a stray where a listener goes");
    assert!(wait_for(|| marker.exists()), "the command never ran");
    process.terminate().expect("terminate");
    process.cgroup().expect("cgroup").destroy().expect("destroy");
    drop(stray);
}
