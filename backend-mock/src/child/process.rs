//! The container process: the core's child machine, in a process that can
//! be held, can die, stall or misbehave at each of its points.

use cradle_core::child::pid_report;
use cradle_core::framing::encode_to_bytes;
use cradle_core::message::MessageKind;
use cradle_core::{
    ChildError, ChildEvent, ChildHandshake, ChildStep, ExitStatus, Kind, Limits, Message, Pid, StepTime,
};

use super::cursor::Cursor;
use super::{first_half, oversized, set_parent_error, GARBAGE};
use crate::faults::{set_up_steps, Fault, FaultScript, ProcessPoint};
use crate::kernel::Kernel;
use crate::socket::{Received, SocketId};

/// The container process: (held,) read the config, each set-up step of
/// its kind in turn, `ready`, `exec`, run.
#[derive(Debug)]
pub(crate) struct ProcessProgram {
    pub(super) socket: SocketId,
    limits: Limits,
    /// An init, or a setns process: which set-up steps it runs.
    kind: Kind,
    /// A setns process cloned into the container's pid namespace: the
    /// container's init, whose other namespaces it joins first.
    target: Option<Pid>,
    handshake: ChildHandshake,
    cursor: Cursor<ProcessPoint>,
    /// Set-up failed: the `error` reply goes out once the parent's stream
    /// has ended, then the process exits 1.
    failed: bool,
    /// Its config holds it after `ready` until the parent starts it.
    holds: bool,
    /// Its config asks for its steps' durations with `ready`.
    reports_timings: bool,
}

impl ProcessProgram {
    pub(super) fn new(socket: SocketId, limits: Limits, kind: Kind, start: ProcessPoint) -> ProcessProgram {
        ProcessProgram {
            socket,
            limits,
            kind,
            target: None,
            handshake: ChildHandshake::new(limits),
            cursor: Cursor::new(start),
            failed: false,
            holds: false,
            reports_timings: false,
        }
    }

    /// A setns process cloned into the pid namespace of the container
    /// whose init is `target`: it joins the rest first.
    pub(super) fn cloned_setns(socket: SocketId, limits: Limits, target: Pid) -> ProcessProgram {
        let mut program = ProcessProgram::new(socket, limits, Kind::Setns, ProcessPoint::Join);
        program.target = Some(target);
        program
    }

    pub(super) fn step(&mut self, me: Pid, kernel: &mut Kernel, faults: &mut FaultScript) -> bool {
        if self.cursor.is_stalled() {
            return false;
        }
        if let Some(fault) = self.cursor.arrive(me, self.socket, kernel, faults) {
            self.suffer(&fault, me, kernel);
            return true;
        }
        match self.cursor.point() {
            ProcessPoint::AwaitRelease => {
                if kernel.process(me).is_some_and(|p| p.is_held()) {
                    return false;
                }
                self.cursor.go(ProcessPoint::ReadConfig);
            }
            ProcessPoint::Join => {
                let target = self.target.and_then(|pid| kernel.process(pid));
                if target.is_some_and(|p| p.is_alive()) {
                    self.cursor.go(ProcessPoint::ReadConfig);
                } else {
                    // Nothing to join: it says so at once, as a helper
                    // would, and exits.
                    let error = Message::Error(ChildError {
                        message: "simulated setns failure".to_owned(),
                        step: ChildStep::Setns,
                        errno: Some(libc::ESRCH),
                    });
                    kernel.child_send(me, self.socket, &encode_to_bytes(&error).unwrap_or_default());
                    kernel.exit(me, ExitStatus::Exited(1));
                }
            }
            ProcessPoint::ReadConfig => return self.read(me, kernel),
            // The step is done (the mock has nothing to apply): on to the
            // next, or, after the last, `ready`.
            ProcessPoint::SetUp(step) => match self.step_after(step) {
                Some(next) => self.cursor.go(ProcessPoint::SetUp(next)),
                None => {
                    if self.handshake.ready_with_timings(self.timings()).is_err() {
                        kernel.exit(me, ExitStatus::Exited(1));
                        return true;
                    }
                    self.flush(me, kernel);
                    self.cursor.go(if self.holds {
                        ProcessPoint::AwaitStart
                    } else {
                        ProcessPoint::Exec
                    });
                }
            },
            ProcessPoint::AwaitStart => {
                let process = kernel.process(me);
                if process.is_some_and(|p| p.is_started()) {
                    // A resuming launcher hears of the `exec` on its own
                    // channel.
                    if let Some(socket) = process.and_then(|p| p.resumed_on) {
                        self.socket = socket;
                    }
                    self.cursor.go(ProcessPoint::Exec);
                } else if process.is_some_and(|p| p.is_handed_off()) {
                    return false;
                } else if kernel.socket(self.socket).is_none_or(|s| !s.parent_open()) {
                    // Its parent went away before recording it: the user's
                    // command must not run unrecorded.
                    kernel.exit(me, ExitStatus::Exited(0));
                } else {
                    return false;
                }
            }
            ProcessPoint::Exec => {
                kernel.exec(me);
                self.cursor.go(ProcessPoint::Run);
            }
            ProcessPoint::Run => return false,
        }
        true
    }

