//! The host's binary stays out of the container's reach (CVE-2019-5736):
//! while a container's init, a setns helper or the process it forks runs
//! the init binary, `/proc/<pid>/exe` is a read-only mount of it (or, for
//! a caller without privileges, a sealed memfd), which cannot be opened for
//! writing or written, and the binary on disk is unchanged.
//!
//! The processes are stopped at a step (the test init's `announce`), and
//! the write attempts come from the host's root and, for a setns helper
//! and its process, from inside a container that has them in view.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::time::Duration;

use cradle_core::{ChildStep, Config, NamespaceKind, Plan};
use cradle_linux::cgroup::CgroupConfig;
use cradle_linux::{Container, Options, Process};
use cradle_tests::linux::{self, new_namespaces, require_root, serial, unique, Leftovers};
use nix::sys::signal::{kill, Signal};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
const PROBE: &str = env!("CARGO_BIN_EXE_cradle-test-probe");
const STEP_BOUND: Duration = Duration::from_secs(10);

/// Checks that process `pid` runs a sealed form of the init binary (a
/// read-only mount of it, or a sealed memfd), which refuses to be opened
/// for writing or written, naming `who`.
fn assert_sealed(pid: i32, who: &str) {
    let exe = format!("/proc/{pid}/exe");
    let target = fs::read_link(&exe).unwrap_or_else(|e| panic!("{who}: readlink {exe}: {e}"));
    let memfd = target.to_string_lossy().starts_with("/memfd:cradle-init");
    let read_only = nix::sys::statvfs::statvfs(exe.as_str())
        .is_ok_and(|fs| fs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    assert!(
        memfd || read_only,
        "{who} runs {target:?}, neither sealed nor read-only"
    );
    assert_ne!(target, std::path::Path::new(INIT), "{who} runs the binary as is");
    for append in [false, true] {
        match OpenOptions::new().write(true).append(append).open(&exe) {
            // While it runs the kernel refuses writers (ETXTBSY), and a
            // read-only mount does (EROFS); were one let into a memfd,
            // its write seal refuses the write itself.
            Err(error) => assert!(
                matches!(error.raw_os_error(), Some(libc::ETXTBSY | libc::EROFS)),
                "{who}: open {exe}: {error}"
            ),
            Ok(mut file) => {
                let error = file.write_all(b"#!").expect_err("the write seal holds");
                assert_eq!(error.raw_os_error(), Some(libc::EPERM), "{who}: write {exe}");
            }
        }
    }
}

/// From inside a container that shares the host's pid namespace (so the
/// helper is in view) and holds every capability, as root in a privileged
/// container would: the escape probe holds `/proc/<pid>/exe`, the helper
/// and its process are killed (their binary is no longer busy), and the
/// probe reopens what it holds for writing. It gets a read-only mount
/// (`EROFS`), never the host's binary.
fn reopen_from_a_container(pid: i32, kill_them: impl FnOnce()) {
    use std::io::{BufRead as _, BufReader};
    let args = [PROBE.to_owned(), "reopen-exe".to_owned(), pid.to_string()];
    let mut config = Config::new(args);
    config.namespaces = new_namespaces(&[NamespaceKind::Mount, NamespaceKind::Uts]);
    let (stdin_read, stdin_write) = nix::unistd::pipe().expect("a pipe");
    let (stdout_read, stdout_write) = linux::pipe();
    let options = Options::new()
        .init_binary(INIT)
        .stdin(stdin_read)
        .stdout(stdout_write);
    let mut prober = Process::start(Plan::init(config), options).expect("the probing container");
    let mut lines = BufReader::new(stdout_read);
    let mut held = String::new();
    lines.read_line(&mut held).expect("the probe's first line");
    assert_eq!(
        held.trim(),
        "held",
        "from inside a container: open /proc/{pid}/exe"
    );
    kill_them();
    std::thread::sleep(Duration::from_millis(50));
    drop(std::fs::File::from(stdin_write));
    let mut answer = String::new();
    lines.read_line(&mut answer).expect("the probe's answer");
    assert_eq!(answer.trim(), "EROFS", "reopening the exe of {pid} for writing");
    prober.wait_timeout(linux::DEADLINE).expect("the probe exits");
}

#[test]
fn a_containers_init_runs_a_sealed_copy() {
    if !require_root("a_containers_init_runs_a_sealed_copy") {
        return;
    }
    let _serial = serial();
    let before = fs::read(INIT).expect("the init binary");
    let leftovers = Leftovers::before();
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount]);
    config.env = vec![format!("CRADLE_TEST_FAULT=announce@{}", ChildStep::User)];
    let (mut announcements, stdout) = linux::pipe();
    let options = Options::new().init_binary(INIT).stdout(stdout);
    let launch = std::thread::spawn(move || Process::start(Plan::init(config), options));
    assert_eq!(
        linux::read_line(&mut announcements, STEP_BOUND).trim_end(),
        "user"
    );
    let init = *linux::children()
        .difference(&leftovers.children)
        .next()
        .expect("the container's init");
    assert_sealed(init, "the container's init");
    kill(nix::unistd::Pid::from_raw(init), Signal::SIGKILL).expect("kill the init");
    assert!(
        launch.join().expect("the launch thread").is_err(),
        "a killed init fails its launch"
    );
    drop(announcements);
    leftovers.assert_none("a sealed init");
    assert!(
        fs::read(INIT).expect("the init binary") == before,
        "the binary on disk changed"
    );
}

