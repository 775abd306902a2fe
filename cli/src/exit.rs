//! The exit-code rules, as docker and podman have them: the command's own
//! code; 128+N when signal N killed it; 125 when cradle failed; 126 when
//! the command cannot be executed; 127 when it is not found.

use cradle_core::{ChildStep, ExitStatus, LaunchError, Step};
use cradle_linux::cgroup::HumanSize;
use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::error::CliError;

/// cradle itself failed: a bad flag or config, a launch failure.
pub(crate) const CRADLE_FAILED: u8 = 125;
/// The command exists but cannot be executed.
pub(crate) const CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub(crate) const NOT_FOUND: u8 = 127;

/// The exit code that reports how the container's command ended.
pub(crate) fn of_status(status: ExitStatus) -> u8 {
    // Exit codes are 0..=255 and signals below 65: both fit.
    u8::try_from(status.code()).unwrap_or(CRADLE_FAILED)
}

/// The exit code of a failed command.
pub(crate) fn of_error(error: &CliError) -> u8 {
    match error {
        CliError::Launch {
            exec_errno: Some(errno),
            ..
        } => match Errno::from_raw(*errno) {
            Errno::ENOENT => NOT_FOUND,
            Errno::EACCES | Errno::ENOEXEC | Errno::EISDIR | Errno::EPERM => CANNOT_EXECUTE,
            _ => CRADLE_FAILED,
        },
        _ => CRADLE_FAILED,
    }
}

/// One line for a failed launch of `program`: for an `exec` that failed
/// `exec "PROGRAM": CAUSE (step: exec)`, else the step and the cause.
pub(crate) fn launch_error(program: &str, error: cradle_linux::Error) -> CliError {
    let launch = match error {
        cradle_linux::Error::Launch(launch) => launch,
        cradle_linux::Error::OomKilled { step, .. } => {
            return CliError::Launch {
                message: format!("{error} (step: {step})"),
                exec_errno: None,
            }
        }
        error => return CliError::Backend(error),
    };
    match launch {
        LaunchError::Child { error: child, .. } => {
            let exec_errno = child.errno.filter(|_| child.step == ChildStep::Exec);
            let message = match exec_errno {
                Some(errno) => format!("exec {program:?}: {} (step: exec)", describe(errno)),
                None => format!("{} (step: {})", child.message, child.step),
            };
            CliError::Launch { message, exec_errno }
        }
        other => CliError::Launch {
            message: format!("{other} (step: {})", other.step()),
            exec_errno: None,
        },
    }
}

/// The line that says the OOM killer had a hand in how container `id`
/// ended, if its cgroup counted a kill: the container's own (its init died
/// of `SIGKILL`), or some of its processes'. `limit` is its memory limit.
pub(crate) fn oom_note(
    id: &str,
    status: ExitStatus,
    oom_kills: Option<u64>,
    limit: Option<u64>,
) -> Option<String> {
    let kills = oom_kills.filter(|&kills| kills > 0)?;
    let limit = match limit {
        Some(bytes) => format!("memory limit {}", HumanSize(bytes)),
        None => "no memory limit of its own".to_owned(),
    };
    Some(if status == ExitStatus::Signaled(Signal::SIGKILL as i32) {
        format!("container {id} was killed by the OOM killer ({limit})")
    } else {
        let processes = if kills == 1 { "process" } else { "processes" };
        format!("the OOM killer killed {kills} {processes} in container {id} ({limit})")
    })
}

/// Whether a setns launch failed because the kernel refused a process
/// with `EAGAIN`: a helper's fork, or the clone of the process (or of a
/// helper) into the container's cgroup2 directory or from its v1 pids
/// cgroup. A full
/// `pids.max` does that; so would the host's own limit on processes, which
/// the caller tells apart by the container's limit.
pub(crate) fn fork_refused(error: &cradle_linux::Error) -> bool {
    let eagain = Some(Errno::EAGAIN as i32);
    match error {
        cradle_linux::Error::Launch(LaunchError::Child { error, .. }) => {
            error.step == ChildStep::Fork && error.errno == eagain
        }
        cradle_linux::Error::Launch(LaunchError::Command {
            step: Step::Spawn,
            error,
        }) => error.errno == eagain,
        _ => false,
    }
}

