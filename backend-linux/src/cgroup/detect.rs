//! The host's cgroup layout, from `/proc/self/mountinfo` and
//! `/proc/self/cgroup`.
//!
//! The parsers are pure functions over the files' text; [`Layout::detect`]
//! only reads the two files and hands them over. A hierarchy counts when the
//! caller belongs to it (a line of `/proc/self/cgroup`) and it is mounted
//! (a `cgroup`/`cgroup2` line of `mountinfo`); a v1 line matches the mount
//! whose super options carry all of its controllers.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use super::error::CgroupError;
use super::hierarchy::{Hierarchy, Version};

/// The mount table, named in errors about what is mounted.
pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";
const PROC_CGROUP: &str = "/proc/self/cgroup";
const THREAD_CGROUP: &str = "/proc/thread-self/cgroup";

/// How the host mounts its cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies and a v2 tree.
    Hybrid,
    /// Only the v2 hierarchy.
    Unified,
}

/// A hierarchy the caller belongs to, where it is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountedHierarchy {
    /// Which hierarchy.
    pub hierarchy: Hierarchy,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The cgroup shown at the mount point, from the hierarchy's root (`/`
    /// unless a cgroup namespace or a bind mount shows only a subtree).
    pub mount_root: PathBuf,
    /// The caller's own cgroup, from the hierarchy's root.
    pub own_cgroup: PathBuf,
}

impl MountedHierarchy {
    /// The directory of `cgroup` (a path from the hierarchy's root), or
    /// `None` when the mount does not show it. Only plain components are
    /// followed, so the result never leaves the mount.
    pub fn dir(&self, cgroup: &Path) -> Option<PathBuf> {
        let rest = cgroup.strip_prefix(&self.mount_root).ok()?;
        let mut dir = self.mount_point.clone();
        for component in rest.components() {
            match component {
                Component::Normal(part) => dir.push(part),
                _ => return None,
            }
        }
        Some(dir)
    }
}

/// The hierarchies of the host that the caller belongs to and can reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    hierarchies: Vec<MountedHierarchy>,
}

impl Layout {
    /// Reads `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn detect() -> Result<Layout, CgroupError> {
        Layout::detect_from(PROC_CGROUP)
    }

    /// [`Layout::detect`] of the calling thread's cgroups
    /// (`/proc/thread-self/cgroup`): in v1 a thread may be in cgroups of
    /// its own.
    pub(crate) fn detect_for_thread() -> Result<Layout, CgroupError> {
        Layout::detect_from(THREAD_CGROUP)
    }

    fn detect_from(proc_cgroup: &str) -> Result<Layout, CgroupError> {
        let read = |path: &str| {
            crate::small_file::read_lossy(path).map_err(|source| CgroupError::Proc {
                path: PathBuf::from(path),
                source,
            })
        };
        let layout = Layout::parse(&read(MOUNTINFO)?, &read(proc_cgroup)?);
        if layout.hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchy {
                path: PathBuf::from(MOUNTINFO),
            });
        }
        Ok(layout)
    }

    /// The layout that a `mountinfo` and a `/proc/<pid>/cgroup` describe.
    /// Lines it does not understand are skipped.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Layout {
        let mounts = parse_mountinfo(mountinfo);
        let hierarchies = parse_proc_cgroup(proc_cgroup)
            .into_iter()
            .filter_map(|membership| {
                let mount = best_mount(&mounts, &membership)?;
                Some(MountedHierarchy {
                    hierarchy: membership.hierarchy,
                    mount_point: mount.mount_point.clone(),
                    mount_root: mount.root.clone(),
                    own_cgroup: membership.cgroup,
                })
            })
            .collect();
        Layout { hierarchies }
    }

    /// The hierarchies, in the order `/proc/self/cgroup` lists them.
    pub fn hierarchies(&self) -> &[MountedHierarchy] {
        &self.hierarchies
    }

    /// Legacy, hybrid or unified; `None` when nothing is mounted.
    pub fn mode(&self) -> Option<Mode> {
        let has = |version| self.hierarchies.iter().any(|h| h.hierarchy.version() == version);
        match (has(Version::V1), has(Version::V2)) {
            (true, true) => Some(Mode::Hybrid),
            (true, false) => Some(Mode::Legacy),
            (false, true) => Some(Mode::Unified),
            (false, false) => None,
        }
    }

    /// This layout restricted to one version: a hybrid host used as a legacy
    /// or a unified one.
    pub fn only(mut self, version: Version) -> Layout {
        self.hierarchies.retain(|h| h.hierarchy.version() == version);
        self
    }
}

