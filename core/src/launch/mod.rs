//! The parent side of a launch, as a state machine.

mod command;
mod error;
mod plan;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

pub use self::command::{Command, Role, Spawn};
pub use self::error::{CleanupFailure, CommandError, LaunchError, Misuse, Step, Who};
pub use self::plan::{ConfigError, IdMap, IdMaps, Kind, Plan, SetnsEntry};
use crate::config::{HookStage, Interface, NamespaceKind};
use crate::framing::{encode_to_bytes, Decoder, Direction};
use crate::message::{Message, StepTime};
use crate::process::{ExitStatus, Pid};
use crate::time::Time;

/// How long the launch waits, after the child closed the socket without a
/// verdict, for its exit status (or, after it exited, for the rest of what
/// it wrote and its end of stream) before it fails without it.
///
/// A child's exit closes its end of the socket, so its end of stream comes
/// with its exit, unless another process holds a copy: a fork of the
/// caller's (a `std::process::Command` on another thread, say) holds one
/// from its fork to its `exec`, which on a loaded machine may be hundreds
/// of milliseconds. A child that `exec`d and exited meanwhile is told from
/// one that died before only by that end of stream, so the wait is long
/// enough to outlast such a fork; it costs nothing where no copy is held.
pub const EXIT_GRACE: Duration = Duration::from_secs(1);

/// What a launch tells its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Not terminal: the process is set up and held before `exec` (its
    /// config holds). Record it, then call
    /// [`handle_start`](Launch::handle_start) to let it `exec`, or
    /// [`handle_cancel`](Launch::handle_cancel) to undo the launch; the
    /// launch's deadline still runs.
    Held {
        /// The container process.
        pid: Pid,
    },
    /// Terminal: the process reached `exec` and is running (or has already
    /// exited after it; the caller reaps it either way).
    Running {
        /// The container process.
        pid: Pid,
    },
    /// Terminal: the held process was handed off
    /// ([`handle_hand_off`](Launch::handle_hand_off)): it holds, set up,
    /// until a later launcher [resumes](Launch::resume) it. What the launch
    /// acquired (the process, its cgroup and interfaces) is the caller's.
    Created {
        /// The container process.
        pid: Pid,
    },
    /// Terminal: the launch failed, and everything it acquired has been
    /// released (see [`Launch::cleanup_failures`] for what could not be).
    Failed(LaunchError),
}

/// One launch of an init or setns process, from the parent's side.
///
/// The launch does no I/O. The driver feeds it inputs with the `handle_*`
/// methods, passing the time each happened at, and drains its outputs with
/// the `poll_*` methods, in this order after every input:
///
/// 1. [`poll_command`](Launch::poll_command) until `None`, carrying out each
///    command and reporting it with [`handle_spawned`](Launch::handle_spawned)
///    or [`handle_done`](Launch::handle_done) before polling again. At most
///    one command is in flight.
/// 2. [`poll_event`](Launch::poll_event) until `None`. Exactly one terminal
///    event ([`Event::Running`], [`Event::Created`] or [`Event::Failed`])
///    comes, after the last command; once it has come the launch is
///    [finished](Launch::is_finished). A launch whose config holds first
///    reports [`Event::Held`] and waits for
///    [`handle_start`](Launch::handle_start) (or
///    [`handle_hand_off`](Launch::handle_hand_off)).
/// 3. [`poll_timeout`](Launch::poll_timeout): when to call
///    [`handle_timeout`](Launch::handle_timeout) if nothing else happens
///    first. While [`wants_read`](Launch::wants_read) is true, the driver
///    also reads the socket ([`handle_read`](Launch::handle_read),
///    [`handle_eof`](Launch::handle_eof)); it always reports the exit of any
///    process it spawned ([`handle_exit`](Launch::handle_exit)).
///
/// On a failure the launch emits, before its terminal event, the commands
/// that release what it acquired, in reverse order: kill and reap its
/// processes, remove the interfaces it created, destroy the cgroup it
/// created, close the socket. A setns process that was reported but not yet
/// adopted is adopted first, and killed only if that check passes; without
/// an adopted process, whatever the helper forked is swept up
/// ([`Command::ReapStrays`]) between the helper's kill and its reap.
#[derive(Debug)]
pub struct Launch {
    /// What the spawn starts: an init, or for setns a helper or the process
    /// itself (which says the launch's kind).
    role: Role,
    config: Bytes,
    new_namespaces: Vec<NamespaceKind>,
    /// The pid namespace the config joins by path.
    pid_namespace: Option<PathBuf>,
    id_maps: Option<IdMaps>,
    interfaces: Vec<Interface>,
    timeout: Duration,
    deadline: Time,
    /// Set when the launch is waiting, for a short while, for an exit status
    /// or an end of stream that should follow what it saw.
    grace: Option<Time>,

