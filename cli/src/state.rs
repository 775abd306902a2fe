//! The state directory: one subdirectory per container holding
//! `state.json`, replaced atomically (written beside it, then swapped in)
//! and guarded by an exclusive `flock` on the subdirectory so that two
//! commands never act on one container at once.
//!
//! Intent before action: a new container's directory is made under a
//! temporary name, locked, given its record (stage `creating`, naming the
//! cgroup and interfaces the launch will make), and only then renamed into
//! place with `RENAME_NOREPLACE`. An id is taken or not; every container
//! directory holds a record from the start; and a `cradle` killed at any
//! instant leaves either a temporary directory (which names nothing that
//! exists, and which [`StateRoot::sweep`] removes once its maker is gone)
//! or a record that `delete --force` can finish.
//!
//! A removed container's directory is emptied and kept, under the name
//! `.spare` (one at most), for the next container to take by a rename: on
//! a filesystem of blocks (ext4) a new directory is given a block and a
//! removed one frees it, which with `discard` the removal waits for. The
//! spare names nothing: a `cradle` killed while it empties a directory
//! leaves a container without a record, which `delete --force` removes.
//!
//! Records are not `fsync`ed: they guard against the death of a `cradle`
//! process, which the page cache survives, not against a power loss, after
//! which nothing they name (processes, cgroups, interfaces) exists. A record
//! torn by one shows as damaged and is removed like any other.

use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use cradle_core::config::Veth;
use cradle_core::{NamespaceKind, Pid};
use cradle_linux::cgroup::{Cgroup, CgroupPaths, FreezerState};
use cradle_linux::{proc_stat, Container};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
// rustix makes the syscall itself: musl has no `renameat2` to call.
use rustix::fs::{renameat_with, RenameFlags};
use serde::{Deserialize, Serialize};

use crate::confinement::Recorded;
use crate::error::CliError;
use crate::proof::{self, CgroupCheck};
use crate::shared_mounts::SharedMounts;
use crate::state_fs;

const STATE_FILE: &str = "state.json";
/// An empty directory kept from a removed container for the next one to
/// take (see `state_fs::take_or_make_dir_at`): one at most.
const SPARE_DIR: &str = ".spare";
/// How long a command waits for another one to let go of a container.
const LOCK_BOUND: Duration = Duration::from_secs(10);
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// How far a container's launch had got when its record was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stage {
    /// Written before anything it names exists: the cgroup and interfaces
    /// may or may not have been made, and no process is recorded.
    Creating,
    /// The init is recorded (pid and start time), and is set up and held
    /// before `exec` until `start` once its `create` has returned.
    Created,
    /// The init is recorded (pid and start time), before it `exec`d.
    #[default]
    Started,
}

/// What is known of a container after its launch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContainerState {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) stage: Stage,
    /// The init's pid, as the host sees it (0 while `creating`).
    pub(crate) pid: i32,
    /// The init's start time (`/proc/<pid>/stat` field 22, clock ticks
    /// since boot): with the pid, it tells the init from a later process
    /// that got its pid.
    pub(crate) start_time: u64,
    /// When the container was created, RFC 3339.
    pub(crate) created: String,
    pub(crate) command: Vec<String>,
    pub(crate) rootfs: Option<PathBuf>,
    pub(crate) hostname: Option<String>,
    /// The namespaces the container created; `exec` joins them.
    pub(crate) namespaces: Vec<NamespaceKind>,
    pub(crate) cgroup: Option<CgroupPaths>,
    /// veth pairs whose host ends `delete` removes.
    pub(crate) interfaces: Vec<Veth>,
    /// Started with `--detach`.
    pub(crate) detached: bool,
    /// The foreground `cradle run` that waits for the container and
    /// removes it when it exits; `None` for a detached container.
    pub(crate) supervisor: Option<Supervisor>,
    /// How its processes are confined; `exec` confines its own the same.
    #[serde(default)]
    pub(crate) confinement: Recorded,
    /// A container from an OCI bundle (`create`, or `run ID`).
    #[serde(default)]
    pub(crate) oci: Option<OciRecord>,
    /// Where its mounts are when it has no mount namespace of its own:
    /// recorded before they are made, detached when it is removed.
    #[serde(default)]
    pub(crate) shared_mounts: Option<SharedMounts>,
    /// The namespaces of the cradle that wrote the record, in which its
    /// paths and pid mean what they say (`None` in a record of an older
    /// cradle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) written_from: Option<Viewpoint>,
}

