//! The child side: the role of a process started as a container's init
//! or a setns helper, taken before `main` by this crate's constructor
//! ([`before_main`]), or in `main` by [`init_with_hook`] in a program that
//! declared [`init_in_main!`](crate::init_in_main) ([`in_main`] checks it
//! is taken soundly).
//!
//! The child receives its config over the launch socket, sets itself up
//! in the order the config's fields are listed, reports `ready` and `exec`s
//! the command; any failure is reported as an `error` naming the step and
//! errno, and the child exits non-zero. With a reaper, the child forks at
//! the `exec` point and stays behind as pid 1 ([`reaper`]).
//!
//! In its setns role ([`setns`]) the init binary is first the helper that
//! joins a running container and forks the process, which then does the
//! same, without the container's own steps.

mod before_main;
mod cgroup_mount;
mod cgroups;
mod confine;
mod console;
mod devices;
mod exec;
mod hooks;
mod in_main;
mod in_root;
mod mount_options;
mod mount_table;
mod mounts;
pub(crate) mod network;
mod paths;
mod proc_files;
mod reaper;
mod setns;
mod setup;
mod step_timer;

use std::ffi::OsString;
use std::io::{IoSliceMut, Write as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags};
use nix::unistd;

use cradle_core::framing::encode_to_bytes;
use cradle_core::{ChildError, ChildEvent, ChildHandshake, ChildStep, Config, Limits, Message};

pub use self::before_main::leave_role_to_main;
use self::exec::Command;
pub(crate) use self::in_main::role_not_taken;
use self::step_timer::StepTimer;
use crate::spawn::{INIT_ENV, SETNS_ENV};

/// The most descriptors the parent sends with the config: one `tasks`
/// file a cgroup v1 hierarchy (a kernel has fewer than 16 controllers).
pub(crate) const MAX_SENT_FDS: usize = 32;

/// How the init exits when set-up failed (after reporting why).
const EXIT_SETUP_FAILED: i32 = 1;
/// How the init exits when it cannot even talk to the parent.
const EXIT_NO_LINK: i32 = 2;
/// How the init exits when its parent went away: while it was held after
/// `ready` (nothing failed, but its command must not run unrecorded), or
/// before a child born among others had armed its parent-death signal.
const EXIT_ABANDONED: i32 = 124;

/// Kept for compatibility: does nothing, as the role is taken before
/// `main` (see below).
///
/// A process started as a container's init or as a setns helper takes
/// that role in this crate's constructor, which runs before `main` in
/// every program that links the crate, while the process has one thread;
/// it never gets to `main`. Anywhere else, nothing happens. (In a program
/// that declared [`init_in_main!`](crate::init_in_main), this takes the
/// role, as [`init_with_hook`] does.)
pub fn init() {
    init_with_hook(|_, _| {});
}

/// Takes the role, calling `hook` with each set-up step before the child
/// runs it (and with [`ChildStep::Exec`] after `ready`, just before
/// `exec`), in a program that declared
/// [`init_in_main!`](crate::init_in_main) (in any other, the role was
/// taken before `main`, and this does nothing): for tracing, or for tests
/// that make the child stall at a given step. A setns helper, which has
/// no config, passes an empty one with [`ChildStep::Setns`],
/// [`ChildStep::Fork`] and, after its fork, [`ChildStep::Report`].
///
/// In either role it never returns: it `exec`s the container's command or
/// exits non-zero after reporting why it could not. A process that has
/// more than one thread by then is refused the role (its launch fails
/// with an error saying so).
pub fn init_with_hook(hook: impl FnMut(ChildStep, &Config)) {
    let Some(role) = Role::from_env() else {
        return;
    };
    let refusal = in_main::refusal_if_threaded(role.first_step());
    role.take(hook, refusal)
}

/// The role this process was started for, by the variable its launcher
/// set.
#[derive(Debug)]
enum Role {
    /// A container's init, with the value of [`INIT_ENV`].
    Init(OsString),
    /// A setns helper, with the value of [`SETNS_ENV`].
    Setns(OsString),
}

impl Role {
    /// The role the environment names, if any.
    fn from_env() -> Option<Role> {
        if let Some(value) = std::env::var_os(SETNS_ENV) {
            return Some(Role::Setns(value));
        }
        std::env::var_os(INIT_ENV).map(Role::Init)
    }

    /// The step at which the role can first report an error.
    fn first_step(&self) -> ChildStep {
        match self {
            Role::Init(_) => ChildStep::Config,
            Role::Setns(_) => ChildStep::Setns,
        }
    }