/// A `cgroup` or `cgroup2` line of `mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CgroupMount {
    version: Version,
    root: PathBuf,
    mount_point: PathBuf,
    super_options: Vec<String>,
}

/// A line of `/proc/<pid>/cgroup`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Membership {
    pub(crate) hierarchy: Hierarchy,
    pub(crate) cgroup: PathBuf,
}

/// The cgroup mounts in `mountinfo` (see proc(5): `id parent major:minor
/// root mount-point options [optional...] - fstype source super-options`).
fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<CgroupMount> {
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields.iter().skip(6).position(|field| *field == "-")? + 6;
    let version = match *fields.get(separator + 1)? {
        "cgroup" => Version::V1,
        "cgroup2" => Version::V2,
        _ => return None,
    };
    Some(CgroupMount {
        version,
        root: unescape(fields.get(3)?),
        mount_point: unescape(fields.get(4)?),
        super_options: fields.get(separator + 3)?.split(',').map(str::to_owned).collect(),
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let digits = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(digits, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The hierarchies listed in `/proc/<pid>/cgroup` (`id:controllers:path`;
/// id 0 with no controllers is v2).
pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let id = fields.next()?;
            let controllers = fields.next()?;
            let cgroup = fields.next()?;
            if !cgroup.starts_with('/') {
                return None;
            }
            let hierarchy = if id == "0" && controllers.is_empty() {
                Hierarchy::V2
            } else if controllers.is_empty() {
                return None;
            } else {
                Hierarchy::V1 {
                    controllers: controllers.split(',').map(str::to_owned).collect(),
                }
            };
            Some(Membership {
                hierarchy,
                cgroup: PathBuf::from(cgroup),
            })
        })
        .collect()
}

/// The mount of `membership`'s hierarchy that shows the most of it: among
/// those whose root contains the caller's cgroup, the one with the shortest
/// root; failing that, the first.
fn best_mount<'a>(mounts: &'a [CgroupMount], membership: &Membership) -> Option<&'a CgroupMount> {
    let candidates: Vec<&CgroupMount> = mounts
        .iter()
        .filter(|mount| match &membership.hierarchy {
            Hierarchy::V2 => mount.version == Version::V2,
            Hierarchy::V1 { controllers } => {
                mount.version == Version::V1
                    && controllers
                        .iter()
                        .all(|c| mount.super_options.iter().any(|o| o == c))
            }
        })
        .collect();
    candidates
        .iter()
        .filter(|mount| membership.cgroup.starts_with(&mount.root))
        .min_by_key(|mount| mount.root.components().count())
        .or_else(|| candidates.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine: v1 controllers, a controller-less v2 tree at `unified`.
    const HYBRID_MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/ce03
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    /// A systemd host on cgroup v2 only.
    const UNIFIED_MOUNTINFO: &str = "\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const UNIFIED_CGROUP: &str = "0::/user.slice/user-1000.slice/session-2.scope\n";

    /// An older host on v1 only, with co-mounted controllers and optional
    /// fields.
    const LEGACY_MOUNTINFO: &str = "\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
28 24 0:24 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
29 28 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,name=systemd
32 28 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
33 28 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory
";
    const LEGACY_CGROUP: &str = "\
5:memory:/docker/abc
3:cpu,cpuacct:/docker/abc
1:name=systemd:/docker/abc
";

    fn v1(controllers: &[&str]) -> Hierarchy {
        Hierarchy::V1 {
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn hybrid_host_has_v1_controllers_and_the_unified_tree() {
        let layout = Layout::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP);
        assert_eq!(layout.mode(), Some(Mode::Hybrid));
        // cpuset is listed in /proc/self/cgroup but not mounted in the sample.
        let names: Vec<String> = layout
            .hierarchies()
            .iter()
            .map(|h| h.hierarchy.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "cgroup v1 (name=systemd)",
                "cgroup v1 (pids)",
                "cgroup v1 (freezer)",
                "cgroup v1 (memory)",
                "cgroup v1 (cpuacct)",
                "cgroup v1 (cpu)",
                "cgroup v2"
            ]
        );
        let memory = &layout.hierarchies()[3];
        assert_eq!(memory.own_cgroup, Path::new("/process_api/ce03"));
        assert_eq!(
            memory.dir(&memory.own_cgroup.join("c1")),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/ce03/c1"))
        );
        let unified = &layout.hierarchies()[6];
        assert_eq!(unified.mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(
            unified.dir(Path::new("/")),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn unified_host_has_one_hierarchy() {
        let layout = Layout::parse(UNIFIED_MOUNTINFO, UNIFIED_CGROUP);
        assert_eq!(layout.mode(), Some(Mode::Unified));
        let [v2] = layout.hierarchies() else {
            panic!("expected one hierarchy: {layout:?}");
        };
        assert_eq!(v2.hierarchy, Hierarchy::V2);
        assert_eq!(
            v2.dir(&v2.own_cgroup),
            Some(PathBuf::from(
                "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"
            ))
        );
    }

    #[test]
    fn legacy_host_matches_co_mounted_and_named_hierarchies() {
        let layout = Layout::parse(LEGACY_MOUNTINFO, LEGACY_CGROUP);
        assert_eq!(layout.mode(), Some(Mode::Legacy));
        let found: Vec<(Hierarchy, PathBuf)> = layout
            .hierarchies()
            .iter()
            .map(|h| (h.hierarchy.clone(), h.mount_point.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (v1(&["memory"]), PathBuf::from("/sys/fs/cgroup/memory")),
                (
                    v1(&["cpu", "cpuacct"]),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
                ),
                (v1(&["name=systemd"]), PathBuf::from("/sys/fs/cgroup/systemd")),
            ]
        );
    }

    #[test]
    fn restricting_a_hybrid_layout_gives_legacy_or_unified() {
        let layout = Layout::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP);
        assert_eq!(layout.clone().only(Version::V1).mode(), Some(Mode::Legacy));
        assert_eq!(layout.clone().only(Version::V2).mode(), Some(Mode::Unified));
        assert_eq!(layout.only(Version::V2).hierarchies().len(), 1);
    }

    #[test]
    fn a_mount_of_a_subtree_maps_paths_below_its_root() {
        // Inside a container: the host's /docker/abc is mounted as the root.
        let mountinfo = "40 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let layout = Layout::parse(mountinfo, "5:memory:/docker/abc\n");
        let memory = &layout.hierarchies()[0];
        assert_eq!(
            memory.dir(&memory.own_cgroup),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            memory.dir(Path::new("/docker/abc/c1")),
            Some(PathBuf::from("/sys/fs/cgroup/memory/c1"))
        );
        assert_eq!(memory.dir(Path::new("/docker/other")), None);
    }

    #[test]
    fn the_mount_showing_the_whole_hierarchy_wins_over_a_bind_mount() {
        let mountinfo = "\
50 31 0:32 /sub /mnt/sub rw - cgroup cgroup rw,memory
51 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let layout = Layout::parse(mountinfo, "5:memory:/sub/x\n");
        assert_eq!(
            layout.hierarchies()[0].mount_point,
            Path::new("/sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn paths_that_climb_out_of_the_mount_are_unreachable() {
        // A cgroup namespace shows cgroups outside its root as `/..`.
        let layout = Layout::parse(UNIFIED_MOUNTINFO, "0::/../../outside\n");
        let v2 = &layout.hierarchies()[0];
        assert_eq!(v2.dir(&v2.own_cgroup), None);
        assert_eq!(
            v2.dir(Path::new("/a/./b")),
            Some(PathBuf::from("/sys/fs/cgroup/a/b"))
        );
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        let mountinfo = "41 31 0:38 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n";
        let layout = Layout::parse(mountinfo, "0::/\n");
        assert_eq!(layout.hierarchies()[0].mount_point, Path::new("/mnt/my cgroups"));
    }

    #[test]
    fn unmounted_hierarchies_and_garbage_are_skipped() {
        let layout = Layout::parse("garbage\n1 2\n\n- - -\n", "junk\n7:blkio:/\n0::relative\n:::\n");
        assert_eq!(layout.hierarchies(), &[]);
        assert_eq!(layout.mode(), None);
    }
}
