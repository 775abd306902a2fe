//! Launches and waits without blocking a thread, for programs on tokio
//! (feature `tokio`): the core's [`Launch`] runs over a [`LinuxLaunch`] as
//! the blocking driver runs it, but every wait on the child (its replies,
//! the room to write its config, its exit) is a readiness of tokio's
//! reactor on the launch's own socket and pidfds, so that many launches
//! share one task. A launch future dropped before it is done drops its
//! `LinuxLaunch`, which kills, reaps and removes what it made.
//!
//! [`command::Command::spawn_async`](crate::command::Command::spawn_async)
//! and [`command::Child::wait_async`](crate::command::Child::wait_async)
//! are built on these.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::Poll;
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use cradle_core::backend::Wake;
use cradle_core::driver::{execute, READ_CHUNK};
use cradle_core::{Command, CommandError, Event, ExitStatus, Launch, Pid, Plan, Time};
use nix::errno::Errno;

use crate::{clock, Error, LinuxLaunch, Options, Process};

/// How long reaping a killed process may take.
const REAP_BOUND: Duration = Duration::from_secs(2);

/// Runs a launch of `plan` to its end: the running process, or why the
/// launch failed (after it released everything it made).
pub async fn start(plan: Plan, options: Options) -> Result<Process, Error> {
    crate::process::check_options(&plan, &options)?;
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
            // Only after a hand-off, which these launches never ask for.
            Some(Event::Created { .. }) => {
                return Err(Error::OutOfOrder {
                    reason: "a hand-off nobody asked for",
                })
            }
            // A plan that holds is started at once: a caller that records
            // its containers first holds with the blocking API.
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
        let wake = ::tokio::select! {
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

/// Waits for `process` to end, as [`Process::wait`] does.
pub async fn wait(process: &mut Process) -> Result<ExitStatus, Error> {
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
        ::tokio::select! {
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
    let bound = ::tokio::time::Instant::now() + REAP_BOUND;
    loop {
        if backend.try_reap(pid)? {
            return Ok(());
        }
        let pidfd = fds
            .pidfd(pid)
            .ok_or_else(|| CommandError::new("reap of an unwatched process", None))?;
        ::tokio::select! {
            ready = pidfd.readable() => drop(ready.map_err(epoll_error)?),
            () = ::tokio::time::sleep_until(bound) => {
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
            ::tokio::time::sleep_until(::tokio::time::Instant::now() + left).await;
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
        .map_err(|error| syscall_error("fcntl(F_DUPFD_CLOEXEC)", &error))?;
    // SAFETY: the `AsyncFd` owns the `OwnedFd`, so the descriptor stays
    // open, and names the same file description, for as long as it lives.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
        .map_err(|error| syscall_error("epoll_ctl", &error.into()))
}

fn epoll_error(error: io::Error) -> Error {
    syscall_error("epoll_wait", &error)
}

fn syscall_error(call: &'static str, error: &io::Error) -> Error {
    Error::syscall(call)(Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))
}

/// Reads `file` (a pipe), if any, to its end without blocking the thread.
pub(crate) async fn read_to_end(file: Option<std::fs::File>) -> Result<Vec<u8>, Error> {
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    let fd = OwnedFd::from(file);
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
        .map_err(Error::syscall("fcntl(O_NONBLOCK) of an output pipe"))?;
    // SAFETY: the `AsyncFd` owns the `OwnedFd`, so the descriptor stays
    // open, and names the same pipe, for as long as it is registered.
    let pipe = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
        .map_err(|error| syscall_error("epoll_ctl", &error.into()))?;
    let mut read = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let got = pipe
            .async_io(Interest::READABLE, |fd| {
                nix::unistd::read(fd, &mut buf).map_err(io::Error::from)
            })
            .await;
        match got {
            Ok(0) => return Ok(read),
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(syscall_error("read of an output pipe", &error)),
        }
    }
}
