//! The container's cgroup: creating it with its limits, putting processes
//! in, and the directory fd for `clone3(CLONE_INTO_CGROUP)`.

use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::detect::{parse_proc_cgroup, Layout, MOUNTINFO};
use super::devices::{self, DeviceRule};
use super::error::CgroupError;
use super::fs;
use super::hierarchy::Hierarchy;
use super::hierarchy::{CgroupDir, CgroupPaths};
use super::limits::{Controller, Refusal, Resources, Setting, KMEM_LIMIT};

/// Where and how to make a container's cgroup. The default is a cgroup of
/// a name no other container of this process has (`cradle-<pid>-<n>`),
/// below the caller's own, with no limits.
#[derive(Clone, Debug)]
pub struct CgroupConfig {
    /// The directory name created in every hierarchy.
    pub name: String,
    /// Parent cgroup: absolute (`/a/b`) from each hierarchy's root, or
    /// relative (`a/b`) below the caller's own cgroup in each hierarchy;
    /// `None` is the caller's own cgroup. `..` is refused. Missing
    /// directories on the way are created, each set up as a new cgroup
    /// (a v1 cpuset gets its parent's CPUs and memory nodes; a cgroup2
    /// directory enables for its children the controllers it has), and
    /// left in place, by a failed create as by [`Cgroup::destroy`]: other
    /// cgroups may come to share them. Existing ones are not written to.
    pub parent: Option<PathBuf>,
    /// Take over the cgroup if it exists already and holds no process, as
    /// runc does with the `cgroupsPath` an engine names (a parent another
    /// container made on the way may be this one's cgroup). Off, an
    /// existing directory is an error: cradle's own names are never
    /// taken over.
    pub adopt_empty: bool,
    /// Limits written at creation.
    pub resources: Resources,
}

impl Default for CgroupConfig {
    fn default() -> CgroupConfig {
        CgroupConfig {
            name: CgroupConfig::unique_name(),
            parent: None,
            adopt_empty: false,
            resources: Resources::default(),
        }
    }
}

impl CgroupConfig {
    /// `cradle-<pid>-<n>`: a name no other cgroup this process asks for
    /// has (`n` counts up from 0).
    pub fn unique_name() -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("cradle-{}-{n}", std::process::id())
    }
}

/// A cgroup cradle created: one directory in every hierarchy the caller
/// belongs to.
///
/// Dropping it leaves the cgroup in place (a running container keeps its
/// cgroup); [`Cgroup::destroy`] removes it.
#[derive(Debug)]
pub struct Cgroup {
    pub(crate) paths: CgroupPaths,
    /// Where the kernel's time went, hierarchy by hierarchy.
    timings: Mutex<CgroupTimings>,
    /// The v2 directory, opened for `CLONE_INTO_CGROUP`.
    v2_dir: Option<OwnedFd>,
    /// What a launch does right after its clone (see
    /// [`Cgroup::create_for_launch`]).
    after_clone: AfterClone,
}

/// The part of a launch's cgroup made right after the clone, while the
/// child `exec`s the init binary.
#[derive(Debug, Default)]
struct AfterClone {
    /// The v1 directories, made with their limits (from these
    /// resources, and whether an existing empty one is taken over).
    v1: Option<(Resources, bool)>,
    /// The rules of the v2 device program, loaded and attached.
    devices: Option<Vec<DeviceRule>>,
}