/// Where a process sees the system from: its mount, cgroup and pid
/// namespaces (`/proc/self/ns/*`, as `mnt:[4026531841]`). Another
/// viewpoint can see a cgroup directory as absent, or a pid as another
/// process, while they exist for the writer's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Viewpoint {
    pub(crate) mount: String,
    pub(crate) cgroup: String,
    pub(crate) pid: String,
}

impl Viewpoint {
    /// This process's; `None` when `/proc` cannot say.
    pub(crate) fn own() -> Option<Viewpoint> {
        let namespace = |kind: &str| {
            std::fs::read_link(format!("/proc/self/ns/{kind}"))
                .ok()
                .map(|link| link.to_string_lossy().into_owned())
        };
        Some(Viewpoint {
            mount: namespace("mnt")?,
            cgroup: namespace("cgroup")?,
            pid: namespace("pid")?,
        })
    }
}

/// What the OCI interface keeps of a container's bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OciRecord {
    /// The bundle directory, absolute.
    pub(crate) bundle: PathBuf,
    #[serde(default)]
    pub(crate) annotations: std::collections::BTreeMap<String, String>,
    /// Where its `linux.cgroupsPath` puts its cgroup.
    pub(crate) placement: Placement,
    /// Run after `start` and after `delete`, from the config as it was at
    /// `create` (a bundle edited since changes nothing).
    #[serde(default)]
    pub(crate) poststart: Vec<HookRecord>,
    #[serde(default)]
    pub(crate) poststop: Vec<HookRecord>,
}

/// A cgroup's name and parent, as [`CgroupConfig`](cradle_linux::cgroup::CgroupConfig) has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Placement {
    pub(crate) name: String,
    pub(crate) parent: Option<PathBuf>,
}

/// An OCI hook, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HookRecord {
    pub(crate) path: PathBuf,
    #[serde(default)]
    pub(crate) args: Vec<String>,
    #[serde(default)]
    pub(crate) env: Vec<String>,
    #[serde(default)]
    pub(crate) timeout_secs: Option<u64>,
}

/// A process named across pid reuse: its pid and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Supervisor {
    pub(crate) pid: i32,
    pub(crate) start_time: u64,
}

impl Supervisor {
    /// This process.
    pub(crate) fn this_process() -> Option<Supervisor> {
        let pid = i32::try_from(std::process::id()).ok()?;
        let start_time = proc_stat::start_time(Pid::new(pid)?).ok()?;
        Some(Supervisor { pid, start_time })
    }

    pub(crate) fn is_running(&self) -> bool {
        is_running(self.pid, self.start_time)
    }
}

/// Whether the process `pid` that started at `start_time` still runs. A pid
/// that is not positive, from a hand-edited state file, names no process.
fn is_running(pid: i32, start_time: u64) -> bool {
    Pid::new(pid).is_some_and(|pid| proc_stat::is_running(pid, start_time))
}

/// Whether a container's init still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// A record written before its launch recorded a process: the launch
    /// is under way, or its `cradle` died and `delete --force` finishes it.
    Creating,
    /// Set up and held before `exec`, waiting for `start`.
    Created,
    Running,
    /// Its cgroup is frozen (`pause`).
    Paused,
    Stopped,
}

