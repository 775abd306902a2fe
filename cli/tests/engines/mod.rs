//! What the engine suites (`podman.rs`, `containerd.rs`) share: the runtime
//! they hand the engine, the check that the engine is installed, a cgroup
//! tree of the test's own for the containers, a pseudo-terminal to run an
//! engine on, and finding and ending what an engine left: processes,
//! mounts, state.
//!
//! The runtime is the `cradle` built with the tests, or the one
//! [`RUNTIME_VAR`] names, so that the tests themselves can be checked
//! against runc:
//!
//! ```text
//! CRADLE_ENGINE_RUNTIME=/usr/sbin/runc cargo test -p cradle --test podman --test containerd -- --include-ignored
//! ```

// Each suite uses its part.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cradle_tests::linux::DEADLINE;
use nix::errno::Errno;
use nix::mount::{umount2, MntFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rustix::termios::{tcsetwinsize, Winsize};

/// Names another runtime binary to hand the engines instead of cradle.
pub(crate) const RUNTIME_VAR: &str = "CRADLE_ENGINE_RUNTIME";

/// How long an engine's process gets between SIGTERM and SIGKILL.
pub(crate) const GRACE: Duration = Duration::from_secs(10);

/// The OCI runtime the engines drive: [`RUNTIME_VAR`], or the `cradle`
/// built with these tests.
pub(crate) fn runtime() -> PathBuf {
    let runtime = match std::env::var_os(RUNTIME_VAR) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_cradle")),
    };
    assert!(
        runtime.is_file(),
        "the runtime {} is not a file ({RUNTIME_VAR})",
        runtime.display()
    );
    runtime
}

/// Where `program` is: itself if it is a path, else the first match in PATH.
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Whether every program of `tools` (a name or path, and the Debian package
/// that has it) is installed. A missing one skips `test` (it says so and
/// returns false), except in CI (`CI` set), which installs the engines
/// (`.ci/run`): there it fails the test.
pub(crate) fn tools_present(test: &str, tools: &[(&str, &str)]) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|(program, _)| find_program(program).is_none())
        .map(|(program, package)| format!("{program} (apt-get install {package})"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let in_ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty());
    assert!(
        !in_ci,
        "{test}: missing {}; CI installs it (.ci/run), so it is not skipped there",
        missing.join(", ")
    );
    println!("SKIPPED: {test}: missing {}", missing.join(", "));
    false
}

/// Waits until `done` holds, for up to [`DEADLINE`]; whether it did.
pub(crate) fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A cgroup of the test's own that the engine puts the containers'
/// cgroups below: `<own>/<name>`, where `<own>` is the deepest of this
/// process's own cgroups. Engines name one absolute path for every
/// hierarchy, and this process may sit at different depths in different
/// ones (here `/process_api/<hash>` in memory, `/` in the others): the
/// deepest is below its own cgroup in every hierarchy whose own cgroup is
/// an ancestor of it, which is checked. The ancestors the runtime makes on
/// the way in the other hierarchies are removed with the tree.
///
/// Dropping it thaws and kills whatever is still in it (processes the
/// test's engine started) and removes it.
#[derive(Debug)]
pub(crate) struct CgroupTree {
    /// `<own>/<name>`.
    path: String,
    /// The hierarchies' mount points.
    mounts: Vec<PathBuf>,
    /// Directories between a hierarchy's own cgroup and the tree that did
    /// not exist when this test binary made its first tree, deepest last:
    /// every tree's drop tries them, and the last one removes them.
    made_on_the_way: &'static [PathBuf],
}

/// See [`CgroupTree::made_on_the_way`].
static MADE_ON_THE_WAY: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();

/// This process's cgroup in each mounted hierarchy: mount point and path
/// (as the backend's cgroup layout finds them).
fn own_cgroups() -> Vec<(PathBuf, String)> {
    cradle_linux::cgroup::Layout::detect()
        .expect("this process's cgroups")
        .hierarchies()
        .iter()
        .map(|hierarchy| {
            let own = hierarchy.own_cgroup.to_string_lossy().into_owned();
            (hierarchy.mount_point.clone(), own)
        })
        .collect()
}