    /// Takes the role; with a `refusal`, only to report it, and exit.
    fn take(self, hook: impl FnMut(ChildStep, &Config), refusal: Option<ChildError>) -> ! {
        let value = match self {
            Role::Setns(value) => setns::run(&value, hook, refusal),
            Role::Init(value) => value,
        };
        let Some((fd, limits)) = parse_init(&value) else {
            let _ = writeln!(
                std::io::stderr(),
                "cradle init: {INIT_ENV} is not <socket>[:<soft>:<hard>:<stack>]: {value:?}"
            );
            std::process::exit(EXIT_NO_LINK);
        };
        run(fd, limits, hook, refusal)
    }
}

/// The launcher's limits that a child born into a pid namespace that has
/// processes already lost on its way, and restores once it is not
/// dumpable: its core file size (`spawn::pre_exec` takes it away), and
/// its stack's soft limit (a secure `exec` lowers it to 8 MiB:
/// `spawn::real_gid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LaunchersLimits {
    core: (u64, u64),
    stack: u64,
}

impl LaunchersLimits {
    /// The limits in a role's variable: `<soft>`, `<hard>` and `<stack>`.
    fn parse(parts: &mut std::str::Split<'_, char>) -> Option<LaunchersLimits> {
        let mut next = || parts.next()?.parse().ok();
        Some(LaunchersLimits {
            core: (next()?, next()?),
            stack: next()?,
        })
    }

    /// Makes this process not dumpable (no core file is written of it,
    /// whatever the limit), arms its parent-death signal again (a secure
    /// `exec` clears it), then restores the limits for its command. The
    /// launcher zeroed the hard core limit only where this can raise it
    /// back. `launcher` is this end of the launch socket: a launcher that
    /// died before the signal was armed has closed its own, and this
    /// process exits at once, [`EXIT_ABANDONED`]. (Its gid apart, if it
    /// has one, stays until its user step: `setup::set_user`.)
    fn restore(self, step: ChildStep, launcher: BorrowedFd<'_>) -> Result<(), ChildError> {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        nix::sys::prctl::set_dumpable(false).map_err(failed(step, "prctl(PR_SET_DUMPABLE, 0)"))?;
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .map_err(failed(step, "prctl(PR_SET_PDEATHSIG)"))?;
        if launcher_gone(launcher).map_err(failed(step, "poll of the launch socket"))? {
            // Nobody to report to.
            std::process::exit(EXIT_ABANDONED);
        }
        let (stack, stack_hard) =
            getrlimit(Resource::RLIMIT_STACK).map_err(failed(step, "getrlimit(RLIMIT_STACK)"))?;
        if stack != self.stack {
            setrlimit(Resource::RLIMIT_STACK, self.stack, stack_hard)
                .map_err(failed(step, "setrlimit(RLIMIT_STACK) back to the launcher's"))?;
        }
        let (soft, hard) = self.core;
        setrlimit(Resource::RLIMIT_CORE, soft, hard)
            .map_err(failed(step, "setrlimit(RLIMIT_CORE) back to the launcher's"))
    }
}

/// Whether the launcher has closed its end of the launch socket (`socket`
/// is this end): a hang-up, which its half-close after the config is not.
fn launcher_gone(socket: BorrowedFd<'_>) -> Result<bool, Errno> {
    use nix::poll::{PollFd, PollFlags};
    let mut fds = [PollFd::new(socket, PollFlags::empty())];
    // A deadline already here: a look, no wait.
    crate::wait::ready(&mut fds, Some(crate::clock::now()))?;
    Ok(fds[0]
        .revents()
        .is_some_and(|events| events.contains(PollFlags::POLLHUP)))
}

/// What [`INIT_ENV`] says: the launch socket, and for an init born into a
/// pid namespace joined by path, the launcher's limits
/// (`<fd>[:<soft>:<hard>:<stack>]`).
fn parse_init(value: &std::ffi::OsStr) -> Option<(RawFd, Option<LaunchersLimits>)> {
    let mut parts = value.to_str()?.split(':');
    let fd = parts.next()?.parse::<RawFd>().ok().filter(|&fd| fd >= 3)?;
    let limits = match parts.clone().next() {
        None => None,
        Some(_) => Some(LaunchersLimits::parse(&mut parts)?),
    };
    parts.next().is_none().then_some((fd, limits))
}

