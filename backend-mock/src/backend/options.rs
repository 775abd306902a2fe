//! How a backend is set up, and how its world delivers what happens.

use cradle_core::Limits;

/// How the simulated world delivers what happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The most bytes one read delivers, at either end of the socket.
    pub chunk: usize,
    /// A wait reports a process's exit before the bytes it wrote (the
    /// launch must accept either order).
    pub exits_first: bool,
    /// The most bytes the parent's sends may queue unread; a send waits,
    /// up to its deadline, for the child to read the rest.
    pub buffer: usize,
}

/// Linux's default socket send buffer (`net.core.wmem_default`).
pub const SOCKET_BUFFER: usize = 212_992;

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            chunk: 64 << 10,
            exits_first: false,
            buffer: SOCKET_BUFFER,
        }
    }
}

/// How a backend is set up.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The launch's caps: the child's handshake uses them, and oversized
    /// messages are sized by them.
    pub limits: Limits,
    /// Chunking and ordering.
    pub schedule: Schedule,
    /// The cgroup an init launch creates; by default `/cradle-<n>` for the
    /// kernel's `n`th launch.
    pub cgroup: Option<String>,
}
