//! Helpers for the root-only suites of the Linux backend
//! (`tests/tests/linux_*.rs`) and of the command: the root check every test
//! makes first, the suite's lock, a busybox rootfs, running a container and
//! capturing its output, and counting the parent's descriptors and
//! children; test cgroups ([`cgroups`]), network namespaces ([`netns`]),
//! namespaces to join by path ([`unshared`]) and launches that time out at
//! a stall ([`stall`]).

pub mod birth;
mod cgroups;
pub mod embedder;
mod netns;
mod stall;
mod unshared;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cradle_core::{Config, ExitStatus, Namespace, NamespaceKind, Plan};
use cradle_linux::{Error, Options, Process};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::{geteuid, pipe2};

pub use self::cgroups::{cgroups_named, test_cgroups_left, CgroupTurn};
pub use self::netns::NetnsThread;
pub use self::stall::{start_stalling, with_growing_timeout, Stalled, FIRST_STALL_TIMEOUT};
pub use self::unshared::Unshared;

/// Set to `1` to let root-only tests pass without running when not root.
/// CI never sets it.
pub const ALLOW_SKIP: &str = "CRADLE_ALLOW_SKIP_ROOT";

/// How long a test waits for a container's output or exit.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Whether `test` can run: true as root. Otherwise it fails the test,
/// unless [`ALLOW_SKIP`] is `1`, in which case it says the test was skipped
/// and returns false. Every root-only test calls it first.
pub fn require_root(test: &str) -> bool {
    if geteuid().is_root() {
        return true;
    }
    let allowed = std::env::var_os(ALLOW_SKIP).is_some_and(|value| value == "1");
    assert!(
        allowed,
        "{test} needs root (it creates namespaces and mounts); run as root, or set {ALLOW_SKIP}=1 to skip it"
    );
    println!("SKIPPED: {test} needs root");
    false
}

/// The suite's lock, for the tests of one binary that must take turns:
/// they count this process's descriptors or children, or fork hundreds of
/// processes. (A poisoned lock is still a turn: one failed test must not
/// fail the rest.)
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

pub use crate::identity_maps;

/// The escape probe of the confinement suites (`cradle-test-probe`),
/// which `cargo test --workspace` builds beside the test binaries.
pub fn probe() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/cradle-test-probe
    let probe = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("cradle-test-probe"))
        .expect("the target directory");
    assert!(
        probe.is_file(),
        "{} is missing: build it with `cargo build -p cradle-tests --bins` (cargo test --workspace does)",
        probe.display()
    );
    probe
}

/// The `busybox` binary of Debian's `busybox-static`.
pub fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("busybox is missing: apt-get install busybox-static")
}

/// A root filesystem of busybox and its applets, in a temporary directory
/// removed on drop.
#[derive(Debug)]
pub struct BusyboxRootfs {
    dir: tempfile::TempDir,
}

impl BusyboxRootfs {
    /// `/bin/busybox`, a link in `/bin` for every applet, and empty `/proc`,
    /// `/dev`, `/sys`, `/tmp`, `/etc`, `/mnt`.
    pub fn new() -> BusyboxRootfs {
        let dir = tempfile::Builder::new()
            .prefix("cradle-rootfs-")
            .tempdir()
            .expect("temporary directory");
        let root = dir.path();
        for sub in ["bin", "proc", "dev", "sys", "tmp", "etc", "mnt"] {
            fs::create_dir(root.join(sub)).expect("rootfs directory");
        }
        let busybox = busybox();
        fs::copy(&busybox, root.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(&busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|a| !a.is_empty())
        {
            if applet != "busybox" {
                symlink("busybox", root.join("bin").join(applet)).expect("applet link");
            }
        }
        BusyboxRootfs { dir }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `content` to `relative` inside it.
    pub fn write(&self, relative: &str, content: &str) {
        fs::write(self.path().join(relative), content).expect("write into the rootfs");
    }
}

impl Default for BusyboxRootfs {
    fn default() -> BusyboxRootfs {
        BusyboxRootfs::new()
    }
}

/// New namespaces of `kinds`.
pub fn new_namespaces(kinds: &[NamespaceKind]) -> Vec<Namespace> {
    kinds.iter().map(|&kind| Namespace::new(kind)).collect()
}

/// A config that runs `args` in `rootfs`, in new mount, pid, uts and ipc
/// namespaces: a container as the root suites start one.
pub fn in_busybox<I, S>(rootfs: &BusyboxRootfs, args: I) -> Config
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut config = Config::new(args);
    config.namespaces = new_namespaces(&[
        NamespaceKind::Mount,
        NamespaceKind::Pid,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
    ]);
    config.rootfs = Some(rootfs.path().to_owned());
    config
}

/// What a container did.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// What it wrote to stdout.
    pub stdout: String,
}

