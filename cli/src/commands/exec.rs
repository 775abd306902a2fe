//! `cradle exec`: start another process in a running container (its
//! namespaces, root and cgroup) and wait for it in the foreground.

use cradle_linux::cgroup::{self, CgroupPaths};
use cradle_linux::{Options, Process};

use crate::args::ExecArgs;
use crate::config;
use crate::error::CliError;
use crate::seccomp_cache::Compiler;
use crate::signals::Signals;
use crate::state::StateRoot;
use crate::tty::Terminal;
use crate::{crash, exit, supervise};

pub(crate) fn exec(states: &StateRoot, args: ExecArgs) -> Result<u8, CliError> {
    // Held through the launch, so that the container is not deleted under it.
    let entry = states.open(&args.id)?;
    let state = entry.read()?;
    // Checks the start time too: a pid reused by another process is refused.
    let container = state
        .init()?
        .ok_or_else(|| CliError::NotRunning { id: args.id.clone() })?;
    let plan = config::exec_plan(&args, &state, &Compiler::new(states))?;
    let mut options = Options::new().container(container);
    if let Some(paths) = &state.cgroup {
        options = options.container_cgroups(paths.clone());
    }
    if crash::armed() {
        options = options.on_step(crash::at_step);
    }
    let mut signals = Signals::block()?;
    let mut console = None;
    if args.tty {
        let (receiver, socket) = cradle_linux::console::channel()?;
        options = options.console_socket(socket);
        console = Some(receiver);
    }
    tracing::info!(id = %args.id, command = ?args.command, "launching into the container");
    let started = Process::start(plan, options);
    let mut process = match started {
        Ok(process) => process,
        Err(error) => {
            let limit = state
                .cgroup
                .as_ref()
                .filter(|_| exit::fork_refused(&error))
                .and_then(pids_limit);
            if let Some(limit) = limit {
                return Err(CliError::PidsLimit { limit });
            }
            return Err(exit::launch_error(
                args.command.first().map_or("", String::as_str),
                error,
            ));
        }
    };
    drop(entry);
    let mut terminal = match console.map(Terminal::attach).transpose() {
        Ok(terminal) => terminal,
        Err(error) => {
            // Its output would go nowhere: it does not run unattached.
            let _ = process.terminate();
            return Err(error);
        }
    };
    let status = supervise::until_exit(&mut process, &mut signals, terminal.as_mut());
    drop(terminal);
    let status = status?;
    tracing::info!(id = %args.id, %status, "exited");
    Ok(exit::of_status(status))
}

/// The container's pids limit, if it has one that can be read; else the
/// launch's own error is reported.
fn pids_limit(paths: &CgroupPaths) -> Option<u64> {
    cgroup::pids_max(paths)
        .inspect_err(|error| tracing::debug!(%error, "the container's pids limit"))
        .ok()
        .flatten()
}