impl ContainerState {
    /// Checked against `/proc`: a pid that now belongs to another process
    /// (another start time) is `stopped`.
    /// A process outside the recorded cgroup is not the init either.
    pub(crate) fn status(&self) -> Status {
        if self.stage == Stage::Creating {
            return Status::Creating;
        }
        // An OCI container's process may be moved by its engine (see
        // `proof::init`).
        let in_cgroup = || {
            self.oci.is_some()
                || self
                    .cgroup
                    .as_ref()
                    .is_none_or(|paths| proof::in_cgroup(self.pid, paths))
        };
        if !(is_running(self.pid, self.start_time) && in_cgroup()) {
            return Status::Stopped;
        }
        self.status_of_running()
    }

    /// The status of a container whose init runs: created (held before
    /// `exec`), paused (its cgroup frozen) or running.
    pub(crate) fn status_of_running(&self) -> Status {
        if self.stage == Stage::Created {
            return Status::Created;
        }
        let frozen = |paths: &CgroupPaths| {
            Cgroup::open(paths.clone())
                .and_then(|cgroup| cgroup.freezer_state())
                .is_ok_and(|state| state == FreezerState::Frozen)
        };
        if self.cgroup.as_ref().is_some_and(frozen) {
            return Status::Paused;
        }
        Status::Running
    }

    /// Where an OCI bundle put its cgroup; `None`: cradle's own place.
    pub(crate) fn placement(&self) -> Option<&Placement> {
        self.oci.as_ref().map(|oci| &oci.placement)
    }

    /// Its cgroup, checked ([`proof::cgroup_unless_gone`]) from where this
    /// process sees it against where the record was written; `None` when
    /// it records none.
    pub(crate) fn cgroup_check(&self) -> Result<Option<CgroupCheck>, CliError> {
        self.cgroup
            .as_ref()
            .map(|paths| {
                proof::cgroup_unless_gone(paths, &self.id, self.placement(), self.written_from.as_ref())
            })
            .transpose()
    }

    /// The init, held by a pidfd so that nothing sent to it can reach a
    /// process that got its pid since; `None` when it no longer runs.
    /// Refused unless it is in the container's (checked) cgroup: see
    /// [`proof`].
    pub(crate) fn init(&self) -> Result<Option<Container>, CliError> {
        if self.stage == Stage::Creating {
            return Ok(None);
        }
        let Some(pid) = Pid::new(self.pid) else {
            return Ok(None);
        };
        match Container::open(pid, self.start_time) {
            Ok(init) => {
                Ok(proof::init(&self.id, self.cgroup.as_ref(), self.placement(), &init)?.then_some(init))
            }
            Err(cradle_linux::Error::ContainerGone { .. }) => Ok(None),
            Err(error) => Err(CliError::Backend(error)),
        }
    }
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The current time, RFC 3339 in UTC with seconds.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The root of all containers' state.
#[derive(Debug)]
pub(crate) struct StateRoot {
    root: PathBuf,
}

impl StateRoot {
    pub(crate) fn new(root: &Path) -> StateRoot {
        StateRoot {
            root: root.to_owned(),
        }
    }

    /// The root's descriptor, checked; `None` while it does not exist.
    pub(crate) fn open_existing(&self) -> Result<Option<std::os::fd::OwnedFd>, CliError> {
        state_fs::open_root(&self.root, false)
    }

