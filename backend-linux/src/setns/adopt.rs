//! [`adopt`]: the parent's check of the pid a setns helper reports.
//!
//! The helper runs inside the container once it has joined it, so its
//! report is not trusted: the pid must be a child of this process (the
//! helper forks with `CLONE_PARENT`), started no earlier than the helper,
//! named by it (see [`lineage`](super::lineage)), and in the container's
//! pid namespace. Anything else is a forged report.

use std::fs::File;
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use cradle_core::{NamespaceKind, Pid};

use super::lineage::forked_by;
use super::{namespace_id, pid_namespace_depth, Container};
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
    let in_container = in_pid_namespace_of(container, pid);
    // The container's init still holds its pid (so what was read of it was
    // its own) as long as its pidfd can be signalled.
    if sys::pidfd_send_signal(container.pidfd(), None).is_err() {
        return Err(Error::ContainerGone {
            pid: container.pid(),
            reason: "exited while a process was joining it",
        });
    }
    if !in_container? {
        return Err(forged("not in the container's pid namespace"));
    }
    match sys::pidfd_open(pid) {
        Ok(pidfd) => Ok(pidfd),
        Err(errno) => {
            kill_and_reap(pid);
            Err(Error::syscall("pidfd_open of the setns process")(errno))
        }
    }
}

/// Whether `pid` is in the pid namespace of the container's init.
///
/// Not by its `/proc/<pid>/ns/pid`: the helper made the process
/// non-dumpable, and the kernel then lets that link be followed only with
/// `CAP_SYS_PTRACE` over the user namespace the helper was `exec`'d in (the
/// host's), which a launcher without privileges lacks (`EACCES`). Instead the
/// kernel translates the pid into the container's namespace: a number there
/// means that namespace or one below it, and an equal depth rules out below.
fn in_pid_namespace_of(container: &Container, pid: Pid) -> Result<bool, Error> {
    let path = format!("/proc/{}/ns/pid", container.pid());
    let namespace = File::open(&path).map_err(Error::file(&path))?;
    match sys::pid_in_pid_namespace(namespace.as_fd(), pid) {
        Ok(_) => {}
        Err(Errno::ESRCH) => return Ok(false),
        // Before Linux 6.11 the link is the only way (and fails as above).
        Err(Errno::ENOTTY) => {
            let process_ns = format!("/proc/{pid}/ns/pid");
            let found =
                namespace_id(&pid.to_string(), NamespaceKind::Pid).map_err(Error::file(process_ns))?;
            let expected = namespace.metadata().map_err(Error::file(&path))?;
            return Ok(found == (expected.dev(), expected.ino()));
        }
        Err(errno) => return Err(Error::syscall("ioctl(NS_GET_PID_IN_PIDNS)")(errno)),
    }
    let depth = |pid: Pid| pid_namespace_depth(pid).map_err(Error::file(format!("/proc/{pid}/status")));
    Ok(depth(pid)? == depth(container.pid())?)
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

    /// `unshare` with a sleeper as pid 1 of a new pid namespace: the
    /// sleeper's pid in ours, once `unshare` has forked it.
    fn pid_namespace_of_its_own() -> (std::process::Child, Pid) {
        let mut unshare = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sleep", "10"])
            .spawn()
            .expect("unshare");
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let listed = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(pid) = listed
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .and_then(Pid::new)
            {
                return (unshare, pid);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = unshare.kill();
        let _ = unshare.wait();
        panic!("unshare did not fork");
    }

    #[test]
    fn only_a_process_of_the_containers_own_pid_namespace_is_in_it() {
        if !crate::root_gate::require_root("only_a_process_of_the_containers_own_pid_namespace_is_in_it") {
            return;
        }
        let (mut unshare, init) = pid_namespace_of_its_own();
        let container = Container::open(init, proc_stat::start_time(init).expect("start")).expect("open");
        let (mut helper, helper_pid) = sleeper();
        let (mut ours, ours_pid) = named_child(&helper_name(helper_pid));
        // Not visible there: our namespace is above the container's.
        assert!(!in_pid_namespace_of(&container, ours_pid).expect("checked"));
        assert_eq!(
            reason(adopt(&container, helper_pid, ours_pid)),
            "not in the container's pid namespace"
        );
        // Visible from ours, but one namespace below it.
        assert!(!in_pid_namespace_of(&ourselves(), init).expect("checked"));
        assert!(in_pid_namespace_of(&ourselves(), ours_pid).expect("checked"));
        assert!(in_pid_namespace_of(&container, init).expect("checked"));
        for child in [&mut unshare, &mut ours, &mut helper] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
