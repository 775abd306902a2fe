//! A `SOCK_STREAM` socketpair: two byte queues, the parent's end, and the
//! child's end as the set of processes holding a copy of it.
//!
//! It keeps the Linux behaviours the launch depends on: the child's end
//! closes when its last holder closes it (exit, `exec`), reads deliver at
//! most a chunk, and closing an end with unread bytes in it resets the
//! other end (`ECONNRESET` on its next read, after the bytes it has).

use std::collections::{BTreeSet, VecDeque};

use cradle_core::Pid;

use crate::kernel::LaunchId;

/// Names a socketpair in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(pub(crate) u32);

/// What a read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Some bytes (never empty).
    Data(Vec<u8>),
    /// The other end is shut for writing or closed, and nothing is left.
    Eof,
    /// A pending error, reported once.
    Error(i32),
    /// Nothing yet: a read would block.
    Nothing,
}

/// One socketpair.
#[derive(Debug)]
pub struct SocketPair {
    pub(crate) launch: LaunchId,
    /// The most bytes one read delivers, at either end.
    chunk: usize,
    /// The most bytes the parent's writes may queue unread (the child's
    /// writes are few and small, and never wait).
    buffer: usize,
    to_parent: VecDeque<u8>,
    to_child: VecDeque<u8>,
    parent_open: bool,
    parent_shut_write: bool,
    parent_error: Option<i32>,
    child_error: Option<i32>,
    child_holders: BTreeSet<Pid>,
}

impl SocketPair {
    pub(crate) fn new(launch: LaunchId, chunk: usize, buffer: usize, holder: Pid) -> SocketPair {
        SocketPair {
            launch,
            chunk: chunk.max(1),
            buffer: buffer.max(1),
            to_parent: VecDeque::new(),
            to_child: VecDeque::new(),
            parent_open: true,
            parent_shut_write: false,
            parent_error: None,
            child_error: None,
            child_holders: BTreeSet::from([holder]),
        }
    }

    /// The parent's end is open.
    pub fn parent_open(&self) -> bool {
        self.parent_open
    }

    /// The processes holding the child's end.
    pub fn child_holders(&self) -> impl Iterator<Item = Pid> + '_ {
        self.child_holders.iter().copied()
    }

    /// Both ends are closed: the kernel forgets it.
    pub(crate) fn is_gone(&self) -> bool {
        !self.parent_open && self.child_holders.is_empty()
    }

    pub(crate) fn holds(&self, pid: Pid) -> bool {
        self.child_holders.contains(&pid)
    }

    /// A non-blocking `write` on the parent's end: as much of `bytes` as
    /// the buffer has room for; how much that was.
    pub(crate) fn parent_send(&mut self, bytes: &[u8]) -> Result<usize, i32> {
        if !self.parent_open {
            return Err(libc::EBADF);
        }
        if self.parent_shut_write || self.child_holders.is_empty() {
            return Err(libc::EPIPE);
        }
        let room = self.buffer.saturating_sub(self.to_child.len());
        let n = room.min(bytes.len());
        self.to_child.extend(&bytes[..n]);
        Ok(n)
    }

    /// `shutdown(SHUT_WR)` on the parent's end.
    pub(crate) fn parent_shutdown_write(&mut self) -> Result<(), i32> {
        if !self.parent_open {
            return Err(libc::EBADF);
        }
        self.parent_shut_write = true;
        Ok(())
    }

    /// `close` of the parent's end; nothing to do when it is closed.
    pub(crate) fn parent_close(&mut self) {
        if !self.parent_open {
            return;
        }
        self.parent_open = false;
        if !self.to_parent.is_empty() {
            self.child_error = Some(libc::ECONNRESET);
        }
        self.to_parent.clear();
    }

    /// `read` on the parent's end, up to `max` bytes.
    pub(crate) fn parent_read(&mut self, max: usize) -> Received {
        if !self.parent_open {
            return Received::Error(libc::EBADF);
        }
        let open = !self.child_holders.is_empty();
        read(
            &mut self.to_parent,
            &mut self.parent_error,
            open,
            self.chunk.min(max),
        )
    }

    /// Makes the parent's next read fail with `errno`.
    pub(crate) fn set_parent_error(&mut self, errno: i32) {
        self.parent_error = Some(errno);
    }

    /// `write` by a holder of the child's end.
    pub(crate) fn child_send(&mut self, pid: Pid, bytes: &[u8]) -> Result<(), i32> {
        if !self.holds(pid) {
            return Err(libc::EBADF);
        }
        if !self.parent_open {
            return Err(libc::EPIPE);
        }
        self.to_parent.extend(bytes);
        Ok(())
    }

    /// `read` by a holder of the child's end.
    pub(crate) fn child_read(&mut self, pid: Pid) -> Received {
        if !self.holds(pid) {
            return Received::Error(libc::EBADF);
        }
        let open = self.parent_open && !self.parent_shut_write;
        read(&mut self.to_child, &mut self.child_error, open, self.chunk)
    }

    /// A fork: `pid` gets a copy of the child's end.
    pub(crate) fn child_dup(&mut self, pid: Pid) {
        self.child_holders.insert(pid);
    }

    /// `pid` closes its copy of the child's end; the last copy closes it.
    pub(crate) fn child_close(&mut self, pid: Pid) {
        if !self.child_holders.remove(&pid) || !self.child_holders.is_empty() {
            return;
        }
        if !self.to_child.is_empty() && self.parent_open {
            self.parent_error = Some(libc::ECONNRESET);
        }
        self.to_child.clear();
    }
}

