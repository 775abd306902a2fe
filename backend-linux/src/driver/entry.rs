//! One launch under the driver: the core's [`Launch`] and its
//! [`LinuxLaunch`], moved on by readiness instead of blocking waits.

use bytes::Bytes;
use mio::{Interest, Registry, Token};

use cradle_core::backend::Wake;
use cradle_core::driver::execute;
use cradle_core::{Command, CommandError, Event, Launch, LaunchError, Pid, Time};

use super::routes::{Route, Routes};
use super::LaunchId;
use crate::clock;
use crate::error::Error;
use crate::launch::{LinuxLaunch, REAP_BOUND};
use crate::process::Process;

/// What a turn needs of the driver.
pub(super) struct Context<'a> {
    pub(super) registry: &'a Registry,
    pub(super) routes: &'a mut Routes,
    /// Where socket reads land.
    pub(super) buf: &'a mut [u8],
}

/// A launch and what the driver knows of it.
#[derive(Debug)]
pub(super) struct Entry {
    id: LaunchId,
    launch: Launch,
    backend: LinuxLaunch,
    /// The socket's token, while registered.
    socket: Option<Token>,
    /// The socket is registered for `WRITABLE` too.
    writable: bool,
    /// The registered pidfds.
    pidfds: Vec<(Pid, Token)>,
    /// The command in flight, if it has to wait on the child.
    waiting: Option<Waiting>,
    /// An `epoll` failure that made the driver cancel the launch: the
    /// launch's outcome, in place of the cancellation.
    driver_error: Option<Error>,
}

/// A command that waits on the child.
#[derive(Debug)]
enum Waiting {
    /// The part of the config the socket had no room for yet.
    Send(Bytes),
    /// A killed (or exited) process, reaped once its pidfd says it has
    /// exited, failing at `by`.
    Reap { pid: Pid, by: Time },
}

impl Entry {
    pub(super) fn new(id: LaunchId, launch: Launch, backend: LinuxLaunch) -> Entry {
        Entry {
            id,
            launch,
            backend,
            socket: None,
            writable: false,
            pidfds: Vec::new(),
            waiting: None,
            driver_error: None,
        }
    }

    /// When to take a turn if no event comes first.
    pub(super) fn deadline(&self) -> Option<Time> {
        let reap = match self.waiting {
            Some(Waiting::Reap { by, .. }) => Some(by),
            _ => None,
        };
        [self.launch.poll_timeout(), reap].into_iter().flatten().min()
    }

    /// The caller gives up on the launch; the next turn cleans up.
    pub(super) fn cancel(&mut self) {
        self.launch.handle_cancel(clock::now());
    }

    /// Feeds the launch what is ready (the socket, the exit of `exited`, a
    /// passed deadline) and carries out its commands until one has to
    /// wait. The verdict, once the launch has ended.
    pub(super) fn turn(
        &mut self,
        cx: &mut Context<'_>,
        exited: Option<Pid>,
    ) -> Option<Result<Pid, LaunchError>> {
        // The socket first: what a child wrote before it exited is read
        // before its exit is reported, as the blocking driver does.
        self.read(cx.buf);
        if let Some(pid) = exited {
            self.check_exit(pid);
        }
        let now = clock::now();
        if self.launch.poll_timeout().is_some_and(|at| at <= now) {
            self.launch.handle_timeout(now);
        }
        self.run_commands(cx);
        match self.launch.poll_event()? {
            Event::Running { pid } => Some(Ok(pid)),
            Event::Failed(error) => Some(Err(error)),
            // Refused by `Driver::start`: no plan here holds (so none is
            // handed off).
            Event::Held { .. } | Event::Created { .. } => None,
        }
    }

    /// Stops watching the launch's descriptors and hands back its outcome:
    /// the running process, or why the launch failed.
    pub(super) fn finish(
        mut self,
        cx: &mut Context<'_>,
        verdict: Result<Pid, LaunchError>,
    ) -> Result<Process, Error> {
        self.deregister_socket(cx);
        for (pid, token) in std::mem::take(&mut self.pidfds) {
            cx.routes.deregister(cx.registry, self.backend.pidfd(pid), token);
        }
        match (verdict, self.driver_error.take()) {
            (Ok(pid), _) => self.backend.into_process(pid),
            (Err(LaunchError::Cancelled { .. }), Some(error)) => Err(error),
            (Err(error), _) => Err(self.backend.failure(error)),
        }
    }

    /// Reads until the socket has nothing more, while the launch wants it
    /// (mio's readiness is edge-triggered: a read stopped short would not
    /// be signalled again).
    fn read(&mut self, buf: &mut [u8]) {
        while self.launch.wants_read() {
            let Some(wake) = self.backend.try_read(buf) else {
                return;
            };
            let now = clock::now();
            let accepted = match wake {
                Wake::Read(n) => self.launch.handle_read(now, &buf[..n]),
                Wake::Eof => self.launch.handle_eof(now),
                Wake::ReadFailed(error) => self.launch.handle_read_error(now, error),
                // `try_read` reports neither.
                Wake::Exited { .. } | Wake::Deadline => Ok(()),
            };
            debug_assert!(accepted.is_ok(), "the launch wants to read");
        }
    }

