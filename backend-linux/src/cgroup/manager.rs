//! The container's cgroup: creating it with its limits, putting processes
//! in, and the directory fd for `clone3(CLONE_INTO_CGROUP)`.

use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use super::detect::{parse_proc_cgroup, Layout, MOUNTINFO};
use super::devices::{self, DeviceRule};
use super::error::CgroupError;
use super::fs;
use super::hierarchy::{CgroupDir, CgroupPaths};
use super::limits::{Controller, Resources, Setting};

/// Where and how to make a container's cgroup.
#[derive(Clone, Debug, Default)]
pub struct CgroupConfig {
    /// The directory name created in every hierarchy.
    pub name: String,
    /// Parent cgroup: absolute (`/a/b`) from each hierarchy's root, or
    /// relative (`a/b`) below the caller's own cgroup in each hierarchy;
    /// `None` is the caller's own cgroup. Missing directories on the way
    /// are created (and left: other cgroups may come to share them).
    pub parent: Option<PathBuf>,
    /// Limits written at creation.
    pub resources: Resources,
}

/// A cgroup cradle created: one directory in every hierarchy the caller
/// belongs to.
///
/// Dropping it leaves the cgroup in place (a running container keeps its
/// cgroup); [`Cgroup::destroy`] removes it.
#[derive(Debug)]
pub struct Cgroup {
    pub(crate) paths: CgroupPaths,
    /// The v2 directory, opened for `CLONE_INTO_CGROUP`.
    v2_dir: Option<OwnedFd>,
}

/// Files to write to one directory, in order; for v2 devices, the rules
/// of the program to attach.
struct Limits<'a> {
    dir: &'a CgroupDir,
    controller: Controller,
    settings: Vec<Setting>,
    device_program: Option<&'a [DeviceRule]>,
}

impl Cgroup {
    /// Creates the cgroup in every hierarchy of the host's layout and writes
    /// its limits; on failure removes what it made.
    pub fn create(config: &CgroupConfig) -> Result<Cgroup, CgroupError> {
        Cgroup::create_in(&Layout::detect()?, config)
    }

    /// [`Cgroup::create`] in the hierarchies of `layout` (for instance a
    /// hybrid host's layout [restricted](Layout::only) to one version).
    ///
    /// An existing directory is an error: cradle never takes over a cgroup
    /// it did not create. Limits are checked before anything is made.
    pub fn create_in(layout: &Layout, config: &CgroupConfig) -> Result<Cgroup, CgroupError> {
        let paths = Cgroup::paths_in(layout, config)?;
        let limits = plan_limits(&paths, &config.resources)?;
        let mut created = Vec::new();
        match build(&paths, &limits, &mut created) {
            Ok(v2_dir) => Ok(Cgroup { paths, v2_dir }),
            Err(error) => {
                // Only the just-made, still empty directories: rmdir cannot
                // fail on them except by a concurrent removal.
                for dir in created.iter().rev() {
                    let _ = std::fs::remove_dir(&dir.path);
                }
                Err(error)
            }
        }
    }

    /// Where [`Cgroup::create`] would make the cgroup of `config`, without
    /// making anything: for a record of it written before it exists.
    pub fn planned(config: &CgroupConfig) -> Result<CgroupPaths, CgroupError> {
        Cgroup::paths_in(&Layout::detect()?, config)
    }

    /// The directories of `config`'s cgroup in the hierarchies of `layout`.
    pub fn paths_in(layout: &Layout, config: &CgroupConfig) -> Result<CgroupPaths, CgroupError> {
        let name = valid_name(&config.name)?;
        let parent = config.parent.as_deref().map(valid_parent).transpose()?;
        let dirs = layout
            .hierarchies()
            .iter()
            .map(|mounted| {
                let parent = parent.as_ref().unwrap_or(&mounted.own_cgroup);
                let cgroup = parent.join(name);
                let path = mounted.dir(&cgroup).ok_or_else(|| CgroupError::Unreachable {
                    hierarchy: mounted.hierarchy.clone(),
                    cgroup: cgroup.clone(),
                    mount_point: mounted.mount_point.clone(),
                })?;
                Ok(CgroupDir {
                    hierarchy: mounted.hierarchy.clone(),
                    cgroup,
                    path,
                })
            })
            .collect::<Result<Vec<_>, CgroupError>>()?;
        if dirs.is_empty() {
            return Err(CgroupError::NoHierarchy {
                path: PathBuf::from(MOUNTINFO),
            });
        }
        Ok(CgroupPaths { dirs })
    }

    /// Takes up a cgroup that cradle created before, from its
    /// [`paths`](Cgroup::paths) (kept in a state file, say).
    pub fn open(paths: CgroupPaths) -> Result<Cgroup, CgroupError> {
        if paths.dirs.is_empty() {
            return Err(CgroupError::NoHierarchy {
                path: PathBuf::from(MOUNTINFO),
            });
        }
        let v2_dir = paths.v2().map(open_dir).transpose()?;
        Ok(Cgroup { paths, v2_dir })
    }

