//! `cradle run`: record the container's intent, launch it up to the hold
//! before `exec`, record its process, let it run, and either return
//! (`--detach`) or wait for it, passing signals on, and remove everything
//! when it exits.
//!
//! The user's command never runs unrecorded: the record (naming the cgroup
//! and interfaces) exists before any of them, and the process is recorded
//! while it sets itself up, before it may `exec` (it holds until then). A
//! `cradle` killed at any instant leaves a record `delete --force` can
//! finish, or nothing; a held process whose `cradle` died exits without
//! running its command.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;

use cradle_core::ExitStatus;
use cradle_linux::cgroup::Cgroup;
use cradle_linux::console::ConsoleReceiver;
use cradle_linux::{Options, Process};

use crate::args::RunArgs;
use crate::config::{self, RunPlan};
use crate::error::CliError;
use crate::init_binary::launch_options;
use crate::seccomp_cache::Compiler;
use crate::signals::Signals;
use crate::state::{self, ContainerState, Entry, Stage, StateRoot, Supervisor, Viewpoint};
use crate::tty::Terminal;
use crate::{crash, exit, held, supervise, teardown, timings};

pub(crate) fn run(states: &StateRoot, args: Box<RunArgs>) -> Result<u8, CliError> {
    match (&args.id, args.command.is_empty()) {
        (Some(_), true) => return bundle_run(states, &args),
        (Some(id), false) => {
            return Err(CliError::Usage(format!(
                "run takes an OCI container id ({id}) or a command after `--`, not both"
            )))
        }
        (None, true) => {
            return Err(CliError::Usage(
                "run needs a command after `--` (shell form) or a container id (OCI form)".to_owned(),
            ))
        }
        (None, false) => {}
    }
    if args.bundle.is_some() || args.pid_file.is_some() {
        return Err(CliError::Usage(
            "--bundle and --pid-file belong to the OCI form (`cradle run [--bundle DIR] ID`), not to `-- CMD`"
                .to_owned(),
        ));
    }
    if args.tty && args.detach {
        return Err(CliError::Usage(
            "--tty needs a foreground run: a detached container has no terminal to relay to".to_owned(),
        ));
    }
    if args.tty {
        crate::tty::require_caller_terminal()?;
    }
    if args.timings {
        timings::enable("arguments");
        timings::begin("the plan");
    }
    let id = match &args.name {
        Some(name) => name.clone(),
        None => generate_id()?,
    };
    // Everything that can be refused is refused before anything exists.
    let run_plan = config::run_plan(&args, &id, &Compiler::new(states))?;
    // Blocked before anything exists, so that no signal kills cradle
    // half-way and leaves a container nobody recorded.
    let signals = Signals::block()?;
    timings::begin("the state record");
    let record = intent(&args, &id, &run_plan)?;
    log_intent(&record);
    let entry = states.create(&id, &record)?;
    crate::device_programs::share(entry.root());
    crash::point("run: intent recorded");
    timings::begin("the launch's options");
    let (attachment, options) = match attach(args.detach, args.tty, signals) {
        Ok(prepared) => prepared,
        Err(error) => {
            let _ = entry.remove();
            return Err(error);
        }
    };
    let (mut process, state) = match start(&args, record, run_plan, options, &entry) {
        Ok(started) => started,
        Err(error) => {
            // Restore the caller's terminal before the error is printed.
            drop(attachment);
            let _ = entry.remove();
            return Err(error);
        }
    };
    match attachment {
        Attachment::Detached { mut signals } => {
            // A Ctrl-C (or TERM...) during the launch meant "don't": undo it.
            if let Some(signal) = signals.next()? {
                tracing::info!(%id, ?signal, "interrupted during the launch; removing the container");
                let _ = process.terminate();
                teardown::remove(
                    state.cgroup,
                    &state.interfaces,
                    state.shared_mounts.as_ref(),
                    entry,
                )?;
                return Ok(exit::of_status(ExitStatus::Signaled(signal.number())));
            }
            writeln!(std::io::stdout(), "{id}").map_err(CliError::file("stdout"))?;
            timings::report(&id);
            Ok(0)
        }
        Attachment::Foreground { signals, console } => {
            // Let `state`, `kill` and `delete` at the container while it runs.
            drop(entry);
            foreground(states, &state, &mut process, signals, console, args.memory)
        }
    }
}

