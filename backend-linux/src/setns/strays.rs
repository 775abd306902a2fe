//! [`reap_strays`]: the cleanup of what a setns helper forked and did not
//! report.
//!
//! A helper that dies (or misbehaves) between its fork and its report
//! leaves the parent a child it never heard of: alive, waiting on the
//! socket for a config, and a zombie of the parent once it goes. The launch
//! asks for the sweep once the helper can no longer fork (it exited, or was
//! sent `SIGKILL`: the kernel fails a fork with a fatal signal pending) and
//! before it reaps it, so the helper's pid and start time still name it.

use std::os::fd::AsFd;

use cradle_core::Pid;

use super::lineage::forked_by;
use crate::error::Error;
use crate::launch::REAP_BOUND;
use crate::wait;
use crate::{proc_stat, sys, Signal};

/// Kills and reaps every child of ours that `helper` forked, but those in
/// `held` (the launch's own). Every stray is tried; the first failure is
/// returned.
pub(crate) fn reap_strays(helper: Pid, held: &[Pid]) -> Result<(), Error> {
    let helper_started = proc_stat::read(helper)?.start_time;
    let mut result = Ok(());
    for pid in children_named_by(helper, helper_started)? {
        if held.contains(&pid) {
            continue;
        }
        let reaped = kill_and_reap(pid, helper, helper_started);
        result = result.and(reaped);
    }
    result
}

/// Our children that `helper` forked. A scan of `/proc`, which runs only
/// after a failure: the kernel's lists of a task's children
/// (`/proc/self/task/<tid>/children`) are cheaper but not in every kernel,
/// and may skip a child while others exit.
fn children_named_by(helper: Pid, helper_started: u64) -> Result<Vec<Pid>, Error> {
    let proc = std::path::Path::new("/proc");
    let entries = std::fs::read_dir(proc).map_err(Error::file(proc))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::file(proc))?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse().ok())
            .and_then(Pid::new)
        else {
            continue;
        };
        // Gone already, or not ours: either way, nothing to sweep.
        let Ok(stat) = proc_stat::read(pid) else {
            continue;
        };
        if forked_by(&stat, helper, helper_started).is_ok() {
            found.push(pid);
        }
    }
    Ok(found)
}

/// Kills and reaps `pid`, a stray of `helper`'s, waiting at most
/// [`REAP_BOUND`] for it to end.
fn kill_and_reap(pid: Pid, helper: Pid, helper_started: u64) -> Result<(), Error> {
    let pidfd = sys::pidfd_open(pid).map_err(Error::syscall("pidfd_open of a stray"))?;
    // Only we reap our children, so the pid still named the stray when the
    // pidfd was taken; look again in case someone else reaped it after all.
    let still_a_stray =
        proc_stat::read(pid).is_ok_and(|stat| forked_by(&stat, helper, helper_started).is_ok());
    if !still_a_stray {
        return Ok(());
    }
    match sys::pidfd_send_signal(pidfd.as_fd(), Some(Signal::SIGKILL)) {
        // ESRCH: it has exited already; it is reaped below.
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(errno) => return Err(Error::syscall("pidfd_send_signal to a stray")(errno)),
    }
    wait::reap_within(pidfd.as_fd(), REAP_BOUND).map(drop)
}

#[cfg(test)]
mod tests {
    use super::super::lineage::fixtures::{named_child, sleeper};
    use super::super::lineage::helper_name;
    use super::*;

    #[test]
    fn the_helpers_unheld_forks_are_reaped_and_nothing_else() {
        let (mut helper, helper_pid) = sleeper();
        let name = helper_name(helper_pid);
        let (mut stray, stray_pid) = named_child(&name);
        let (mut held, held_pid) = named_child(&name);
        let (mut bystander, _) = sleeper();
        // The helper is dead, not reaped, as the launch leaves it.
        let _ = helper.kill();
        wait_for_zombie(helper_pid);
        reap_strays(helper_pid, &[helper_pid, held_pid]).expect("swept");
        // Reaped by the sweep: our own wait finds nobody.
        assert!(
            stray.try_wait().is_err(),
            "the stray {stray_pid} is still ours to reap"
        );
        assert!(
            proc_stat::read(stray_pid).is_err(),
            "the stray {stray_pid} is still there"
        );
        for child in [&mut held, &mut bystander] {
            assert_eq!(
                child.try_wait().expect("still ours"),
                None,
                "killed a process not stray"
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = helper.wait();
    }

    fn wait_for_zombie(pid: Pid) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let state = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        while !state()
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{pid} did not become a zombie"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