    /// A directory fd for `clone3(CLONE_INTO_CGROUP)`: the child starts in
    /// the cgroup and runs no instruction outside it. `None` when the
    /// cgroup has no v2 directory (a legacy host).
    ///
    /// `CLONE_INTO_CGROUP` places the child only in the v2 hierarchy. On a
    /// hybrid host the v1 hierarchies still need [`Cgroup::apply`], before
    /// the child is let go; `apply` after a clone into the cgroup is always
    /// right, as it skips the hierarchies the child is in already.
    pub fn clone_into(&self) -> Option<BorrowedFd<'_>> {
        self.v2_dir.as_ref().map(AsFd::as_fd)
    }

    /// Puts `pid` (its whole thread group) in the cgroup, in every
    /// hierarchy it is not in yet.
    pub fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        place(&self.paths, pid)
    }

    /// Its directories.
    pub fn paths(&self) -> &CgroupPaths {
        &self.paths
    }

    /// How many times the kernel's OOM killer killed a process in the
    /// cgroup; `None` when no memory controller is attached to it.
    pub fn oom_kills(&self) -> Result<Option<u64>, CgroupError> {
        let (dir, file) = match (self.paths.v1_with("memory"), self.paths.v2()) {
            (Some(v1), _) => (v1, "memory.oom_control"),
            (None, Some(v2)) if v2.file("memory.events").exists() => (v2, "memory.events"),
            _ => return Ok(None),
        };
        let path = dir.file(file);
        let text = match fs::read(&dir.hierarchy, &path) {
            // Removed already (a `delete` raced the wait): no count to read.
            Err(error) if error.errno() == Some(libc::ENOENT) => return Ok(None),
            result => result?,
        };
        let count = fs::keyed_value(&text, "oom_kill").and_then(|value| value.parse().ok());
        count.map(Some).ok_or_else(|| CgroupError::Malformed {
            hierarchy: dir.hierarchy.clone(),
            path,
            content: text,
        })
    }
}

/// Puts `pid` in a running container's cgroups (a setns process), in
/// every hierarchy it is not in yet.
pub fn enter(paths: &CgroupPaths, pid: i32) -> Result<(), CgroupError> {
    place(paths, pid)
}

/// The pids limit of a container's cgroup: `pids.max` in the v1 hierarchy
/// with the pids controller, else in the v2 directory. `None` when neither
/// has one, or the limit is `max`.
pub fn pids_max(paths: &CgroupPaths) -> Result<Option<u64>, CgroupError> {
    let file = "pids.max";
    let dir = match (paths.v1_with("pids"), paths.v2()) {
        (Some(v1), _) => v1,
        (None, Some(v2)) if v2.file(file).exists() => v2,
        _ => return Ok(None),
    };
    let path = dir.file(file);
    let text = fs::read(&dir.hierarchy, &path)?;
    parse_pids_max(&text).ok_or_else(|| CgroupError::Malformed {
        hierarchy: dir.hierarchy.clone(),
        path,
        content: text,
    })
}

/// `pids.max`: a number, or `max` for none; `None` for anything else.
fn parse_pids_max(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        number => number.parse().ok().map(Some),
    }
}

/// Writes `pid` to the `cgroup.procs` of each of `paths` it is not in yet.
fn place(paths: &CgroupPaths, pid: i32) -> Result<(), CgroupError> {
    // Writing a pid where it already is still costs an RCU grace period
    // (~8 ms when idle); /proc/<pid>/cgroup tells which to skip.
    let current = if pid > 0 {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
    } else {
        String::new()
    };
    let current = parse_proc_cgroup(&current);
    for dir in &paths.dirs {
        let there = current
            .iter()
            .any(|m| m.hierarchy == dir.hierarchy && m.cgroup == dir.cgroup);
        if !there {
            fs::write_pid(&dir.hierarchy, &dir.path, pid)?;
        }
    }
    Ok(())
}

