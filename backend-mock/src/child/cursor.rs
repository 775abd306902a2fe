//! [`Cursor`]: where a simulated program is in its life, and what was
//! scripted to strike it there.

use cradle_core::Pid;

use crate::faults::{At, Fault, FaultScript};
use crate::kernel::Kernel;
use crate::socket::SocketId;

/// A program's point, whether it has looked up the faults scripted there,
/// and whether one of them stalled it for good.
#[derive(Debug)]
pub(super) struct Cursor<P> {
    point: P,
    arrived: bool,
    stalled: bool,
}

impl<P: Copy + Into<At>> Cursor<P> {
    pub(super) fn new(start: P) -> Cursor<P> {
        Cursor {
            point: start,
            arrived: false,
            stalled: false,
        }
    }

    pub(super) fn point(&self) -> P {
        self.point
    }

    /// Moves on to `point`, whose faults are still to be looked up.
    pub(super) fn go(&mut self, point: P) {
        self.point = point;
        self.arrived = false;
    }

    /// No progress from now on: only the deadline, or a kill, ends it.
    pub(super) fn stall(&mut self) {
        self.stalled = true;
    }

    pub(super) fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// On arriving at its point (once per point), the first fault scripted
    /// there. One that writes or closes the socket strikes only a program
    /// that still holds its end.
    pub(super) fn arrive(
        &mut self,
        me: Pid,
        socket: SocketId,
        kernel: &Kernel,
        faults: &mut FaultScript,
    ) -> Option<Fault> {
        if self.arrived {
            return None;
        }
        self.arrived = true;
        let at = self.point.into();
        let holds_socket = kernel.holds(me, socket);
        faults.take(|f| f.at() == Some(at) && (holds_socket || !f.uses_socket()))
    }
}
