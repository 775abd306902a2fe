//! What the embedder tests share: a busybox root filesystem made from the
//! host's `busybox`, and the root check. Written against the standard
//! library only, as an embedder would.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

/// Whether the tests may run: they create namespaces and cgroups. Without
/// root they fail, unless `CRADLE_ALLOW_SKIP_ROOT=1` says to skip them.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let allowed = std::env::var_os("CRADLE_ALLOW_SKIP_ROOT").is_some_and(|value| value == "1");
    assert!(
        allowed,
        "{test} needs root; run as root, or set CRADLE_ALLOW_SKIP_ROOT=1 to skip it"
    );
    println!("SKIPPED: {test} needs root");
    false
}

/// A root filesystem of busybox and its applets, removed on drop.
#[derive(Debug)]
pub struct Rootfs {
    dir: tempfile::TempDir,
}

impl Rootfs {
    /// `/bin/busybox` with a link per applet, and empty `/proc`, `/dev`,
    /// `/sys`, `/tmp`, `/etc`.
    pub fn new() -> Rootfs {
        let dir = tempfile::Builder::new()
            .prefix("cradle-embed-rootfs-")
            .tempdir()
            .expect("temporary directory");
        for sub in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir(dir.path().join(sub)).expect("rootfs directory");
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("busybox (Debian: busybox-static)");
        fs::copy(busybox, dir.path().join("bin/busybox")).expect("copy busybox");
        let list = Command::new(busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
        {
            symlink("busybox", dir.path().join("bin").join(applet)).expect("applet link");
        }
        Rootfs { dir }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Rootfs {
    fn default() -> Rootfs {
        Rootfs::new()
    }
}

/// This process's children, zombies included.
pub fn children() -> Vec<i32> {
    let mut children = Vec::new();
    for task in fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let list = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        children.extend(list.split_whitespace().filter_map(|pid| pid.parse::<i32>().ok()));
    }
    children.sort_unstable();
    children
}