/// Makes the directories, checks and writes the limits, opens the v2
/// directory. Records each directory it makes in `created`.
fn build<'a>(
    paths: &'a CgroupPaths,
    limits: &[Limits<'_>],
    created: &mut Vec<&'a CgroupDir>,
) -> Result<Option<OwnedFd>, CgroupError> {
    for dir in &paths.dirs {
        std::fs::create_dir(&dir.path).map_err(|source| match source.kind() {
            ErrorKind::AlreadyExists => CgroupError::Exists {
                hierarchy: dir.hierarchy.clone(),
                path: dir.path.clone(),
            },
            _ => CgroupError::CreateDir {
                hierarchy: dir.hierarchy.clone(),
                path: dir.path.clone(),
                source,
            },
        })?;
        created.push(dir);
        if dir.hierarchy.is_v1_with("cpuset") {
            inherit_cpuset(dir)?;
        }
    }
    for limit in limits {
        // Device programs work on any cgroup2 directory: there is no v2
        // devices controller to enable.
        if limit.dir.is_v2() && limit.controller != Controller::Devices {
            require_v2_controller(limit.dir, limit.controller)?;
        }
        for setting in &limit.settings {
            fs::write(
                &limit.dir.hierarchy,
                &limit.dir.file(setting.file),
                &setting.value,
            )?;
        }
        if let Some(rules) = limit.device_program {
            let dir = open_dir(limit.dir)?;
            devices::attach_device_program(dir.as_fd(), &limit.dir.path, rules)?;
        }
    }
    paths.v2().map(open_dir).transpose()
}

/// Which directory each asked-for limit goes to, in which format: the v1
/// hierarchy with the controller, else the v2 directory.
fn plan_limits<'a>(paths: &'a CgroupPaths, resources: &'a Resources) -> Result<Vec<Limits<'a>>, CgroupError> {
    if let Some(rules) = &resources.devices {
        devices::validate(rules)?;
    }
    Controller::ALL
        .into_iter()
        .filter(|controller| resources.needs(*controller))
        .map(|controller| {
            let dir = paths
                .v1_with(controller.name())
                .or(paths.v2())
                .ok_or(CgroupError::NoController {
                    controller: controller.name(),
                    path: PathBuf::from(MOUNTINFO),
                })?;
            let settings = resources
                .settings(controller, dir.hierarchy.version())
                .map_err(|invalid| CgroupError::InvalidLimit {
                    hierarchy: dir.hierarchy.clone(),
                    path: dir.file(invalid.file),
                    value: invalid.value,
                    reason: invalid.reason,
                })?;
            let device_program = match controller {
                Controller::Devices if dir.is_v2() => resources.devices.as_deref(),
                _ => None,
            };
            Ok(Limits {
                dir,
                controller,
                settings,
                device_program,
            })
        })
        .collect()
}

/// A v2 limit needs its controller enabled by the parent, and cradle does
/// not write to a parent it did not create: it reports the lack instead.
fn require_v2_controller(dir: &CgroupDir, controller: Controller) -> Result<(), CgroupError> {
    let path = dir.file("cgroup.controllers");
    let enabled = fs::read(&dir.hierarchy, &path)?;
    if enabled.split_whitespace().any(|name| name == controller.name()) {
        return Ok(());
    }
    Err(CgroupError::ControllerUnavailable {
        hierarchy: dir.hierarchy.clone(),
        controller: controller.name(),
        path,
    })
}

/// A new v1 cpuset starts with no CPUs and no memory nodes (unless the
/// parent sets `cgroup.clone_children`), and no task can join it: copy
/// the parent's.
fn inherit_cpuset(dir: &CgroupDir) -> Result<(), CgroupError> {
    let Some(parent) = dir.path.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.file(file);
        if fs::read(&dir.hierarchy, &own)?.trim().is_empty() {
            let inherited = fs::read(&dir.hierarchy, &parent.join(file))?;
            fs::write(&dir.hierarchy, &own, inherited.trim())?;
        }
    }
    Ok(())
}

fn open_dir(dir: &CgroupDir) -> Result<OwnedFd, CgroupError> {
    // std opens with O_CLOEXEC: the fd does not leak into the child.
    std::fs::File::open(&dir.path)
        .map(OwnedFd::from)
        .map_err(|source| CgroupError::Open {
            hierarchy: dir.hierarchy.clone(),
            path: dir.path.clone(),
            source,
        })
}

/// One plain path component: no separator, not `.` or `..`.
fn valid_name(name: &str) -> Result<&str, CgroupError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.contains('/') || name.contains('\0') {
        Some("must be a single path component")
    } else if name == "." || name == ".." {
        Some("must not be . or ..")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CgroupError::InvalidPath {
            field: "name",
            value: PathBuf::from(name),
            reason,
        }),
        None => Ok(name),
    }
}

