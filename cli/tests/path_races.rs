//! No symlink, race or planted file in a rootfs can make cradle act on the
//! host: real attempts, with harmless targets in temporary directories.
//!
//! - A swapper thread exchanges (`renameat2(RENAME_EXCHANGE)`) the rootfs's
//!   `dev` with a symlink to a host directory while cradle launches
//!   containers on it: nothing in that directory may change, and no mount
//!   may appear on the host.
//! - The swapper exchanges the rootfs itself with a symlink to a stand-in
//!   for the host's `/` (a busybox rootfs with a marker file): no
//!   container may ever run in it, nor write to it.
//! - A symlink is planted, in turn, at every path cradle creates or
//!   mounts in the rootfs (and at the `--cwd` directory): a launch is
//!   refused with one line naming the path, or goes on without touching
//!   what the link points at.
//!
//! Each test takes the suite's lock: a swapper spins a core, and the
//! counts printed (`--nocapture`) are for one test at a time.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::{symlink, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use common::{one_line, require_root, BusyboxRootfs, Sandbox};
use cradle_tests::linux::serial;
use nix::fcntl::{renameat2, RenameFlags};
use nix::mount::{umount2, MntFlags};

/// Launches per race.
const LAUNCHES: usize = 200;

/// The user namespace flags of the races' second variant.
const USERNS: [&str; 5] = [
    "--userns",
    "--uid-map",
    "0:100000:65536",
    "--gid-map",
    "0:100000:65536",
];

/// The marker of the stand-in for the host's `/`.
const HOST_MARKER: &str = "i-am-the-host";

/// A thread that exchanges `dir/real` (a directory) and `dir/decoy` (a
/// symlink) with `renameat2(RENAME_EXCHANGE)` as fast as it can, until
/// stopped. Stopping (or dropping) it puts the directory back at `real`.
#[derive(Debug)]
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
    dir: PathBuf,
    real: String,
    decoy: String,
}

