//! `cradle exec`: start another process in a running container (its
//! namespaces, root and cgroup), and wait for it in the foreground, or
//! (runc's `--detach`) leave it running once it has reached `exec`: it is
//! then cradle's child until cradle exits, and the caller's subreaper's
//! (conmon's, containerd's shim's) to reap.

use cradle_linux::cgroup::{self, CgroupPaths};
use cradle_linux::{Container, Process};

use crate::args::ExecArgs;
use crate::commands::create::write_pid_file;
use crate::config;
use crate::error::CliError;
use crate::init_binary::launch_options;
use crate::seccomp_cache::Compiler;
use crate::signals::Signals;
use crate::state::{ContainerState, StateRoot, Status};
use crate::tty::Terminal;
use crate::{console, crash, exit, supervise, timings};

pub(crate) fn exec(states: &StateRoot, args: ExecArgs) -> Result<u8, CliError> {
    if args.timings {
        timings::enable("arguments");
        timings::begin("the container's record");
    }
    // Held through the launch, so that the container is not deleted under it.
    let entry = states.open(&args.id)?;
    let state = entry.read()?;
    timings::begin("proving the container's init");
    let container = running_init(&args.id, &state)?;
    timings::begin("the plan and the launch's options");
    let mut plan = config::exec_plan(&args, &state, &Compiler::new(states))?;
    // Cloned straight into the container's pid namespace where this
    // process may enter it (root may), held to its pids limit: no helper
    // to fork and reap.
    plan.setns_entry = container.setns_entry(state.cgroup.as_ref());
    plan.config.report_timings = timings::enabled();
    // Where the terminal the process makes goes: to the caller's console
    // socket, or relayed here (in the foreground only).
    let wants_terminal = plan.config.terminal.is_some();
    let (relayed, console_socket) = match (wants_terminal, &args.console_socket) {
        (true, Some(socket)) => (false, Some(console::connect(socket)?)),
        (true, None) if args.detach => {
            return Err(CliError::Usage(
                "a detached exec with a terminal needs --console-socket: where to send the terminal"
                    .to_owned(),
            ))
        }
        (true, None) => (true, None),
        (false, Some(_)) => {
            return Err(CliError::Usage(
                "--console-socket needs a terminal (-t, or process.terminal in --process)".to_owned(),
            ))
        }
        (false, None) => (false, None),
    };
    if relayed {
        crate::tty::require_caller_terminal()?;
    }
    let mut options = launch_options().container(container);
    if let Some(paths) = &state.cgroup {
        options = options.container_cgroups(paths.clone());
    }
    for fd in 3..3 + args.preserve_fds {
        let fd = i32::try_from(fd).map_err(|_| CliError::Usage("--preserve-fds is too large".to_owned()))?;
        options = options.preserve_fd(cradle_linux::take_inherited_fd(fd)?);
    }
    if crash::armed() || timings::enabled() {
        options = options.on_step(at_step);
    }
    // A detached process is not waited for: nothing to pass signals on to.
    let mut signals = if args.detach {
        None
    } else {
        Some(Signals::block()?)
    };
    let mut console = None;
    if let Some(socket) = console_socket {
        options = options.console_socket(socket);
    }
    if relayed {
        let (receiver, socket) = cradle_linux::console::channel()?;
        options = options.console_socket(socket);
        console = Some(receiver);
    }
    let program = plan.config.args.first().cloned().unwrap_or_default();
    tracing::info!(id = %args.id, command = ?plan.config.args, "launching into the container");
    let mut process =
        Process::start(plan, options).map_err(|error| launch_failure(&state, &program, error))?;
    timings::child_steps(process.child_timings());
    drop(entry);
    if let Some(path) = &args.pid_file {
        if let Err(error) = write_pid_file(path, process.pid().as_raw()) {
            // Nobody would know of it: not left running.
            let _ = process.terminate();
            return Err(error);
        }
    }
    let Some(signals) = signals.as_mut() else {
        let pid = process.detach();
        tracing::info!(id = %args.id, %pid, "started, detached");
        return Ok(0);
    };
    let mut terminal = match console.map(Terminal::attach).transpose() {
        Ok(terminal) => terminal,
        Err(error) => {
            // Its output would go nowhere: it does not run unattached.
            let _ = process.terminate();
            return Err(error);
        }
    };
    timings::begin("the command, until it exits");
    let status = supervise::until_exit(&mut process, signals, terminal.as_mut());
    drop(terminal);
    timings::report(&args.id);
    let status = status?;
    tracing::info!(id = %args.id, %status, "exited");
    Ok(exit::of_status(status))
}

/// The launch's step hook: a phase of `--timings`, and where a crash test
/// kills cradle.
fn at_step(step: cradle_core::Step) {
    timings::at_step(step);
    crash::at_step(step);
}

/// The init of `state`, which must be running: neither created (its
/// process has not started), nor paused (a process joining its frozen
/// cgroup would freeze with it), nor stopped.
fn running_init(id: &str, state: &ContainerState) -> Result<Container, CliError> {
    // Proved first (its pid, start time and cgroup: a pid reused by another
    // process is refused), then asked what it is doing: the proof reads
    // what a status would, once.
    let init = state
        .init()?
        .ok_or_else(|| CliError::NotRunning { id: id.to_owned() })?;
    match state.status_of_running() {
        Status::Running => Ok(init),
        status => Err(CliError::WrongStatus {
            id: id.to_owned(),
            status: status.as_str(),
            wanted: "running",
        }),
    }
}

/// The error of a launch of `program` that failed: a full pids limit by
/// its name, else the launch's own.
fn launch_failure(state: &ContainerState, program: &str, error: cradle_linux::Error) -> CliError {
    let limit = state
        .cgroup
        .as_ref()
        .filter(|_| exit::fork_refused(&error))
        .and_then(pids_limit);
    match limit {
        Some(limit) => CliError::PidsLimit { limit },
        None => exit::launch_error(program, error),
    }
}

/// The container's pids limit, if it has one that can be read; else the
/// launch's own error is reported.
fn pids_limit(paths: &CgroupPaths) -> Option<u64> {
    cgroup::pids_max(paths)
        .inspect_err(|error| tracing::debug!(%error, "the container's pids limit"))
        .ok()
        .flatten()
}
