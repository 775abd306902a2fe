//! Launching and waiting on containers from tokio, on one thread.
//!
//! The async adapter below ([`start`], [`wait`]) runs the core's
//! [`Launch`] over a [`LinuxLaunch`] as the blocking driver does, but waits
//! through tokio's [`AsyncFd`] on the launch's own socket and pidfds, so
//! that many launches share one thread. cradle itself depends on no async
//! runtime: this is all the glue there is.
//!
//! Run as root (it creates namespaces): `cargo run -p cradle-linux --example
//! tokio`. It runs a mix of launches at once, checks that each ends as it
//! should, and prints what it saw.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

use cradle_core::backend::Wake;
use cradle_core::driver::{execute, READ_CHUNK};
use cradle_core::{
    ChildStep, Command, CommandError, Config, Event, ExitStatus, Launch, LaunchError, NamespaceKind, Pid,
    Plan, Step, Time,
};
use cradle_linux::{clock, Error, LinuxLaunch, Options, Process};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::task::JoinSet;

/// The child stalls at its `cwd` step when its environment has this.
const STALL: &str = "EXAMPLE_STALL=1";
/// How long reaping a killed process may take.
const REAP_BOUND: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    // This program is its containers' init binary too.
    cradle_linux::init_with_hook(|step, config| {
        if step == ChildStep::Cwd && config.env.iter().any(|entry| entry == STALL) {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the example creates namespaces: run it as root");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let failures = runtime.block_on(run_mix());
    if failures == 0 {
        println!("all launches ended as expected");
        ExitCode::SUCCESS
    } else {
        println!("{failures} launches ended otherwise than expected");
        ExitCode::FAILURE
    }
}

/// What one launch of the mix should end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Exits(i32),
    ChildFails(ChildStep),
    TimesOut(Step),
}

/// Runs the mix concurrently on this thread; how many ended otherwise.
async fn run_mix() -> usize {
    let mix = (0..12)
        .map(|_| Expect::Exits(0))
        .chain([Expect::Exits(3), Expect::Exits(3)])
        .chain([Expect::ChildFails(ChildStep::Exec)])
        .chain([Expect::TimesOut(Step::AwaitReady)]);
    let mut tasks = JoinSet::new();
    for (index, expect) in mix.enumerate() {
        tasks.spawn(async move {
            let outcome = launch_and_wait(expect).await;
            let ok = matches!(
                (expect, &outcome),
                (Expect::Exits(code), Ok(status)) if *status == ExitStatus::Exited(code)
            ) || matches!(
                (expect, &outcome),
                (Expect::ChildFails(step), Err(Error::Launch(LaunchError::Child { error, .. })))
                    if error.step == step
            ) || matches!(
                (expect, &outcome),
                (Expect::TimesOut(step), Err(Error::Launch(LaunchError::TimedOut { step: at, .. })))
                    if *at == step
            );
            match &outcome {
                Ok(status) => println!("launch {index}: ran, {status} (expected {expect:?})"),
                Err(error) => println!("launch {index}: {error} (expected {expect:?})"),
            }
            ok
        });
    }
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        if !joined.unwrap_or(false) {
            failures += 1;
        }
    }
    failures
}

async fn launch_and_wait(expect: Expect) -> Result<ExitStatus, Error> {
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = [NamespaceKind::Pid, NamespaceKind::Mount, NamespaceKind::Uts]
        .map(cradle_core::Namespace::new)
        .to_vec();
    let mut plan = Plan::init(config);
    match expect {
        Expect::Exits(0) => {}
        Expect::Exits(code) => {
            plan.config.args = vec!["/bin/sh".into(), "-c".into(), format!("exit {code}")];
        }
        Expect::ChildFails(_) => plan.config.args = vec!["/no/such/command".into()],
        Expect::TimesOut(_) => {
            plan.config.env.push(STALL.into());
            plan.timeout = Duration::from_secs(1);
        }
    }
    let mut process = start(plan, Options::new()).await?;
    wait(&mut process).await
}

