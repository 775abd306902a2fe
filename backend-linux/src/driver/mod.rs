//! Many launches on one thread: a non-blocking driver on `mio`.
//!
//! [`Driver`] runs the core's [`Launch`] machine of each launch over its
//! [`LinuxLaunch`], like [`cradle_core::driver::drive`], but it never
//! blocks on a child: each launch's socket and pidfds are registered with
//! one `epoll` instance, and readiness feeds the machines. The socket is
//! read until it has nothing more, the config is written as far as the
//! socket has room and resumed when it has more, a process is reaped when
//! its pidfd says it has exited, and the poll's timeout is the nearest
//! deadline of all launches. Running processes handed to
//! [`watch`](Driver::watch) are waited on the same way. There is no
//! `SIGCHLD` handler and no polling loop: a pidfd turns readable when its
//! process exits, whenever that is.
//!
//! # The run loop
//!
//! ```
//! use std::time::Duration;
//!
//! use cradle_core::{Config, Plan};
//! use cradle_linux::driver::{Driver, Event};
//! use cradle_linux::{Error, Options};
//!
//! fn run_all(plans: Vec<Plan>) -> Result<(), Error> {
//!     let mut driver = Driver::new()?;
//!     for plan in plans {
//!         // Fails only for a plan or options refused before anything
//!         // was made; every other outcome is an event.
//!         driver.start(plan, Options::new())?;
//!     }
//!     while !driver.is_idle() {
//!         // Waits for the next readiness, at most until the nearest
//!         // launch deadline (or a second, for the caller's own timers).
//!         for event in driver.poll(Some(Duration::from_secs(1)))? {
//!             match event {
//!                 Event::Launched { result: Ok(process), .. } => {
//!                     // Running: wait for its exit on the same thread.
//!                     driver.watch(process);
//!                 }
//!                 Event::Launched { id, result: Err(error) } => eprintln!("{id:?}: {error}"),
//!                 Event::Exited { process, status, .. } => {
//!                     println!("{} ended: {status:?}", process.pid());
//!                     if let Some(cgroup) = process.cgroup() {
//!                         cgroup.destroy()?;
//!                     }
//!                 }
//!                 _ => {}
//!             }
//!         }
//!     }
//!     Ok(())
//! }
//! # run_all(Vec::new()).expect("nothing to run");
//! ```
//!
//! # What blocks, and for how long
//!
//! Only waits on the child are driven by readiness: reading its replies,
//! writing its config, learning of and reaping its exit. The other
//! commands run inline, each bounded and short:
//!
//! - spawn: one `clone3` (the new namespaces make it tens to hundreds of
//!   microseconds); the thread does not wait for the child's `exec`.
//! - the cgroup: `mkdir`, limit files and opens of the v1 `tasks` files
//!   in cgroupfs (the init joins those itself: a write of its pid would
//!   wait for an RCU grace period, about 8 ms, after the machine was
//!   idle); destroying it kills what is left and waits
//!   for it to empty, within [`DESTROY_BOUND`](crate::cgroup::DESTROY_BOUND),
//!   though after the launch has reaped its processes it is one `rmdir` per
//!   hierarchy.
//! - id maps: three small writes under `/proc/<pid>`.
//! - release, half-close, kill, close: one syscall each.
//! - network interfaces: one netlink request and its acknowledgement each.
//! - adopting a setns process: `pidfd_open` and a `/proc` read.
//!
//! # A verdict while the config is stuck
//!
//! A child that does not read its config can leave it half-written in a
//! full socket. When the launch reaches its verdict meanwhile (its deadline
//! passes, most often), the driver abandons the send and reports it failed:
//! the core was holding its ending until that command completed, and then
//! kills and reaps the child, removes what was made and closes the socket.
//!
//! Dropping the driver drops its launches, which kills and reaps their
//! processes and destroys their cgroups ([`LinuxLaunch`]'s drop), and the
//! watched processes, which like [`std::process::Child`] are neither killed
//! nor reaped.

mod entry;
mod routes;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};

use cradle_core::{ExitStatus, Launch, Pid, Plan};

use self::entry::{Context, Entry};
use self::routes::{kernel_error, Route, Routes};
use crate::clock;
use crate::error::Error;
use crate::launch::LinuxLaunch;
use crate::options::Options;
use crate::process::{check_options, Process};

/// How many readiness events one poll takes in.
const EVENTS_PER_POLL: usize = 1024;

/// A launch started by [`Driver::start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LaunchId(u64);