impl Swapper {
    fn start(dir: &Path, real: &str, decoy: &str) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let parent = File::open(dir).expect("open the swapped entries' directory");
        let thread = {
            let stop = Arc::clone(&stop);
            let (real, decoy) = (real.to_owned(), decoy.to_owned());
            std::thread::spawn(move || {
                let mut swaps = 0;
                while !stop.load(Ordering::Relaxed) {
                    renameat2(
                        &parent,
                        real.as_str(),
                        &parent,
                        decoy.as_str(),
                        RenameFlags::RENAME_EXCHANGE,
                    )
                    .expect("renameat2(RENAME_EXCHANGE)");
                    swaps += 1;
                }
                swaps
            })
        };
        Swapper {
            stop,
            thread: Some(thread),
            dir: dir.to_owned(),
            real: real.to_owned(),
            decoy: decoy.to_owned(),
        }
    }

    /// Stops the thread and puts the directory back; how many exchanges
    /// it made.
    fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let swaps = match self.thread.take() {
            Some(thread) => thread.join().unwrap_or(0),
            None => return 0,
        };
        let real = self.dir.join(&self.real);
        if real.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
            let parent = File::open(&self.dir).expect("open the swapped entries' directory");
            let _ = renameat2(
                &parent,
                self.real.as_str(),
                &parent,
                self.decoy.as_str(),
                RenameFlags::RENAME_EXCHANGE,
            );
        }
        swaps
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The host's mount table (this process's `mountinfo`), line by line.
fn mount_table() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("/proc/self/mountinfo")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The mount point of a `mountinfo` line, its octal escapes undone.
fn mount_point(line: &str) -> PathBuf {
    let field = line.split(' ').nth(4).unwrap_or_default();
    let mut bytes = Vec::new();
    let mut rest = field.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let octal = tail
            .get(..3)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match (first, octal) {
            (b'\\', Some(byte)) => {
                bytes.push(byte);
                rest = &tail[3..];
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    PathBuf::from(OsString::from_vec(bytes))
}

/// Mounts that appeared on the host since `before` where a leaked
/// container mount would be: under the temporary directory (the rootfs and
/// the victims are there), or on `/`, `/proc`, `/dev`, `/sys`. Other new
/// entries are printed only: other suites on the machine may mount (a
/// network namespace in `/run/netns`).
fn new_mounts(before: &BTreeSet<String>) -> Vec<String> {
    let temp = fs::canonicalize(std::env::temp_dir()).expect("the temporary directory");
    let mut ours = Vec::new();
    for line in mount_table().difference(before) {
        let point = mount_point(line);
        let suspect = point == Path::new("/")
            || point.starts_with(&temp)
            || ["/proc", "/dev", "/sys"].iter().any(|p| point.starts_with(p));
        if suspect {
            ours.push(line.clone());
        } else {
            println!("a new host mount not of this test: {line}");
        }
    }
    ours
}

/// Detaches, on drop, whatever got mounted on the host under its
/// directories, deepest first, so that removing them never reaches into a
/// mount. (Declared after the temporary directories, it drops first.)
#[derive(Debug)]
struct DetachLeaks(Vec<PathBuf>);

impl Drop for DetachLeaks {
    fn drop(&mut self) {
        let mut leaked: Vec<PathBuf> = mount_table()
            .iter()
            .map(|line| mount_point(line))
            .filter(|point| self.0.iter().any(|dir| point.starts_with(dir)))
            .collect();
        leaked.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
        for point in leaked {
            eprintln!("detaching a leaked mount {}", point.display());
            let _ = umount2(&point, MntFlags::MNT_DETACH);
        }
    }
}

/// What an entry of a victim directory is: its kind, mode, owner and size,
/// and its content (a file's bytes, a link's target).
type Entry = (String, u32, u32, u32, u64, Vec<u8>);

/// Every entry below `dir`, symlinks not followed.
fn listing(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Entry>) {
        for entry in fs::read_dir(dir).expect("read a victim directory") {
            let path = entry.expect("a victim entry").path();
            let meta = path.symlink_metadata().expect("stat a victim entry");
            let kind = meta.file_type();
            let content = if kind.is_file() {
                fs::read(&path).expect("read a victim file")
            } else if kind.is_symlink() {
                fs::read_link(&path)
                    .expect("read a victim link")
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            let relative = path.strip_prefix(root).expect("below the victim").to_owned();
            into.insert(
                relative,
                (
                    format!("{kind:?}"),
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    meta.size(),
                    content,
                ),
            );
            if kind.is_dir() {
                walk(root, &path, into);
            }
        }
    }
    let mut entries = BTreeMap::new();
    walk(dir, dir, &mut entries);
    entries
}

/// A temporary directory (0755: uid 100000 of the user namespace variants
/// must get through it).
fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary directory");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    dir
}

/// A host directory a planted symlink points at: `target`, a root-owned
/// 0644 file, links to it (absolute and relative) named as `/dev` entries
/// cradle makes, and plain directories named as its mount points.
fn victim() -> tempfile::TempDir {
    let dir = temp_dir("cradle-victim-");
    let path = dir.path();
    let target = path.join("target");
    fs::write(&target, "a host file\n").expect("the victim's target");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).expect("chmod 0644");
    symlink(&target, path.join("null")).expect("a link to the target");
    symlink(&target, path.join("tty")).expect("a link to the target");
    symlink("target", path.join("zero")).expect("a relative link to the target");
    for sub in ["pts", "shm", "mqueue"] {
        fs::create_dir(path.join(sub)).expect("a victim directory");
    }
    dir
}

/// `path` (absolute) as a relative symlink target from any depth in a
/// rootfs in the temporary directory: enough `..` to reach `/` first.
fn relative_to_root(path: &Path) -> PathBuf {
    let up: PathBuf = std::iter::repeat_n("..", 12).collect();
    up.join(path.strip_prefix("/").expect("an absolute path"))
}

