//! The setns roles of the init binary: the helper that joins a running
//! container and forks the process, which then sets itself up like an init
//! (without the container's own steps) and `exec`s; or that process alone,
//! cloned by the launcher into the container's pid namespace, which joins
//! the other namespaces and the root itself, as the helper would.
//!
//! The helper is the init binary just `exec`'d, taking its role before
//! `main` (or refusing it in a `main` that has started threads: see
//! `in_main`), so it is single-threaded: it may join a user namespace (the
//! kernel refuses that to a threaded process), and its fork may run any
//! code, allocation included.
//!
//! Joining a pid namespace moves only the caller's future children, so the
//! process is either born in it by the launcher's clone (for a launcher
//! that may enter it) or is the helper's fork; `CLONE_PARENT` makes that
//! fork the launcher's child, which reaps it and holds its pidfd. The
//! helper forks in the container's cgroups, which it joined before its
//! `exec` (so the process is born in them), reports the pid and exits.
//!
//! Root: joining a mount namespace puts the caller at the top of that
//! namespace's mount tree, which is the container's root only if its init
//! got there by `pivot_root`. So the helper opens `/proc/<init>/root` before
//! joining anything and `chroot`s to it after, as `nsenter --root` does:
//! the process gets the init's root however the init got it. Its working
//! directory is the config's, which the process enters itself (the `cwd`
//! step), relative to that root.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::prctl;
use nix::unistd;

use cradle_core::child::pid_report;
use cradle_core::{ChildError, ChildStep, Config, NamespaceKind, Pid};

use super::{
    failed, io_failed, refused, serve, setup, LaunchersLimits, Link, Placed, EXIT_NO_LINK, EXIT_SETUP_FAILED,
};
use crate::setns::{lineage, namespaces_apart};
use crate::spawn::{self, CLONED, ENTERED, SETNS_ENV};
use crate::sys::{self, Cloned};

/// The container's init, as the parent handed it to the helper.
#[derive(Debug)]
struct Target {
    pid: Pid,
    pidfd: OwnedFd,
}

/// Which side of the helper's fork this is.
enum Forked {
    /// The helper, with the process's pid (in the launcher's pid namespace,
    /// which is still the helper's own).
    Helper(Pid),
    /// The process, in the container.
    Process,
}

/// The setns role, with `value` of [`SETNS_ENV`]:
/// `<socket fd>:<target pidfd fd>:<target pid>`, and for a process cloned
/// into the container's pid namespace `:cloned` (or `:entered:<0|1>`, see
/// [`Entered`]) and the launcher's limits. The hook sees
/// [`ChildStep::Setns`] and, in a helper, [`ChildStep::Fork`] and, after
/// the fork, [`ChildStep::Report`], with an empty config (the helper never
/// has one); the process then sees its own steps with its own. With a
/// `refusal`, the child only reports it, and exits.
pub(super) fn run(value: &OsStr, mut hook: impl FnMut(ChildStep, &Config), refusal: Option<ChildError>) -> ! {
    let Some(Variable {
        socket_fd,
        target_fd,
        pid,
        cloned,
    }) = parse(value)
    else {
        let _ = writeln!(
            std::io::stderr(),
            "cradle init: {SETNS_ENV} is not <socket>:<pidfd>:<pid>[:{CLONED}|:{ENTERED}:<0|1>][:<soft>:<hard>:<stack>]: {value:?}"
        );
        std::process::exit(EXIT_NO_LINK);
    };
    // SAFETY: the parent put the launch socket and the pidfd of the
    // container's init at these descriptors for this process (that is what
    // the variable says); nothing else here owns them.
    let (socket, pidfd) = unsafe { (OwnedFd::from_raw_fd(socket_fd), OwnedFd::from_raw_fd(target_fd)) };
    // Close-on-exec: the socket so that the parent sees the process's end
    // of stream at its exec, the pidfd so that it never reaches a command.
    for fd in [&socket, &pidfd] {
        if fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
            std::process::exit(EXIT_NO_LINK);
        }
    }
    let link = Link {
        socket,
        start: None,
        hand_off: None,
    };
    if let Some(error) = refusal {
        link.report(&error);
        std::process::exit(EXIT_SETUP_FAILED);
    }
    let no_config = Config::new(Vec::<String>::new());
    hook(ChildStep::Setns, &no_config);
    if let Some(ClonedProcess { limits, entered }) = cloned {
        // Born in the container's pid namespace and cgroups: it joins the
        // rest, and is the process. (A dynamically linked init binary could
        // not join them before its `exec`: it needs the host's files to
        // start; see `setns::before_exec`.)
        // First its limits, the launcher's again once it is not dumpable,
        // before it joins a user namespace, where raising them would take
        // more than this process has.
        let target = Target { pid, pidfd };
        let joined = limits
            .restore(ChildStep::Setns, link.socket.as_fd())
            .and_then(|()| match entered {
                None => join(target),
                Some(Entered { user_left }) => join_user(target, user_left),
            });
        if let Err(error) = joined {
            link.report(&error);
            std::process::exit(EXIT_SETUP_FAILED);
        }
        serve(
            link,
            Placed::after_socket(socket_fd),
            hook,
            setup::run_setns,
            None,
        )
    }
    // Before anything that could end in a fork: the name is how the parent
    // knows a fork of this helper that it never heard of.
    if let Err(error) = name_itself() {
        link.report(&error);
        std::process::exit(EXIT_SETUP_FAILED);
    }
    // Until the command's exec nothing in the container may ptrace this
    // process or open its /proc files: it still holds the host's
    // descriptors (and the exec makes it dumpable again). (A cloned
    // process's restore, above, makes it so.)
    let joined = prctl::set_dumpable(false)
        .map_err(failed(ChildStep::Setns, "prctl(PR_SET_DUMPABLE, 0)"))
        .and_then(|()| join(Target { pid, pidfd }));
    if let Err(error) = joined {
        link.report(&error);
        std::process::exit(EXIT_SETUP_FAILED);
    }
    hook(ChildStep::Fork, &no_config);
    // In the container's cgroups since before its `exec` (it joined them
    // itself): the fork is born in them all.
    match fork() {
        Ok(Forked::Process) => serve(
            link,
            Placed::after_socket(socket_fd),
            hook,
            setup::run_setns,
            None,
        ),
        Ok(Forked::Helper(pid)) => {
            hook(ChildStep::Report, &no_config);
            // If the report cannot be written the parent fails the launch on
            // this exit, and the process reads the end of stream and exits.
            let code = if link.write_all(&pid_report(pid.as_raw())) {
                0
            } else {
                EXIT_NO_LINK
            };
            std::process::exit(code)
        }
        Err(error) => {
            link.report(&error);
            std::process::exit(EXIT_SETUP_FAILED);
        }
    }
}

