//! Waiting: what the parent sees of its child, and the child's turn to run.

use cradle_core::backend::{Wait, Wake};
use cradle_core::Time;

use super::{error, MockBackend};
use crate::process::ProcessState;
use crate::socket::Received;

impl MockBackend {
    fn next_exit(&mut self) -> Option<Wake> {
        let kernel = &self.kernel;
        let (held, status) =
            self.held.iter_mut().filter(|h| !h.exit_reported).find_map(|h| {
                match kernel.process(h.pid).filter(|p| p.serial == h.serial)?.state {
                    ProcessState::Zombie(status) => Some((h, status)),
                    ProcessState::Running | ProcessState::Dying { .. } => None,
                }
            })?;
        held.exit_reported = true;
        Some(Wake::Exited {
            pid: held.pid,
            status,
        })
    }

    fn next_read(&mut self, buf: &mut [u8]) -> Option<Wake> {
        let id = self.socket?;
        if buf.is_empty() {
            return None;
        }
        let Some(socket) = self.kernel.socket_mut(id) else {
            return Some(Wake::Eof);
        };
        match socket.parent_read(buf.len()) {
            Received::Data(bytes) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                Some(Wake::Read(bytes.len()))
            }
            // A reset is the child's end closing with our bytes unread: the
            // `Wait` contract reports it as the end of stream it is.
            Received::Eof | Received::Error(libc::ECONNRESET) => Some(Wake::Eof),
            Received::Error(errno) => Some(Wake::ReadFailed(error("read", errno))),
            Received::Nothing => None,
        }
    }
}

impl Wait for MockBackend {
    /// Reports an exit, bytes or end of stream if there is one (exits
    /// first or last, as the [`Schedule`] says); otherwise lets the
    /// programs step, and the clock move on to the next death of a killed
    /// process, until there is. When nothing can happen before `deadline`,
    /// the clock jumps to it (with no deadline, and no death to come, it
    /// returns at once: only a driver bug waits without one).
    fn wait(&mut self, deadline: Option<Time>, read: bool, buf: &mut [u8]) -> Wake {
        loop {
            if self.options.schedule.exits_first {
                if let Some(wake) = self.next_exit() {
                    return wake;
                }
            }
            if read {
                if let Some(wake) = self.next_read(buf) {
                    return wake;
                }
            }
            if let Some(wake) = self.next_exit() {
                return wake;
            }
            if deadline.is_some_and(|deadline| self.kernel.now() >= deadline) {
                return Wake::Deadline;
            }
            if !self.kernel.progress(deadline) {
                if let Some(deadline) = deadline {
                    self.kernel.advance_to(deadline);
                }
                return Wake::Deadline;
            }
        }
    }
}