/// `strerror`, lower-cased as the rest of the message: "no such file or
/// directory".
fn describe(errno: i32) -> String {
    let text = Errno::from_raw(errno).desc();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {errno}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cradle_core::ChildError;

    fn child_failure(step: ChildStep, errno: Option<i32>) -> CliError {
        let child = ChildError {
            message: "execve /bin/nope: No such file or directory".to_owned(),
            step,
            errno,
        };
        let error = LaunchError::Child {
            step: cradle_core::Step::AwaitReady,
            error: child,
        };
        launch_error("/bin/nope", cradle_linux::Error::Launch(error))
    }

    #[test]
    fn exec_failures_map_to_126_and_127() {
        let missing = child_failure(ChildStep::Exec, Some(libc_enoent()));
        assert_eq!(of_error(&missing), NOT_FOUND);
        assert_eq!(
            missing.to_string(),
            "exec \"/bin/nope\": no such file or directory (step: exec)"
        );
        let denied = child_failure(ChildStep::Exec, Some(Errno::EACCES as i32));
        assert_eq!(of_error(&denied), CANNOT_EXECUTE);
    }

    #[test]
    fn other_child_failures_are_cradles() {
        let cwd = child_failure(ChildStep::Cwd, Some(libc_enoent()));
        assert_eq!(of_error(&cwd), CRADLE_FAILED);
        assert!(cwd.to_string().ends_with("(step: cwd)"), "{cwd}");
    }

    #[test]
    fn an_oom_kill_at_start_names_the_limit() {
        let error = cradle_linux::Error::OomKilled {
            step: cradle_core::Step::AwaitReady,
            limit: Some(4 << 10),
        };
        let error = launch_error("/bin/true", error);
        assert_eq!(of_error(&error), CRADLE_FAILED);
        assert_eq!(
            error.to_string(),
            "await ready: killed by the OOM killer: memory limit 4 KiB (step: await ready)"
        );
    }

    #[test]
    fn an_oom_kill_at_exit_is_noted() {
        let killed = ExitStatus::Signaled(Signal::SIGKILL as i32);
        assert_eq!(
            oom_note("web", killed, Some(1), Some(64 << 20)).as_deref(),
            Some("container web was killed by the OOM killer (memory limit 64 MiB)")
        );
        assert_eq!(
            oom_note("web", ExitStatus::Exited(1), Some(2), None).as_deref(),
            Some("the OOM killer killed 2 processes in container web (no memory limit of its own)")
        );
        // No kill counted (or no count): a SIGKILL from anyone else.
        assert_eq!(oom_note("web", killed, Some(0), Some(64 << 20)), None);
        assert_eq!(oom_note("web", killed, None, Some(64 << 20)), None);
    }

    #[test]
    fn only_a_fork_or_spawn_refused_with_eagain_is_a_refused_fork() {
        let launch = |error| cradle_linux::Error::Launch(error);
        let child = |step, errno| {
            launch(LaunchError::Child {
                step: Step::ReportPid,
                error: ChildError {
                    message: "clone3(CLONE_PARENT): Try again".to_owned(),
                    step,
                    errno: Some(errno as i32),
                },
            })
        };
        let command = |step, errno| {
            launch(LaunchError::Command {
                step,
                error: cradle_core::CommandError::new("clone3", Some(errno as i32)),
            })
        };
        assert!(fork_refused(&child(ChildStep::Fork, Errno::EAGAIN)));
        assert!(fork_refused(&command(Step::Spawn, Errno::EAGAIN)));
        assert!(!fork_refused(&child(ChildStep::Fork, Errno::ENOMEM)));
        assert!(!fork_refused(&child(ChildStep::Exec, Errno::EAGAIN)));
        assert!(!fork_refused(&command(Step::Spawn, Errno::ENOMEM)));
        assert!(!fork_refused(&command(Step::EnterCgroup, Errno::EAGAIN)));
    }

    #[test]
    fn statuses() {
        assert_eq!(of_status(ExitStatus::Exited(3)), 3);
        assert_eq!(of_status(ExitStatus::Signaled(15)), 143);
    }

    fn libc_enoent() -> i32 {
        Errno::ENOENT as i32
    }
}