/// The directories between each hierarchy's own cgroup (`own`) and
/// `deepest` that do not exist yet, deepest last; panics if an own cgroup
/// is not an ancestor of `deepest`.
fn missing_between(own: &[(PathBuf, String)], deepest: &str) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    for (mount, path) in own {
        let below = Path::new(deepest).strip_prefix(path).unwrap_or_else(|_| {
            panic!(
                "this process's cgroups are not nested ({path} in {}, {deepest} elsewhere): \
                 no one path for the engine is below all of them",
                mount.display()
            )
        });
        let mut dir = mount.join(path.trim_start_matches('/'));
        for component in below.components() {
            dir.push(component);
            if !dir.exists() {
                missing.push(dir.clone());
            }
        }
    }
    missing
}

impl CgroupTree {
    /// `name` must be unique to the test and this process.
    pub(crate) fn new(name: String) -> CgroupTree {
        let own = own_cgroups();
        let deepest = own
            .iter()
            .map(|(_, path)| path.as_str())
            .max_by_key(|path| path.len())
            .unwrap_or("/")
            .to_owned();
        let made_on_the_way = MADE_ON_THE_WAY.get_or_init(|| missing_between(&own, &deepest));
        CgroupTree {
            path: format!("{}/{name}", deepest.trim_end_matches('/')),
            mounts: own.into_iter().map(|(mount, _)| mount).collect(),
            made_on_the_way,
        }
    }

    /// `<own>/<name>`, as the engine is given it.
    pub(crate) fn path(&self) -> String {
        self.path.clone()
    }

    /// The tree's top directory in each hierarchy that has it.
    fn tops(&self) -> Vec<PathBuf> {
        self.mounts
            .iter()
            .map(|mount| mount.join(self.path.trim_start_matches('/')))
            .filter(|top| top.is_dir())
            .collect()
    }

