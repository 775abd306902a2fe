//! The last step: the command's environment and path, a clean signal
//! state, and `execve`.

use std::borrow::Cow;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{self, AccessFlags};

use cradle_core::{ChildError, ChildStep, Config};

use super::{failed, refused};
use crate::sys;

/// `PATH` of a container with no environment of its own.
pub(super) const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The container's command, ready to `exec`.
#[derive(Debug)]
pub(super) struct Command {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Command {
    /// Finds the program and leaves the process as the command should find
    /// it: default signal dispositions, nothing blocked, no parent-death
    /// signal (the container outlives the thread that launched it).
    pub(super) fn prepare(config: &Config) -> Result<Command, ChildError> {
        let step = ChildStep::Exec;
        let env = environment(config);
        let search = env
            .iter()
            .find_map(|entry| entry.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        let program = config.args.first().ok_or_else(|| refused(step, "no command"))?;
        let path = resolve(program, search)?;
        let argv = c_strings(&config.args, "argument")?;
        let envp = c_strings(&env, "environment entry")?;
        let path = CString::new(path.into_os_string().into_encoded_bytes())
            .map_err(|_| refused(step, "the program's path holds a NUL byte"))?;
        prctl::set_pdeathsig(None).map_err(failed(step, "prctl(PR_SET_PDEATHSIG, 0)"))?;
        reset_signals()?;
        Ok(Command { path, argv, envp })
    }

    /// `execve`; returns only if it failed, with why.
    pub(super) fn exec(&self) -> Errno {
        match unistd::execve(&self.path, &self.argv, &self.envp) {
            Err(errno) => errno,
            Ok(never) => match never {},
        }
    }

    /// The program's path, for messages.
    pub(super) fn path_lossy(&self) -> Cow<'_, str> {
        self.path.to_string_lossy()
    }
}

/// The exit code of an init whose `exec` failed, as shells have it: 127 for
/// a command not found, 126 for one that cannot run.
pub(super) fn exit_code(errno: Errno) -> i32 {
    match errno {
        Errno::ENOENT => 127,
        _ => 126,
    }
}

/// The config's environment, or the usual defaults when it has none.
pub(super) fn environment(config: &Config) -> Vec<String> {
    if !config.env.is_empty() {
        return config.env.clone();
    }
    let hostname = config
        .hostname
        .clone()
        .or_else(|| unistd::gethostname().ok()?.into_string().ok())
        .unwrap_or_default();
    let home = if config.user.uid == 0 { "/root" } else { "/" };
    vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOME={home}"),
        format!("HOSTNAME={hostname}"),
    ]
}

/// The program to `exec`: `program` itself when it holds a `/`, else the
/// first executable file of that name in `search`, as `execvp` finds it.
/// Checked before `ready`, so a missing command is reported before the
/// parent is told set-up went well.
fn resolve(program: &str, search: &str) -> Result<PathBuf, ChildError> {
    let step = ChildStep::Exec;
    if program.contains('/') {
        unistd::access(program, AccessFlags::X_OK).map_err(failed(step, format!("execve {program}")))?;
        return Ok(PathBuf::from(program));
    }
    let mut error = Errno::ENOENT;
    if !program.is_empty() {
        for dir in search.split(':') {
            // An empty entry is the working directory, as for execvp.
            let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(program);
            match unistd::access(&candidate, AccessFlags::X_OK) {
                Ok(()) if candidate.is_file() => return Ok(candidate),
                Ok(()) => {}
                Err(Errno::EACCES) => error = Errno::EACCES,
                Err(_) => {}
            }
        }
    }
    Err(failed(step, format!("{program:?} not found in PATH {search}"))(
        error,
    ))
}

fn c_strings(strings: &[String], what: &str) -> Result<Vec<CString>, ChildError> {
    strings
        .iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| refused(ChildStep::Exec, format!("{what} {s:?} holds a NUL byte")))
        })
        .collect()
}

/// Every signal back to its default and none blocked: the launcher's
/// ignored signals (Rust ignores `SIGPIPE`) and its mask must not leak into
/// the container.
fn reset_signals() -> Result<(), ChildError> {
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // The message only on a failure: this runs for every signal.
        sys::reset_signal(signal)
            .map_err(|errno| failed(ChildStep::Exec, format!("rt_sigaction({signal}, SIG_DFL)"))(errno))?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(failed(ChildStep::Exec, "sigprocmask"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fill_an_empty_environment() {
        let mut config = Config::new(["true"]);
        config.hostname = Some("box".to_owned());
        assert_eq!(
            environment(&config),
            [
                format!("PATH={DEFAULT_PATH}"),
                "HOME=/root".to_owned(),
                "HOSTNAME=box".to_owned()
            ]
        );
        config.user.uid = 1000;
        assert!(environment(&config).contains(&"HOME=/".to_owned()));
    }

    #[test]
    fn an_environment_of_its_own_is_kept_as_it_is() {
        let mut config = Config::new(["true"]);
        config.env = vec!["A=1".to_owned()];
        assert_eq!(environment(&config), ["A=1"]);
    }

    #[test]
    fn programs_are_found_in_path() {
        let found = resolve("sh", "/nonexistent:/bin:/usr/bin").expect("sh is installed");
        assert!(found.ends_with("sh"), "{found:?}");
        let missing = resolve("no-such-program-here", "/bin:/usr/bin").expect_err("missing");
        assert_eq!(
            (missing.step, missing.errno),
            (ChildStep::Exec, Some(libc::ENOENT))
        );
        let missing = resolve("/no/such/program", "/bin").expect_err("missing");
        assert_eq!(missing.errno, Some(libc::ENOENT));
        assert_eq!(resolve("", "/bin").expect_err("empty").errno, Some(libc::ENOENT));
    }

    #[test]
    fn directories_are_not_programs() {
        // /usr/bin/.. is /usr: a directory named like a program is skipped.
        let error = resolve("bin", "/usr").expect_err("a directory");
        assert_eq!(error.errno, Some(libc::ENOENT));
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(Errno::ENOENT), 127);
        assert_eq!(exit_code(Errno::EACCES), 126);
    }
}