    fn check_exit(&mut self, pid: Pid) {
        let now = clock::now();
        let accepted = match self.backend.try_exit(pid) {
            Some(Wake::Exited { pid, status }) => self.launch.handle_exit(now, pid, status),
            // Its status is lost (reaped by someone else): a failed read,
            // as the blocking driver reports it, while that still counts;
            // otherwise the deadline decides.
            Some(Wake::ReadFailed(error)) if self.launch.wants_read() => {
                self.launch.handle_read_error(now, error)
            }
            _ => Ok(()),
        };
        debug_assert!(accepted.is_ok(), "only the launch's own processes are watched");
    }

    /// Carries out commands until one has to wait, or none is due.
    fn run_commands(&mut self, cx: &mut Context<'_>) {
        while self.resume(cx) {
            let Some(command) = self.launch.poll_command() else {
                return;
            };
            match command {
                Command::Send { bytes } => self.waiting = Some(Waiting::Send(bytes)),
                Command::Reap { pid } => {
                    let by = clock::now() + REAP_BOUND;
                    self.waiting = Some(Waiting::Reap { pid, by });
                }
                command => self.execute(cx, &command),
            }
        }
    }

    /// Carries the waiting command on, without blocking: true once none is
    /// waiting any more.
    fn resume(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(waiting) = self.waiting.take() else {
            return true;
        };
        let result = match waiting {
            // A verdict came while the config was stuck in a full socket (a
            // child that does not read it, timed out): the send can no
            // longer matter, and the ending waits on it. (`poll_timeout` is
            // `None` with a command in flight only once a verdict is in.)
            Waiting::Send(_) if self.launch.poll_timeout().is_none() => {
                Err(CommandError::new("send: abandoned, the launch has ended", None))
            }
            Waiting::Send(rest) => match self.backend.try_send(&rest) {
                Ok(n) if n >= rest.len() => Ok(()),
                Ok(n) => {
                    self.waiting = Some(Waiting::Send(rest.slice(n..)));
                    self.set_writable(cx, true);
                    // Unless watching for room failed, which ended the
                    // launch: then the send is abandoned at once.
                    return self.driver_error.is_some() && self.resume(cx);
                }
                Err(error) => Err(error.into()),
            },
            Waiting::Reap { pid, by } => match self.backend.try_reap(pid) {
                Ok(true) => Ok(()),
                // Its pidfd turns readable when it exits: a turn comes then.
                Ok(false) if clock::now() < by => {
                    self.waiting = Some(Waiting::Reap { pid, by });
                    return false;
                }
                Ok(false) => Err(Error::TimedOut {
                    call: "waitid(P_PIDFD)",
                    after: REAP_BOUND,
                }
                .into()),
                Err(error) => Err(error.into()),
            },
        };
        self.set_writable(cx, false);
        let accepted = self.launch.handle_done(clock::now(), result);
        debug_assert!(accepted.is_ok(), "the driver completes the command in flight");
        true
    }

    /// Carries out a command that does not wait on the child. Some block
    /// for a bounded, short time: see the module docs of the driver.
    fn execute(&mut self, cx: &mut Context<'_>, command: &Command) {
        if *command == Command::Close {
            self.deregister_socket(cx);
        }
        let result = execute(&mut self.backend, command, self.launch.deadline());
        let now = clock::now();
        let accepted = match result {
            Ok(Some(pid)) => {
                let accepted = self.launch.handle_spawned(now, pid);
                self.register_socket(cx);
                self.register_pidfd(cx, pid);
                accepted
            }
            Ok(None) => {
                if let Command::Adopt { pid, .. } = command {
                    self.register_pidfd(cx, *pid);
                }
                self.launch.handle_done(now, Ok(()))
            }
            Err(error) => self.launch.handle_done(now, Err(error)),
        };
        debug_assert!(accepted.is_ok(), "the driver completes the command in flight");
    }

    fn register_socket(&mut self, cx: &mut Context<'_>) {
        let Some(socket) = self.backend.socket() else {
            return;
        };
        let route = Route::Socket(self.id);
        match cx.routes.register(cx.registry, socket, Interest::READABLE, route) {
            Ok(token) => self.socket = Some(token),
            Err(error) => self.fail(error),
        }
    }

    fn register_pidfd(&mut self, cx: &mut Context<'_>, pid: Pid) {
        let Some(pidfd) = self.backend.pidfd(pid) else {
            return;
        };
        let route = Route::Pidfd(self.id, pid);
        match cx.routes.register(cx.registry, pidfd, Interest::READABLE, route) {
            Ok(token) => self.pidfds.push((pid, token)),
            Err(error) => self.fail(error),
        }
    }

    /// Watches the socket for room to write too, or no longer.
    fn set_writable(&mut self, cx: &mut Context<'_>, writable: bool) {
        let (Some(token), Some(socket)) = (self.socket, self.backend.socket()) else {
            return;
        };
        if self.writable == writable {
            return;
        }
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        match Routes::reregister(cx.registry, socket, token, interest) {
            Ok(()) => self.writable = writable,
            Err(error) => self.fail(error),
        }
    }

    fn deregister_socket(&mut self, cx: &mut Context<'_>) {
        if let Some(token) = self.socket.take() {
            cx.routes.deregister(cx.registry, self.backend.socket(), token);
        }
    }

    /// The driver cannot watch this launch: cancel it (its ending cleans
    /// up) and report `error` as its outcome.
    fn fail(&mut self, error: Error) {
        self.driver_error.get_or_insert(error);
        self.launch.handle_cancel(clock::now());
    }
}