    /// Every directory below the tops (not the tops), parents first.
    fn below(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = self.tops();
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    found.push(entry.path());
                    stack.push(entry.path());
                }
            }
        }
        found.sort();
        found
    }

    /// The cgroups below the tree, in any hierarchy, except those named in
    /// `engine_own` (the engine's own, such as podman's `conmon`): the
    /// containers' cgroups, which their runtime must remove.
    pub(crate) fn containers_left(&self, engine_own: &[&str]) -> Vec<PathBuf> {
        self.below()
            .into_iter()
            .filter(|dir| {
                let name = dir.file_name().unwrap_or_default().to_string_lossy();
                !engine_own.contains(&name.as_ref())
            })
            .collect()
    }

    /// The processes anywhere in the tree.
    pub(crate) fn processes(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .tops()
            .into_iter()
            .chain(self.below())
            .flat_map(|dir| {
                fs::read_to_string(dir.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|pid| pid.parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Thaws the tree, kills what is in it and removes it, children first;
    /// after [`DEADLINE`], says what is left.
    fn remove(&self) -> Result<(), Vec<PathBuf>> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let mut dirs = self.tops();
            dirs.extend(self.below());
            if dirs.is_empty() {
                // Another test's tree may still be below them: then it
                // removes them.
                for dir in self.made_on_the_way.iter().rev() {
                    let _ = fs::remove_dir(dir);
                }
                return Ok(());
            }
            for dir in &dirs {
                let freezer = dir.join("freezer.state");
                if freezer.exists() {
                    let _ = fs::write(freezer, "THAWED");
                }
            }
            for pid in self.processes() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            // Deepest first: a cgroup with children cannot go.
            for dir in dirs.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
            if Instant::now() >= deadline {
                let left: Vec<PathBuf> = self.tops().into_iter().chain(self.below()).collect();
                return if left.is_empty() { Ok(()) } else { Err(left) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for CgroupTree {
    fn drop(&mut self) {
        if let Err(left) = self.remove() {
            eprintln!("could not remove the test's cgroups: {left:?}");
        }
    }
}

/// Processes other than this one whose command line holds `needle` (a
/// path of the test's own: what they are, the test started, through its
/// engine), as pid and command line.
pub(crate) fn processes_mentioning(needle: &Path) -> Vec<(i32, String)> {
    let needle = needle.to_string_lossy().into_owned();
    let own = std::process::id();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own || is_gone(pid) {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push((pid as i32, cmdline.trim_end().to_owned()));
        }
    }
    found
}

/// Whether `pid` has exited (a zombie has).
fn is_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Ends `pid`, a process the test started (perhaps through its engine):
/// SIGTERM, and SIGKILL if it is still there after `grace`.
pub(crate) fn end_process(pid: i32, grace: Duration) {
    let target = Pid::from_raw(pid);
    if kill(target, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + grace;
    while !is_gone(pid as u32) {
        if Instant::now() >= deadline {
            let _ = kill(target, Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ends `child`: SIGTERM, SIGKILL if it is still running after `grace`, and
/// reaps it.
pub(crate) fn end_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The mount points at or below `dir`, deepest first.
pub(crate) fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("/proc/self/mountinfo");
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|point| point.starts_with(dir))
        .collect();
    found.sort();
    found.dedup();
    found.reverse();
    found
}

/// Detaches every mount at or below `dir`, so that removing it removes
/// only the test's files.
pub(crate) fn unmount_below(dir: &Path) {
    for point in mounts_below(dir) {
        if let Err(error) = umount2(&point, MntFlags::MNT_DETACH) {
            eprintln!("could not unmount {}: {error}", point.display());
        }
    }
}

/// The containers a runtime's state directory holds: its entries, except
/// what cradle's containers share (see `state_leftovers`).
pub(crate) fn containers_in_state(dir: &Path) -> Vec<String> {
    cradle_tests::linux::state_leftovers(dir)
}

/// What a command run on a terminal wrote there, and how it ended.
#[derive(Debug)]
pub(crate) struct TerminalRun {
    pub(crate) output: String,
    pub(crate) status: ExitStatus,
}

/// Runs `command` with a new pseudo-terminal of `rows` x `cols` as its
/// stdin, stdout and stderr, as a user at a terminal would; kills it and
/// fails the test if it runs longer than [`DEADLINE`].
pub(crate) fn run_on_terminal(mut command: Command, rows: u16, cols: u16) -> TerminalRun {
    let pty = openpty(None, None).expect("openpty");
    let mut master = File::from(pty.master);
    let size = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    tcsetwinsize(&master, size).expect("window size");
    let stdio = || Stdio::from(pty.slave.try_clone().expect("the terminal's slave"));
    let mut child = command
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .expect("spawn the engine");
    drop(pty.slave);

    let deadline = Instant::now() + DEADLINE;
    let mut output = Vec::new();
    let mut buf = [0; 4096];
    let mut exited = None;
    loop {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{command:?} did not end within {DEADLINE:?}; it wrote {:?}",
                String::from_utf8_lossy(&output)
            );
        }
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let ready = match poll(&mut fds, PollTimeout::from(50u16)) {
            Ok(ready) => ready > 0,
            Err(Errno::EINTR) => continue,
            Err(error) => panic!("poll the terminal: {error}"),
        };
        if ready {
            match master.read(&mut buf) {
                // EIO: every slave is closed.
                Ok(0) | Err(_) => break,
                Ok(n) => output.extend_from_slice(&buf[..n]),
            }
            continue;
        }
        // Quiet: done once the engine has exited and its output is read.
        if exited.is_some() {
            break;
        }
        exited = child.try_wait().expect("wait for the engine");
    }
    let status = match exited {
        Some(status) => status,
        None => {
            assert!(
                wait_until(|| matches!(child.try_wait(), Ok(Some(_)))),
                "{command:?} closed its terminal but did not exit"
            );
            child.wait().expect("the engine's exit status")
        }
    };
    TerminalRun {
        output: String::from_utf8_lossy(&output).into_owned(),
        status,
    }
}