/// The record written before anything of the container exists: what it
/// will be, and the cgroup and interfaces its launch will make.
fn intent(args: &RunArgs, id: &str, run_plan: &RunPlan) -> Result<ContainerState, CliError> {
    let cgroup = run_plan
        .cgroup
        .as_ref()
        .map(Cgroup::planned)
        .transpose()
        .map_err(|error| CliError::Backend(error.into()))?;
    Ok(ContainerState {
        id: id.to_owned(),
        stage: Stage::Creating,
        pid: 0,
        start_time: 0,
        created: state::now_rfc3339(),
        command: args.command.clone(),
        rootfs: args.rootfs.clone(),
        hostname: args.hostname.clone(),
        namespaces: run_plan.namespaces.clone(),
        cgroup,
        interfaces: run_plan.veths.clone(),
        detached: args.detach,
        supervisor: None,
        confinement: run_plan.confinement.clone(),
        oci: None,
        shared_mounts: None,
        written_from: Viewpoint::own(),
    })
}

/// At debug level (`-vv`), what the launch is about to make: the
/// namespaces, the cgroup directories, the veth pairs.
fn log_intent(record: &ContainerState) {
    let namespaces: Vec<&str> = record.namespaces.iter().map(|kind| kind.proc_name()).collect();
    tracing::debug!(id = %record.id, ?namespaces, "new namespaces");
    for dir in record.cgroup.iter().flat_map(|paths| &paths.dirs) {
        tracing::debug!(id = %record.id, path = %dir.path.display(), "cgroup");
    }
    for veth in &record.interfaces {
        tracing::debug!(id = %record.id, host = %veth.host_name, container = %veth.name, "veth pair");
    }
}

/// Launches the container, records its process while it holds before
/// `exec`, then lets it run. On failure nothing of it is left but `entry`,
/// the caller's to remove.
fn start(
    args: &RunArgs,
    mut state: ContainerState,
    run_plan: RunPlan,
    options: Options,
    entry: &Entry,
) -> Result<(Process, ContainerState), CliError> {
    let RunPlan { mut plan, cgroup, .. } = run_plan;
    plan.config.report_timings = timings::enabled();
    let id = state.id.clone();
    tracing::info!(%id, command = ?args.command, "launching");
    // The directories recorded in the intent: made as recorded, without
    // reading the host's layout a second time.
    let mut options = match (cgroup, state.cgroup.clone()) {
        (Some(cgroup), Some(planned)) => options.cgroup_at(cgroup, planned),
        (Some(cgroup), None) => options.cgroup(cgroup),
        (None, _) => options,
    };
    if crash::armed() || timings::enabled() {
        options = options.on_step(at_step);
    }
    state.supervisor = if args.detach {
        None
    } else {
        Supervisor::this_process()
    };
    let process = held::run_recorded(plan, options, &mut state, entry)?;
    timings::child_steps(process.child_timings());
    if let Some(cgroup) = process.cgroup() {
        timings::cgroup_steps(&cgroup.timings());
    }
    crash::point("run: running");
    tracing::info!(%id, pid = state.pid, "running");
    Ok((process, state))
}

/// The launch's step hook: a phase of `--timings`, and where a crash test
/// kills cradle.
fn at_step(step: cradle_core::Step) {
    timings::at_step(step);
    crash::at_step(step);
}

