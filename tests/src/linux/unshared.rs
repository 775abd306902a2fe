//! Namespaces for a container to join by path: an `unshare` process's,
//! killed on drop.

use std::fs;
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use cradle_core::NamespaceKind;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{children_of, DEADLINE};

/// An `unshare <flags> --fork --kill-child` process: it holds the new
/// namespaces (its `pid_for_children` is a new pid namespace's), and its
/// child, pid 1 of a new pid namespace where one is asked for, runs a
/// set-up script, then sleeps. Both are killed and reaped on drop.
#[derive(Debug)]
pub struct Unshared {
    unshare: Child,
    /// The sleeping child, by its pid in the caller's pid namespace.
    sleeper: i32,
}

impl Unshared {
    /// The process once its child has run `setup` (`sh -e`) and sleeps.
    pub fn new(flags: &[&str], setup: &str) -> Unshared {
        let script = format!("{setup}\nexec sleep 1000");
        let unshare = Command::new("unshare")
            .args(flags)
            .args(["--fork", "--kill-child", "sh", "-e", "-c", &script])
            .spawn()
            .expect("unshare");
        let mut unshared = Unshared { unshare, sleeper: 0 };
        let deadline = Instant::now() + DEADLINE;
        while unshared.sleeper == 0 {
            let id = i32::try_from(unshared.unshare.id()).expect("a pid fits an i32");
            if let Some(&child) = children_of(id).first() {
                let comm = fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
                if comm == "sleep\n" {
                    unshared.sleeper = child;
                }
            }
            let ended = unshared.unshare.try_wait().expect("wait for unshare");
            assert!(ended.is_none(), "unshare {flags:?} ended: {ended:?}");
            assert!(Instant::now() < deadline, "unshare's child did not sleep in time");
            sleep(Duration::from_millis(10));
        }
        unshared
    }

    /// The sleeping child's pid.
    pub fn sleeper(&self) -> i32 {
        self.sleeper
    }

    /// The path of its namespace of `kind`: for a pid namespace, its
    /// children's.
    pub fn path(&self, kind: NamespaceKind) -> String {
        let name = match kind {
            NamespaceKind::Pid => "pid_for_children",
            kind => kind.proc_name(),
        };
        format!("/proc/{}/ns/{name}", self.unshare.id())
    }

    /// Its namespace of `kind` (see [`path`](Unshared::path)), as
    /// `readlink` shows it.
    pub fn namespace(&self, kind: NamespaceKind) -> String {
        let path = self.path(kind);
        let link = fs::read_link(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        link.display().to_string()
    }
}

impl Drop for Unshared {
    fn drop(&mut self) {
        // Not reaped until unshare is: the pid is still the sleeper's.
        if self.sleeper != 0 {
            let _ = kill(Pid::from_raw(self.sleeper), Signal::SIGKILL);
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}
