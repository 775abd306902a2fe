//! The simulated programs a launch starts.
//!
//! The container process (an init, or a setns process: cloned by the
//! parent, or forked by a setns helper) runs the core's real child
//! machine, [`ChildHandshake`]; the setns helper reports with the core's
//! [`pid_report`]. Each program moves through its
//! points ([`ProcessPoint`], [`HelperPoint`]) one step at a time; on
//! arriving at a point it looks up the faults scripted there.

mod cursor;
mod helper;
mod process;

use cradle_core::launch::Who;
use cradle_core::message::MessageKind;
use cradle_core::{Decoder, Direction, Kind, Limits, Pid};

pub(crate) use self::helper::HelperProgram;
pub(crate) use self::process::ProcessProgram;
use crate::faults::{Fault, FaultScript, ProcessPoint};
use crate::kernel::Kernel;
use crate::socket::SocketId;

/// What a process does when it is scheduled.
#[derive(Debug)]
pub(crate) enum Program {
    /// The container process.
    Process(ProcessProgram),
    /// The setns helper.
    Helper(HelperProgram),
}

impl Program {
    /// An init process; with `hold`, it waits for its release first.
    pub(crate) fn init(socket: SocketId, limits: Limits, hold: bool) -> Program {
        let start = if hold {
            ProcessPoint::AwaitRelease
        } else {
            ProcessPoint::ReadConfig
        };
        Program::Process(ProcessProgram::new(socket, limits, Kind::Init, start))
    }

    /// A setns process cloned into the pid namespace of the container
    /// whose init is `target`: it joins the other namespaces itself.
    pub(crate) fn setns_process(socket: SocketId, limits: Limits, target: Pid) -> Program {
        Program::Process(ProcessProgram::cloned_setns(socket, limits, target))
    }

    /// A setns helper that joins the container whose init is `target`.
    pub(crate) fn helper(socket: SocketId, limits: Limits, target: Pid) -> Program {
        Program::Helper(HelperProgram::new(socket, limits, target))
    }

    /// The socket whose child end it was started with.
    pub(crate) fn socket(&self) -> SocketId {
        match self {
            Program::Process(p) => p.socket,
            Program::Helper(h) => h.socket,
        }
    }

    /// Which of the launch's processes runs it.
    pub(crate) fn who(&self) -> Who {
        match self {
            Program::Process(_) => Who::Process,
            Program::Helper(_) => Who::Helper,
        }
    }

    /// Does one thing; false if it can do nothing now.
    pub(crate) fn step(&mut self, me: Pid, kernel: &mut Kernel, faults: &mut FaultScript) -> bool {
        match self {
            Program::Process(p) => p.step(me, kernel, faults),
            Program::Helper(h) => h.step(me, kernel, faults),
        }
    }

    /// `fault` strikes it.
    pub(crate) fn suffer(&mut self, fault: &Fault, me: Pid, kernel: &mut Kernel) {
        match self {
            Program::Process(p) => p.suffer(fault, me, kernel),
            Program::Helper(h) => h.suffer(fault, me, kernel),
        }
    }
}

/// A line that is not JSON.
const GARBAGE: &[u8] = b"this is not a message\n";

/// A `kind` message padded to one byte over the parent's largest cap.
fn oversized(kind: MessageKind, limits: Limits) -> Vec<u8> {
    let line_cap = Decoder::new(Direction::ToParent, limits).line_cap();
    let head = format!(r#"{{"type":"{kind}","padding":""#);
    let tail = "\"}";
    let padding = (line_cap + 1).saturating_sub(head.len() + tail.len());
    let mut line = Vec::with_capacity(line_cap + 2);
    line.extend_from_slice(head.as_bytes());
    line.resize(line.len() + padding, b'x');
    line.extend_from_slice(tail.as_bytes());
    line.push(b'\n');
    line
}

/// The first half of a message, without its newline.
fn first_half(message: &[u8]) -> &[u8] {
    let line = message.strip_suffix(b"\n").unwrap_or(message);
    &line[..line.len().div_ceil(2)]
}

/// The process name of a setns process (a helper's fork, or cloned).
pub(crate) const SETNS_PROCESS: &str = "setns process";

fn set_parent_error(kernel: &mut Kernel, socket: SocketId, errno: i32) {
    if let Some(pair) = kernel.socket_mut(socket) {
        pair.set_parent_error(errno);
    }
}

#[cfg(test)]
mod tests {
    use cradle_core::framing::encode_to_bytes;
    use cradle_core::{DecodeError, Message};

    use super::*;

    #[test]
    fn an_oversized_line_is_refused_before_its_newline() {
        let limits = Limits::default();
        let line = oversized(MessageKind::Ready, limits);
        let mut decoder = Decoder::new(Direction::ToParent, limits);
        let mut input = &line[..line.len() - 1];
        assert!(matches!(
            decoder.decode(&mut input),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn a_first_half_is_a_truncated_message() {
        let limits = Limits::default();
        let mut decoder = Decoder::new(Direction::ToParent, limits);
        let ready = encode_to_bytes(&Message::ready()).unwrap();
        let mut input = first_half(&ready);
        assert_eq!(decoder.decode(&mut input), Ok(None));
        assert!(matches!(decoder.decode_eof(), Err(DecodeError::Truncated { .. })));
    }
}