    steps: Vec<Step>,
    cursor: usize,
    /// The step whose command is in flight.
    in_flight: Option<Step>,
    phase: Phase,

    decoder: Decoder,
    /// The socket exists (the spawn succeeded) and has not reached EOF.
    reading: bool,
    eof: bool,
    ready: bool,
    /// What the child's `ready` said of its set-up steps' durations.
    child_timings: Vec<StepTime>,
    config_sent: bool,
    /// The config holds the process after `ready` until the caller starts
    /// it: before that, an end of stream is no `exec`.
    holds: bool,
    /// The caller has started the held process.
    start_asked: bool,
    /// The start was asked before `ready` ([`Launch::handle_start_when_ready`]).
    start_early: bool,
    /// Why that early start could not be given: the child had ended (its
    /// own word or exit says how), or, if it is ready all the same, the
    /// launch's error.
    early_start_error: Option<CommandError>,
    /// The caller has handed the held process off.
    hand_off_asked: bool,
    /// A launch that resumes a handed-off process: not its parent, so it
    /// never reaps it, and its channel exists only once it has started it.
    resumed: bool,
    /// `Start` succeeded: the process was let go. Until then a resumed
    /// process is not this launch's to kill (a start refused means it had
    /// ended, or another launcher started it: it may be running).
    started: bool,

    helper: Option<Process>,
    process: Option<Process>,
    reported: Option<Pid>,
    /// The plan puts the process in a cgroup.
    cgroup: bool,
    cgroup_created: bool,
    interfaces_created: Vec<usize>,

    /// Running, created or failed, once decided.
    verdict: Option<Result<Outcome, LaunchError>>,
    /// The ending commands not yet issued, and the one in flight.
    ending: VecDeque<Command>,
    ending_current: Option<Command>,

    events: VecDeque<Event>,
    cleanup_failures: Vec<CleanupFailure>,
}

#[derive(Debug)]
enum Phase {
    /// Running the plan's steps.
    Steps,
    /// A verdict was reached while a command was in flight; the ending
    /// starts when it completes, so what it acquired is released too.
    Pending,
    /// Carrying out the ending commands (cleanup, then close).
    Ending,
    /// The terminal event has been emitted.
    Finished,
}

/// How a launch succeeded.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Running(Pid),
    Created(Pid),
}

#[derive(Clone, Copy, Debug)]
struct Process {
    pid: Pid,
    exit: Option<ExitStatus>,
    reaped: bool,
}

impl Process {
    fn new(pid: Pid) -> Process {
        Process {
            pid,
            exit: None,
            reaped: false,
        }
    }
}

impl Launch {
    /// Checks `plan` and starts a launch at `now`. Nothing is created yet:
    /// the first command does that.
    pub fn new(plan: Plan, now: Time) -> Result<Launch, ConfigError> {
        plan.validate()?;
        let config = encode_to_bytes(&Message::Config(Box::new(plan.config.clone())))?;
        let len = config.len() - 1;
        if len > plan.limits.config {
            return Err(ConfigError::TooLarge {
                len,
                cap: plan.limits.config,
            });
        }
        let interfaces = plan.config.networks.clone();
        let steps = steps(&plan, &interfaces);
        Ok(Launch {
            role: match (plan.kind, plan.setns_entry) {
                (Kind::Init, _) => Role::Init,
                (Kind::Setns, SetnsEntry::Helper) => Role::SetnsHelper,
                (Kind::Setns, SetnsEntry::Clone) => Role::SetnsProcess,
            },
            config,
            new_namespaces: plan.config.new_namespaces().collect(),
            // A setns process's namespaces are the container's, joined by
            // the helper (its child refuses any in the config).
            pid_namespace: plan
                .config
                .joins(NamespaceKind::Pid)
                .filter(|_| plan.kind == Kind::Init)
                .map(Path::to_path_buf),
            id_maps: plan.id_maps,
            interfaces,
            timeout: plan.timeout,
            deadline: now + plan.timeout,
            grace: None,
            steps,
            cursor: 0,
            in_flight: None,
            phase: Phase::Steps,
            decoder: Decoder::new(Direction::ToParent, plan.limits),
            reading: false,
            eof: false,
            ready: false,
            child_timings: Vec::new(),
            config_sent: false,
            holds: plan.config.hold,
            start_asked: false,
            start_early: false,
            early_start_error: None,
            hand_off_asked: false,
            resumed: false,
            started: false,
            helper: None,
            process: None,
            reported: None,
            cgroup: plan.cgroup,
            cgroup_created: false,
            interfaces_created: Vec::new(),
            verdict: None,
            ending: VecDeque::new(),
            ending_current: None,
            events: VecDeque::new(),
            cleanup_failures: Vec::new(),
        })
    }