    /// Its set-up steps' durations, when its config asks: each takes no
    /// virtual time here.
    fn timings(&self) -> Vec<StepTime> {
        if !self.reports_timings {
            return Vec::new();
        }
        set_up_steps(self.kind)
            .iter()
            .map(|&step| StepTime { step, nanos: 0 })
            .collect()
    }

    /// Reads what there is of the config, up to the parent's end of stream.
    fn read(&mut self, me: Pid, kernel: &mut Kernel) -> bool {
        if !self.handshake.wants_read() {
            return false;
        }
        match kernel.child_read(me, self.socket) {
            Received::Data(bytes) => self.handshake.handle_read(&bytes),
            Received::Eof => self.handshake.handle_eof(),
            // The parent reset the socket: nobody is left to reply to.
            Received::Error(_) => {
                kernel.exit(me, ExitStatus::Exited(1));
                return true;
            }
            Received::Nothing => return false,
        }
        while let Some(event) = self.handshake.poll_event() {
            match event {
                ChildEvent::Config(config) => {
                    self.holds = config.hold;
                    self.reports_timings = config.report_timings;
                    self.cursor.go(ProcessPoint::SetUp(self.steps()[0]));
                }
                ChildEvent::Failed(_) => self.failed = true,
            }
        }
        self.flush(me, kernel);
        self.exit_once_replied(me, kernel);
        true
    }

    /// Its set-up steps, in order.
    fn steps(&self) -> &'static [ChildStep] {
        set_up_steps(self.kind)
    }

    /// The set-up step after `step`; `None` after the last.
    fn step_after(&self, step: ChildStep) -> Option<ChildStep> {
        let steps = self.steps();
        let index = steps.iter().position(|&s| s == step)?;
        steps.get(index + 1).copied()
    }

    fn flush(&mut self, me: Pid, kernel: &mut Kernel) {
        if let Some(bytes) = self.handshake.poll_transmit() {
            kernel.child_send(me, self.socket, &bytes);
        }
    }

    fn exit_once_replied(&mut self, me: Pid, kernel: &mut Kernel) {
        if self.failed && !self.handshake.wants_read() {
            kernel.exit(me, ExitStatus::Exited(1));
        }
    }

    pub(super) fn suffer(&mut self, fault: &Fault, me: Pid, kernel: &mut Kernel) {
        let ready = || encode_to_bytes(&Message::ready()).unwrap_or_default();
        match *fault {
            Fault::Die { status, .. } => kernel.exit(me, status),
            Fault::Stall { .. } => self.cursor.stall(),
            Fault::Garbage { .. } => kernel.child_send(me, self.socket, GARBAGE),
            Fault::Oversized { .. } => {
                kernel.child_send(me, self.socket, &oversized(MessageKind::Ready, self.limits));
            }
            Fault::Truncated { .. } => {
                kernel.child_send(me, self.socket, first_half(&ready()));
                kernel.exit(me, ExitStatus::Exited(0));
            }
            Fault::Unexpected { .. } => kernel.child_send(me, self.socket, &pid_report(me.as_raw())),
            Fault::Refuse { errno, .. } => {
                self.failed = true;
                self.handshake.fail(ChildError {
                    message: format!("simulated failure at {:?}", self.cursor.point()),
                    step: child_step(self.cursor.point()),
                    errno: Some(errno),
                });
                self.flush(me, kernel);
                self.exit_once_replied(me, kernel);
            }
            Fault::Hangup { .. } => {
                kernel.close_child_end(me, self.socket);
                self.cursor.go(ProcessPoint::Run);
            }
            // A reset is the peer's end closing with data unread: it comes
            // with the close, never while the child still holds its end.
            Fault::SocketError {
                errno: libc::ECONNRESET,
                ..
            } => {
                set_parent_error(kernel, self.socket, libc::ECONNRESET);
                kernel.close_child_end(me, self.socket);
            }
            Fault::SocketError { errno, .. } => set_parent_error(kernel, self.socket, errno),
            Fault::Fail { .. }
            | Fault::FailPartway { .. }
            | Fault::Slow { .. }
            | Fault::ForgedPid(_)
            | Fault::SlowToDie { .. } => {}
        }
    }
}

/// The child's step a failure at `point` names.
fn child_step(point: ProcessPoint) -> ChildStep {
    match point {
        ProcessPoint::AwaitRelease => ChildStep::Namespaces,
        ProcessPoint::Join => ChildStep::Setns,
        ProcessPoint::ReadConfig => ChildStep::Config,
        ProcessPoint::SetUp(step) => step,
        ProcessPoint::AwaitStart | ProcessPoint::Exec | ProcessPoint::Run => ChildStep::Exec,
    }
}