#[test]
fn a_setns_helper_and_its_process_run_a_sealed_copy() {
    if !require_root("a_setns_helper_and_its_process_run_a_sealed_copy") {
        return;
    }
    let _serial = serial();
    let before = fs::read(INIT).expect("the init binary");
    let mut config = Config::new(["/bin/sleep", "1000"]);
    config.namespaces = new_namespaces(&[NamespaceKind::Pid, NamespaceKind::Mount, NamespaceKind::Uts]);
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    let cgroup = CgroupConfig {
        adopt_empty: false,
        name: unique("cradle-sealed"),
        ..CgroupConfig::default()
    };
    let mut container =
        Process::start(plan, Options::new().init_binary(INIT).cgroup(cgroup)).expect("start the container");

    // The helper names its fault by the name it runs under; after its fork
    // both it and the process it forked run the init binary.
    let links = tempfile::tempdir().expect("a directory for the helper");
    let helper_binary = links.path().join(format!("announce@{}", ChildStep::Report));
    std::os::unix::fs::symlink(INIT, &helper_binary).expect("link the helper");
    let leftovers = Leftovers::before();
    let (mut announcements, stdout) = linux::pipe();
    let options = Options::new()
        .init_binary(&helper_binary)
        .container(Container::of(&container).expect("the running container"))
        .stdout(stdout);
    let launch = std::thread::spawn(move || Process::start(Plan::setns(Config::new(["/bin/true"])), options));
    assert_eq!(
        linux::read_line(&mut announcements, STEP_BOUND).trim_end(),
        "report"
    );
    let started: Vec<i32> = linux::children()
        .difference(&leftovers.children)
        .copied()
        .collect();
    assert_eq!(started.len(), 2, "the helper and its process: {started:?}");
    for pid in &started {
        assert_sealed(*pid, &format!("setns process {pid}"));
    }
    reopen_from_a_container(started[0], || {
        for pid in &started {
            let _ = kill(nix::unistd::Pid::from_raw(*pid), Signal::SIGKILL);
        }
    });
    assert!(
        launch.join().expect("the launch thread").is_err(),
        "a killed helper fails its launch"
    );
    drop(announcements);
    leftovers.assert_none("a sealed setns helper");
    container.terminate().expect("stop the container");
    if let Some(cgroup) = container.cgroup() {
        cgroup.destroy().expect("remove the container's cgroup");
    }
    assert!(
        fs::read(INIT).expect("the init binary") == before,
        "the binary on disk changed"
    );
}