/// What [`SETNS_ENV`] says.
#[derive(Debug, PartialEq, Eq)]
struct Variable {
    socket_fd: RawFd,
    target_fd: RawFd,
    /// The container's init.
    pid: Pid,
    /// A process cloned into the container's pid namespace, not a helper.
    cloned: Option<ClonedProcess>,
}

/// A process cloned into the container's pid namespace.
#[derive(Debug, PartialEq, Eq)]
struct ClonedProcess {
    /// The launcher's limits, to restore once it is not dumpable.
    limits: LaunchersLimits,
    /// What it joined before its `exec`; `None`: nothing.
    entered: Option<Entered>,
}

/// A process that joined every namespace of the container's but the user
/// one, and its root, before its `exec` (see `setns::before_exec`).
#[derive(Debug, PartialEq, Eq)]
struct Entered {
    /// The container has a user namespace of its own, left to join.
    user_left: bool,
}

fn parse(value: &OsStr) -> Option<Variable> {
    let mut parts = value.to_str()?.split(':');
    let socket_fd = parts.next()?.parse().ok().filter(|&fd| fd >= 3)?;
    let target_fd = parts
        .next()?
        .parse()
        .ok()
        .filter(|&fd| fd >= 3 && fd != socket_fd)?;
    let pid = Pid::new(parts.next()?.parse().ok()?)?;
    let entered = match parts.next() {
        None => None,
        Some(CLONED) => Some(None),
        Some(ENTERED) => Some(Some(Entered {
            user_left: match parts.next()? {
                "0" => false,
                "1" => true,
                _ => return None,
            },
        })),
        Some(_) => return None,
    };
    let cloned = match entered {
        Some(entered) => Some(ClonedProcess {
            limits: LaunchersLimits::parse(&mut parts)?,
            entered,
        }),
        None => None,
    };
    parts.next().is_none().then_some(Variable {
        socket_fd,
        target_fd,
        pid,
        cloned,
    })
}

/// Takes the name ([`lineage::helper_name`]) that every fork of this
/// helper inherits.
fn name_itself() -> Result<(), ChildError> {
    let step = ChildStep::Setns;
    let me = Pid::new(unistd::getpid().as_raw())
        .ok_or(Errno::ESRCH)
        .map_err(failed(step, "getpid"))?;
    // A pid's digits hold no NUL.
    let name = CString::new(lineage::helper_name(me))
        .map_err(|_| Errno::EINVAL)
        .map_err(failed(step, "the helper's name"))?;
    prctl::set_name(&name).map_err(failed(step, "prctl(PR_SET_NAME)"))
}