/// Starts `plan` with `init`, its stdout on a pipe; the running process and
/// the pipe's read end.
pub fn start_captured(plan: Plan, init: &str) -> Result<(Process, File), Error> {
    let (read, write) = pipe();
    let process = Process::start(plan, Options::new().init_binary(init).stdout(write))?;
    Ok((process, read))
}

/// Runs `plan` with `init` to its end, capturing stdout.
pub fn run(plan: Plan, init: &str) -> Result<Finished, Error> {
    let (mut process, mut stdout) = start_captured(plan, init)?;
    let output = read_to_end(&mut stdout, DEADLINE);
    let status = process
        .wait_timeout(DEADLINE)?
        .unwrap_or_else(|| panic!("the container did not exit within {DEADLINE:?}"));
    Ok(Finished {
        status,
        stdout: output,
    })
}

/// Reads `file` to its end, failing the test if that takes over `within`.
pub fn read_to_end(file: &mut File, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut bytes = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        wait_readable(file, deadline);
        match file.read(&mut chunk).expect("read the container's output") {
            0 => return String::from_utf8_lossy(&bytes).into_owned(),
            n => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads `file` up to and including the first newline.
pub fn read_line(file: &mut File, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut line = Vec::new();
    let mut byte = [0; 1];
    while line.last() != Some(&b'\n') {
        wait_readable(file, deadline);
        match file.read(&mut byte).expect("read the container's output") {
            0 => break,
            _ => line.push(byte[0]),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

fn wait_readable(file: &File, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, timeout).expect("poll the container's output");
    assert!(ready > 0, "no output from the container within the deadline");
}

/// A close-on-exec pipe: `(read end, write end)`.
pub fn pipe() -> (File, OwnedFd) {
    let (read, write) = pipe2(OFlag::O_CLOEXEC).expect("pipe2");
    (File::from(read), write)
}

/// What a launch leaves behind in this process, checked against what was
/// there before it.
#[derive(Debug)]
pub struct Leftovers {
    /// The descriptors open then.
    pub fds: BTreeSet<i32>,
    /// The children (zombies included) then.
    pub children: BTreeSet<i32>,
}

impl Leftovers {
    /// The descriptors and children there are now.
    pub fn before() -> Leftovers {
        Leftovers {
            fds: open_fds(),
            children: children(),
        }
    }

    /// Panics, naming `what`, if a descriptor or a child (a zombie
    /// included) has been added since [`before`](Leftovers::before).
    pub fn assert_none(&self, what: &str) {
        assert_eq!(open_fds(), self.fds, "{what}: descriptors left in the parent");
        assert_eq!(children(), self.children, "{what}: children (zombies) left");
    }
}

/// The parent's open descriptors, but for the sealed forms of init
/// binaries (a detached read-only mount, which reads as `/`, or a memfd),
/// which the backend makes at a binary's first launch and keeps for every
/// later one.
pub fn open_fds() -> BTreeSet<i32> {
    // The directory read has a descriptor of its own while it is open;
    // collect first, then drop it from the set.
    let entries: Vec<i32> = fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    entries
        .into_iter()
        .filter(|fd| {
            let link = fs::read_link(format!("/proc/self/fd/{fd}"));
            link.is_ok_and(|target| {
                let target = target.to_string_lossy();
                target != "/" && !target.starts_with("/memfd:cradle-init")
            })
        })
        .collect()
}

/// The child's error a launch failed with, or a panic naming what came
/// instead (a process that ran is terminated first).
pub fn child_error(result: Result<Process, Error>) -> cradle_core::ChildError {
    match result {
        Err(Error::Launch(cradle_core::LaunchError::Child { error, .. })) => error,
        Err(other) => panic!("expected the child's error, got {other:?}"),
        Ok(mut process) => {
            let status = process.terminate();
            panic!("expected the child's error, the process ran ({status:?})")
        }
    }
}

/// A device rule that allows every access to every device.
pub fn allow_every_device() -> cradle_linux::cgroup::DeviceRule {
    use cradle_linux::cgroup::{DeviceAccess, DeviceRule, DeviceType};
    DeviceRule {
        allow: true,
        kind: DeviceType::All,
        major: None,
        minor: None,
        access: DeviceAccess::ALL,
    }
}

/// The descriptors open in process `pid`.
pub fn fds_of(pid: i32) -> BTreeSet<i32> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/<pid>/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The descriptors open in process `pid` once its program has started,
/// compared with `wanted`: a dynamically linked program's loader opens and
/// closes its libraries as it starts, so a set other than `wanted` is
/// looked at again until [`DEADLINE`]. A descriptor the process inherited
/// stays, and is in the set returned.
pub fn settled_fds_of(pid: i32, wanted: &BTreeSet<i32>) -> BTreeSet<i32> {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let fds = fds_of(pid);
        if fds == *wanted || std::time::Instant::now() >= deadline {
            return fds;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The parent's children, zombies included, whichever thread forked them.
pub fn children() -> BTreeSet<i32> {
    children_of(i32::try_from(std::process::id()).expect("a pid fits an i32"))
}

/// The children of process `parent`, zombies included: every process in
/// `/proc` whose parent it is.
///
/// Not `/proc/<pid>/task/<tid>/children`: that file exists only with
/// `CONFIG_PROC_CHILDREN`, and proc(5) calls it reliable only while the
/// children are stopped; a kernel without it would make every check of
/// children pass on an empty set.
pub fn children_of(parent: i32) -> BTreeSet<i32> {
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        // A process that is gone by the time its stat is read (reaped, so
        // no child any more) is skipped.
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// Whether process `pid` has ended and waits to be reaped (or is gone).
pub fn is_zombie(pid: i32) -> bool {
    stat_fields(pid).is_none_or(|fields| matches!(fields.first().map(String::as_str), Some("Z" | "X")))
}

/// Whether process `pid` is stopped (by a signal, not traced).
pub fn is_stopped(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|fields| fields.first().map(String::as_str) == Some("T"))
}

/// The parent pid of process `pid`; `None` once it is gone.
fn parent_of(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold
/// spaces and parentheses): the state first, then the parent pid, ...;
/// `None` once the process is gone.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// What a `cradle` state root holds beyond what its containers share:
/// its entries but the compiled seccomp filters (`.seccomp`), the ids of
/// the device programs loaded (`.devices`) and the directory a removed
/// container leaves for the next one (`.spare`) while that is empty; a
/// spare that holds anything is named with what it holds. Nothing for a
/// root that does not exist.
pub fn state_leftovers(root: &Path) -> Vec<String> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(error) => panic!("read the state root {}: {error}", root.display()),
    };
    let mut left = Vec::new();
    for name in entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
    {
        match name.as_str() {
            ".seccomp" | ".devices" => {}
            ".spare" => left.extend(
                fs::read_dir(root.join(&name))
                    .expect("read the spare directory")
                    .flatten()
                    .map(|entry| format!(".spare/{}", entry.file_name().to_string_lossy())),
            ),
            _ => left.push(name),
        }
    }
    left
}

/// A name no other test in this run uses (for hostnames, mount sources).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The namespace `/proc/<pid>/ns/<kind>` names, as `readlink` shows it.
pub fn namespace_of(pid: &str, kind: NamespaceKind) -> String {
    let link = format!("/proc/{pid}/ns/{}", kind.proc_name());
    fs::read_link(&link)
        .unwrap_or_else(|e| panic!("{link}: {e}"))
        .display()
        .to_string()
}

/// The directories of the cgroups process `pid` is in, one per hierarchy
/// that is mounted here, as the backend's [`Layout`] maps them.
///
/// [`Layout`]: cradle_linux::cgroup::Layout
pub fn cgroup_dirs_of(pid: &str) -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("/proc/self/mountinfo");
    let membership = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("/proc/<pid>/cgroup");
    cradle_linux::cgroup::Layout::parse(&mountinfo, &membership)
        .hierarchies()
        .iter()
        .filter_map(|hierarchy| hierarchy.dir(&hierarchy.own_cgroup))
        .collect()
}

/// `count` descriptors of `/dev/null` without close-on-exec, as a caller
/// of a launcher can leave them.
pub fn inheritable(count: usize) -> Vec<OwnedFd> {
    (0..count)
        .map(|_| {
            nix::fcntl::open("/dev/null", OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
                .expect("open /dev/null")
        })
        .collect()
}

/// A directory of the host open without close-on-exec in this process, as
/// a caller of a launcher can leave one, numbered above the descriptors a
/// launch's child gets (opened after 20 others, held as long as it is).
#[derive(Debug)]
pub struct HostDirectory {
    pub dir: tempfile::TempDir,
    pub fd: OwnedFd,
    _below: Vec<OwnedFd>,
}

impl HostDirectory {
    pub fn open() -> HostDirectory {
        let below = inheritable(20);
        let dir = tempfile::tempdir().expect("a host directory");
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        let fd = nix::fcntl::open(dir.path(), flags, nix::sys::stat::Mode::empty()).expect("open it");
        HostDirectory {
            dir,
            fd,
            _below: below,
        }
    }

    /// Where a process that holds it finds it: `/proc/self/fd/<n>`.
    pub fn through_proc(&self) -> String {
        format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&self.fd))
    }
}