    /// Resumes `pid`, a process another launch handed off
    /// ([`Event::Created`]), at `now`: starts it, then waits, under
    /// `timeout`, for its `exec` (an end of stream on the channel the start
    /// opens) or its `error`. It ends in [`Event::Running`] or
    /// [`Event::Failed`]; a failure after the start kills the process but
    /// reaps nothing (it is not this launcher's child) and releases nothing
    /// else: the container's cgroup and interfaces stay its owner's. A
    /// start that fails kills nothing: the backend's start either reaches
    /// the process or does not, and one that did not found it ended or
    /// already started by another launcher (a second `start` must not kill
    /// a running container).
    pub fn resume(pid: Pid, timeout: Duration, limits: crate::Limits, now: Time) -> Launch {
        Launch {
            role: Role::Init,
            config: Bytes::new(),
            new_namespaces: Vec::new(),
            pid_namespace: None,
            id_maps: None,
            interfaces: Vec::new(),
            timeout,
            deadline: now + timeout,
            grace: None,
            steps: vec![Step::Start, Step::AwaitExec],
            cursor: 0,
            in_flight: None,
            phase: Phase::Steps,
            decoder: Decoder::new(Direction::ToParent, limits),
            reading: false,
            eof: false,
            ready: true,
            child_timings: Vec::new(),
            config_sent: true,
            holds: true,
            start_asked: true,
            start_early: false,
            early_start_error: None,
            hand_off_asked: false,
            resumed: true,
            started: false,
            helper: None,
            process: Some(Process::new(pid)),
            reported: None,
            cgroup: false,
            cgroup_created: false,
            interfaces_created: Vec::new(),
            verdict: None,
            ending: VecDeque::new(),
            ending_current: None,
            events: VecDeque::new(),
            cleanup_failures: Vec::new(),
        }
    }

    /// The step the launch is at (the last one once it has run them all).
    pub fn step(&self) -> Step {
        self.steps[self.cursor.min(self.steps.len() - 1)]
    }

    /// Every step this launch will run, in order, if all goes well.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// When the handshake must be over.
    pub fn deadline(&self) -> Time {
        self.deadline
    }

    /// Init or setns.
    pub fn kind(&self) -> Kind {
        match self.role {
            Role::Init => Kind::Init,
            Role::SetnsHelper | Role::SetnsProcess => Kind::Setns,
        }
    }

    /// Whether the driver should read the socket.
    pub fn wants_read(&self) -> bool {
        self.reading && matches!(self.phase, Phase::Steps | Phase::Pending)
    }

    /// Whether the outcome is decided (its ending commands may still be to
    /// run). A driver with a [`Command::Send`] in flight may then abandon it
    /// and report it failed: the launch waits for that completion before it
    /// starts its cleanup.
    pub fn is_decided(&self) -> bool {
        !matches!(self.phase, Phase::Steps)
    }

    /// Whether the terminal event has been emitted.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// The bytes held of an unfinished message from the child.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Cleanup commands that failed: what may have been left behind.
    pub fn cleanup_failures(&self) -> &[CleanupFailure] {
        &self.cleanup_failures
    }

    /// How long each of the child's set-up steps took, as its `ready`
    /// reported them (for a config that asks:
    /// [`Config::report_timings`](crate::Config::report_timings)); empty
    /// before `ready` or when not asked. The child's clock, its word: for
    /// accounting, not for decisions.
    pub fn child_timings(&self) -> &[StepTime] {
        &self.child_timings
    }

    /// The container process, once the launch knows it.
    pub fn pid(&self) -> Option<Pid> {
        self.process.map(|p| p.pid)
    }

    /// Whether the process is set up and held before `exec`, waiting for
    /// [`handle_start`](Launch::handle_start) or
    /// [`handle_hand_off`](Launch::handle_hand_off). Not once its socket has
    /// closed (a held process holds it until `exec`) nor once it has
    /// exited: it has ended, and the launch is about to fail saying how.
    pub fn is_held(&self) -> bool {
        self.undecided_at(Step::AwaitStart)
    }

    /// Whether the launch is at `step` with its process alive and its
    /// stream open, and the caller has neither started it nor handed it
    /// off: where a start (or a hand-off) may come.
    fn undecided_at(&self, step: Step) -> bool {
        matches!(self.phase, Phase::Steps)
            && self.step() == step
            && !self.start_asked
            && !self.hand_off_asked
            && !self.eof
            && self.process.is_some_and(|p| p.exit.is_none())
    }