/// A process handed to [`Driver::watch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchId(u64);

/// What [`Driver::poll`] reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A launch ended: its process reached `exec` and is running (it is
    /// the caller's to wait on, with [`Driver::watch`] or by itself), or the
    /// launch failed and released everything it had made.
    Launched {
        /// Which launch.
        id: LaunchId,
        /// The running process, or why the launch failed.
        result: Result<Process, Error>,
    },
    /// A watched process exited and was reaped, or waiting on it failed.
    Exited {
        /// Which watch.
        id: WatchId,
        /// The process: reaped when `status` is `Ok`; its cgroup, if any,
        /// is still the caller's to destroy.
        process: Process,
        /// How it ended.
        status: Result<ExitStatus, Error>,
    },
}

/// Launches and running processes, moved on by readiness on one thread.
///
/// See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Driver {
    poll: Poll,
    events: Events,
    routes: Routes,
    launches: HashMap<LaunchId, Entry>,
    watches: HashMap<WatchId, Watched>,
    next_id: u64,
    /// Events that came about outside [`poll`](Driver::poll), returned by
    /// the next one.
    ready: Vec<Event>,
    buf: Vec<u8>,
}

/// A watched process and its pidfd's token.
#[derive(Debug)]
struct Watched {
    process: Process,
    token: Token,
}

impl Driver {
    /// A driver with nothing to do yet.
    pub fn new() -> Result<Driver, Error> {
        Ok(Driver {
            poll: Poll::new().map_err(|error| kernel_error("epoll_create1", error))?,
            events: Events::with_capacity(EVENTS_PER_POLL),
            routes: Routes::default(),
            launches: HashMap::new(),
            watches: HashMap::new(),
            next_id: 0,
            ready: Vec::new(),
            buf: vec![0; cradle_core::driver::READ_CHUNK],
        })
    }

    /// Starts a launch of `plan`, carrying out its first commands (the
    /// spawn among them) until it has to wait on the child. Fails only when
    /// the plan or the options are refused before anything is made; every
    /// later outcome comes as an [`Event::Launched`].
    ///
    /// The options' requirements are those of [`Process::start`]. A plan
    /// that holds before `exec` is refused: the driver has no step at which
    /// its caller records the process (use [`Process::start_held`]).
    pub fn start(&mut self, plan: Plan, options: Options) -> Result<LaunchId, Error> {
        check_options(&plan, &options)?;
        if plan.config.hold {
            return Err(Error::Options {
                reason: "the driver does not hold a process before exec; use Process::start_held",
            });
        }
        let launch = Launch::new(plan, clock::now())?;
        let backend = LinuxLaunch::new(options)?;
        let id = LaunchId(self.next_id());
        self.launches.insert(id, Entry::new(id, launch, backend));
        let mut ready = std::mem::take(&mut self.ready);
        self.turn(id, None, &mut ready);
        self.ready = ready;
        Ok(id)
    }

    /// Gives up on launch `id`: it fails as cancelled, after cleaning up,
    /// at the next [`poll`](Driver::poll). False if it is not in progress.
    pub fn cancel(&mut self, id: LaunchId) -> bool {
        let Some(entry) = self.launches.get_mut(&id) else {
            return false;
        };
        entry.cancel();
        let mut ready = std::mem::take(&mut self.ready);
        self.turn(id, None, &mut ready);
        self.ready = ready;
        true
    }

    /// Waits for `process` to exit, on this thread: an [`Event::Exited`]
    /// hands it back, reaped. (Should its pidfd not be watchable, that
    /// event comes at once, with the error.)
    pub fn watch(&mut self, process: Process) -> WatchId {
        let id = WatchId(self.next_id());
        let registered = self.routes.register(
            self.poll.registry(),
            process.as_fd(),
            Interest::READABLE,
            Route::Watch(id),
        );
        match registered {
            Ok(token) => {
                self.watches.insert(id, Watched { process, token });
            }
            Err(error) => self.ready.push(Event::Exited {
                id,
                process,
                status: Err(error),
            }),
        }
        id
    }

    /// Stops waiting for a watched process, and hands it back.
    pub fn unwatch(&mut self, id: WatchId) -> Option<Process> {
        let watched = self.watches.remove(&id)?;
        let fd = Some(watched.process.as_fd());
        self.routes.deregister(self.poll.registry(), fd, watched.token);
        Some(watched.process)
    }

    /// Launches in progress.
    pub fn launches(&self) -> usize {
        self.launches.len()
    }