    /// Takes `id` for a new container whose intended state is `record`:
    /// its directory exists, holds `record`, and is locked by the returned
    /// entry; or the id was in use.
    pub(crate) fn create(&self, id: &str, record: &ContainerState) -> Result<Entry, CliError> {
        let root = state_fs::open_root(&self.root, true)?
            .ok_or_else(|| CliError::file(&self.root)(std::io::Error::from(ErrorKind::NotFound)))?;
        let staging = format!(".{id}.{}", std::process::id());
        state_fs::take_or_make_dir_at(root.as_fd(), SPARE_DIR, &staging)
            .map_err(|errno| CliError::file(self.root.join(&staging))(errno.into()))?;
        let staging_path = self.root.join(&staging);
        let locked = state_fs::open_dir_at(root.as_fd(), &staging)
            .map_err(|errno| CliError::file(&staging_path)(errno.into()))
            .and_then(|dir| lock(File::from(dir), id))
            .and_then(|lock| first_state(lock.as_fd(), &staging_path, record).map(|()| lock))
            .and_then(|lock| {
                match renameat_with(
                    root.as_fd(),
                    staging.as_str(),
                    root.as_fd(),
                    id,
                    RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => Ok(lock),
                    Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => Err(CliError::Exists {
                        id: id.to_owned(),
                        root: self.root.clone(),
                    }),
                    Err(errno) => Err(CliError::Syscall {
                        call: "renameat2(RENAME_NOREPLACE) of a new state directory",
                        source: errno.into(),
                    }),
                }
            });
        match locked {
            Ok(lock) => Ok(Entry {
                id: id.to_owned(),
                path: self.root.join(id),
                root,
                lock,
            }),
            Err(error) => {
                if let Ok(dir) = state_fs::open_dir_at(root.as_fd(), &staging) {
                    let _ = state_fs::retire_dir_at(root.as_fd(), &staging, dir.as_fd(), SPARE_DIR);
                }
                Err(error)
            }
        }
    }

    /// Removes the temporary directories of `cradle`s that died before
    /// they renamed them into place (`.<id>.<pid>`, unlocked: a live maker
    /// holds its lock). They name nothing that exists: the launch begins
    /// after the rename. Best effort: what cannot be removed now is left
    /// for the next sweep.
    pub(crate) fn sweep(&self) {
        let Ok(Some(root)) = state_fs::open_root(&self.root, false) else {
            return;
        };
        let Ok(names) = state_fs::names(root.as_fd()) else {
            return;
        };
        for name in names.iter().filter(|name| is_staging_name(name)) {
            let Ok(dir) = state_fs::open_dir_at(root.as_fd(), name) else {
                continue;
            };
            // Unlocked is abandoned; locked is being made (or swept by
            // another command): left alone.
            let Ok(lock) = lock_within(File::from(dir), name, Duration::ZERO) else {
                continue;
            };
            tracing::info!(name, "removing the temporary state of a cradle that died");
            if let Err(error) = state_fs::remove_dir_at(root.as_fd(), name, lock.as_fd()) {
                tracing::warn!(%error, name, "removing a temporary state directory");
            }
        }
    }

    /// Locks the existing container `id`.
    pub(crate) fn open(&self, id: &str) -> Result<Entry, CliError> {
        let not_found = || CliError::NotFound {
            id: id.to_owned(),
            root: self.root.clone(),
        };
        let root = state_fs::open_root(&self.root, false)?.ok_or_else(not_found)?;
        let path = self.root.join(id);
        let dir = match state_fs::open_dir_at(root.as_fd(), id) {
            Ok(dir) => dir,
            Err(Errno::ENOENT) => return Err(not_found()),
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                return Err(CliError::BadState {
                    path,
                    reason: "is a symlink or not a directory".to_owned(),
                })
            }
            Err(errno) => return Err(CliError::file(path)(errno.into())),
        };
        let lock = lock(File::from(dir), id)?;
        // A `delete` may have removed it while this command waited: the
        // name then no longer leads to the directory locked.
        let inode = state_fs::inode(lock.as_fd()).map_err(|errno| CliError::file(&path)(errno.into()))?;
        if state_fs::inode_at(root.as_fd(), id) != Ok(inode) {
            return Err(not_found());
        }
        Ok(Entry {
            id: id.to_owned(),
            path,
            root,
            lock,
        })
    }