/// Waits for a foreground container, relaying its terminal if it made one
/// (`console`), then removes it; its exit code. `memory` is its memory
/// limit, for the line that says the OOM killer killed it.
fn foreground(
    states: &StateRoot,
    state: &ContainerState,
    process: &mut Process,
    mut signals: Signals,
    console: Option<ConsoleReceiver>,
    memory: Option<u64>,
) -> Result<u8, CliError> {
    let mut terminal = match console.map(Terminal::attach).transpose() {
        Ok(terminal) => terminal,
        Err(error) => {
            // Its output would go nowhere: it does not run unattached.
            let _ = process.terminate();
            remove(states, state);
            return Err(error);
        }
    };
    timings::begin("the command, until it exits");
    let status = supervise::until_exit(process, &mut signals, terminal.as_mut());
    drop(terminal);
    timings::begin("teardown: cgroup and state");
    remove(states, state);
    timings::report(&state.id);
    let status = status?;
    tracing::info!(id = %state.id, %status, "exited");
    // A SIGKILL's 137 alone does not say it was the memory limit.
    if let Some(note) = exit::oom_note(&state.id, status, process.oom_kills(), memory) {
        let _ = writeln!(std::io::stderr(), "cradle: {note}");
    }
    Ok(exit::of_status(status))
}

/// Removes a foreground container once it has exited.
fn remove(states: &StateRoot, state: &ContainerState) {
    // A `delete --force` from elsewhere may have removed it already.
    let removed = states.open(&state.id).and_then(|entry| {
        let mounts = state.shared_mounts.as_ref();
        teardown::remove(state.cgroup.clone(), &state.interfaces, mounts, entry)
    });
    match removed {
        Ok(()) | Err(CliError::NotFound { .. }) => {}
        Err(error) => tracing::warn!(%error, "removing the container"),
    }
}

/// How the container is tied to this `cradle run`.
#[derive(Debug)]
enum Attachment {
    /// `--detach`: nothing is watched once the container runs; a signal
    /// that came during the launch removes it.
    Detached { signals: Signals },
    /// In the foreground: signals are passed on, a terminal relayed (it
    /// comes over `console` once the container has made it).
    Foreground {
        signals: Signals,
        console: Option<ConsoleReceiver>,
    },
}

/// The attachment, and the container's stdio to go with it: detached, or
/// in the foreground with (`tty`) or without a terminal of its own.
fn attach(detach: bool, tty: bool, signals: Signals) -> Result<(Attachment, Options), CliError> {
    if detach {
        // Nobody reads a detached container's output, and it must not keep
        // the caller's pipes open after `run -d` has returned.
        let options = launch_options()
            .stdin(dev_null()?)
            .stdout(dev_null()?)
            .stderr(dev_null()?);
        return Ok((Attachment::Detached { signals }, options));
    }
    if !tty {
        let console = None;
        return Ok((Attachment::Foreground { signals, console }, launch_options()));
    }
    let (receiver, socket) = cradle_linux::console::channel()?;
    let options = launch_options().console_socket(socket);
    let console = Some(receiver);
    Ok((Attachment::Foreground { signals, console }, options))
}

fn dev_null() -> Result<OwnedFd, CliError> {
    let path = "/dev/null";
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(CliError::file(path))?;
    Ok(file.into())
}