    /// Processes being watched.
    pub fn watches(&self) -> usize {
        self.watches.len()
    }

    /// Nothing in progress, watched or left to report: a
    /// [`poll`](Driver::poll) would return at once, with nothing.
    pub fn is_idle(&self) -> bool {
        self.launches.is_empty() && self.watches.is_empty() && self.ready.is_empty()
    }

    /// Waits until something is ready, the nearest launch deadline passes
    /// or `timeout` does (`None`: no bound of the caller's), moves the
    /// launches on, and returns what ended. Returns at once when idle.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Vec<Event>, Error> {
        let mut ended = std::mem::take(&mut self.ready);
        if self.launches.is_empty() && self.watches.is_empty() {
            return Ok(ended);
        }
        let wait = if ended.is_empty() {
            [timeout, self.timeout()].into_iter().flatten().min()
        } else {
            Some(Duration::ZERO)
        };
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            // A signal: no event, but the deadlines are still checked.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(kernel_error("epoll_wait", error)),
        }
        let tokens: Vec<Token> = self.events.iter().map(mio::event::Event::token).collect();
        for token in tokens {
            match self.routes.route(token) {
                Some(Route::Socket(id)) => self.turn(id, None, &mut ended),
                Some(Route::Pidfd(id, pid)) => self.turn(id, Some(pid), &mut ended),
                Some(Route::Watch(id)) => self.reap_watched(id, &mut ended),
                // Deregistered earlier in this batch.
                None => {}
            }
        }
        let now = clock::now();
        let due: Vec<LaunchId> = self
            .launches
            .iter()
            .filter(|(_, entry)| entry.deadline().is_some_and(|deadline| deadline <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            self.turn(id, None, &mut ended);
        }
        Ok(ended)
    }

    /// How long until the nearest launch deadline (`None`: there is
    /// none), for a caller that nests the driver in an event loop of its
    /// own: it waits for the driver's descriptor (see [`AsRawFd`]) to turn
    /// readable or for this long, then calls
    /// [`poll`](Driver::poll)`(Some(Duration::ZERO))`.
    pub fn timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        let now = clock::now();
        self.launches
            .values()
            .filter_map(Entry::deadline)
            .min()
            .map(|deadline| deadline.saturating_since(now))
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Moves launch `id` on; once it has ended, removes it and reports it.
    fn turn(&mut self, id: LaunchId, exited: Option<Pid>, ended: &mut Vec<Event>) {
        let Some(entry) = self.launches.get_mut(&id) else {
            return;
        };
        let mut cx = Context {
            registry: self.poll.registry(),
            routes: &mut self.routes,
            buf: &mut self.buf,
        };
        let Some(verdict) = entry.turn(&mut cx, exited) else {
            return;
        };
        if let Some(entry) = self.launches.remove(&id) {
            let result = entry.finish(&mut cx, verdict);
            ended.push(Event::Launched { id, result });
        }
    }

    /// Reaps watched process `id` if it has exited, and reports it.
    fn reap_watched(&mut self, id: WatchId, ended: &mut Vec<Event>) {
        let Some(watched) = self.watches.get_mut(&id) else {
            return;
        };
        let status = match watched.process.try_wait() {
            // Its pidfd only turns readable at exit; nothing to do before.
            Ok(None) => return,
            Ok(Some(status)) => Ok(status),
            Err(error) => Err(error),
        };
        if let Some(process) = self.unwatch(id) {
            ended.push(Event::Exited { id, process, status });
        }
    }
}

impl AsRawFd for Driver {
    /// The `epoll` descriptor, readable while something is ready for
    /// [`poll`](Driver::poll).
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use cradle_core::{Config, ConfigError};

    use super::*;

    #[test]
    fn an_idle_driver_returns_at_once() {
        let mut driver = Driver::new().expect("driver");
        assert!(driver.is_idle());
        let started = std::time::Instant::now();
        let events = driver.poll(None).expect("poll");
        assert!(events.is_empty());
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_refused_plan_starts_nothing() {
        let mut driver = Driver::new().expect("driver");
        let plan = Plan::init(Config::new(Vec::<String>::new()));
        let refused = driver.start(plan, Options::new());
        assert!(
            matches!(refused, Err(Error::Config(ConfigError::NoCommand))),
            "{refused:?}"
        );
        assert!(driver.is_idle());
        assert_eq!((driver.launches(), driver.watches()), (0, 0));
    }

    #[test]
    fn drivers_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Driver>();
        assert_send::<Event>();
    }
}