    /// The ids of all containers, sorted, damaged records included; none
    /// if the root does not exist.
    pub(crate) fn ids(&self) -> Result<Vec<String>, CliError> {
        let Some(root) = state_fs::open_root(&self.root, false)? else {
            return Ok(Vec::new());
        };
        let names = state_fs::names(root.as_fd()).map_err(CliError::file(&self.root))?;
        let mut ids: Vec<String> = names
            .into_iter()
            .filter(|name| !name.starts_with('.'))
            .filter(|name| state_fs::is_dir_at(root.as_fd(), name))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Whether `id`'s directory is there.
    pub(crate) fn exists(&self, id: &str) -> bool {
        state_fs::open_root(&self.root, false)
            .ok()
            .flatten()
            .is_some_and(|root| state_fs::is_dir_at(root.as_fd(), id))
    }

    /// Reads `id`'s state without the lock (for `list`): a state file is
    /// replaced whole, so what is read is one version of it.
    pub(crate) fn peek(&self, id: &str) -> Result<ContainerState, CliError> {
        let path = self.root.join(id);
        let not_found = || CliError::file(path.join(STATE_FILE))(std::io::Error::from(ErrorKind::NotFound));
        let root = state_fs::open_root(&self.root, false)?.ok_or_else(not_found)?;
        let dir = state_fs::open_dir_at(root.as_fd(), id)
            .map_err(|errno| CliError::file(path.join(STATE_FILE))(errno.into()))?;
        read_state(dir.as_fd(), &path, id)
    }
}

/// One container's directory, locked while this lives.
#[derive(Debug)]
pub(crate) struct Entry {
    id: String,
    /// Its path, for messages only: it is reached through `root`.
    path: PathBuf,
    /// The state root, checked when it was opened.
    root: OwnedFd,
    /// The directory, held locked for as long as the entry lives.
    lock: Flock<File>,
}

impl Entry {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The state root, as it was opened and checked.
    pub(crate) fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// A path to `name` in the container's directory, through its
    /// descriptor (short, as a socket's address must be, and reaching
    /// this directory even if the root's path changes).
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{name}", self.lock.as_fd().as_raw_fd()))
    }

    /// Replaces the state file whole: written beside it, then swapped in.
    pub(crate) fn write(&self, state: &ContainerState) -> Result<(), CliError> {
        write_state(self.lock.as_fd(), &self.path, state)?;
        tracing::debug!(dir = %self.path.display(), stage = ?state.stage, pid = state.pid, "state written");
        Ok(())
    }

    pub(crate) fn read(&self) -> Result<ContainerState, CliError> {
        read_state(self.lock.as_fd(), &self.path, &self.id)
    }

    /// Lets go of the lock and waits up to `bound` for another command to
    /// remove the container; whether it did.
    pub(crate) fn await_removal(self, bound: Duration) -> bool {
        let Entry { id, root, lock, .. } = self;
        let inode = state_fs::inode(lock.as_fd()).ok();
        drop(lock);
        let deadline = Instant::now() + bound;
        while state_fs::inode_at(root.as_fd(), &id).ok() == inode {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(LOCK_RETRY);
        }
        true
    }

    /// Removes the container's directory: emptied, and kept as the root's
    /// spare directory (or removed, if there is one); the lock goes with
    /// it.
    pub(crate) fn remove(self) -> Result<(), CliError> {
        state_fs::retire_dir_at(self.root.as_fd(), &self.id, self.lock.as_fd(), SPARE_DIR)
            .map_err(CliError::file(&self.path))
    }
}

