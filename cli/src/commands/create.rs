//! `cradle create`: an OCI bundle launched up to the hold before `exec`,
//! recorded, and handed off, so that the container outlives this command;
//! `cradle start` lets it run.
//!
//! As `run`, the record exists before anything it names, and the process
//! is recorded while it sets itself up, before it holds: a `create` killed
//! at any instant leaves a record `delete --force` finishes. A hold whose
//! `create` died before the hand-off exits without running the user's
//! process.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

use cradle_linux::Options;

use crate::args::CreateArgs;
use crate::bundle::{self, BundlePlan};
use crate::error::CliError;
use crate::init_binary::launch_options;
use crate::seccomp_cache::Compiler;
use crate::state::{ContainerState, Entry, Stage, StateRoot};
use crate::{console, crash, exit, held, hooks, teardown};

/// The hold's listening socket, in the container's state directory.
pub(crate) const HOLD_SOCKET: &str = "hold.sock";

pub(crate) fn create(states: &StateRoot, args: &CreateArgs) -> Result<(), CliError> {
    let BundlePlan {
        plan,
        cgroup,
        prestart,
        record,
    } = bundle::load(&args.bundle, &args.id, &Compiler::new(states))?;
    let mut plan = plan;
    plan.timeout = args.timeout;
    let mut options = launch_options();
    if plan.config.terminal.is_some() {
        let socket = args.console_socket.as_deref().ok_or_else(|| {
            CliError::Usage("process.terminal needs --console-socket: where to send the terminal".to_owned())
        })?;
        options = options.console_socket(console::connect(socket)?);
    }
    plan.config.preserved_fds = args.preserve_fds;
    for fd in 3..3 + args.preserve_fds {
        let fd = i32::try_from(fd).map_err(|_| CliError::Usage("--preserve-fds is too large".to_owned()))?;
        options = options.preserve_fd(cradle_linux::take_inherited_fd(fd)?);
    }
    match (cgroup, record.cgroup.clone()) {
        // Made where the record says, without reading the layout again.
        (Some(cgroup), Some(planned)) => options = options.cgroup_at(cgroup, planned),
        (Some(cgroup), None) => options = options.cgroup(cgroup),
        (None, _) => {}
    }
    if crash::armed() {
        options = options.on_step(crash::at_step);
    }
    let entry = states.create(&args.id, &record)?;
    crate::device_programs::share(entry.root());
    crash::point("create: intent recorded");
    let mounts = record.shared_mounts.clone();
    match launch(plan, options, record, &entry, &prestart, args.pid_file.as_deref()) {
        Ok(()) => Ok(()),
        Err(error) => {
            teardown::after_failed_launch(mounts.as_ref(), entry);
            Err(error)
        }
    }
}

/// Launches and records the process, runs the prestart hooks, writes the
/// pid file and hands the hold off. On failure nothing of the container is
/// left but `entry` and the mounts it made in the caller's namespace: the
/// process is gone (everything that can fail comes before the hand-off).
fn launch(
    plan: cradle_core::Plan,
    options: Options,
    mut state: ContainerState,
    entry: &Entry,
    prestart: &[crate::state::HookRecord],
    pid_file: Option<&Path>,
) -> Result<(), CliError> {
    let hold = entry.path_of(HOLD_SOCKET);
    let listener = UnixListener::bind(&hold).map_err(CliError::file(&hold))?;
    let options = options.hand_off_listener(OwnedFd::from(listener));
    let program = plan.config.args.first().cloned().unwrap_or_default();
    // Dropping `held` on an error below undoes the launch.
    let held = held::start_recorded(plan, options, &mut state, Stage::Created, entry)?;
    if !prestart.is_empty() {
        let document = bundle::document_as(&state, crate::state::Status::Created);
        hooks::run_all("prestart", prestart, &document)?;
    }
    if let Some(path) = pid_file {
        write_pid_file(path, state.pid)?;
    }
    held.hand_off()
        .map_err(|error| exit::launch_error(&program, error))?;
    crash::point("create: handed off");
    tracing::info!(id = %state.id, pid = state.pid, "created");
    Ok(())
}

/// Writes `pid` to `path` whole: beside it, then renamed over it.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), CliError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.cradle-tmp"));
    fs::write(&temp, pid.to_string()).map_err(CliError::file(&temp))?;
    fs::rename(&temp, path).map_err(CliError::file(path))
}