/// Bytes first, then a pending error (once), then end of stream if the
/// writer is gone.
fn read(queue: &mut VecDeque<u8>, error: &mut Option<i32>, writer_open: bool, max: usize) -> Received {
    if !queue.is_empty() {
        let n = max.max(1).min(queue.len());
        return Received::Data(queue.drain(..n).collect());
    }
    if let Some(errno) = error.take() {
        return Received::Error(errno);
    }
    if writer_open {
        Received::Nothing
    } else {
        Received::Eof
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(raw: i32) -> Pid {
        Pid::new(raw).unwrap()
    }

    #[test]
    fn reads_come_in_chunks_then_eof_after_the_last_holder_closes() {
        let mut socket = SocketPair::new(LaunchId(0), 2, 64, pid(10));
        socket.child_dup(pid(11));
        assert_eq!(socket.child_send(pid(10), b"abc"), Ok(()));
        socket.child_close(pid(10));
        assert_eq!(socket.parent_read(100), Received::Data(b"ab".to_vec()));
        assert_eq!(socket.parent_read(100), Received::Data(b"c".to_vec()));
        assert_eq!(socket.parent_read(100), Received::Nothing);
        socket.child_close(pid(11));
        assert_eq!(socket.parent_read(100), Received::Eof);
    }

    #[test]
    fn closing_with_unread_bytes_resets_the_other_end_once() {
        let mut socket = SocketPair::new(LaunchId(0), 64, 64, pid(10));
        assert_eq!(socket.child_send(pid(10), b"partial"), Ok(()));
        assert_eq!(socket.parent_send(b"config\n"), Ok(7));
        socket.child_close(pid(10));
        assert_eq!(socket.parent_read(100), Received::Data(b"partial".to_vec()));
        assert_eq!(socket.parent_read(100), Received::Error(libc::ECONNRESET));
        assert_eq!(socket.parent_read(100), Received::Eof);
        assert!(!socket.is_gone());
        socket.parent_close();
        assert!(socket.is_gone());
    }

    #[test]
    fn the_child_reads_eof_after_the_half_close_and_writes_fail_once_the_parent_closed() {
        let mut socket = SocketPair::new(LaunchId(0), 64, 2, pid(10));
        assert_eq!(socket.parent_send(b"xyz"), Ok(2));
        assert_eq!(socket.parent_shutdown_write(), Ok(()));
        assert_eq!(socket.parent_send(b"y"), Err(libc::EPIPE));
        assert_eq!(socket.child_read(pid(10)), Received::Data(b"xy".to_vec()));
        assert_eq!(socket.child_read(pid(10)), Received::Eof);
        assert_eq!(socket.child_read(pid(99)), Received::Error(libc::EBADF));
        socket.parent_close();
        assert_eq!(socket.child_send(pid(10), b"late"), Err(libc::EPIPE));
    }
}