/// `cradle run [flags] --rootfs ROOTFS -- COMMAND`: its exit code (none if
/// a signal ended it), stdout and stderr. It must exit within the
/// sandbox's deadline.
fn launch(
    sandbox: &Sandbox,
    rootfs: &Path,
    flags: &[&str],
    command: &[&str],
) -> (Option<i32>, String, String) {
    let output = sandbox
        .cradle()
        .arg("run")
        .args(flags)
        .arg("--rootfs")
        .arg(rootfs)
        .arg("--")
        .args(command)
        .output()
        .unwrap_or_else(|error| panic!("cradle run {flags:?} {command:?} did not exit: {error}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Copies the busybox rootfs to `to` (a fresh path), readable by all.
fn copy_rootfs(from: &BusyboxRootfs, to: &Path) {
    let status = StdCommand::new("cp")
        .arg("-a")
        .arg(from.path())
        .arg(to)
        .status()
        .expect("cp -a");
    assert!(status.success(), "cp -a of the busybox rootfs");
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).expect("chmod 0755");
}

#[test]
fn swapping_the_rootfs_dev_for_a_symlink_never_reaches_the_host() {
    if !require_root("swapping_the_rootfs_dev_for_a_symlink_never_reaches_the_host") {
        return;
    }
    let _turn = serial();
    let started = Instant::now();
    let sandbox = Sandbox::new("racedev");
    let rootfs = BusyboxRootfs::new();
    let victim = victim();
    let _detach = DetachLeaks(vec![rootfs.path().to_owned(), victim.path().to_owned()]);
    let before = listing(victim.path());
    let mounts = mount_table();
    symlink(victim.path(), rootfs.path().join("dev-decoy")).expect("the decoy");

    let mut swapper = Swapper::start(rootfs.path(), "dev", "dev-decoy");
    let (mut ran, mut refused) = (0, 0);
    let mut reasons = BTreeSet::new();
    for _ in 0..LAUNCHES {
        let (code, _, stderr) = launch(&sandbox, rootfs.path(), &[], &["/bin/true"]);
        if code == Some(0) {
            assert!(stderr.is_empty(), "a run that succeeded said {stderr:?}");
            ran += 1;
        } else {
            assert_eq!(code, Some(125), "a failed launch: {stderr:?}");
            reasons.insert(one_line(stderr.as_bytes()));
            refused += 1;
        }
    }
    let swaps = swapper.stop();
    println!(
        "dev race: {ran} ran, {refused} refused, {swaps} exchanges, {:?}; refusals: {reasons:?}",
        started.elapsed()
    );
    assert!(swaps > 0, "the swapper never ran");

    let target = victim.path().join("target");
    let meta = target.symlink_metadata().expect("the victim's target");
    assert_eq!(meta.mode() & 0o7777, 0o644, "the victim's mode changed");
    assert_eq!(
        fs::read_to_string(&target).expect("the victim's content"),
        "a host file\n"
    );
    assert_eq!(listing(victim.path()), before, "the victim directory changed");
    assert_eq!(new_mounts(&mounts), Vec::<String>::new(), "host mounts appeared");
    sandbox.assert_clean();
}

/// The rootfs race: `PARENT/rootfs` (a busybox rootfs) exchanged with a
/// symlink to a stand-in for the host's `/` while containers are launched
/// on `PARENT/rootfs` with `flags`; fails if any ran in the stand-in.
fn rootfs_race(test: &str, flags: &[&str]) {
    let _turn = serial();
    let started = Instant::now();
    let sandbox = Sandbox::new(test);
    let busybox = BusyboxRootfs::new();
    let parent = temp_dir("cradle-races-");
    let host = temp_dir("cradle-hostroot-");
    let _detach = DetachLeaks(vec![parent.path().to_owned(), host.path().to_owned()]);
    let rootfs = parent.path().join("rootfs");
    copy_rootfs(&busybox, &rootfs);
    // The stand-in runs a shell too, so that a container given it shows
    // itself; writable by the user namespace's root as well.
    let host_root = host.path().join("root");
    copy_rootfs(&busybox, &host_root);
    fs::set_permissions(&host_root, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    fs::write(host_root.join(HOST_MARKER), "").expect("the marker");
    symlink(&host_root, parent.path().join("decoy")).expect("the decoy");
    let mounts = mount_table();

    let mut swapper = Swapper::start(parent.path(), "rootfs", "decoy");
    let (mut ran, mut refused, mut escaped) = (0, 0, 0);
    let mut reasons = BTreeSet::new();
    for launch_number in 0..LAUNCHES {
        // Each its own file: $$ is the same in every container.
        let script = format!("test -e /{HOST_MARKER} && echo HOST; touch /written-{launch_number}");
        let (code, stdout, stderr) = launch(&sandbox, &rootfs, flags, &["/bin/sh", "-c", &script]);
        if stdout.contains("HOST") {
            escaped += 1;
        }
        if code == Some(125) {
            reasons.insert(one_line(stderr.as_bytes()));
            refused += 1;
        } else {
            ran += 1;
        }
    }
    let swaps = swapper.stop();
    let written: Vec<_> = fs::read_dir(&host_root)
        .expect("read the stand-in")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("written-"))
        .collect();
    println!(
        "rootfs race {flags:?}: {ran} ran, {refused} refused, {escaped} ran in the host stand-in, \
         {} wrote to it, {swaps} exchanges, {:?}; refusals: {reasons:?}",
        written.len(),
        started.elapsed()
    );
    assert!(swaps > 0, "the swapper never ran");
    assert_eq!(
        (escaped, written.len()),
        (0, 0),
        "{escaped} of {LAUNCHES} containers ran in the host stand-in, {} wrote to it",
        written.len()
    );
    assert_eq!(new_mounts(&mounts), Vec::<String>::new(), "host mounts appeared");
    sandbox.assert_clean();
}

#[test]
fn swapping_the_rootfs_for_a_symlink_never_gives_a_container_the_host() {
    if !require_root("swapping_the_rootfs_for_a_symlink_never_gives_a_container_the_host") {
        return;
    }
    rootfs_race("racerootfs", &[]);
}

#[test]
fn swapping_the_rootfs_for_a_symlink_never_gives_a_user_namespace_the_host() {
    if !require_root("swapping_the_rootfs_for_a_symlink_never_gives_a_user_namespace_the_host") {
        return;
    }
    rootfs_race("racerootfsuserns", &USERNS);
}

/// A path cradle creates or mounts in the rootfs (or works in), made a
/// symlink to the victim.
#[derive(Debug)]
struct Planted {
    /// Relative to the rootfs.
    path: &'static str,
    /// What in the victim it points at: `""` for the victim itself.
    target: &'static str,
    /// The flags that make cradle use it.
    flags: &'static [&'static str],
}

const PLANTED: &[Planted] = &[
    Planted {
        path: "proc",
        target: "",
        flags: &[],
    },
    Planted {
        path: "dev",
        target: "",
        flags: &[],
    },
    Planted {
        path: "dev/pts",
        target: "pts",
        flags: &[],
    },
    Planted {
        path: "dev/shm",
        target: "shm",
        flags: &[],
    },
    Planted {
        path: "dev/null",
        target: "target",
        flags: &[],
    },
    Planted {
        path: "sys",
        target: "",
        flags: &[],
    },
    Planted {
        path: "etc/hostname",
        target: "target",
        flags: &["--hostname", "box"],
    },
    // Masked and read-only paths: under the new proc and sysfs, which
    // hide what the image has there.
    Planted {
        path: "sys/firmware",
        target: "",
        flags: &[],
    },
    Planted {
        path: "proc/kcore",
        target: "target",
        flags: &[],
    },
    Planted {
        path: "proc/sys",
        target: "",
        flags: &[],
    },
    Planted {
        path: "work",
        target: "",
        flags: &["--cwd", "/work"],
    },
];

/// What the container tries once it runs: writing where each planted path
/// would lead.
const PLANTED_SCRIPT: &str = "for f in /dev/null /dev/pts/planted /dev/shm/planted /etc/hostname \
     ./planted /proc/planted /sys/planted; do echo planted >> $f; done 2>/dev/null; true";

#[test]
fn symlinks_planted_where_cradle_mounts_never_reach_the_host() {
    if !require_root("symlinks_planted_where_cradle_mounts_never_reach_the_host") {
        return;
    }
    let _turn = serial();
    let started = Instant::now();
    let sandbox = Sandbox::new("planted");
    let mut results = Vec::new();
    for planted in PLANTED {
        for relative in [false, true] {
            let rootfs = BusyboxRootfs::new();
            fs::set_permissions(rootfs.path(), fs::Permissions::from_mode(0o755)).expect("chmod 0755");
            let victim = victim();
            let _detach = DetachLeaks(vec![rootfs.path().to_owned(), victim.path().to_owned()]);
            let pointed = match planted.target {
                "" => victim.path().to_owned(),
                target => victim.path().join(target),
            };
            let link_target = if relative {
                relative_to_root(&pointed)
            } else {
                pointed
            };
            let link = rootfs.path().join(planted.path);
            fs::create_dir_all(link.parent().expect("a parent")).expect("the link's directory");
            if link.is_dir() {
                fs::remove_dir(&link).expect("remove the rootfs's directory");
            }
            symlink(&link_target, &link).expect("plant the link");
            let before = listing(victim.path());
            let mounts = mount_table();
            for userns in [false, true] {
                let mut flags = planted.flags.to_vec();
                if userns {
                    flags.extend(USERNS);
                }
                let what = format!(
                    "{} -> {} ({}{:?})",
                    planted.path,
                    link_target.display(),
                    if userns { "--userns, " } else { "" },
                    planted.flags
                );
                let (code, _, stderr) = launch(
                    &sandbox,
                    rootfs.path(),
                    &flags,
                    &["/bin/sh", "-c", PLANTED_SCRIPT],
                );
                match code {
                    Some(0) => results.push(format!("{what}: ran")),
                    Some(125) => {
                        let line = one_line(stderr.as_bytes());
                        assert!(line.contains(planted.path), "{what}: {line:?} does not name it");
                        results.push(format!("{what}: {}", line.trim()));
                    }
                    other => panic!("{what}: exit {other:?}, {stderr:?}"),
                }
                assert_eq!(listing(victim.path()), before, "{what}: the victim changed");
                assert_eq!(
                    new_mounts(&mounts),
                    Vec::<String>::new(),
                    "{what}: host mounts appeared"
                );
            }
        }
    }
    println!("planted symlinks, {:?}:", started.elapsed());
    for result in results {
        println!("  {result}");
    }
    sandbox.assert_clean();
}