    /// The next command to carry out, if one is due and none is in flight.
    pub fn poll_command(&mut self) -> Option<Command> {
        if self.in_flight.is_some() {
            return None;
        }
        match &mut self.phase {
            Phase::Steps => {
                let step = *self.steps.get(self.cursor)?;
                let command = self.command_for(step)?;
                self.in_flight = Some(step);
                Some(command)
            }
            Phase::Ending => {
                let command = self.ending.pop_front()?;
                self.ending_current = Some(command.clone());
                self.in_flight = Some(self.step());
                Some(command)
            }
            Phase::Pending | Phase::Finished => None,
        }
    }

    /// The next event for the caller.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Launch::handle_timeout), if nothing
    /// else happens first. `None` once a verdict is reached: the ending
    /// commands are bounded by the backend.
    pub fn poll_timeout(&self) -> Option<Time> {
        match self.phase {
            Phase::Steps => Some(match self.grace {
                Some(grace) => grace.min(self.deadline),
                None => self.deadline,
            }),
            _ => None,
        }
    }

    /// [`Command::Spawn`] succeeded: the child (or helper) is `pid`.
    pub fn handle_spawned(&mut self, now: Time, pid: Pid) -> Result<(), Misuse> {
        self.complete(Step::Spawn)?;
        match self.role {
            Role::Init | Role::SetnsProcess => self.process = Some(Process::new(pid)),
            Role::SetnsHelper => self.helper = Some(Process::new(pid)),
        }
        self.reading = true;
        self.after_completion(now, Ok(()));
        Ok(())
    }

    /// The command in flight (other than [`Command::Spawn`] succeeding)
    /// finished.
    pub fn handle_done(&mut self, now: Time, result: Result<(), CommandError>) -> Result<(), Misuse> {
        let Some(step) = self.in_flight else {
            return Err(Misuse::Completion { in_flight: None });
        };
        if matches!(self.phase, Phase::Ending) {
            let command = self.ending_current.take();
            self.in_flight = None;
            match (command, result) {
                // A reported process is only killed once the backend has
                // checked it is the helper's: a forged report names
                // somebody else's process. Refusal is the check working.
                (Some(Command::Adopt { pid, .. }), Ok(())) => {
                    // The helper's fork is found: nothing stray to look for.
                    self.ending.retain(|c| !matches!(c, Command::ReapStrays { .. }));
                    self.ending.push_front(Command::Reap { pid });
                    self.ending.push_front(Command::Kill { pid });
                }
                (Some(Command::Adopt { .. }), Err(_)) => {}
                (Some(command), Err(error)) => self.cleanup_failures.push(CleanupFailure { command, error }),
                _ => {}
            }
            self.continue_ending();
            return Ok(());
        }
        if step == Step::Spawn && result.is_ok() {
            return Err(Misuse::Completion {
                in_flight: Some(step),
            });
        }
        self.complete(step)?;
        if result.is_ok() {
            self.acquired(step);
        }
        let result = match result {
            Err(error) if step == Step::Start && self.start_early => {
                self.early_start_error = Some(error);
                Ok(())
            }
            result => result,
        };
        self.after_completion(now, result);
        Ok(())
    }

    /// The child wrote `data`.
    pub fn handle_read(&mut self, now: Time, mut data: &[u8]) -> Result<(), Misuse> {
        if self.has_verdict() {
            return Ok(());
        }
        if !self.reading {
            return Err(Misuse::NotReading);
        }
        if self.expire(now) {
            return Ok(());
        }
        while !data.is_empty() && self.wants_read() {
            match self.decoder.decode(&mut data) {
                Ok(Some(message)) => self.on_message(message),
                Ok(None) => {}
                Err(error) => {
                    let step = self.step();
                    self.fail(LaunchError::Protocol { step, error });
                }
            }
        }
        self.advance();
        Ok(())
    }

    /// Reading the socket failed. (A reset, the child's end closing with our
    /// bytes unread in it, is an end of stream: backends report it with
    /// [`handle_eof`](Launch::handle_eof), so the child's exit status says
    /// what happened.)
    pub fn handle_read_error(&mut self, now: Time, error: CommandError) -> Result<(), Misuse> {
        if self.has_verdict() {
            return Ok(());
        }
        if !self.reading {
            return Err(Misuse::NotReading);
        }
        self.reading = false;
        if self.expire(now) {
            return Ok(());
        }
        let step = self.step();
        self.fail(LaunchError::Read { step, error });
        self.advance();
        Ok(())
    }