/// Joins every namespace of the target's that differs from the helper's,
/// and its root; the caller has made this process not dumpable.
fn join(target: Target) -> Result<(), ChildError> {
    let step = ChildStep::Setns;
    let kinds = namespaces_to_join(target.pid)?;
    let root_path = format!("/proc/{}/root", target.pid);
    let root = File::open(&root_path).map_err(|error| match error.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) => exited(target.pid),
        _ => io_failed(step, format!("open {root_path}"))(error),
    })?;
    let flags = kinds
        .iter()
        .fold(0, |flags, &kind| flags | spawn::namespace_flag(kind));
    let flags = CloneFlags::from_bits_retain(
        i32::try_from(flags)
            .map_err(|_| Errno::EINVAL)
            .map_err(failed(step, format!("namespace flags {flags:#x}")))?,
    );
    // One call joins them all, in the order the kernel knows is right
    // (Linux 5.8); before that, a pidfd is no namespace and the call fails
    // with EINVAL. (With no flags it would fail too: nothing to join.)
    let joined = if kinds.is_empty() {
        Ok(())
    } else {
        setns(target.pidfd.as_fd(), flags)
    };
    match joined {
        Ok(()) => {}
        Err(Errno::EINVAL) => join_by_path(&target, &kinds)?,
        Err(Errno::ESRCH) => return Err(exited(target.pid)),
        Err(errno) => {
            return Err(failed(step, format!("setns(pidfd of {}, {flags:?})", target.pid))(errno));
        }
    }
    drop(target);
    unistd::fchdir(&root).map_err(failed(step, format!("fchdir {root_path}")))?;
    unistd::chroot(".").map_err(failed(step, format!("chroot {root_path}")))
}

/// For a process that joined the rest before its `exec`: joins the
/// container's user namespace if it has one (`user_left`). Through the
/// pidfd: `/proc` is the container's now, where the target's pid is
/// another.
fn join_user(target: Target, user_left: bool) -> Result<(), ChildError> {
    let step = ChildStep::Setns;
    if !user_left {
        return Ok(());
    }
    match setns(target.pidfd.as_fd(), CloneFlags::CLONE_NEWUSER) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => Err(exited(target.pid)),
        Err(errno) => Err(failed(
            step,
            format!("setns(pidfd of {}, CLONE_NEWUSER)", target.pid),
        )(errno)),
    }
}

/// The namespace types in which the target's namespace is not the helper's
/// own: what the container has of its own. (Joining one's own user
/// namespace is an error, and joining any other of one's own a no-op.)
fn namespaces_to_join(pid: Pid) -> Result<Vec<NamespaceKind>, ChildError> {
    namespaces_apart(pid).map_err(|(path, error)| match error.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) if !path.starts_with("/proc/thread-self/") => exited(pid),
        _ => io_failed(ChildStep::Setns, format!("stat {path}"))(error),
    })
}

/// Joins `kinds` through `/proc/<pid>/ns/*`, all opened before the first
/// join (after it, `/proc` may be the container's), user first: the other
/// namespaces belong to it, and joining it gives the rights to join them.
fn join_by_path(target: &Target, kinds: &[NamespaceKind]) -> Result<(), ChildError> {
    let step = ChildStep::Setns;
    let mut files = Vec::with_capacity(kinds.len());
    for &kind in kinds {
        let path = format!("/proc/{}/ns/{}", target.pid, kind.proc_name());
        let file = File::open(&path).map_err(|error| match error.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => exited(target.pid),
            _ => io_failed(step, format!("open {path}"))(error),
        })?;
        files.push((kind, path, file));
    }
    // The pid could have been reused before the files were opened; the
    // pidfd says whether it still is the init's.
    sys::pidfd_send_signal(target.pidfd.as_fd(), None).map_err(|_| exited(target.pid))?;
    files.sort_by_key(|(kind, _, _)| *kind != NamespaceKind::User);
    for (kind, path, file) in files {
        let flag = i32::try_from(spawn::namespace_flag(kind)).map_err(|_| Errno::EINVAL);
        flag.and_then(|flag| setns(&file, CloneFlags::from_bits_retain(flag)))
            .map_err(failed(step, format!("setns {path}")))?;
    }
    Ok(())
}