/// Runs a launch of `plan` to its end: the running process, or why the
/// launch failed (after it released everything it made).
async fn start(plan: Plan, options: Options) -> Result<Process, Error> {
    let mut launch = Launch::new(plan, clock::now())?;
    let mut backend = LinuxLaunch::new(options)?;
    let mut fds = Watched::default();
    let mut buf = vec![0; READ_CHUNK];
    loop {
        // 1. Carry out commands; the ones that wait on the child await.
        while let Some(command) = launch.poll_command() {
            let result = match &command {
                Command::Send { bytes } => send(&mut launch, &mut backend, &fds, bytes).await.map(|()| None),
                Command::Reap { pid } => reap(&mut backend, &fds, *pid).await.map(|()| None),
                // Unwatch the socket before it closes.
                Command::Close => {
                    fds.socket = None;
                    execute(&mut backend, &command, launch.deadline())
                }
                command => execute(&mut backend, command, launch.deadline()),
            };
            let now = clock::now();
            let accepted = match result {
                Ok(Some(pid)) => {
                    let accepted = launch.handle_spawned(now, pid);
                    fds.watch_socket(&backend)?;
                    fds.watch_pidfd(&backend, pid)?;
                    accepted
                }
                Ok(None) => {
                    if let Command::Adopt { pid, .. } = command {
                        fds.watch_pidfd(&backend, pid)?;
                    }
                    launch.handle_done(now, Ok(()))
                }
                Err(error) => launch.handle_done(now, Err(error)),
            };
            debug_assert!(accepted.is_ok(), "the adapter completes the command in flight");
        }
        // 2. The terminal event ends the launch.
        match launch.poll_event() {
            Some(Event::Running { pid }) => {
                drop(fds);
                return backend.into_process(pid);
            }
            Some(Event::Failed(error)) => return Err(error.into()),
            // Only after a hand-off, which this example never asks for.
            Some(Event::Created { .. }) => {
                return Err(Error::OutOfOrder {
                    reason: "a hand-off nobody asked for",
                })
            }
            // A caller that records its containers would do so here,
            // before it lets the process `exec`.
            Some(Event::Held { .. }) => {
                launch.handle_start(clock::now()).map_err(|_| Error::OutOfOrder {
                    reason: "start of a launch that is not held",
                })?;
                continue;
            }
            None => {}
        }
        // 3. Wait for the socket, an exit or the deadline, and report it.
        let wants_read = launch.wants_read();
        let timeout = launch.poll_timeout();
        let wake = tokio::select! {
            read = read(&fds, &backend, &mut buf), if wants_read => read,
            pid = fds.exited() => {
                // Readable for good now: whatever its status says, stop
                // watching it.
                fds.exit_seen(pid);
                backend.try_exit(pid)
            }
            () = sleep_until(timeout) => Some(Wake::Deadline),
        };
        let now = clock::now();
        let accepted = match wake {
            Some(Wake::Read(n)) => launch.handle_read(now, &buf[..n]),
            Some(Wake::Eof) => launch.handle_eof(now),
            Some(Wake::ReadFailed(error)) if launch.wants_read() => launch.handle_read_error(now, error),
            Some(Wake::Exited { pid, status }) => launch.handle_exit(now, pid, status),
            Some(Wake::Deadline) => {
                launch.handle_timeout(now);
                Ok(())
            }
            Some(Wake::ReadFailed(_)) | None => Ok(()),
        };
        debug_assert!(accepted.is_ok(), "the adapter reports only this launch's input");
    }
}

/// Waits for `process` to exit, and reaps it.
async fn wait(process: &mut Process) -> Result<ExitStatus, Error> {
    let pidfd = register(process.as_fd())?;
    loop {
        let mut ready = pidfd.readable().await.map_err(epoll_error)?;
        if let Some(status) = process.try_wait()? {
            return Ok(status);
        }
        ready.clear_ready();
    }
}

/// Writes all of `bytes` as the socket makes room for them. Gives up, as
/// failed, if the launch reaches its verdict meanwhile (its deadline, with
/// a child that does not read).
async fn send(
    launch: &mut Launch,
    backend: &mut LinuxLaunch,
    fds: &Watched,
    mut bytes: &[u8],
) -> Result<(), CommandError> {
    let socket = fds
        .socket
        .as_ref()
        .ok_or_else(|| CommandError::new("send before spawn", None))?;
    while !bytes.is_empty() {
        let written = backend.try_send(bytes)?;
        bytes = &bytes[written..];
        if bytes.is_empty() {
            break;
        }
        tokio::select! {
            ready = socket.writable() => ready.map_err(epoll_error)?.clear_ready(),
            () = sleep_until(launch.poll_timeout()) => launch.handle_timeout(clock::now()),
        }
        // No timeout once a verdict is in: the launch waits for this send.
        if launch.poll_timeout().is_none() {
            return Err(CommandError::new("send: abandoned, the launch has ended", None));
        }
    }
    Ok(())
}