    /// The child's end of the socket is closed (every copy of it: for init,
    /// `exec` closed it; for setns, the helper and the process both).
    pub fn handle_eof(&mut self, now: Time) -> Result<(), Misuse> {
        if self.has_verdict() {
            return Ok(());
        }
        if !self.reading {
            return Err(Misuse::NotReading);
        }
        self.reading = false;
        self.eof = true;
        if self.expire(now) {
            return Ok(());
        }
        if let Err(error) = self.decoder.decode_eof() {
            let step = self.step();
            self.fail(LaunchError::Protocol { step, error });
        } else if !self.exec_allowed() {
            match self.watched() {
                Some((
                    who,
                    Process {
                        exit: Some(status), ..
                    },
                )) => self.fail_ended(who, status),
                // Its exit status should follow at once; wait a little for
                // it rather than report a bare close.
                _ => self.grace = Some(now + EXIT_GRACE),
            }
        }
        self.advance();
        Ok(())
    }

    /// A process the launch spawned (or adopted) has exited, and is not
    /// reaped yet.
    pub fn handle_exit(&mut self, now: Time, pid: Pid, status: ExitStatus) -> Result<(), Misuse> {
        let who = if self.process.is_some_and(|p| p.pid == pid) {
            Who::Process
        } else if self.helper.is_some_and(|p| p.pid == pid) {
            Who::Helper
        } else {
            return Err(Misuse::UnknownProcess { pid });
        };
        let record = match who {
            Who::Process => self.process.as_mut(),
            Who::Helper => self.helper.as_mut(),
        };
        match record {
            // A process exits once: a repeated report changes nothing.
            Some(Process { exit: Some(_), .. }) => return Ok(()),
            Some(p) => p.exit = Some(status),
            None => {}
        }
        if !matches!(self.phase, Phase::Steps) || self.expire(now) {
            return Ok(());
        }
        match who {
            // A helper exiting 0 after its report is the plan.
            Who::Helper if status.success() && self.reported.is_some() => {}
            // Ready (and started) and end of stream: it exec'd; its exit is
            // the caller's.
            Who::Process if self.exec_allowed() && self.eof => {}
            _ if self.eof => self.fail_ended(who, status),
            // Read what it wrote before it ended (an `error`, perhaps).
            _ => self.grace = Some(now + EXIT_GRACE),
        }
        self.advance();
        Ok(())
    }

    /// Time has reached [`poll_timeout`](Launch::poll_timeout).
    pub fn handle_timeout(&mut self, now: Time) {
        if !matches!(self.phase, Phase::Steps) {
            return;
        }
        if self.expire(now) {
            return;
        }
        if self.grace.is_some_and(|grace| now >= grace) {
            self.grace = None;
            let failed_helper = self
                .helper
                .and_then(|h| h.exit)
                .filter(|status| !status.success());
            if let Some(status) = failed_helper {
                // The helper's failure is the cause even after the process
                // it reported was adopted.
                self.fail_exited(Who::Helper, status);
            }
            match self.watched() {
                Some((
                    who,
                    Process {
                        exit: Some(status), ..
                    },
                )) => self.fail_ended(who, status),
                _ if self.eof && !self.exec_allowed() => {
                    let step = self.step();
                    self.fail(LaunchError::Closed { step });
                }
                _ => {}
            }
        }
        self.advance();
    }

    /// The caller has recorded the held process (after [`Event::Held`]):
    /// let it `exec`. Refused unless the launch [is held](Launch::is_held).
    pub fn handle_start(&mut self, now: Time) -> Result<(), Misuse> {
        if !self.is_held() {
            return Err(Misuse::NotHeld);
        }
        self.start_asked = true;
        if !self.expire(now) {
            self.advance();
        }
        Ok(())
    }

    /// The caller has recorded the process while it sets itself up (after
    /// the spawn, before its `ready`): let it `exec` as soon as it is
    /// ready. The start is given now, and the child, which holds until it
    /// has it, goes on from its `ready` to its `exec` without waiting for a
    /// round trip through its parent; no [`Event::Held`] comes, and the
    /// launch ends as one that does not hold. A start the backend cannot
    /// give (the child has ended) fails nothing by itself: the child's
    /// `error`, or its exit, says why it ended. Refused unless the config
    /// holds and the launch awaits `ready`, its config sent; once it is
    /// ready, [`handle_start`](Launch::handle_start) is the start.
    pub fn handle_start_when_ready(&mut self, now: Time) -> Result<(), Misuse> {
        let awaiting = self.undecided_at(Step::AwaitReady) && self.holds && !self.resumed && !self.ready;
        if !awaiting {
            return Err(Misuse::NotAwaitingReady);
        }
        self.start_asked = true;
        self.start_early = true;
        // The start now, then the wait for `ready`; none for a start after.
        self.steps
            .retain(|&step| step != Step::AwaitStart && step != Step::Start);
        self.steps.insert(self.cursor, Step::Start);
        if !self.expire(now) {
            self.advance();
        }
        Ok(())
    }

