//! What every suite needs: a root check, a state directory of its own that
//! is checked to be left clean, unique container names, a busybox rootfs,
//! and a check that no cgroup of a test's container is left.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use assert_cmd::Command;

pub mod bundle;
pub mod timings;

// The root check, its deadline, the busybox rootfs and the cgroup search
// are the root suites' own, shared.
pub use cradle_tests::linux::{cgroups_named, require_root, BusyboxRootfs, DEADLINE};

/// A state directory of a test's own, and the names its containers get.
#[derive(Debug)]
pub struct Sandbox {
    root: tempfile::TempDir,
    test: String,
}

impl Sandbox {
    pub fn new(test: &str) -> Sandbox {
        let root = tempfile::Builder::new()
            .prefix("cradle-cli-state-")
            .tempdir()
            .expect("temporary state directory");
        Sandbox {
            root,
            test: test.to_owned(),
        }
    }

    /// A container name unique to this test and process: cgroup names are
    /// shared by every test running at once.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{}-{suffix}", self.test, std::process::id())
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `cradle --root <this sandbox>` with a deadline.
    pub fn cradle(&self) -> Command {
        let mut command = Command::new(cradle_bin());
        command.arg("--root").arg(self.root()).timeout(DEADLINE);
        command
    }

    /// Starts a detached container called `name` that sleeps, on the host's
    /// root, checked to have started.
    pub fn start_sleeping(&self, name: &str) {
        self.cradle()
            .args(["run", "-d", "--name", name, "--", "sleep", "1000"])
            .assert()
            .success();
    }

    /// The same as a std command, for tests that signal or feed it.
    pub fn std_cradle(&self) -> StdCommand {
        let mut command = StdCommand::new(cradle_bin());
        command.arg("--root").arg(self.root());
        command
    }

    /// The `status` of container `id`, as `cradle state` reports it.
    pub fn state(&self, id: &str) -> serde_json::Value {
        let output = self.cradle().args(["state", id]).output().expect("cradle state");
        assert!(
            output.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("state is JSON")
    }

    /// Waits until container `id` has status `status`.
    pub fn wait_for_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + DEADLINE;
        while self.state(id)["status"] != status {
            assert!(Instant::now() < deadline, "{id} never became {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until process `pid` has a handler for `signal` (its
    /// `SigCgt` in `/proc/<pid>/status`).
    pub fn wait_for_handler(&self, pid: u64, signal: nix::sys::signal::Signal) {
        let deadline = Instant::now() + DEADLINE;
        let bit = 1u64 << (signal as i32 - 1);
        loop {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let caught = status
                .lines()
                .find_map(|line| line.strip_prefix("SigCgt:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok());
            if caught.is_some_and(|mask| mask & bit != 0) {
                return;
            }
            assert!(Instant::now() < deadline, "{pid} never caught {signal}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Fails unless nothing of the test's containers is left: no state
    /// directory entry and no cgroup named after them.
    pub fn assert_clean(&self) {
        let left = cradle_tests::linux::state_leftovers(self.root());
        assert!(left.is_empty(), "state left behind: {left:?}");
        let prefix = format!("cradle-{}-{}-", self.test, std::process::id());
        let cgroups = cgroups_named(&prefix);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
    }
}

impl Drop for Sandbox {
    /// Removes whatever a failed test left running.
    fn drop(&mut self) {
        let Ok(entries) = fs::read_dir(self.root()) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            if let Some(id) = entry.file_name().to_str().filter(|name| !name.starts_with('.')) {
                let _ = self.std_cradle().args(["delete", "--force", id]).output();
            }
        }
    }
}

/// The `cradle` under test: `$CRADLE_TEST_BINARY` when set (CI points it
/// at a copy of this build's `cradle` with a `cradle-init` built for musl
/// beside it), else the `cradle` built with these tests.
pub fn cradle_bin() -> PathBuf {
    match std::env::var_os("CRADLE_TEST_BINARY") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_cradle")),
    }
}

/// `stderr` as text, checked to be exactly one line.
pub fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).into_owned();
    assert_eq!(text.lines().count(), 1, "not one line: {text:?}");
    assert!(text.starts_with("cradle: "), "{text:?}");
    text
}

/// Waits for `child` to exit, failing the test after [`DEADLINE`].
pub fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("wait for cradle") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "cradle did not exit within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the terminal `master` into `seen` until `needle` has appeared in
/// it, within [`DEADLINE`].
pub fn read_until(master: &mut std::fs::File, seen: &mut String, needle: &str) {
    if let Err(why) = try_read_until(master, seen, needle) {
        panic!("{why}");
    }
}

/// [`read_until`], with why it failed (the terminal closed, or the
/// deadline passed) for the caller to add to.
pub fn try_read_until(master: &mut std::fs::File, seen: &mut String, needle: &str) -> Result<(), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Read as _;
    use std::os::fd::AsFd as _;

    let deadline = Instant::now() + DEADLINE;
    let mut buf = [0; 1024];
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no {needle:?} in {seen:?}"));
        }
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        if poll(&mut fds, timeout).expect("poll") == 0 {
            continue;
        }
        match master.read(&mut buf) {
            Ok(0) => return Err(format!("terminal closed before {needle:?}: {seen:?}")),
            Err(error) => return Err(format!("terminal closed before {needle:?} ({error}): {seen:?}")),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    Ok(())
}

/// The test's own cgroup in the v1 pids hierarchy, and where it is mounted.
pub fn own_pids_cgroup() -> Option<(String, PathBuf)> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let cgroup = text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "pids")
            .then(|| path.to_owned())
    })?;
    let mount = PathBuf::from("/sys/fs/cgroup/pids");
    mount.join("tasks").exists().then_some((cgroup, mount))
}