/// The init role, on the launch socket at `fd`; with a `refusal`, only to
/// report it once the config is in.
fn run(
    fd: RawFd,
    limits: Option<LaunchersLimits>,
    hook: impl FnMut(ChildStep, &Config),
    refusal: Option<ChildError>,
) -> ! {
    // SAFETY: the parent put the launch socket at `fd` for this process
    // (that is what the variable says); nothing else here owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // First: it may be among other processes of its pid namespace.
    let restored = limits.map(|limits| limits.restore(ChildStep::Config, socket.as_fd()));
    let refusal = refusal.or_else(|| restored.and_then(Result::err));
    // Close-on-exec, so the parent sees the end of stream when `exec`
    // succeeds.
    if fcntl(&socket, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
        std::process::exit(EXIT_NO_LINK);
    }
    let start = Some(crate::spawn::start_fd(fd));
    let hand_off = Some(crate::spawn::hand_off_fd(fd));
    serve(
        Link {
            socket,
            start,
            hand_off,
        },
        Placed::after_socket(fd),
        hook,
        setup::run,
        refusal,
    )
}

/// The handshake, from the config to `exec`, with `setup` as the set-up;
/// with a `refusal`, the handshake ends with it once the config is in.
fn serve(
    mut link: Link,
    mut placed: Placed,
    mut hook: impl FnMut(ChildStep, &Config),
    setup: fn(&Config, Placed, setup::Hook<'_>) -> Result<(), ChildError>,
    refusal: Option<ChildError>,
) -> ! {
    let mut handshake = ChildHandshake::new(Limits::default());
    let (config, cgroup_tasks) = link.receive(&mut handshake);
    placed.cgroup_tasks = cgroup_tasks;
    let Some(config) = config else {
        link.flush(&mut handshake);
        std::process::exit(EXIT_SETUP_FAILED);
    };
    if let Some(error) = refusal {
        handshake.fail(error);
        link.flush(&mut handshake);
        std::process::exit(EXIT_SETUP_FAILED);
    }
    let mut timer = StepTimer::new(config.report_timings);
    let set_up = {
        let mut timed = |step: ChildStep, config: &Config| {
            timer.begin(step);
            hook(step, config);
        };
        setup(&config, placed, &mut timed)
    };
    // Finding the program is the last step before `ready`.
    let prepared = set_up.and_then(|()| {
        timer.begin(ChildStep::Exec);
        Command::prepare(&config)
    });
    let command = match prepared {
        Ok(command) => command,
        Err(error) => {
            handshake.fail(error);
            link.flush(&mut handshake);
            std::process::exit(EXIT_SETUP_FAILED);
        }
    };
    if handshake.ready_with_timings(timer.finish()).is_ok() {
        link.flush(&mut handshake);
    }
    if config.hold {
        if let Err(error) = link.await_start() {
            handshake.fail(error);
            link.flush(&mut handshake);
            std::process::exit(EXIT_SETUP_FAILED);
        }
    }
    // After the start, in the container: the last thing before the
    // user's program.
    if let Err(error) = hooks::run(&config, cradle_core::HookStage::StartContainer, ChildStep::Exec) {
        handshake.fail(error);
        link.flush(&mut handshake);
        std::process::exit(EXIT_SETUP_FAILED);
    }
    hook(ChildStep::Exec, &config);
    if config.reaper {
        match reaper::fork(&config) {
            Ok(reaper::Side::Command) => {}
            Ok(reaper::Side::Reaper(command)) => {
                // Closed here, the launch socket ends for the parent once
                // the command's `exec` closes its copy (or after the
                // command reported why it could not `exec`).
                drop(link);
                reaper::reap(command)
            }
            Err(error) => {
                handshake.fail(error);
                link.flush(&mut handshake);
                std::process::exit(EXIT_SETUP_FAILED);
            }
        }
    }
    let errno = command.exec();
    handshake.fail(ChildError {
        message: format!("execve {}", command.path_lossy()),
        step: ChildStep::Exec,
        errno: Some(errno as i32),
    });
    link.flush(&mut handshake);
    std::process::exit(exec::exit_code(errno))
}

/// Where the parent may have placed descriptors for the set-up, beside the
/// launch socket, and those it sent with the config; a step that needs
/// one checks it is there and of its kind.
#[derive(Debug)]
pub(super) struct Placed {
    /// The console socket (see [`crate::spawn::console_fd`]).
    console: Option<RawFd>,
    /// The `tasks` files of the cgroups to join (see [`cgroups`]), sent
    /// with the config.
    cgroup_tasks: Vec<OwnedFd>,
}

impl Placed {
    /// The places of a child whose launch socket is at `socket_fd`.
    fn after_socket(socket_fd: RawFd) -> Placed {
        Placed {
            console: Some(crate::spawn::console_fd(socket_fd)),
            cgroup_tasks: Vec::new(),
        }
    }
}

/// The child's end of the launch socket, and for an init the descriptor
/// its start comes on.
#[derive(Debug)]
struct Link {
    socket: OwnedFd,
    /// Where the parent placed the start pipe's read end, if it did (see
    /// [`crate::spawn::start_fd`]); only a config that holds reads it.
    start: Option<RawFd>,
    /// Where the parent may have placed a listening socket for a hold it
    /// hands off (see [`crate::spawn::hand_off_fd`]).
    hand_off: Option<RawFd>,
}

impl Link {
    /// Held after `ready` until the parent's start byte. A parent that
    /// went away first (end of file: its launch was dropped, or it was
    /// killed before it recorded this process) gets no command run: the
    /// process exits at once.
    fn await_start(&mut self) -> Result<(), ChildError> {
        let step = ChildStep::Exec;
        let fd = self
            .start
            .ok_or_else(|| refused(step, "the config holds, but no start pipe was given"))?;
        // SAFETY: the parent placed the start pipe's read end at `fd` for
        // this process; it is borrowed only for this function, while it
        // stays open.
        let pipe = unsafe { BorrowedFd::borrow_raw(fd) };
        let stat = nix::sys::stat::fstat(pipe).map_err(failed(step, "fstat of the start pipe"))?;
        if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return Err(refused(step, "the start descriptor is not a pipe"));
        }
        let mut byte = [0u8; 1];
        loop {
            match unistd::read(pipe, &mut byte) {
                Ok(1) => break,
                Ok(_) => std::process::exit(EXIT_ABANDONED),
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(failed(step, "read of the start byte")(errno)),
            }
        }
        // Not inherited by the command.
        unistd::close(fd).map_err(failed(step, "close of the start pipe"))?;
        if byte[0] == crate::launch::HAND_OFF {
            // The parent hands off only a hold it gave a listener.
            let listener = self
                .listener()?
                .ok_or_else(|| refused(step, "the hold was handed off, but no listener was given"))?;
            self.socket = await_resume(&listener)?;
        } else {
            // Started here: a listener the parent placed is not needed. The
            // descriptor may also be anything the launcher inherited and
            // did not mark close-on-exec (no listener was placed over it):
            // that is no error, as the set-up made it close-on-exec anyway.
            drop(self.listener());
        }
        Ok(())
    }

    /// The hand-off listener, if the parent placed one (taken out of the
    /// descriptor table: the command never inherits it). Only a hold the
    /// parent handed off may count on one being there.
    fn listener(&mut self) -> Result<Option<OwnedFd>, ChildError> {
        let Some(fd) = self.hand_off.take() else {
            return Ok(None);
        };
        let step = ChildStep::Exec;
        let Ok(stat) = nix::sys::stat::fstat(
            // SAFETY: borrowed only for the fstat; a closed `fd` fails it.
            unsafe { BorrowedFd::borrow_raw(fd) },
        ) else {
            return Ok(None);
        };
        if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(refused(step, "the hand-off descriptor is not a socket"));
        }
        // SAFETY: the parent placed the listener at `fd` for this process,
        // and nothing else here owns it.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Reads until the config and the parent's half-close have arrived,
    /// and takes the descriptors that came with it (the `tasks` files of
    /// the cgroups to join; at most [`MAX_SENT_FDS`]).
    /// (The launch socket is the one at spawn; after a hand-off, the
    /// resuming launcher's connection.)
    /// No config if the parent sent something unusable (the handshake has
    /// an `error` queued) or the socket failed.
    fn receive(&self, handshake: &mut ChildHandshake) -> (Option<Box<Config>>, Vec<OwnedFd>) {
        let mut buf = vec![0; 64 << 10];
        let mut space = nix::cmsg_space!([RawFd; MAX_SENT_FDS]);
        let mut config = None;
        let mut sent = Vec::new();
        let mut truncated = false;
        while handshake.wants_read() {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let received = socket::recvmsg::<()>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let n = match received {
                Ok(message) => {
                    // With MSG_CTRUNC, nix gives no control messages at
                    // all: what did come stays unowned, close-on-exec,
                    // and the init refuses below and exits.
                    if let Ok(controls) = message.cmsgs() {
                        for control in controls {
                            if let ControlMessageOwned::ScmRights(fds) = control {
                                // SAFETY: SCM_RIGHTS made each `fd` in this
                                // process; nothing else owns it.
                                sent.extend(fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                            }
                        }
                    }
                    truncated |= message.flags.contains(MsgFlags::MSG_CTRUNC);
                    message.bytes
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return (None, sent),
            };
            match n {
                0 => handshake.handle_eof(),
                n => handshake.handle_read(buf.get(..n).unwrap_or_default()),
            }
            while let Some(event) = handshake.poll_event() {
                match event {
                    ChildEvent::Config(received) => config = Some(received),
                    // Keep reading to the end of stream: the reply waits
                    // for it (see ChildHandshake).
                    ChildEvent::Failed(_) => {}
                }
            }
        }
        // More descriptors than room: the kernel closed the rest, so some
        // cgroup would not be joined.
        if truncated && config.is_some() {
            handshake.fail(refused(
                ChildStep::Config,
                "the config came with too many descriptors",
            ));
            return (None, sent);
        }
        (config, sent)
    }

    /// Writes what the handshake has queued. A parent that is gone cannot
    /// be told anything more, so write errors end the writing.
    fn flush(&self, handshake: &mut ChildHandshake) {
        if let Some(bytes) = handshake.poll_transmit() {
            self.write_all(&bytes);
        }
    }

    /// Sends `error` at once: for the setns helper, to which the parent
    /// sends nothing, so there is no stream to wait out first.
    fn report(&self, error: &ChildError) {
        if let Ok(bytes) = encode_to_bytes(&Message::Error(error.clone())) {
            self.write_all(&bytes);
        }
    }

    /// Writes all of `bytes`; false if the parent is gone.
    fn write_all(&self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match unistd::write(self.socket.as_fd(), bytes) {
                Ok(0) => return false,
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// The `ChildError` of a failed call at `step`.
pub(crate) fn failed(step: ChildStep, what: impl std::fmt::Display) -> impl FnOnce(Errno) -> ChildError {
    move |errno| ChildError {
        message: format!("{what}: {}", errno.desc()),
        step,
        errno: Some(errno as i32),
    }
}

/// The `ChildError` of a failed file operation at `step`.
pub(crate) fn io_failed(
    step: ChildStep,
    what: impl std::fmt::Display,
) -> impl FnOnce(std::io::Error) -> ChildError {
    move |error| ChildError {
        message: format!("{what}: {error}"),
        step,
        errno: error.raw_os_error(),
    }
}

/// A `ChildError` at `step` without an errno: the config asks for
/// something that cannot be done.
pub(crate) fn refused(step: ChildStep, message: impl Into<String>) -> ChildError {
    ChildError {
        message: message.into(),
        step,
        errno: None,
    }
}

/// A handed-off hold: waits for a launcher to connect to `listener` and
/// send the start byte (a connection closed without it was a launcher
/// that gave up: wait for the next). Returns the connection, the channel
/// the `exec` is reported on from then on. Nothing ends this wait but a
/// start or a signal: the container is created, and `delete` kills it.
fn await_resume(listener: &OwnedFd) -> Result<OwnedFd, ChildError> {
    let step = ChildStep::Exec;
    loop {
        let accepted =
            nix::sys::socket::accept4(listener.as_raw_fd(), nix::sys::socket::SockFlag::SOCK_CLOEXEC);
        let connection = match accepted {
            Ok(fd) => {
                // SAFETY: accept4 made `fd`, a new descriptor; this is its
                // only owner.
                unsafe { OwnedFd::from_raw_fd(fd) }
            }
            Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
            Err(errno) => return Err(failed(step, "accept on the hand-off socket")(errno)),
        };
        let mut byte = [0u8; 1];
        loop {
            match unistd::read(&connection, &mut byte) {
                Ok(1) => return Ok(connection),
                Ok(_) => break,
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_is_gone_when_its_end_is_closed_not_half_closed() {
        use nix::sys::socket::{shutdown, socketpair, AddressFamily, Shutdown, SockFlag, SockType};
        let (child, launcher) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        assert_eq!(launcher_gone(child.as_fd()), Ok(false));
        // The launcher's half-close after the config.
        shutdown(launcher.as_raw_fd(), Shutdown::Write).expect("shutdown");
        assert_eq!(launcher_gone(child.as_fd()), Ok(false));
        drop(launcher);
        assert_eq!(launcher_gone(child.as_fd()), Ok(true));
    }

    #[test]
    fn the_init_variable_is_a_socket_and_maybe_the_launchers_limits() {
        let parse = |text: &str| parse_init(std::ffi::OsStr::new(text));
        assert_eq!(parse("5"), Some((5, None)));
        let limits = LaunchersLimits {
            core: (0, u64::MAX),
            stack: 8 << 20,
        };
        assert_eq!(parse("5:0:18446744073709551615:8388608"), Some((5, Some(limits))));
        let bad = [
            "",
            "2",
            "x",
            "5:",
            "5:0",
            "5:0:",
            "5:0:1",
            "5:0:1:",
            "5:0:x:1",
            "5:0:1:2:3",
            "-1:0:0:0",
        ];
        for bad in bad {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
