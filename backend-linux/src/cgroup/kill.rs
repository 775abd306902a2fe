//! Ending a cgroup: listing its processes, freezing, killing them all,
//! waiting until it is empty, removing it.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use cradle_core::Pid;

use super::detect::parse_proc_cgroup;
use super::error::CgroupError;
use super::freezer::Freezer;
use super::fs;
use super::hierarchy::{CgroupDir, CgroupPaths, Hierarchy};
use super::manager::Cgroup;
use super::wait::{poll_until, wait_for_event};
use crate::{sys, Signal};

/// How long [`Cgroup::destroy`] may take, kill and removal together.
pub const DESTROY_BOUND: Duration = Duration::from_secs(5);
/// How long one round of [`Cgroup::kill_all_and_wait`] waits before it
/// kills again (what a round missed: processes forked while the cgroup
/// could not be frozen).
const KILL_ROUND: Duration = Duration::from_millis(200);

impl Cgroup {
    /// The processes in the cgroup and its descendants, in every hierarchy.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Ok(self.listed(|_| true)?.into_iter().collect())
    }

    /// Sends `SIGKILL` to every process in the cgroup, without waiting for
    /// them to end. v2 `cgroup.kill` (Linux 5.14+) where there is one: the
    /// kernel kills the subtree, forks included. Elsewhere
    /// [`kill_all_signalling`](Cgroup::kill_all_signalling), each process
    /// through a pidfd once it is checked to be in the cgroup, so that a
    /// recycled pid never hits another process.
    pub fn kill_all(&self, deadline: Instant) -> Result<(), CgroupError> {
        let Some(kill_file) = self
            .paths
            .v2()
            .map(|v2| v2.file("cgroup.kill"))
            .filter(|f| f.exists())
        else {
            return self.kill_all_signalling(deadline, |pid| self.signal_member(pid, Signal::SIGKILL));
        };
        // On a hybrid host a process can be in a v1 directory and not in the
        // v2 one (an apply that failed halfway): cgroup.kill misses it.
        let in_v2 = self.listed(CgroupDir::is_v2)?;
        let v1_only: BTreeSet<i32> = &self.listed(|dir| !dir.is_v2())? - &in_v2;
        fs::write(&Hierarchy::V2, &kill_file, "1")?;
        if v1_only.is_empty() {
            return Ok(());
        }
        self.signal_each(&mut |pid| {
            if v1_only.contains(&pid) {
                self.signal_member(pid, Signal::SIGKILL)
            } else {
                Ok(())
            }
        })
    }

    /// Kills by hand: freezes (so that nothing forks or exits while the pids
    /// are read), calls `send` for every listed process, thaws. Always
    /// thaws, even when a `send` fails; the other processes are still
    /// signalled, and the first failure is returned. A freeze that fails
    /// (it has thawed again) does not stop the kill, which is then not
    /// atomic; [`kill_all_and_wait`](Cgroup::kill_all_and_wait) catches
    /// what escapes it in its next round.
    ///
    /// `send` is the seam where tests inject failures; a process that is
    /// gone already (`ESRCH`) is not a failure.
    pub fn kill_all_signalling(
        &self,
        deadline: Instant,
        send: impl FnMut(i32) -> io::Result<()>,
    ) -> Result<(), CgroupError> {
        self.signal_frozen(Freezer::of(&self.paths).as_ref(), deadline, send)
    }

    /// [`kill_all_signalling`](Cgroup::kill_all_signalling) with the
    /// cgroup's `freezer` found already.
    fn signal_frozen(
        &self,
        freezer: Option<&Freezer>,
        deadline: Instant,
        mut send: impl FnMut(i32) -> io::Result<()>,
    ) -> Result<(), CgroupError> {
        if let Some(freezer) = freezer {
            let _ = freezer.freeze(deadline);
        }
        let killed = self.signal_each(&mut send);
        let thawed = freezer.map_or(Ok(()), Freezer::thaw);
        killed.and(thawed)
    }

    /// Sends `signal` to every process in the cgroup (`kill --all`), as
    /// [`kill_all_signalling`](Cgroup::kill_all_signalling) sends `SIGKILL`:
    /// frozen meanwhile where it has a freezer, so that nothing forks
    /// unseen, and each process through a pidfd once it is checked to be
    /// in the cgroup. A pid read from `cgroup.procs` may be another
    /// process's by the time it is signalled (the listed one exited, and
    /// the pid was given to a new process of the host); the signal never
    /// reaches that one.
    ///
    /// A paused container stays paused: frozen already (or freezing),
    /// nothing in it forks, and it is not thawed after.
    pub fn signal_all(&self, signal: Signal, deadline: Instant) -> Result<(), CgroupError> {
        let mut send = |pid| self.signal_member(pid, signal);
        let freezer = Freezer::of(&self.paths);
        if let Some(freezer) = &freezer {
            // Freezing counts as paused too: a v2 cgroup reads so while a
            // fatal signal ends its frozen processes, or while a pause is
            // under way.
            if freezer.state()? != super::FreezerState::Thawed {
                return self.signal_each(&mut send);
            }
        }
        self.signal_frozen(freezer.as_ref(), deadline, send)
    }

    /// `signal` to `pid` if it is in the cgroup: the pidfd pins the
    /// process, then `/proc/<pid>/cgroup` (the same process while the pidfd
    /// can signal it) shows whether it is ours. `ESRCH` when it is not, and
    /// for this process: one of its threads may be passing through the
    /// container's v1 pids cgroup to clone an exec there
    /// (`fork_into_v1_pids`).
    fn signal_member(&self, pid: i32, signal: Signal) -> io::Result<()> {
        let esrch = || io::Error::from_raw_os_error(libc::ESRCH);
        if u32::try_from(pid).ok() == Some(std::process::id()) {
            return Err(esrch());
        }
        let pid = Pid::new(pid).ok_or_else(esrch)?;
        let pidfd = sys::pidfd_open(pid)?;
        let memberships =
            crate::small_file::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|_| esrch())?;
        let ours = parse_proc_cgroup(&memberships).iter().any(|membership| {
            self.paths.dirs.iter().any(|dir| {
                membership.hierarchy == dir.hierarchy && membership.cgroup.starts_with(&dir.cgroup)
            })
        });
        if !ours {
            return Err(esrch());
        }
        Ok(sys::pidfd_send_signal(pidfd.as_fd(), Some(signal))?)
    }

    /// The processes listed in the directories `which` selects, and below.
    fn listed(&self, which: impl Fn(&CgroupDir) -> bool) -> Result<BTreeSet<i32>, CgroupError> {
        let mut pids = BTreeSet::new();
        for dir in self.paths.dirs.iter().filter(|dir| which(dir)) {
            for cgroup in fs::subtree(&dir.hierarchy, &dir.path)? {
                pids.extend(fs::procs(&dir.hierarchy, &cgroup)?);
            }
        }
        Ok(pids)
    }

    fn signal_each(&self, send: &mut impl FnMut(i32) -> io::Result<()>) -> Result<(), CgroupError> {
        let mut signalled = BTreeSet::new();
        let mut first_error = None;
        for dir in &self.paths.dirs {
            for cgroup in fs::subtree(&dir.hierarchy, &dir.path)? {
                for pid in fs::procs(&dir.hierarchy, &cgroup)? {
                    if !signalled.insert(pid) {
                        continue;
                    }
                    match send(pid) {
                        Ok(()) => {}
                        Err(error) if error.raw_os_error() == Some(libc::ESRCH) => {}
                        Err(source) => {
                            first_error.get_or_insert(CgroupError::Kill {
                                hierarchy: dir.hierarchy.clone(),
                                path: cgroup.join("cgroup.procs"),
                                pid,
                                source,
                            });
                        }
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Waits until no process is left in the cgroup, in any hierarchy. On
    /// v2 the kernel's `populated 0` in `cgroup.events` wakes it; v1 has no
    /// such event and is polled. Processes that have exited count as gone
    /// whether or not anyone has reaped them yet, so this never waits on
    /// processes that are not the caller's children.
    pub fn wait_empty(&self, deadline: Instant) -> Result<(), CgroupError> {
        self.wait_v2_unpopulated(deadline)?;
        let v1: Vec<&CgroupDir> = self.paths.dirs.iter().filter(|dir| !dir.is_v2()).collect();
        let mut busy = None;
        let empty = poll_until(deadline, || {
            busy = first_populated(&v1)?;
            Ok(busy.is_none())
        })?;
        match busy {
            Some((hierarchy, cgroup)) if !empty => Err(CgroupError::Timeout {
                hierarchy,
                path: cgroup.join("cgroup.procs"),
                what: "empty",
            }),
            _ => Ok(()),
        }
    }

    /// Waits for `populated 0` in the v2 directory, if there is one.
    fn wait_v2_unpopulated(&self, deadline: Instant) -> Result<(), CgroupError> {
        let Some(v2) = self.paths.v2() else {
            return Ok(());
        };
        match wait_for_event(&v2.path, "populated", "0", "empty", deadline) {
            // Removed already: nothing is left in it.
            Err(CgroupError::Open { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(()),
            result => result,
        }
    }

    /// Kills everything in the cgroup and returns once it is empty, in
    /// rounds (kill, wait a little, kill what is left) until `deadline`.
    pub fn kill_all_and_wait(&self, deadline: Instant) -> Result<(), CgroupError> {
        loop {
            if self.pids()?.is_empty() {
                // Nothing listed, and v1 lists a process until it has
                // exited: v1 is empty (that listing was its check). Processes
                // still exiting count in v2's `populated`: wait for that.
                return self.wait_v2_unpopulated(deadline);
            }
            self.kill_all(deadline)?;
            let round = deadline.min(Instant::now() + KILL_ROUND);
            match self.wait_empty(round) {
                Err(CgroupError::Timeout { .. }) if Instant::now() < deadline => {}
                result => return result,
            }
        }
    }

    /// Kills everything in the cgroup at `paths`, then removes it, as
    /// [`destroy`](Cgroup::destroy) does, where some or all of its
    /// directories may be gone already (a launch killed half-way made some
    /// or none; a reboot takes them all): nothing is opened first, and a
    /// directory not there counts as removed.
    pub fn destroy_at(paths: CgroupPaths) -> Result<(), CgroupError> {
        Cgroup::to_end(paths).destroy()
    }

    /// Kills everything in the cgroup, then removes it (bounded retries).
    /// Idempotent.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        self.destroy_by(Instant::now() + DESTROY_BOUND)
    }

    /// [`Cgroup::destroy`] with a deadline of the caller's: kills and waits
    /// for the cgroup to empty, then removes each directory and any cgroups
    /// made below it, deepest first, retrying while the kernel still calls
    /// them busy. Directories already gone are fine. Tries every hierarchy
    /// and returns the first failure.
    pub fn destroy_by(&self, deadline: Instant) -> Result<(), CgroupError> {
        // Usually the cgroup is empty by now (its processes reaped) and has
        // nothing below it: then one rmdir per directory does it all,
        // without listing anything. The kernel refuses (EBUSY) to remove a
        // cgroup that holds a process or a cgroup, so a removed directory
        // held nothing to kill.
        let left: Vec<CgroupDir> = self
            .paths
            .dirs
            .iter()
            .filter(|dir| remove_once(&dir.path).is_err())
            .cloned()
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        // The rest is ended as a cgroup of its own: the hierarchies whose
        // directory went (a freezer's among them) take no part in the kill.
        Cgroup::to_end(CgroupPaths { dirs: left }).kill_and_remove(deadline)
    }

    /// Kills and waits for the cgroup to empty, then removes each
    /// directory and any cgroups made below it, deepest first.
    fn kill_and_remove(&self, deadline: Instant) -> Result<(), CgroupError> {
        let killed = self.kill_all_and_wait(deadline);
        let mut removed = Ok(());
        for dir in &self.paths.dirs {
            // Usually nothing was made below it: one rmdir, no walk. The
            // kernel refuses (EBUSY) a cgroup with children, never removes
            // them, so any other outcome takes the walk, deepest first.
            if matches!(remove_once(&dir.path), Ok(())) {
                continue;
            }
            let result = fs::subtree(&dir.hierarchy, &dir.path).and_then(|cgroups| {
                cgroups
                    .iter()
                    .try_for_each(|cgroup| remove_dir(&dir.hierarchy, cgroup, deadline))
            });
            removed = removed.and(result);
        }
        killed.and(removed)
    }
}

/// The first of `dirs` (or a cgroup below one) that still lists a process.
fn first_populated(dirs: &[&CgroupDir]) -> Result<Option<(Hierarchy, std::path::PathBuf)>, CgroupError> {
    for dir in dirs {
        for cgroup in fs::subtree(&dir.hierarchy, &dir.path)? {
            if !fs::procs(&dir.hierarchy, &cgroup)?.is_empty() {
                return Ok(Some((dir.hierarchy.clone(), cgroup)));
            }
        }
    }
    Ok(None)
}

/// One `rmdir`; a directory already gone counts as removed.
fn remove_once(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        result => result,
    }
}

/// `rmdir`, retried while the kernel answers `EBUSY` (tasks still on their
/// way out) until `deadline`.
fn remove_dir(hierarchy: &Hierarchy, dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    let removed = poll_until(deadline, || match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::EBUSY) => Ok(false),
        Err(source) => Err(CgroupError::RemoveDir {
            hierarchy: hierarchy.clone(),
            path: dir.to_owned(),
            source,
        }),
    })?;
    if removed {
        return Ok(());
    }
    Err(CgroupError::RemoveDir {
        hierarchy: hierarchy.clone(),
        path: dir.to_owned(),
        source: io::Error::from_raw_os_error(libc::EBUSY),
    })
}