/// Reaps `pid` once its pidfd says it has exited, within [`REAP_BOUND`].
async fn reap(backend: &mut LinuxLaunch, fds: &Watched, pid: Pid) -> Result<(), CommandError> {
    let bound = tokio::time::Instant::now() + REAP_BOUND;
    loop {
        if backend.try_reap(pid)? {
            return Ok(());
        }
        let pidfd = fds
            .pidfd(pid)
            .ok_or_else(|| CommandError::new("reap of an unwatched process", None))?;
        tokio::select! {
            ready = pidfd.readable() => drop(ready.map_err(epoll_error)?),
            () = tokio::time::sleep_until(bound) => {
                return Err(Error::TimedOut { call: "waitid(P_PIDFD)", after: REAP_BOUND }.into());
            }
        }
    }
}

/// Reads what the socket has, once it has something.
async fn read(fds: &Watched, backend: &LinuxLaunch, buf: &mut [u8]) -> Option<Wake> {
    let socket = fds.socket.as_ref()?;
    let read = socket.async_io(Interest::READABLE, |_| {
        backend
            .try_read(buf)
            .ok_or_else(|| io::ErrorKind::WouldBlock.into())
    });
    match read.await {
        Ok(wake) => Some(wake),
        Err(error) => Some(Wake::ReadFailed(epoll_error(error).into())),
    }
}

/// Until `deadline` on cradle's clock; forever without one.
async fn sleep_until(deadline: Option<Time>) {
    match deadline {
        Some(deadline) => {
            let left = deadline.saturating_since(clock::now());
            tokio::time::sleep_until(tokio::time::Instant::now() + left).await;
        }
        None => std::future::pending().await,
    }
}

/// The launch's descriptors as tokio watches them: each a duplicate of the
/// launch's own (the same socket, the same pidfd), owned by its `AsyncFd`.
#[derive(Default)]
struct Watched {
    socket: Option<AsyncFd<OwnedFd>>,
    /// Pidfds of processes whose exit has not been seen yet.
    pidfds: Vec<(Pid, AsyncFd<OwnedFd>)>,
}

impl Watched {
    fn watch_socket(&mut self, backend: &LinuxLaunch) -> Result<(), Error> {
        if let Some(socket) = backend.socket() {
            self.socket = Some(register(socket)?);
        }
        Ok(())
    }

    fn watch_pidfd(&mut self, backend: &LinuxLaunch, pid: Pid) -> Result<(), Error> {
        if let Some(pidfd) = backend.pidfd(pid) {
            self.pidfds.push((pid, register(pidfd)?));
        }
        Ok(())
    }

    fn pidfd(&self, pid: Pid) -> Option<&AsyncFd<OwnedFd>> {
        self.pidfds.iter().find(|(p, _)| *p == pid).map(|(_, fd)| fd)
    }

    /// A pidfd stays readable once its process has exited: stop watching it.
    fn exit_seen(&mut self, pid: Pid) {
        self.pidfds.retain(|(p, _)| *p != pid);
    }

    /// The first watched process whose pidfd is readable (it has exited);
    /// never, with none watched.
    async fn exited(&self) -> Pid {
        poll_fn(|cx| {
            for (pid, pidfd) in &self.pidfds {
                if pidfd.poll_read_ready(cx).is_ready() {
                    return Poll::Ready(*pid);
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// `fd`, duplicated and registered with tokio's reactor.
fn register(fd: BorrowedFd<'_>) -> Result<AsyncFd<OwnedFd>, Error> {
    let fd = fd
        .try_clone_to_owned()
        .map_err(|error| syscall_error("fcntl(F_DUPFD_CLOEXEC)", error))?;
    // SAFETY: the `AsyncFd` owns the `OwnedFd`, so the descriptor stays
    // open, and names the same file description, for as long as it lives.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
        .map_err(|error| syscall_error("epoll_ctl", error.into()))
}

fn epoll_error(error: io::Error) -> Error {
    syscall_error("epoll_wait", error)
}

fn syscall_error(call: &'static str, error: io::Error) -> Error {
    Error::Syscall { call, source: error }
}