/// A path from the hierarchy's root, without `..`; made absolute.
fn valid_parent(parent: &Path) -> Result<PathBuf, CgroupError> {
    let mut absolute = PathBuf::from("/");
    for component in parent.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => absolute.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupError::InvalidPath {
                    field: "parent",
                    value: parent.to_owned(),
                    reason: "must not contain ..",
                })
            }
        }
    }
    Ok(absolute)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Hierarchy;

    #[test]
    fn a_pids_limit_is_a_number_or_max() {
        assert_eq!(parse_pids_max("2\n"), Some(Some(2)));
        assert_eq!(parse_pids_max("max\n"), Some(None));
        assert_eq!(parse_pids_max("-1\n"), None);
        assert_eq!(parse_pids_max(""), None);
    }

    #[test]
    fn names_are_single_components() {
        assert!(valid_name("c1").is_ok());
        for bad in ["", ".", "..", "a/b", "/a", "a\0b"] {
            assert!(
                matches!(
                    valid_name(bad),
                    Err(CgroupError::InvalidPath { field: "name", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parents_are_made_absolute_and_may_not_climb() {
        assert_eq!(
            valid_parent(Path::new("cradle/x")).ok(),
            Some(PathBuf::from("/cradle/x"))
        );
        assert_eq!(
            valid_parent(Path::new("/cradle/./x")).ok(),
            Some(PathBuf::from("/cradle/x"))
        );
        assert_eq!(valid_parent(Path::new("/")).ok(), Some(PathBuf::from("/")));
        assert!(valid_parent(Path::new("/cradle/../..")).is_err());
    }

    fn paths(hierarchies: &[Hierarchy]) -> CgroupPaths {
        CgroupPaths {
            dirs: hierarchies
                .iter()
                .enumerate()
                .map(|(index, hierarchy)| CgroupDir {
                    hierarchy: hierarchy.clone(),
                    cgroup: PathBuf::from("/c"),
                    path: PathBuf::from(format!("/mnt/{index}/c")),
                })
                .collect(),
        }
    }

    fn v1(controller: &str) -> Hierarchy {
        Hierarchy::V1 {
            controllers: vec![controller.to_owned()],
        }
    }

    #[test]
    fn limits_go_to_v1_controllers_before_the_v2_tree() {
        let hybrid = paths(&[v1("memory"), Hierarchy::V2]);
        let resources = Resources {
            memory_max: Some(1 << 20),
            pids_max: Some(4),
            ..Resources::default()
        };
        let plan = plan_limits(&hybrid, &resources).expect("plan");
        let targets: Vec<(&str, &Hierarchy)> = plan
            .iter()
            .map(|l| (l.controller.name(), &l.dir.hierarchy))
            .collect();
        assert_eq!(targets, [("memory", &v1("memory")), ("pids", &Hierarchy::V2)]);
    }

    #[test]
    fn a_limit_without_any_hierarchy_for_it_is_refused() {
        let legacy = paths(&[v1("memory")]);
        let resources = Resources {
            pids_max: Some(4),
            ..Resources::default()
        };
        let error = plan_limits(&legacy, &resources).err();
        assert!(
            matches!(
                error,
                Some(CgroupError::NoController {
                    controller: "pids",
                    ..
                })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn device_rules_go_to_the_v1_devices_hierarchy_else_to_a_v2_program() {
        let resources = Resources {
            devices: Some(DeviceRule::container_default()),
            ..Resources::default()
        };
        let hybrid = paths(&[v1("devices"), Hierarchy::V2]);
        let plan = plan_limits(&hybrid, &resources).expect("plan");
        let [limit] = &plan[..] else {
            panic!("one limit");
        };
        assert_eq!(limit.dir.hierarchy, v1("devices"));
        assert!(limit.device_program.is_none());
        assert_eq!(
            (limit.settings[0].file, limit.settings[0].value.as_str()),
            ("devices.deny", "a *:* rwm")
        );
        assert_eq!(limit.settings.len(), 10);

        let unified = paths(&[Hierarchy::V2]);
        let plan = plan_limits(&unified, &resources).expect("plan");
        let [limit] = &plan[..] else {
            panic!("one limit");
        };
        assert_eq!(limit.dir.hierarchy, Hierarchy::V2);
        assert!(limit.settings.is_empty());
        assert_eq!(limit.device_program, resources.devices.as_deref());
    }

    #[test]
    fn a_device_rule_the_format_cannot_express_is_refused_before_anything_is_made() {
        let mut rules = DeviceRule::container_default();
        rules[0].major = Some(1);
        let resources = Resources {
            devices: Some(rules),
            ..Resources::default()
        };
        let error = plan_limits(&paths(&[v1("devices")]), &resources)
            .err()
            .expect("refused");
        assert_eq!(
            error.to_string(),
            "device rule 0 (deny a 1:* rwm): an 'a' rule covers every device: its numbers must be *:*"
        );
    }

    #[test]
    fn invalid_limits_name_the_file_and_hierarchy() {
        let resources = Resources {
            cpu_weight: Some(0),
            ..Resources::default()
        };
        let error = plan_limits(&paths(&[v1("cpu")]), &resources)
            .err()
            .expect("refused");
        assert_eq!(
            error.to_string(),
            "cgroup v1 (cpu): invalid value \"0\" for /mnt/0/c/cpu.shares: a CPU weight is in 1..=10000"
        );
    }
}