    /// The caller hands the held process off (after [`Event::Held`],
    /// instead of starting it): the launch ends in [`Event::Created`], the
    /// process holding until a later launcher
    /// [resumes](Launch::resume) it. Refused unless the launch
    /// [is held](Launch::is_held).
    pub fn handle_hand_off(&mut self, now: Time) -> Result<(), Misuse> {
        if !self.is_held() {
            return Err(Misuse::NotHeld);
        }
        self.hand_off_asked = true;
        // The start and the wait for `exec` are the resuming launch's.
        self.steps.truncate(self.cursor + 1);
        self.steps.push(Step::HandOff);
        if !self.expire(now) {
            self.advance();
        }
        Ok(())
    }

    /// The caller gives up on the launch.
    pub fn handle_cancel(&mut self, now: Time) {
        if self.expire(now) {
            return;
        }
        let step = self.step();
        self.fail(LaunchError::Cancelled { step });
        self.advance();
    }

    /// The command for `step`, or `None` if `step` is a wait.
    fn command_for(&self, step: Step) -> Option<Command> {
        let pid = || self.process.map(|p| p.pid);
        Some(match step {
            Step::CreateCgroup => Command::CreateCgroup,
            Step::Spawn => Command::Spawn(Spawn {
                role: self.role,
                namespaces: self.new_namespaces.clone(),
                pid_namespace: self.pid_namespace.clone(),
                hold: self.id_maps.is_some(),
                awaits_start: self.holds,
                cgroup: self.cgroup,
            }),
            Step::IdMaps => Command::WriteIdMaps {
                pid: pid()?,
                maps: self.id_maps.clone()?,
            },
            Step::Release => Command::Release { pid: pid()? },
            Step::ApplyCgroup => Command::ApplyCgroup { pid: pid()? },
            Step::Network { index } => Command::CreateInterface {
                pid: pid()?,
                index,
                interface: self.interfaces.get(index)?.clone(),
            },
            Step::Adopt => Command::Adopt {
                helper: self.helper?.pid,
                pid: self.reported?,
            },
            Step::ReapHelper => Command::Reap {
                pid: self.helper?.pid,
            },
            Step::EnterCgroup => Command::EnterCgroup { pid: pid()? },
            Step::SendConfig => Command::Send {
                bytes: self.config.clone(),
            },
            Step::Start => Command::Start { pid: pid()? },
            Step::HandOff => Command::HandOff { pid: pid()? },
            Step::HalfClose => Command::ShutdownWrite,
            Step::ReportPid | Step::HelperExit | Step::AwaitReady | Step::AwaitStart | Step::AwaitExec => {
                return None
            }
        })
    }

    /// Clears the in-flight command, checking it is `step`'s.
    fn complete(&mut self, step: Step) -> Result<(), Misuse> {
        let matches = self.in_flight == Some(step) && !matches!(self.phase, Phase::Ending);
        if !matches {
            return Err(Misuse::Completion {
                in_flight: self.in_flight,
            });
        }
        self.in_flight = None;
        Ok(())
    }

    /// Records what a successful command acquired.
    fn acquired(&mut self, step: Step) {
        match step {
            Step::CreateCgroup => self.cgroup_created = true,
            Step::Network { index } => self.interfaces_created.push(index),
            Step::Adopt => self.process = self.reported.map(Process::new),
            Step::ReapHelper => {
                if let Some(helper) = &mut self.helper {
                    helper.reaped = true;
                }
            }
            Step::SendConfig => self.config_sent = true,
            Step::Start => {
                self.started = true;
                // A resumed process's channel is the one its start opened.
                if self.resumed {
                    self.reading = true;
                }
            }
            _ => {}
        }
    }

    fn after_completion(&mut self, now: Time, result: Result<(), CommandError>) {
        if matches!(self.phase, Phase::Pending) {
            self.begin_ending();
            return;
        }
        if self.expire(now) {
            return;
        }
        match result {
            Ok(()) if self.step() == Step::HandOff => {
                if self.eof || self.process.is_some_and(|p| p.exit.is_some()) {
                    // It ended while it was handed off (a held process
                    // keeps its socket open until `exec`): no container was
                    // created. Nothing is left to issue; the grace running
                    // for its exit status or end of stream gives the
                    // verdict, as anywhere else.
                    self.cursor += 1;
                } else if let Some(pid) = self.pid() {
                    self.finish(Ok(Outcome::Created(pid)));
                }
                return;
            }
            Ok(()) => self.cursor += 1,
            Err(error) => {
                let step = self.step();
                self.fail(LaunchError::Command { step, error });
            }
        }
        self.advance();
    }

