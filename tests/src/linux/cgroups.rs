//! Test cgroups: finding them by name, and the turn a cgroup suite's test
//! takes, which ends by checking that the suite left none behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use cradle_linux::cgroup::Layout;

use super::{require_root, serial};

/// Every directory, at any depth of any cgroup hierarchy this process sees
/// mounted, whose name starts with `prefix`.
pub fn cgroups_named(prefix: &str) -> Vec<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").expect("/proc/self/mounts");
    let mut found = Vec::new();
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, mount_point, "cgroup" | "cgroup2", ..] = fields.as_slice() {
            let mut stack = vec![PathBuf::from(mount_point)];
            while let Some(dir) = stack.pop() {
                for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    if entry.file_name().to_string_lossy().starts_with(prefix) {
                        found.push(entry.path());
                    }
                    stack.push(entry.path());
                }
            }
        }
    }
    found
}

/// The test cgroups named `<prefix><creator pid>-…` just below this
/// process's own cgroup in each hierarchy that are left over: this run's,
/// and those of earlier runs whose process is gone.
pub fn test_cgroups_left(prefix: &str) -> Vec<PathBuf> {
    let layout = Layout::detect().expect("detect the host's cgroups");
    let own = std::process::id().to_string();
    let mut left = Vec::new();
    for mounted in layout.hierarchies() {
        let Some(dir) = mounted.dir(&mounted.own_cgroup) else {
            continue;
        };
        for entry in fs::read_dir(&dir).expect("own cgroup is readable") {
            let name = entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            let creator = rest.split('-').next().unwrap_or_default();
            if creator == own || !Path::new("/proc").join(creator).exists() {
                left.push(dir.join(&name));
            }
        }
    }
    left
}

/// One test's turn in a suite whose cgroups are named `<prefix><pid>-…`:
/// it holds the suite's lock, and [`finish`](CgroupTurn::finish) checks
/// that no cgroup of the suite is left, so the last test to finish checks
/// the whole suite.
#[derive(Debug)]
pub struct CgroupTurn {
    prefix: &'static str,
    _lock: MutexGuard<'static, ()>,
}

impl CgroupTurn {
    /// The turn, once [`require_root`] has let `test` run; `None` when it
    /// skips.
    pub fn take(test: &str, prefix: &'static str) -> Option<CgroupTurn> {
        require_root(test).then(|| CgroupTurn {
            prefix,
            _lock: serial(),
        })
    }

    /// Ends the test: no test cgroup of the suite is left in any hierarchy.
    pub fn finish(self) {
        let left = test_cgroups_left(self.prefix);
        assert!(left.is_empty(), "test cgroups left behind: {left:?}");
    }
}
