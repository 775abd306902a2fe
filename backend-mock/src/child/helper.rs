//! The setns helper: joins the container's cgroups and then the container,
//! forks the process as the parent's child, reports its pid (or a forged
//! one), exits 0.

use cradle_core::child::pid_report;
use cradle_core::framing::encode_to_bytes;
use cradle_core::message::MessageKind;
use cradle_core::{ChildError, ChildStep, ExitStatus, Kind, Limits, Message, Pid};

use super::cursor::Cursor;
use super::{first_half, oversized, set_parent_error, ProcessProgram, Program, GARBAGE};
use crate::faults::{Fault, FaultScript, Forgery, HelperPoint, ProcessPoint};
use crate::kernel::Kernel;
use crate::socket::SocketId;

/// The setns helper: join, fork the process, report its pid, exit 0.
#[derive(Debug)]
pub(crate) struct HelperProgram {
    pub(super) socket: SocketId,
    limits: Limits,
    /// The container's init, whose namespaces it joins.
    target: Pid,
    cursor: Cursor<HelperPoint>,
    /// The pid it reports (once it has forked, or forged one).
    report: Option<i32>,
}

impl HelperProgram {
    pub(super) fn new(socket: SocketId, limits: Limits, target: Pid) -> HelperProgram {
        HelperProgram {
            socket,
            limits,
            target,
            cursor: Cursor::new(HelperPoint::JoinCgroups),
            report: None,
        }
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
            HelperPoint::JoinCgroups => self.cursor.go(HelperPoint::Join),
            HelperPoint::Join => {
                if kernel.process(self.target).is_some_and(|p| p.is_alive()) {
                    self.cursor.go(HelperPoint::Fork);
                } else {
                    self.refuse(me, kernel, ChildStep::Setns, libc::ESRCH);
                }
            }
            HelperPoint::Fork => {
                let report = match faults.forgery() {
                    Some(forgery) => forge(forgery, me, kernel),
                    None => {
                        let process = Program::Process(ProcessProgram::new(
                            self.socket,
                            self.limits,
                            Kind::Setns,
                            ProcessPoint::ReadConfig,
                        ));
                        match kernel.fork_sibling(me, super::SETNS_PROCESS, process) {
                            Ok(pid) => pid.as_raw(),
                            Err(errno) => {
                                self.refuse(me, kernel, ChildStep::Fork, errno);
                                return true;
                            }
                        }
                    }
                };
                self.report = Some(report);
                self.cursor.go(HelperPoint::Report);
            }
            HelperPoint::Report => {
                let report = self.report.unwrap_or(me.as_raw());
                kernel.child_send(me, self.socket, &pid_report(report));
                self.cursor.go(HelperPoint::Exit);
            }
            HelperPoint::Exit => kernel.exit(me, ExitStatus::Exited(0)),
        }
        true
    }

    /// Reports a set-up failure and exits 1.
    fn refuse(&mut self, me: Pid, kernel: &mut Kernel, step: ChildStep, errno: i32) {
        let error = Message::Error(ChildError {
            message: format!("simulated {step} failure"),
            step,
            errno: Some(errno),
        });
        kernel.child_send(me, self.socket, &encode_to_bytes(&error).unwrap_or_default());
        kernel.exit(me, ExitStatus::Exited(1));
    }

    pub(super) fn suffer(&mut self, fault: &Fault, me: Pid, kernel: &mut Kernel) {
        match *fault {
            Fault::Die { status, .. } => kernel.exit(me, status),
            Fault::Stall { .. } => self.cursor.stall(),
            Fault::Garbage { .. } => kernel.child_send(me, self.socket, GARBAGE),
            Fault::Oversized { .. } => {
                kernel.child_send(me, self.socket, &oversized(MessageKind::Pid, self.limits));
            }
            Fault::Truncated { .. } => {
                let report = pid_report(self.report.unwrap_or(me.as_raw()));
                kernel.child_send(me, self.socket, first_half(&report));
                kernel.exit(me, ExitStatus::Exited(0));
            }
            Fault::Unexpected { .. } => {
                let ready = encode_to_bytes(&Message::ready()).unwrap_or_default();
                kernel.child_send(me, self.socket, &ready);
            }
            Fault::Refuse { errno, .. } => {
                let step = match self.cursor.point() {
                    HelperPoint::JoinCgroups => ChildStep::Cgroup,
                    HelperPoint::Join => ChildStep::Setns,
                    HelperPoint::Fork => ChildStep::Fork,
                    HelperPoint::Report | HelperPoint::Exit => ChildStep::Report,
                };
                self.refuse(me, kernel, step, errno);
            }
            Fault::Hangup { .. } => {
                kernel.close_child_end(me, self.socket);
                kernel.exit(me, ExitStatus::Exited(0));
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

/// The pid a forging helper reports.
fn forge(forgery: Forgery, me: Pid, kernel: &Kernel) -> i32 {
    match forgery {
        Forgery::Zero => 0,
        Forgery::Negative => -1,
        Forgery::Helper => me.as_raw(),
        Forgery::Stranger => kernel.host_init().as_raw(),
        Forgery::Sibling => kernel.container().init.as_raw(),
        Forgery::Vacant => kernel.vacant_pid().map_or(i32::MAX, Pid::as_raw),
        Forgery::Raw(pid) => pid,
    }
}