    fn on_message(&mut self, message: Message) {
        let step = self.step();
        match message {
            Message::Error(error) => self.fail(LaunchError::Child { step, error }),
            Message::Pid { pid } if step == Step::ReportPid && self.reported.is_none() => {
                match self.check_report(pid) {
                    Ok(pid) => self.reported = Some(pid),
                    Err(reason) => self.fail(LaunchError::ForgedPid { step, pid, reason }),
                }
            }
            Message::Ready { timings } if self.config_sent && !self.ready => {
                self.ready = true;
                self.child_timings = timings;
            }
            other => self.fail(LaunchError::Unexpected {
                step,
                kind: other.kind(),
            }),
        }
        self.advance();
    }

    /// Whether an end of stream now means `exec`: after `ready`, and, for a
    /// held process, after its start.
    fn exec_allowed(&self) -> bool {
        self.ready && (!self.holds || self.in_flight == Some(Step::Start) || self.started)
    }

    /// What the core can refuse of a pid report by itself; the backend's
    /// [`Command::Adopt`] checks the rest.
    fn check_report(&self, raw: i32) -> Result<Pid, &'static str> {
        let pid = Pid::new(raw).ok_or("not a positive pid")?;
        if self.helper.is_some_and(|h| h.pid == pid) {
            return Err("the helper's own pid");
        }
        Ok(pid)
    }

    /// The process whose exit decides the launch now: the helper until the
    /// reported process is adopted, then that process.
    fn watched(&self) -> Option<(Who, Process)> {
        match (self.process, self.helper) {
            (Some(p), _) => Some((Who::Process, p)),
            (None, Some(h)) => Some((Who::Helper, h)),
            (None, None) => None,
        }
    }

    fn fail_exited(&mut self, who: Who, status: ExitStatus) {
        let step = self.step();
        self.fail(LaunchError::Exited { step, who, status });
    }

    /// `who` has exited and nothing more is coming: a helper that exited 0
    /// with the socket closed did its part, so the fault is the missing
    /// report. (With the socket open, its fork holds it: then the exit
    /// without a report is the fault.)
    fn fail_ended(&mut self, who: Who, status: ExitStatus) {
        if who == Who::Helper && status.success() && self.eof {
            let step = self.step();
            self.fail(LaunchError::Closed { step });
        } else {
            self.fail_exited(who, status);
        }
    }

    /// The ending has begun: socket input no longer matters.
    fn has_verdict(&self) -> bool {
        !matches!(self.phase, Phase::Steps | Phase::Pending)
    }

    /// Fails the launch if `now` is past its deadline, whichever input
    /// brought the news: a driver late to call `handle_timeout` still gets
    /// a timely verdict. True if the launch has a verdict now.
    fn expire(&mut self, now: Time) -> bool {
        if matches!(self.phase, Phase::Steps) && now >= self.deadline {
            let step = self.step();
            self.fail(LaunchError::TimedOut {
                step,
                after: self.timeout,
            });
        }
        !matches!(self.phase, Phase::Steps)
    }

    /// Moves through the steps that wait on the child, as far as what has
    /// arrived allows.
    fn advance(&mut self) {
        while matches!(self.phase, Phase::Steps) && self.in_flight.is_none() {
            let Some(&step) = self.steps.get(self.cursor) else {
                return;
            };
            let passed = match step {
                Step::ReportPid => self.reported.is_some(),
                Step::HelperExit => self.helper.and_then(|h| h.exit).is_some_and(ExitStatus::success),
                Step::AwaitReady => {
                    if let Some(error) = self.early_start_error.take_if(|_| self.ready) {
                        // Ready, yet the start did not reach it.
                        self.fail(LaunchError::Command {
                            step: Step::Start,
                            error,
                        });
                        return;
                    }
                    // Not after an end of stream: the process has ended,
                    // and the grace for its exit status runs on.
                    if self.ready && self.holds && !self.eof && !self.start_asked {
                        if let Some(pid) = self.process.map(|p| p.pid) {
                            self.events.push_back(Event::Held { pid });
                        }
                    }
                    self.ready
                }
                Step::AwaitStart => self.start_asked || self.hand_off_asked,
                Step::AwaitExec if self.ready && self.eof => {
                    let pid = self.process.map(|p| p.pid);
                    if let Some(pid) = pid {
                        self.finish(Ok(Outcome::Running(pid)));
                    }
                    return;
                }
                _ => false,
            };
            if !passed {
                return;
            }
            if !(step == Step::AwaitReady && self.holds && self.eof) {
                self.grace = None;
            }
            self.cursor += 1;
        }
    }

    /// The first verdict wins; later failures are consequences of it.
    fn fail(&mut self, error: LaunchError) {
        self.finish(Err(error));
    }

    fn finish(&mut self, outcome: Result<Outcome, LaunchError>) {
        if !matches!(self.phase, Phase::Steps) {
            return;
        }
        self.grace = None;
        if outcome.is_err() {
            // A hold the caller has not heard of yet is over: it would only
            // invite a start of a launch that has failed.
            self.events.retain(|event| !matches!(event, Event::Held { .. }));
        }
        self.verdict = Some(outcome);
        if self.in_flight.is_some() {
            self.phase = Phase::Pending;
        } else {
            self.begin_ending();
        }
    }

    /// Queues the ending: on failure, release in reverse order of
    /// acquisition; always, close the socket.
    fn begin_ending(&mut self) {
        let mut queue = VecDeque::new();
        if matches!(self.verdict, Some(Err(_))) {
            if let (Some(helper), Some(pid), None) = (self.helper, self.reported, self.process) {
                queue.push_back(Command::Adopt {
                    helper: helper.pid,
                    pid,
                });
            }
            let live = [self.process, self.helper];
            let ours = !self.resumed || self.started;
            for p in live
                .iter()
                .flatten()
                .filter(|p| ours && !p.reaped && p.exit.is_none())
            {
                queue.push_back(Command::Kill { pid: p.pid });
            }
            // The helper may have forked a process it never reported.
            if let (Some(helper), None) = (self.helper, self.process) {
                if !helper.reaped {
                    queue.push_back(Command::ReapStrays { helper: helper.pid });
                }
            }
            // A resumed process is not ours to reap.
            for p in live.iter().flatten().filter(|p| !p.reaped && !self.resumed) {
                queue.push_back(Command::Reap { pid: p.pid });
            }
            for &index in self.interfaces_created.iter().rev() {
                queue.push_back(Command::RemoveInterface {
                    index,
                    interface: self.interfaces[index].clone(),
                });
            }
            if self.cgroup_created {
                queue.push_back(Command::DestroyCgroup);
            }
        }
        queue.push_back(Command::Close);
        self.reading = false;
        self.ending = queue;
        self.phase = Phase::Ending;
    }

    /// Emits the terminal event once the last ending command is done.
    fn continue_ending(&mut self) {
        if !self.ending.is_empty() {
            return;
        }
        self.phase = Phase::Finished;
        if let Some(verdict) = self.verdict.take() {
            self.events.push_back(match verdict {
                Ok(Outcome::Running(pid)) => Event::Running { pid },
                Ok(Outcome::Created(pid)) => Event::Created { pid },
                Err(error) => Event::Failed(error),
            });
        }
    }
}