/// Forks the process as the launcher's child. The helper joined the
/// container's cgroups before its `exec` (see `LinuxLaunch::spawn_setns`),
/// so the process is born in them, and a full `pids.max` refuses this
/// fork with `EAGAIN`.
fn fork() -> Result<Forked, ChildError> {
    // SAFETY: this process is single-threaded (see the module docs), so the
    // child may run any code; CLONE_PARENT shares nothing with the caller
    // and no cgroup is passed.
    match unsafe { sys::clone3(sys::CLONE_PARENT, None) } {
        Ok(Cloned::Child) => Ok(Forked::Process),
        // The pidfd is of no use to the helper: the launcher takes its own.
        Ok(Cloned::Parent { pid, pidfd }) => {
            drop(pidfd);
            Ok(Forked::Helper(pid))
        }
        Err(errno) => Err(failed(ChildStep::Fork, "clone3(CLONE_PARENT)")(errno)),
    }
}

/// The error of a target that is gone.
fn exited(pid: Pid) -> ChildError {
    let mut error = refused(
        ChildStep::Setns,
        format!("the container's init (pid {pid}) has exited"),
    );
    error.errno = Some(libc::ESRCH);
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setns::namespace_id;

    #[test]
    fn the_variable_names_two_descriptors_a_pid_and_maybe_a_clone() {
        let pid = Pid::new(77).expect("pid");
        let helper = Variable {
            socket_fd: 3,
            target_fd: 4,
            pid,
            cloned: None,
        };
        let cloned = |entered| Variable {
            socket_fd: 3,
            target_fd: 4,
            pid,
            cloned: Some(ClonedProcess {
                limits: LaunchersLimits {
                    core: (0, u64::MAX),
                    stack: 8 << 20,
                },
                entered,
            }),
        };
        assert_eq!(parse(OsStr::new("3:4:77")), Some(helper));
        assert_eq!(
            parse(OsStr::new("3:4:77:cloned:0:18446744073709551615:8388608")),
            Some(cloned(None))
        );
        assert_eq!(
            parse(OsStr::new("3:4:77:entered:0:0:18446744073709551615:8388608")),
            Some(cloned(Some(Entered { user_left: false })))
        );
        assert_eq!(
            parse(OsStr::new("3:4:77:entered:1:0:18446744073709551615:8388608")),
            Some(cloned(Some(Entered { user_left: true })))
        );
        for bad in [
            "",
            "3",
            "3:4",
            "3:3:77",
            "2:4:77",
            "3:4:0",
            "3:4:-1",
            "3:4:77:5",
            "a:4:77",
            "3:4:77:cloned",
            "3:4:77:cloned:0",
            "3:4:77:cloned:0:x",
            "3:4:77:cloned:0:1",
            "3:4:77:cloned:0:1:x",
            "3:4:77:cloned:0:1:2:3",
            "3:4:77:entered:0:1",
            "3:4:77:entered:2:0:1",
            "3:4:77:entered:0:1:2",
            "3:4:77:entered:0:1:2:3:4",
            "3:4:77:entered",
            "3:4:77:",
        ] {
            assert_eq!(parse(OsStr::new(bad)), None, "{bad:?}");
        }
    }

    /// The fallback for kernels before 5.8, which this one does not need:
    /// UTS and IPC can be joined by one thread, so a test thread can.
    #[test]
    fn namespaces_are_joined_by_path_too() {
        if !crate::root_gate::require_root("namespaces_are_joined_by_path_too") {
            return;
        }
        let mut child = std::process::Command::new("unshare")
            .args(["--uts", "--ipc", "sleep", "10"])
            .spawn()
            .expect("unshare");
        let pid = Pid::new(i32::try_from(child.id()).expect("pid")).expect("pid");
        let kinds = [NamespaceKind::Uts, NamespaceKind::Ipc];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while namespaces_to_join(pid).map_or(true, |joined| joined != kinds) {
            assert!(std::time::Instant::now() < deadline, "unshare did not unshare");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let target = Target {
            pid,
            pidfd: sys::pidfd_open(pid).expect("pidfd"),
        };
        let joined = std::thread::spawn(move || {
            join_by_path(&target, &kinds).expect("joined");
            kinds.map(|kind| namespace_id("thread-self", kind).expect("own"))
        })
        .join()
        .expect("the joining thread");
        let theirs = kinds.map(|kind| namespace_id(&pid.to_string(), kind).expect("theirs"));
        assert_eq!(joined, theirs);
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn a_process_joins_none_of_its_own_namespaces() {
        let me = Pid::new(std::process::id() as i32).expect("pid");
        assert_eq!(namespaces_to_join(me).expect("stat"), []);
    }
}