/// How long the kernel took over a cgroup in each hierarchy, for an
/// account of a start's time (`cradle run --timings`): a v1 hierarchy's
/// first attach can wait for an RCU grace period, a `mkdir` for its
/// controllers' set-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupTimings {
    /// Its creation in each hierarchy: the directory (and missing
    /// parents) and its limits, in the order made.
    pub create: Vec<(Hierarchy, Duration)>,
    /// A launch's part of the creation made right after its clone, while
    /// the child `exec`s the init binary: the v1 hierarchies.
    pub create_after_clone: Vec<(Hierarchy, Duration)>,
    /// Each [`Cgroup::apply`]'s write of the pid, in each hierarchy the
    /// process was not in already.
    pub attach: Vec<(Hierarchy, Duration)>,
    /// A launch's load and attach of the v2 device program, right after
    /// its clone, while the child `exec`s the init binary.
    pub device_program: Option<Duration>,
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
    /// it did not create (existing parents are used, never written to).
    /// Limits are checked before anything is made, as far as they can be:
    /// whether this kernel has a file (and enforces what it is given) shows
    /// only in the new directory, which is then removed again.
    pub fn create_in(layout: &Layout, config: &CgroupConfig) -> Result<Cgroup, CgroupError> {
        Cgroup::create_at(Cgroup::paths_in(layout, config)?, config)
    }

    /// [`Cgroup::create`] in the directories [`Cgroup::planned`] gave for
    /// `config` earlier (a record of them written first): the same
    /// directories, without reading the host's layout again.
    pub fn create_at(paths: CgroupPaths, config: &CgroupConfig) -> Result<Cgroup, CgroupError> {
        Cgroup::make(paths, config, false)
    }

    /// A launch's cgroup: [`Cgroup::create_at`] the `planned` directories,
    /// else [`Cgroup::create`], but only its v2 directory (for
    /// `CLONE_INTO_CGROUP`), without its device program. The rest is left
    /// for [`Cgroup::finish_after_clone`], which the launch calls right
    /// after its clone: the v1 directories with their limits (0.4 ms on a
    /// hybrid host) and the device program (0.13 ms) then overlap the
    /// child's `exec` of the init binary, and are in force before the
    /// child reads its config, so before any of its set-up steps: until
    /// then the child runs only the init binary's start, which opens no
    /// device and forks nothing, and is put in the v1 hierarchies (the
    /// launch's `apply`) before it gets its config.
    ///
    /// Everything that can be refused before anything is made still is:
    /// the limits, and a directory that exists in any hierarchy.
    pub(crate) fn create_for_launch(
        planned: Option<CgroupPaths>,
        config: &CgroupConfig,
    ) -> Result<Cgroup, CgroupError> {
        let paths = match planned {
            Some(paths) => paths,
            None => Cgroup::paths_in(&Layout::detect()?, config)?,
        };
        Cgroup::make(paths, config, true)
    }

    /// Makes the cgroup; with `defer`, only its v2 directory, leaving the
    /// v1 ones and the device program for [`Cgroup::finish_after_clone`].
    fn make(paths: CgroupPaths, config: &CgroupConfig, defer: bool) -> Result<Cgroup, CgroupError> {
        let mut limits = plan_limits(&paths, &config.resources)?;
        let mut after_clone = AfterClone::default();
        let mut now = paths.clone();
        if defer {
            for limit in &mut limits {
                if let Some(rules) = limit.device_program.take() {
                    after_clone.devices = Some(rules.to_vec());
                }
            }
            if paths.dirs.iter().any(|dir| !dir.is_v2()) {
                for dir in paths.dirs.iter().filter(|dir| !dir.is_v2()) {
                    refuse_existing(dir, config.adopt_empty)?;
                }
                limits.retain(|limit| limit.dir.is_v2());
                now.dirs.retain(CgroupDir::is_v2);
                after_clone.v1 = Some((config.resources.clone(), config.adopt_empty));
            }
        }
        let mut timings = CgroupTimings::default();
        let v2_dir = build_or_undo(&now, config.adopt_empty, &limits, &mut timings.create)?;
        Ok(Cgroup {
            paths,
            timings: Mutex::new(timings),
            v2_dir,
            after_clone,
        })
    }

    /// Where [`Cgroup::create`] would make the cgroup of `config`, without
    /// making anything: for a record of it written before it exists.
    pub fn planned(config: &CgroupConfig) -> Result<CgroupPaths, CgroupError> {
        Cgroup::paths_in(&Layout::detect()?, config)
    }

    /// The directories of `config`'s cgroup in the hierarchies of `layout`
    /// (what [`Cgroup::create_in`] makes).
    pub fn paths_in(layout: &Layout, config: &CgroupConfig) -> Result<CgroupPaths, CgroupError> {
        let name = valid_name(&config.name)?;
        let parent = config.parent.as_deref().map(valid_parent).transpose()?;
        let dirs = layout
            .hierarchies()
            .iter()
            .map(|mounted| {
                // Joining an absolute parent replaces the own cgroup.
                let cgroup = match &parent {
                    Some(parent) => mounted.own_cgroup.join(parent).join(name),
                    None => mounted.own_cgroup.join(name),
                };
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
        Ok(Cgroup {
            v2_dir,
            ..Cgroup::to_end(paths)
        })
    }

    /// The cgroup at `paths` to end, with none of a launch's state and no
    /// directory opened (some of them may be gone).
    pub(crate) fn to_end(paths: CgroupPaths) -> Cgroup {
        Cgroup {
            paths,
            timings: Mutex::default(),
            v2_dir: None,
            after_clone: AfterClone::default(),
        }
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
        self.place(&self.paths, pid)
    }

    /// [`apply`](Cgroup::apply) but for the v1 hierarchies: for a process
    /// that joins those itself, through [`v1_tasks`](Cgroup::v1_tasks).
    pub(crate) fn apply_but_v1(&self, pid: i32) -> Result<(), CgroupError> {
        let mut v2 = self.paths.clone();
        v2.dirs.retain(CgroupDir::is_v2);
        self.place(&v2, pid)
    }

    /// The `tasks` files of its v1 directories, open for writing, for a
    /// single-threaded process to write `0` to and so join them itself:
    /// a process that moves itself thread by thread takes no lock on
    /// every thread group, which the writer of a pid to `cgroup.procs`
    /// takes, and the first such writer after an idle spell waits for an
    /// RCU grace period (8 to 12 ms here). None on a cgroup2-only host.
    pub(crate) fn v1_tasks(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        let files = v1_tasks(&self.paths)?;
        Ok(files.into_iter().map(|(tasks, _)| tasks).collect())
    }

    /// [`place`]s `pid` in `paths`, timing each write.
    fn place(&self, paths: &CgroupPaths, pid: i32) -> Result<(), CgroupError> {
        let mut attach = Vec::new();
        let placed = place(paths, pid, &mut attach);
        if let Ok(mut timings) = self.timings.lock() {
            timings.attach.extend(attach);
        }
        placed
    }

    /// Makes what [`Cgroup::create_for_launch`] left, once: the v1
    /// directories with their limits, then the v2 device program; nothing
    /// when nothing was left. A v1 directory made before a failure is
    /// removed again.
    pub(crate) fn finish_after_clone(&mut self) -> Result<(), CgroupError> {
        if let Some((resources, adopt_empty)) = self.after_clone.v1.take() {
            let mut v1 = self.paths.clone();
            v1.dirs.retain(|dir| !dir.is_v2());
            let mut took = Vec::new();
            let built = plan_limits(&self.paths, &resources).and_then(|limits| {
                let limits: Vec<Limits<'_>> = limits.into_iter().filter(|limit| !limit.dir.is_v2()).collect();
                build_or_undo(&v1, adopt_empty, &limits, &mut took)
            });
            if let Ok(timings) = self.timings.get_mut() {
                timings.create_after_clone = took;
            }
            if let Err(error) = built {
                // None of the v1 directories is this cgroup's now (those
                // made are removed again; one that was there already is
                // another's): destroying it must not touch them.
                self.paths.dirs.retain(CgroupDir::is_v2);
                return Err(error);
            }
        }
        let Some(rules) = self.after_clone.devices.take() else {
            return Ok(());
        };
        // plan_limits gives a device program only to a v2 directory, which
        // `build` opened.
        let (Some(dir), Some(v2)) = (self.v2_dir.as_ref(), self.paths.v2()) else {
            return Err(CgroupError::NoHierarchy {
                path: PathBuf::from(MOUNTINFO),
            });
        };
        let started = Instant::now();
        devices::attach_device_program(dir.as_fd(), &v2.path, &rules)?;
        if let Ok(timings) = self.timings.get_mut() {
            timings.device_program = Some(started.elapsed());
        }
        Ok(())
    }

    /// The ids of the device programs attached to its cgroup2 directory,
    /// in the order they run (none without one): what guards its devices
    /// there, besides the programs of the cgroups above.
    pub fn device_programs(&self) -> Result<Vec<u32>, CgroupError> {
        let Some(v2) = self.paths.v2() else {
            return Ok(Vec::new());
        };
        let dir = open_dir(v2)?;
        super::bpf::attached(dir.as_fd(), &v2.path)
    }

    /// How long its creation and its attaches took, hierarchy by
    /// hierarchy (nothing for a cgroup [opened](Cgroup::open) rather than
    /// made).
    pub fn timings(&self) -> CgroupTimings {
        self.timings
            .lock()
            .map(|timings| timings.clone())
            .unwrap_or_default()
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
    place(paths, pid, &mut Vec::new())
}

/// The `tasks` files of the v1 directories of `paths`, open for writing
/// (see [`Cgroup::v1_tasks`]), with their paths: a setns helper joins a
/// running container's cgroups with them.
pub(crate) fn v1_tasks(paths: &CgroupPaths) -> Result<Vec<(OwnedFd, PathBuf)>, CgroupError> {
    paths
        .dirs
        .iter()
        .filter(|dir| !dir.is_v2())
        .map(|dir| {
            let path = dir.file("tasks");
            fs::open_tasks(&dir.hierarchy, &dir.path).map(|tasks| (tasks, path))
        })
        .collect()
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

/// The `tasks` files a launching thread forks through into a running
/// container's v1 pids cgroup (see [`fork_into_v1_pids`]).
#[derive(Debug)]
pub(crate) struct PidsFork {
    /// The container's v1 pids cgroup's.
    pub(crate) container: OwnedFd,
    /// The calling thread's own cgroup's, in the same hierarchy.
    pub(crate) own: OwnedFd,
}

/// For a process cloned into a running container whose v1 pids cgroup,
/// or an ancestor of it, has a limit: the `tasks` files to fork it there
/// through. A process moved into a v1 cgroup is held to no limit, and one
/// forked there is: so the calling thread moves itself into the
/// container's pids cgroup (a write of `0` to `tasks` moves the writing
/// thread alone, without the lock on every thread group), clones, and
/// moves back. `None` where no limit applies, or the container has no v1
/// pids cgroup.
pub(crate) fn fork_into_v1_pids(paths: &CgroupPaths) -> Result<Option<PidsFork>, CgroupError> {
    let Some(dir) = paths.v1_with("pids").filter(|dir| !unlimited_pids(dir)) else {
        return Ok(None);
    };
    // The thread's own cgroup, where the mount shows it: a mount may show
    // a subtree only (a container's view of the host's hierarchy).
    let layout = Layout::detect_for_thread()?;
    let mounted = layout
        .hierarchies()
        .iter()
        .find(|mounted| mounted.hierarchy == dir.hierarchy)
        .ok_or_else(|| CgroupError::NoController {
            controller: "pids",
            path: PathBuf::from(MOUNTINFO),
        })?;
    let own_dir = mounted
        .dir(&mounted.own_cgroup)
        .ok_or_else(|| CgroupError::Unreachable {
            hierarchy: dir.hierarchy.clone(),
            cgroup: mounted.own_cgroup.clone(),
            mount_point: mounted.mount_point.clone(),
        })?;
    Ok(Some(PidsFork {
        container: fs::open_tasks(&dir.hierarchy, &dir.path)?,
        own: fs::open_tasks(&dir.hierarchy, &own_dir)?,
    }))
}

/// Whether `dir` (a directory of a v1 pids hierarchy) and every ancestor
/// of it below the hierarchy's root have no pids limit: a process moved in
/// is then held to none, as one forked in would not be either. A file that
/// cannot be read or parsed counts as a limit: so does an ancestor a mount
/// of a subtree hides, whose `pids.max` is not where this looks for it.
fn unlimited_pids(dir: &CgroupDir) -> bool {
    let depth = dir.cgroup.components().count().saturating_sub(1);
    dir.path.ancestors().take(depth).all(|level| {
        let path = level.join("pids.max");
        fs::read(&dir.hierarchy, &path)
            .ok()
            .and_then(|text| parse_pids_max(&text))
            .is_some_and(|limit| limit.is_none())
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
fn place(paths: &CgroupPaths, pid: i32, took: &mut Vec<(Hierarchy, Duration)>) -> Result<(), CgroupError> {
    // Writing a pid where it already is still costs an RCU grace period
    // (~8 ms when idle); /proc/<pid>/cgroup tells which to skip.
    let current = if pid > 0 {
        crate::small_file::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
    } else {
        String::new()
    };
    let current = parse_proc_cgroup(&current);
    for dir in &paths.dirs {
        let there = current
            .iter()
            .any(|m| m.hierarchy == dir.hierarchy && m.cgroup == dir.cgroup);
        if !there {
            let started = Instant::now();
            fs::write_pid(&dir.hierarchy, &dir.path, pid)?;
            took.push((dir.hierarchy.clone(), started.elapsed()));
        }
    }
    Ok(())
}

/// [`build`]; on failure, removes the directories it made (only those:
/// still empty, so rmdir cannot fail on them except by a concurrent
/// removal; parents made on the way stay, as another create may be using
/// them already).
fn build_or_undo(
    paths: &CgroupPaths,
    adopt_empty: bool,
    limits: &[Limits<'_>],
    took: &mut Vec<(Hierarchy, Duration)>,
) -> Result<Option<OwnedFd>, CgroupError> {
    let mut created = Vec::new();
    let built = build(paths, adopt_empty, limits, &mut created, took);
    if built.is_err() {
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(&dir.path);
        }
    }
    built
}

/// Refuses `dir` if it exists and is not an empty one to take over
/// (`adopt_empty`): what [`build`] would refuse, checked before anything
/// is made.
fn refuse_existing(dir: &CgroupDir, adopt_empty: bool) -> Result<(), CgroupError> {
    if dir.path.exists() && !(adopt_empty && is_empty(dir)) {
        return Err(CgroupError::Exists {
            hierarchy: dir.hierarchy.clone(),
            path: dir.path.clone(),
        });
    }
    Ok(())
}

/// Makes the directories (and missing parents), checks and writes the
/// limits, opens the v2 directory. Records each cgroup directory it makes
/// in `created`, and how long each hierarchy took in `took`.
fn build<'a>(
    paths: &'a CgroupPaths,
    adopt_empty: bool,
    limits: &[Limits<'_>],
    created: &mut Vec<&'a CgroupDir>,
    took: &mut Vec<(Hierarchy, Duration)>,
) -> Result<Option<OwnedFd>, CgroupError> {
    for dir in &paths.dirs {
        let started = Instant::now();
        // The parent usually exists (the caller's own cgroup): make the
        // missing ones only when the kernel says so.
        let made = match std::fs::create_dir(&dir.path) {
            Err(source) if source.kind() == ErrorKind::NotFound => {
                make_parents(dir)?;
                std::fs::create_dir(&dir.path)
            }
            result => result,
        };
        match made {
            Err(source) if source.kind() == ErrorKind::AlreadyExists && adopt_empty && is_empty(dir) => {
                continue;
            }
            result => result,
        }
        .map_err(|source| match source.kind() {
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
        set_up(&dir.hierarchy, &dir.path)?;
        took.push((dir.hierarchy.clone(), started.elapsed()));
    }
    for limit in limits {
        let started = Instant::now();
        // A limit that writes nothing (an `oom_kill_disable` of false on
        // cgroup2) needs no controller.
        let controller = limit.controller.v2_name().filter(|_| !limit.settings.is_empty());
        if let Some(controller) = controller.filter(|_| limit.dir.is_v2()) {
            require_v2_controller(limit.dir, controller)?;
        }
        for setting in &limit.settings {
            write_setting(limit.dir, setting)?;
        }
        if let Some(rules) = limit.device_program {
            let dir = open_dir(limit.dir)?;
            devices::attach_device_program(dir.as_fd(), &limit.dir.path, rules)?;
        }
        if let Some((_, time)) = took.iter_mut().find(|(h, _)| *h == limit.dir.hierarchy) {
            *time += started.elapsed();
        }
    }
    paths.v2().map(open_dir).transpose()
}

/// `mkdir -p` of the cgroup's parent: each directory made on the way is
/// [set up](set_up) as a new cgroup, and on cgroup2 passes every controller
/// it has on to its children (as the parent of a container's cgroup, it
/// holds no process). One made meanwhile by another process is used as it
/// is (but see [`inherit_cpuset`]).
fn make_parents(dir: &CgroupDir) -> Result<(), CgroupError> {
    let Some(parent) = dir.path.parent() else {
        return Ok(());
    };
    // The mount point exists, so this stops inside the mount.
    let missing: Vec<&Path> = parent.ancestors().take_while(|path| !path.exists()).collect();
    for path in missing.into_iter().rev() {
        match std::fs::create_dir(path) {
            Ok(()) => {
                set_up(&dir.hierarchy, path)?;
                if dir.is_v2() {
                    delegate_controllers(path)?;
                }
            }
            Err(source) if source.kind() == ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(CgroupError::CreateDir {
                    hierarchy: dir.hierarchy.clone(),
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Readies a directory cradle just made before anything joins it.
fn set_up(hierarchy: &Hierarchy, path: &Path) -> Result<(), CgroupError> {
    if hierarchy.is_v1_with("cpuset") {
        inherit_cpuset(hierarchy, path)?;
    }
    Ok(())
}

/// Enables, for the children of a cgroup2 directory cradle made, every
/// controller its own parent gave it: a limit below then finds its
/// controller as it would directly below that parent.
fn delegate_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = fs::read(&Hierarchy::V2, &dir.join("cgroup.controllers"))?;
    let enable = subtree_control_line(&available);
    if enable.is_empty() {
        return Ok(());
    }
    fs::write(&Hierarchy::V2, &dir.join("cgroup.subtree_control"), &enable)
}

/// `cpu memory` → `+cpu +memory`: one write enables them all.
fn subtree_control_line(controllers: &str) -> String {
    let enable: Vec<String> = controllers.split_whitespace().map(|c| format!("+{c}")).collect();
    enable.join(" ")
}

/// Writes one limit: to its file, or to the fallback where the kernel has
/// only that. A file the kernel lacks, a write it calls unsupported, or a
/// value it accepts and then does not show, is [`CgroupError::LimitUnsupported`].
fn write_setting(dir: &CgroupDir, setting: &Setting) -> Result<(), CgroupError> {
    let unsupported = |path: PathBuf, reason: String| CgroupError::LimitUnsupported {
        hierarchy: dir.hierarchy.clone(),
        limit: setting.limit,
        path,
        reason,
    };
    let primary = dir.file(&setting.file);
    // Without a fallback the write itself shows whether the file exists
    // (ENOENT): no stat before each of, say, a dozen device rules.
    let (path, value) = match &setting.fallback {
        None => (primary, setting.value.as_str()),
        _ if primary.exists() => (primary, setting.value.as_str()),
        Some((file, value)) if dir.file(file).exists() => (dir.file(file), value.as_str()),
        Some((file, _)) => {
            let reason = format!("this kernel has neither {} nor {file}", setting.file);
            return Err(unsupported(primary, reason));
        }
    };
    let refusal = |error: CgroupError| match error.errno() {
        Some(libc::ENOENT) => unsupported(path.clone(), "this kernel has no such file".to_owned()),
        Some(libc::EOPNOTSUPP) => unsupported(
            path.clone(),
            "the kernel no longer supports it (EOPNOTSUPP)".to_owned(),
        ),
        _ => error,
    };
    let before = match setting.verify {
        true => Some(fs::read(&dir.hierarchy, &path).map_err(refusal)?),
        false => None,
    };
    fs::write(&dir.hierarchy, &path, value).map_err(refusal)?;
    if let Some(before) = before {
        let after = fs::read(&dir.hierarchy, &path)?;
        if ignored(value, &before, &after) {
            let reason = match setting.file.as_str() {
                KMEM_LIMIT => "the kernel takes the value but no longer enforces kernel-memory limits (Linux 6.1 and later)",
                _ => "the kernel took the value but does not show it",
            };
            return Err(unsupported(path, reason.to_owned()));
        }
    }
    Ok(())
}

/// Whether a limit written over `before` left the file showing `after`
/// unchanged though it was lower: the kernel dropped it. A limit at or
/// above what was there changes nothing either way.
fn ignored(value: &str, before: &str, after: &str) -> bool {
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match (number(value), number(before), number(after)) {
        (Some(value), Some(before), Some(after)) => after == before && value < before,
        // Not numbers: it holds if the file shows what was written.
        _ => after.trim() != value.trim(),
    }
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
                .map_err(|refusal| match refusal {
                    Refusal::Invalid { file, value, reason } => CgroupError::InvalidLimit {
                        hierarchy: dir.hierarchy.clone(),
                        path: dir.file(&file),
                        value,
                        reason,
                    },
                    Refusal::Unsupported { limit, reason } => CgroupError::LimitUnsupported {
                        hierarchy: dir.hierarchy.clone(),
                        limit,
                        path: dir.path.clone(),
                        reason: reason.to_owned(),
                    },
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
fn require_v2_controller(dir: &CgroupDir, controller: &'static str) -> Result<(), CgroupError> {
    let path = dir.file("cgroup.controllers");
    let enabled = fs::read(&dir.hierarchy, &path)?;
    if enabled.split_whitespace().any(|name| name == controller) {
        return Ok(());
    }
    Err(CgroupError::ControllerUnavailable {
        hierarchy: dir.hierarchy.clone(),
        controller,
        path,
    })
}

/// A new v1 cpuset starts with no CPUs and no memory nodes (unless the
/// parent sets `cgroup.clone_children`), and joining it fails with
/// `ENOSPC`: copy the parent's.
///
/// A parent without them is one another launch is still making (two
/// engines' containers started at once under one new `cgroupsPath`
/// parent): it is filled from its own parent first, up the tree as far as
/// needed, rather than its emptiness copied. Only empty files are written,
/// as runc does: a cpuset without CPUs holds no process. The walk ends
/// below the mount point, whose cpuset is never empty.
fn inherit_cpuset(hierarchy: &Hierarchy, dir: &Path) -> Result<(), CgroupError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        if fs::read(hierarchy, &own)?.trim().is_empty() {
            let mut inherited = fs::read(hierarchy, &parent.join(file))?;
            if inherited.trim().is_empty() {
                inherit_cpuset(hierarchy, parent)?;
                inherited = fs::read(hierarchy, &parent.join(file))?;
            }
            fs::write(hierarchy, &own, inherited.trim())?;
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

/// A parent without `..` or NUL, with `.` and repeated slashes dropped;
/// absolute (from the hierarchy's root) or relative (from the caller's own
/// cgroup) as given.
fn valid_parent(parent: &Path) -> Result<PathBuf, CgroupError> {
    let invalid = |reason| CgroupError::InvalidPath {
        field: "parent",
        value: parent.to_owned(),
        reason,
    };
    let mut normal = PathBuf::new();
    for component in parent.components() {
        match component {
            Component::RootDir => normal.push("/"),
            Component::CurDir => {}
            Component::Normal(part) if part.as_encoded_bytes().contains(&0) => {
                return Err(invalid("must not contain NUL"))
            }
            Component::Normal(part) => normal.push(part),
            Component::ParentDir | Component::Prefix(_) => return Err(invalid("must not contain ..")),
        }
    }
    Ok(normal)
}

/// Whether the cgroup directory holds no process (unreadable: it is not
/// taken as empty).
fn is_empty(dir: &CgroupDir) -> bool {
    crate::small_file::read_to_string(dir.file("cgroup.procs")).is_ok_and(|procs| procs.trim().is_empty())
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
    fn the_default_config_names_a_cgroup_of_its_own() {
        let (first, second) = (CgroupConfig::default(), CgroupConfig::default());
        assert!(valid_name(&first.name).is_ok(), "{}", first.name);
        assert!(first.name.starts_with(&format!("cradle-{}-", std::process::id())));
        assert_ne!(first.name, second.name);
        assert_eq!(first.parent, None);
        assert!(!first.adopt_empty);
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
    fn parents_keep_their_anchor_and_may_not_climb() {
        let valid = |parent: &str| valid_parent(Path::new(parent)).ok();
        assert_eq!(valid("cradle/x"), Some(PathBuf::from("cradle/x")));
        assert_eq!(valid("./cradle//x/"), Some(PathBuf::from("cradle/x")));
        assert_eq!(valid("/cradle/./x"), Some(PathBuf::from("/cradle/x")));
        assert_eq!(valid("/"), Some(PathBuf::from("/")));
        assert_eq!(valid("."), Some(PathBuf::new()));
        for bad in ["/cradle/../..", "..", "a/..", "a/b\0c"] {
            assert!(
                matches!(
                    valid_parent(Path::new(bad)),
                    Err(CgroupError::InvalidPath { field: "parent", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn relative_parents_go_below_the_own_cgroup_and_absolute_ones_below_the_root() {
        let layout = Layout::parse(
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            "4:memory:/user/1\n0::/\n",
        );
        let planned = |parent: Option<&str>| -> Vec<(PathBuf, PathBuf)> {
            let config = CgroupConfig {
                adopt_empty: false,
                name: "c".to_owned(),
                parent: parent.map(PathBuf::from),
                resources: Resources::default(),
            };
            let paths = Cgroup::paths_in(&layout, &config).expect("paths");
            paths.dirs.into_iter().map(|dir| (dir.cgroup, dir.path)).collect()
        };
        let pair = |cgroup: &str, path: &str| (PathBuf::from(cgroup), PathBuf::from(path));
        assert_eq!(
            planned(None),
            [
                pair("/user/1/c", "/sys/fs/cgroup/memory/user/1/c"),
                pair("/c", "/sys/fs/cgroup/unified/c")
            ]
        );
        assert_eq!(
            planned(Some("a/b")),
            [
                pair("/user/1/a/b/c", "/sys/fs/cgroup/memory/user/1/a/b/c"),
                pair("/a/b/c", "/sys/fs/cgroup/unified/a/b/c")
            ]
        );
        assert_eq!(
            planned(Some("/a/b")),
            [
                pair("/a/b/c", "/sys/fs/cgroup/memory/a/b/c"),
                pair("/a/b/c", "/sys/fs/cgroup/unified/a/b/c")
            ]
        );
        assert_eq!(planned(Some(".")), planned(None));
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
            (limit.settings[0].file.as_str(), limit.settings[0].value.as_str()),
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
    fn a_limit_whose_controller_only_v1_has_is_refused_without_it() {
        let net = Resources {
            net_cls_classid: Some(1),
            ..Resources::default()
        };
        let error = plan_limits(&paths(&[v1("memory")]), &net).err();
        assert!(
            matches!(
                error,
                Some(CgroupError::NoController {
                    controller: "net_cls",
                    ..
                })
            ),
            "{error:?}"
        );
        let error = plan_limits(&paths(&[v1("memory"), Hierarchy::V2]), &net)
            .err()
            .expect("refused");
        assert_eq!(
            error.to_string(),
            "cgroup v2: cannot set net_cls_classid (/mnt/1/c): cgroup2 has no net_cls controller, \
             and no v1 hierarchy with it is mounted"
        );
        assert!(plan_limits(&paths(&[v1("net_cls"), Hierarchy::V2]), &net).is_ok());
    }

    #[test]
    fn a_v1_only_limit_goes_to_v1_even_on_a_hybrid_host() {
        let swappiness = Resources {
            memory_swappiness: Some(10),
            ..Resources::default()
        };
        let hybrid = paths(&[v1("memory"), Hierarchy::V2]);
        let plan = plan_limits(&hybrid, &swappiness).expect("plan");
        assert_eq!(plan[0].dir.hierarchy, v1("memory"));
        let error = plan_limits(&paths(&[v1("pids"), Hierarchy::V2]), &swappiness).err();
        assert!(
            matches!(
                error,
                Some(CgroupError::LimitUnsupported {
                    limit: "memory_swappiness",
                    hierarchy: Hierarchy::V2,
                    ..
                })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_made_parent_passes_on_every_controller_it_has() {
        assert_eq!(
            subtree_control_line("cpuset cpu io memory\n"),
            "+cpuset +cpu +io +memory"
        );
        assert_eq!(subtree_control_line("\n"), "");
    }

    #[test]
    fn a_limit_the_kernel_shows_unchanged_was_ignored() {
        let unlimited = "9223372036854771712\n";
        assert!(ignored("8388608", unlimited, unlimited));
        assert!(!ignored("8388608", unlimited, "8388608\n"));
        // Rounded down to a page: still taken.
        assert!(!ignored("8388609", unlimited, "8388608\n"));
        // No lower than what was there: nothing to tell.
        assert!(!ignored("9223372036854775807", unlimited, unlimited));
        assert!(ignored("lo 5", "lo 0\n", "lo 0\n"));
        assert!(!ignored("x", "", "x\n"));
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
