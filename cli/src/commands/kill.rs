//! `cradle kill`: a signal to the container's init, through a pidfd; with
//! `--all`, to every process in its cgroup.

use cradle_linux::cgroup::Cgroup;
use cradle_linux::Signal;

use crate::error::CliError;
use crate::state::StateRoot;

pub(crate) fn kill(states: &StateRoot, id: &str, signal: Signal, all: bool) -> Result<(), CliError> {
    let entry = states.open(id)?;
    let state = entry.read()?;
    let init = state
        .init()?
        .ok_or_else(|| CliError::NotRunning { id: id.to_owned() })?;
    if all {
        if let Some(paths) = &state.cgroup {
            // nix's `kill` takes only the standard signals.
            let standard = nix::sys::signal::Signal::try_from(signal.number()).map_err(|_| {
                CliError::Usage(format!("kill --all sends only standard signals, not {signal}"))
            })?;
            // The cgroup is proved the container's (by `init()`): what runs
            // in it is the container's.
            tracing::info!(%id, ?signal, "signalling every process of the container");
            let pids = Cgroup::open(paths.clone())
                .and_then(|cgroup| cgroup.pids())
                .map_err(|error| CliError::Backend(error.into()))?;
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), standard);
            }
            return Ok(());
        }
    }
    tracing::info!(%id, pid = state.pid, ?signal, "signalling the container's init");
    init.signal(signal).map_err(CliError::Backend)
}