/// Whether an init's cgroup is applied after the half-close rather than
/// before the config: for a process that waits for the caller's start
/// after `ready`, so that a backend's slow attach (a write of a pid to a
/// v1 hierarchy's first `cgroup.procs` can wait for an RCU grace period,
/// milliseconds) runs while the child sets itself up. Nothing of the
/// user's runs before the start, and the start comes after the attach;
/// the set-up's own processes, `createContainer` hooks, must start in the
/// container's cgroups, so a plan with any keeps the early attach. (A
/// cgroup2 hierarchy has the child from its clone either way, and Linux's
/// init joins its v1 hierarchies itself, before its first set-up step.)
fn applies_cgroup_late(plan: &Plan) -> bool {
    plan.config.hold
        && !plan
            .config
            .hooks
            .iter()
            .any(|hook| hook.stage == HookStage::CreateContainer)
}

/// The plan's steps, in order.
fn steps(plan: &Plan, interfaces: &[Interface]) -> Vec<Step> {
    let mut steps = Vec::new();
    let late = plan.kind == Kind::Init && plan.cgroup && applies_cgroup_late(plan);
    match plan.kind {
        Kind::Init => {
            if plan.cgroup {
                steps.push(Step::CreateCgroup);
            }
            steps.push(Step::Spawn);
            if plan.id_maps.is_some() {
                steps.extend([Step::IdMaps, Step::Release]);
            }
            if plan.cgroup && !late {
                steps.push(Step::ApplyCgroup);
            }
            steps.extend(
                interfaces
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.has_host_side())
                    .map(|(index, _)| Step::Network { index }),
            );
        }
        Kind::Setns => {
            steps.push(Step::Spawn);
            // Adopt as soon as the report arrives, before the helper's exit:
            // from then on a failure kills the process too.
            if plan.setns_entry == SetnsEntry::Helper {
                steps.extend([Step::ReportPid, Step::Adopt, Step::HelperExit, Step::ReapHelper]);
            }
            if plan.cgroup {
                steps.push(Step::EnterCgroup);
            }
        }
    }
    steps.extend([Step::SendConfig, Step::HalfClose]);
    if late {
        steps.push(Step::ApplyCgroup);
    }
    steps.push(Step::AwaitReady);
    if plan.config.hold {
        steps.extend([Step::AwaitStart, Step::Start]);
    }
    steps.push(Step::AwaitExec);
    steps
}
