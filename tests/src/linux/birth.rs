//! What a launcher's clone child is born with, seen from outside: its
//! blocked signals (read by a launch's step hook once it exists), its
//! core file size limit, its gids and dumpability, and where it is.

use std::sync::Mutex;

use cradle_core::Step;

/// The blocked-signal masks (`SigBlk`) of the calling thread's children,
/// by pid, as [`record_child_masks`] last saw them.
static MASKS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

/// A launch's step hook (`Options::on_step`): at [`Step::SendConfig`],
/// once the child is cloned and before it has its config, records the
/// blocked-signal mask of each of the calling thread's children.
pub fn record_child_masks(step: Step) {
    if step != Step::SendConfig {
        return;
    }
    let children = std::fs::read_to_string("/proc/thread-self/children").expect("children");
    for pid in children.split_whitespace() {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mask = status.lines().find_map(|line| line.strip_prefix("SigBlk:"));
        if let (Ok(pid), Some(mask)) = (pid.parse(), mask) {
            let mut masks = MASKS.lock().expect("masks");
            masks.push((pid, mask.trim().to_owned()));
        }
    }
}

/// Where a process is, as a process of the container may read it: its
/// mount and network namespaces (the `/proc/<pid>/ns` links) and its root
/// (device and inode of `/proc/<pid>/root`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub mount_namespace: String,
    pub network_namespace: String,
    pub root: (u64, u64),
}

impl View {
    /// Where process `pid` is now.
    pub fn of(pid: &str) -> View {
        use std::os::unix::fs::MetadataExt as _;
        let root = std::fs::metadata(format!("/proc/{pid}/root")).expect("its root");
        View {
            mount_namespace: super::namespace_of(pid, cradle_core::NamespaceKind::Mount),
            network_namespace: super::namespace_of(pid, cradle_core::NamespaceKind::Net),
            root: (root.dev(), root.ino()),
        }
    }
}

/// Forgets the masks recorded so far.
pub fn forget_child_masks() {
    MASKS.lock().expect("masks").clear();
}

/// The mask [`record_child_masks`] saw for child `pid`.
pub fn child_mask(pid: i32) -> String {
    let masks = MASKS.lock().expect("masks");
    masks
        .iter()
        .find(|(child, _)| *child == pid)
        .map(|(_, mask)| mask.clone())
        .unwrap_or_else(|| panic!("child {pid} was not seen: {masks:?}"))
}

/// `SigBlk` with every signal blocked but KILL and STOP, which cannot be.
pub fn every_signal_blocked() -> String {
    let unblockable = (1u64 << (libc::SIGKILL - 1)) | (1u64 << (libc::SIGSTOP - 1));
    format!("{:016x}", !unblockable)
}

/// `Max core file size` of a `/proc/<pid>/limits` text: soft and hard.
pub fn core_limit(limits: &str) -> Vec<String> {
    limit(limits, "Max core file size")
}

/// `Max stack size` of a `/proc/<pid>/limits` text: soft and hard.
pub fn stack_limit(limits: &str) -> Vec<String> {
    limit(limits, "Max stack size")
}

/// The soft and hard values of the line of `limits` that starts with
/// `name`.
fn limit(limits: &str, name: &str) -> Vec<String> {
    let line = limits
        .lines()
        .find(|line| line.starts_with(name))
        .unwrap_or_else(|| panic!("no {name:?} in {limits}"));
    line.split_whitespace()
        .skip(name.split_whitespace().count())
        .take(2)
        .map(str::to_owned)
        .collect()
}

/// The real, effective, saved and filesystem gids of a text that holds a
/// `/proc/<pid>/status` line `Gid:`.
pub fn gids(status: &str) -> Vec<String> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("Gid:"))
        .unwrap_or_else(|| panic!("no Gid line in {status}"));
    line.split_whitespace().map(str::to_owned).collect()
}

/// What `cradle-test-limits` printed of its dumpability: `dumpable: 0|1`.
pub fn dumpable(printed: &str) -> bool {
    let value = printed
        .lines()
        .find_map(|line| line.strip_prefix("dumpable: "))
        .unwrap_or_else(|| panic!("no dumpable line in {printed}"));
    value == "1"
}

/// What `cradle-test-limits`, run as the init binary of a child born among
/// a pid namespace's processes, shows it was born with: the core limit of
/// [`core_limit_until_set_up`], a real gid apart from its effective one,
/// and, after its `exec` with those, not dumpable.
pub fn assert_born_apart(printed: &str) {
    assert_eq!(core_limit(printed), core_limit_until_set_up(), "{printed}");
    let gids = gids(printed);
    assert_ne!(gids[0], gids[1], "a real gid apart: {printed}");
    assert!(!dumpable(printed), "not dumpable from its exec: {printed}");
}

/// This process's own core limit.
pub fn own_core_limit() -> Vec<String> {
    core_limit(&own_limits())
}

/// This process's own stack limit.
pub fn own_stack_limit() -> Vec<String> {
    stack_limit(&own_limits())
}

fn own_limits() -> String {
    std::fs::read_to_string("/proc/self/limits").expect("limits")
}

/// What a child born among a pid namespace's processes has until its role
/// restores the launcher's limit: a soft limit of 0, and a hard one of 0
/// where it can raise it back (`CAP_SYS_RESOURCE`), else the launcher's.
pub fn core_limit_until_set_up() -> Vec<String> {
    let may_raise =
        cradle_linux::bounding_set::holds(cradle_core::Capability::SysResource).expect("bounding set");
    let hard = if may_raise {
        "0".to_owned()
    } else {
        own_core_limit()[1].clone()
    };
    vec!["0".to_owned(), hard]
}

/// One of this process's limits with another soft value (under its hard
/// one); set back when dropped.
#[derive(Debug)]
pub struct SoftLimit {
    resource: nix::sys::resource::Resource,
    before: (u64, u64),
}

impl SoftLimit {
    /// A core file size of 4096, so that a child's 0 shows.
    pub fn core() -> SoftLimit {
        let limit = SoftLimit::set(nix::sys::resource::Resource::RLIMIT_CORE, 4096);
        assert_ne!(own_core_limit()[0], "0", "a soft limit that shows");
        limit
    }

    /// A stack of 16 MiB: above the 8 MiB that a secure `exec` caps it at.
    pub fn stack() -> SoftLimit {
        let limit = SoftLimit::set(nix::sys::resource::Resource::RLIMIT_STACK, 16 << 20);
        assert_eq!(
            own_stack_limit()[0],
            (16u64 << 20).to_string(),
            "a stack above 8 MiB"
        );
        limit
    }

    fn set(resource: nix::sys::resource::Resource, soft: u64) -> SoftLimit {
        use nix::sys::resource::{getrlimit, setrlimit};
        let before = getrlimit(resource).expect("getrlimit");
        setrlimit(resource, soft.min(before.1), before.1).expect("setrlimit");
        SoftLimit { resource, before }
    }
}

impl Drop for SoftLimit {
    fn drop(&mut self) {
        let (soft, hard) = self.before;
        let _ = nix::sys::resource::setrlimit(self.resource, soft, hard);
    }
}