/// A random id: 12 hex digits from the kernel's random pool.
fn generate_id() -> Result<String, CliError> {
    let path = "/dev/urandom";
    let mut bytes = [0u8; 6];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(CliError::file(path))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// `cradle run [--bundle DIR] [-d] ID`: the OCI bundle's container,
/// created, started and (in the foreground) waited for and deleted, on the
/// same path as the shell form: intent, launch to the hold, record, start.
fn bundle_run(states: &StateRoot, args: &RunArgs) -> Result<u8, CliError> {
    let shell_only = [
        ("--name", args.name.is_some()),
        ("--rootfs", args.rootfs.is_some()),
        ("--hostname", args.hostname.is_some()),
        ("--ns", args.ns.is_some()),
        ("--net", args.net.is_some()),
        ("--userns", args.userns),
        ("--uid-map", !args.uid_map.is_empty()),
        ("--gid-map", !args.gid_map.is_empty()),
        ("--user", args.user.is_some()),
        ("--env", !args.env.is_empty()),
        ("--cwd", args.cwd.is_some()),
        ("--memory", args.memory.is_some()),
        ("--pids", args.pids.is_some()),
        ("--cpus", args.cpus.is_some()),
        ("--tty", args.tty),
    ];
    if let Some((flag, _)) = shell_only.iter().find(|(_, given)| *given) {
        return Err(CliError::Usage(format!(
            "{flag} belongs to the shell form (`-- CMD`); in the OCI form the bundle's config.json says it"
        )));
    }
    if args.timings {
        timings::enable("arguments");
        timings::begin("the bundle");
    }
    let id = args.id.clone().unwrap_or_default();
    let dir = args
        .bundle
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let crate::bundle::BundlePlan {
        mut plan,
        cgroup,
        prestart,
        record,
        ..
    } = crate::bundle::load(&dir, &id, &Compiler::new(states))?;
    if plan.config.terminal.is_some() && args.detach {
        return Err(CliError::Usage(
            "process.terminal needs a foreground run (or create --console-socket)".to_owned(),
        ));
    }
    plan.timeout = args.timeout;
    // Not the bundle's to say: no field of config.json asks for a reaper.
    plan.config.reaper = args.init;
    plan.config.report_timings = timings::enabled();
    let signals = Signals::block()?;
    timings::begin("the state record");
    let entry = states.create(&id, &record)?;
    crate::device_programs::share(entry.root());
    crash::point("run: intent recorded");
    timings::begin("the launch's options");
    let (attachment, options) = match attach(args.detach, plan.config.terminal.is_some(), signals) {
        Ok(prepared) => prepared,
        Err(error) => {
            let _ = entry.remove();
            return Err(error);
        }
    };
    let mut options = match (cgroup, record.cgroup.clone()) {
        (Some(cgroup), Some(planned)) => options.cgroup_at(cgroup, planned),
        (Some(cgroup), None) => options.cgroup(cgroup),
        (None, _) => options,
    };
    if crash::armed() || timings::enabled() {
        options = options.on_step(at_step);
    }
    let mut state = record;
    state.detached = args.detach;
    state.supervisor = if args.detach {
        None
    } else {
        Supervisor::this_process()
    };
    // With nothing to do between the set-up and the start, the start is
    // given as soon as the process is recorded, as in the shell form.
    let started = if prestart.is_empty() && args.pid_file.is_none() {
        held::run_recorded(plan, options, &mut state, &entry)
    } else {
        (|| {
            let program = plan.config.args.first().cloned().unwrap_or_default();
            let held = held::start_recorded(plan, options, &mut state, Stage::Started, &entry)?;
            if !prestart.is_empty() {
                let document = crate::bundle::document_as(&state, crate::state::Status::Created);
                crate::hooks::run_all("prestart", &prestart, &document)?;
            }
            // Before the start, so that a failure leaves no process behind.
            if let Some(path) = &args.pid_file {
                crate::commands::create::write_pid_file(path, state.pid)?;
            }
            held.start().map_err(|error| exit::launch_error(&program, error))
        })()
    };
    let mut process = match started {
        Ok(process) => process,
        Err(error) => {
            drop(attachment);
            teardown::after_failed_launch(state.shared_mounts.as_ref(), entry);
            return Err(error);
        }
    };
    timings::child_steps(process.child_timings());
    if let Some(cgroup) = process.cgroup() {
        timings::cgroup_steps(&cgroup.timings());
    }
    if let Some(oci) = &state.oci {
        let document = crate::bundle::document_as(&state, crate::state::Status::Running);
        crate::hooks::run_all_warning("poststart", &oci.poststart, &document);
    }
    match attachment {
        Attachment::Detached { .. } => {
            timings::report(&id);
            Ok(0)
        }
        Attachment::Foreground { signals, console } => {
            drop(entry);
            let code = foreground(states, &state, &mut process, signals, console, None)?;
            if let Some(oci) = state.oci.as_ref().filter(|oci| !oci.poststop.is_empty()) {
                let document = crate::bundle::document_as(&state, crate::state::Status::Stopped);
                crate::hooks::run_all_warning("poststop", &oci.poststop, &document);
            }
            Ok(code)
        }
    }
}