/// Whether `name` is a temporary directory of [`StateRoot::create`]:
/// `.<id>.<pid>`.
fn is_staging_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.rsplit_once('.'))
        .is_some_and(|(id, pid)| !id.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes `state` as the state file of the directory `dir` (at `path`).
fn write_state(dir: BorrowedFd<'_>, path: &Path, state: &ContainerState) -> Result<(), CliError> {
    let path = path.join(STATE_FILE);
    let json = state_json(&path, state)?;
    let temporary = format!(".{STATE_FILE}.tmp");
    state_fs::replace_at(dir, STATE_FILE, &temporary, &json).map_err(CliError::file(&path))
}

/// The first record, in the staging directory `dir` (at `path`) that no
/// other command looks into: written in place, as the directory is
/// renamed into view only once it holds the whole record.
fn first_state(dir: BorrowedFd<'_>, path: &Path, state: &ContainerState) -> Result<(), CliError> {
    let path = path.join(STATE_FILE);
    let json = state_json(&path, state)?;
    state_fs::create_at(dir, STATE_FILE, &json).map_err(CliError::file(&path))
}

fn state_json(path: &Path, state: &ContainerState) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec_pretty(state).map_err(|error| CliError::BadState {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// The state in the directory `dir` (at `path`) of container `id`: it must
/// name that container. A missing, unreadable or malformed record is
/// [`CliError::BadState`], with why.
fn read_state(dir: BorrowedFd<'_>, path: &Path, id: &str) -> Result<ContainerState, CliError> {
    let path = path.join(STATE_FILE);
    let bytes = state_fs::read_at(dir, STATE_FILE).map_err(|error| CliError::BadState {
        path: path.clone(),
        reason: match error.kind() {
            ErrorKind::NotFound => "no record (its cradle died before it wrote one)".to_owned(),
            _ => error.to_string(),
        },
    })?;
    let state: ContainerState = serde_json::from_slice(&bytes).map_err(|error| CliError::BadState {
        path: path.clone(),
        reason: error.to_string(),
    })?;
    if state.id != id {
        return Err(CliError::BadState {
            path,
            reason: format!("names container {:?}, not {id:?}", state.id),
        });
    }
    Ok(state)
}

/// An exclusive `flock` on the directory `dir`, waiting at most
/// [`LOCK_BOUND`] for another command to let go.
fn lock(dir: File, id: &str) -> Result<Flock<File>, CliError> {
    lock_within(dir, id, LOCK_BOUND)
}

fn lock_within(mut file: File, id: &str, bound: Duration) -> Result<Flock<File>, CliError> {
    let deadline = Instant::now() + bound;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((returned, Errno::EWOULDBLOCK | Errno::EINTR)) if Instant::now() < deadline => {
                file = returned;
                thread::sleep(LOCK_RETRY);
            }
            Err((_, Errno::EWOULDBLOCK)) => return Err(CliError::Locked { id: id.to_owned() }),
            Err((_, errno)) => return Err(CliError::syscall("flock(LOCK_EX) of a state directory")(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str) -> ContainerState {
        ContainerState {
            id: id.to_owned(),
            stage: Stage::Started,
            pid: i32::MAX,
            start_time: 1,
            created: now_rfc3339(),
            command: vec!["true".to_owned()],
            rootfs: None,
            hostname: None,
            namespaces: vec![NamespaceKind::Pid],
            cgroup: None,
            interfaces: Vec::new(),
            detached: true,
            supervisor: None,
            confinement: Recorded::default(),
            oci: None,
            shared_mounts: None,
            written_from: Viewpoint::own(),
        }
    }

    #[test]
    fn an_id_is_taken_once_and_found_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = StateRoot::new(&dir.path().join("state"));
        let entry = root.create("c1", &state("c1")).expect("create");
        assert!(matches!(
            root.create("c1", &state("c1")),
            Err(CliError::Exists { .. })
        ));
        entry.write(&state("c1")).expect("write");
        drop(entry);
        assert_eq!(root.ids().expect("ids"), ["c1"]);
        let entry = root.open("c1").expect("open");
        assert_eq!(
            entry.read().expect("read"),
            state("c1").clone_with_created(&entry)
        );
        assert_eq!(entry.read().expect("read").status(), Status::Stopped);
        entry.remove().expect("remove");
        assert!(matches!(root.open("c1"), Err(CliError::NotFound { .. })));
        assert!(root.ids().expect("ids").is_empty());
        // Nothing is left but the spare, empty: no staging directory.
        assert_eq!(names(&dir.path().join("state")), [SPARE_DIR]);
        assert!(names(&dir.path().join("state").join(SPARE_DIR)).is_empty());
    }

    /// The names in the directory `path`, sorted.
    fn names(path: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .expect("read_dir")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_removed_containers_directory_is_kept_for_the_next_one() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let root = StateRoot::new(&path);
        let inode = |name: &str| std::fs::symlink_metadata(path.join(name)).expect("stat").ino();

        let first = root.create("c1", &state("c1")).expect("create c1");
        let kept = inode("c1");
        first.remove().expect("remove c1");
        assert_eq!(names(&path), [SPARE_DIR]);
        assert_eq!(inode(SPARE_DIR), kept, "the directory is kept, emptied");

        // The next container takes it, and finds it empty but for its record.
        let second = root.create("c2", &state("c2")).expect("create c2");
        assert_eq!(inode("c2"), kept);
        assert_eq!(names(&path), ["c2"]);
        assert_eq!(names(&path.join("c2")), [STATE_FILE]);
        assert_eq!(second.read().expect("read").id, "c2");

        // With no spare, a directory is made; with one, a removed one goes.
        let third = root.create("c3", &state("c3")).expect("create c3");
        assert_ne!(inode("c3"), kept);
        second.remove().expect("remove c2");
        third.remove().expect("remove c3");
        assert_eq!(names(&path), [SPARE_DIR]);
        assert_eq!(inode(SPARE_DIR), kept);
        assert!(names(&path.join(SPARE_DIR)).is_empty());
        assert!(root.ids().expect("ids").is_empty());
    }

    #[test]
    fn a_locked_container_is_reported_not_waited_for_forever() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = StateRoot::new(dir.path());
        let _entry = root.create("c2", &state("c2")).expect("create");
        let bound = Duration::from_millis(50);
        let started = Instant::now();
        let second = lock_within(File::open(dir.path().join("c2")).expect("open"), "c2", bound);
        assert!(matches!(second, Err(CliError::Locked { .. })), "{second:?}");
        assert!(started.elapsed() >= bound);
    }

    #[test]
    fn a_planted_temporary_symlink_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").expect("victim");
        let root = StateRoot::new(&dir.path().join("state"));
        let entry = root.create("c3", &state("c3")).expect("create");
        let planted = dir.path().join("state/c3/.state.json.tmp");
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        entry.write(&state("c3")).expect("write");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "precious");
        assert!(std::fs::symlink_metadata(&planted).is_err(), "temporary left");
        assert_eq!(entry.read().expect("read").id, "c3");
        entry.remove().expect("remove");
    }

    #[test]
    fn a_loose_or_linked_root_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let loose = dir.path().join("loose");
        std::fs::create_dir(&loose).expect("loose");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let root = StateRoot::new(&loose);
        assert!(matches!(
            root.create("c4", &state("c4")),
            Err(CliError::UnsafeRoot { .. })
        ));
        assert!(matches!(root.ids(), Err(CliError::UnsafeRoot { .. })));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("state"), &link).expect("symlink");
        std::fs::create_dir(dir.path().join("state")).expect("state");
        assert!(matches!(
            StateRoot::new(&link).create("c4", &state("c4")),
            Err(CliError::UnsafeRoot { .. })
        ));
        assert_eq!(std::fs::read_dir(&loose).expect("loose").count(), 0);
        assert_eq!(
            std::fs::read_dir(dir.path().join("state"))
                .expect("state")
                .count(),
            0
        );
    }

    impl ContainerState {
        fn clone_with_created(mut self, entry: &Entry) -> ContainerState {
            self.created = entry.read().expect("read").created;
            self
        }
    }
}
