//! [`adopt`]: the parent's check of the pid a setns helper reports.
//!
//! The helper runs inside the container once it has joined it, so its
//! report is not trusted: the pid must be a child of this process (the
//! helper forks with `CLONE_PARENT`), started no earlier than the helper,
//! named by it (see [`lineage`](super::lineage)), and in the container's
//! pid namespace. Anything else is a forged report.

use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use cradle_core::{NamespaceKind, Pid};

use super::lineage::forked_by;
use super::{namespace_id, Container};
use crate::error::Error;
use crate::launch::REAP_BOUND;
use crate::{clock, proc_stat, sys};

/// How often a reap without a pidfd looks again.
const REAP_POLL: Duration = Duration::from_millis(1);

/// Checks that `pid`, as the setns `helper` reported it, is the process the
/// helper forked into `container`, and takes a pidfd on it. If the checks
/// pass but the pidfd cannot be had, the process is killed and reaped
/// before the error is returned: a failed adoption leaves nothing.
pub(crate) fn adopt(container: &Container, helper: Pid, pid: Pid) -> Result<OwnedFd, Error> {
    let forged = |reason| Error::ForgedPid { pid, reason };
    // Our child cannot be reaped, nor its pid reused, by anyone but us: once
    // this says it is ours, the pid keeps naming it.
    let stat = proc_stat::read(pid).map_err(|_| forged("not a process"))?;
    let helper_started = proc_stat::read(helper)?.start_time;
    forked_by(&stat, helper, helper_started).map_err(forged)?;
    let kind = NamespaceKind::Pid;
    let container_ns = namespace_id(&container.pid().to_string(), kind);
    let process_ns = namespace_id(&pid.to_string(), kind);
    // The container's init still holds its pid (so the namespace read was
    // its own) as long as its pidfd can be signalled.
    let container_alive = sys::pidfd_send_signal(container.pidfd(), None).is_ok();
    match (container_ns, process_ns) {
        (Ok(expected), Ok(found)) if container_alive && expected == found => {}
        (Ok(_), Ok(_)) if container_alive => return Err(forged("not in the container's pid namespace")),
        _ => {
            return Err(Error::ContainerGone {
                pid: container.pid(),
                reason: "exited while a process was joining it",
            })
        }
    }
    match sys::pidfd_open(pid) {
        Ok(pidfd) => Ok(pidfd),
        Err(errno) => {
            kill_and_reap(pid);
            Err(Error::syscall("pidfd_open of the setns process")(errno))
        }
    }
}

/// Kills and reaps `pid`, a child of ours, waiting at most [`REAP_BOUND`].
/// Without a pidfd to poll, it looks every [`REAP_POLL`].
fn kill_and_reap(pid: Pid) {
    let pid = nix::unistd::Pid::from_raw(pid.as_raw());
    let _ = kill(pid, Signal::SIGKILL);
    let deadline = clock::now() + REAP_BOUND;
    while clock::now() < deadline {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => std::thread::sleep(REAP_POLL),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::lineage::fixtures::{named_child, sleeper};
    use super::super::lineage::helper_name;
    use super::*;

    /// This process, as the "container": its pid namespace is ours.
    fn ourselves() -> Container {
        let me = Pid::new(std::process::id() as i32).expect("pid");
        Container::open(me, proc_stat::start_time(me).expect("start time")).expect("container")
    }

    fn reason(result: Result<OwnedFd, Error>) -> &'static str {
        match result {
            Err(Error::ForgedPid { reason, .. }) => reason,
            other => panic!("expected a forged report, got {other:?}"),
        }
    }

    #[test]
    fn a_process_that_is_not_our_child_is_refused() {
        let (mut helper, helper_pid) = sleeper();
        let init = Pid::new(1).expect("pid 1");
        assert_eq!(
            reason(adopt(&ourselves(), helper_pid, init)),
            "not a child of this process"
        );
        let _ = helper.kill();
        let _ = helper.wait();
    }

    #[test]
    fn a_child_older_than_the_helper_is_refused() {
        let (mut older, older_pid) = sleeper();
        // Start times count clock ticks (usually 10 ms).
        std::thread::sleep(Duration::from_millis(50));
        let (mut helper, helper_pid) = sleeper();
        assert_eq!(
            reason(adopt(&ourselves(), helper_pid, older_pid)),
            "older than the helper"
        );
        for child in [&mut older, &mut helper] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    #[test]
    fn a_younger_child_the_helper_did_not_name_is_refused() {
        let (mut helper, helper_pid) = sleeper();
        let (mut younger, younger_pid) = sleeper();
        assert_eq!(
            reason(adopt(&ourselves(), helper_pid, younger_pid)),
            "not named by the helper"
        );
        for child in [&mut younger, &mut helper] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    #[test]
    fn a_younger_child_named_by_the_helper_is_adopted() {
        let (mut helper, helper_pid) = sleeper();
        let (mut younger, younger_pid) = named_child(&helper_name(helper_pid));
        let pidfd = adopt(&ourselves(), helper_pid, younger_pid).expect("adopted");
        sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), None).expect("a live pidfd");
        for child in [&mut younger, &mut helper] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
