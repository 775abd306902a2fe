//! Newline-delimited JSON framing: an encoder and an incremental decoder.
//!
//! The decoder never holds more than one message's cap of bytes: it takes
//! input only up to the end of the current line, and a line that grows past
//! the largest cap it accepts is rejected as soon as it does, before the
//! newline arrives. JSON escapes newlines inside strings, so a raw `\n`
//! always ends a message.

use bytes::{Bytes, BytesMut};

use crate::message::{Message, MessageKind};

/// Per-message size caps, in bytes, not counting the newline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `config`: 1 MiB by default, room for a large environment and mount
    /// table.
    pub config: usize,
    /// `pid`: 64 bytes by default; a pid is at most ten digits.
    pub pid: usize,
    /// `ready`: 4 KiB by default, room for the timings of every set-up
    /// step (about 60 bytes each) when the config asks for them.
    pub ready: usize,
    /// `error`: 64 KiB by default, room for a long message and path.
    pub error: usize,
}

impl Limits {
    /// The cap for one message type.
    pub fn cap(&self, kind: MessageKind) -> usize {
        match kind {
            MessageKind::Config => self.config,
            MessageKind::Pid => self.pid,
            MessageKind::Ready => self.ready,
            MessageKind::Error => self.error,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            config: 1 << 20,
            pid: 64,
            ready: 4 << 10,
            error: 64 << 10,
        }
    }
}

/// Which end of the socket a decoder serves, and so which messages it
/// accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Messages the parent receives: `pid`, `ready`, `error`.
    ToParent,
    /// Messages the child receives: `config`.
    ToChild,
}

impl Direction {
    /// Whether a message of `kind` travels in this direction.
    pub fn accepts(self, kind: MessageKind) -> bool {
        match self {
            Direction::ToParent => kind != MessageKind::Config,
            Direction::ToChild => kind == MessageKind::Config,
        }
    }

    fn kinds(self) -> &'static [MessageKind] {
        match self {
            Direction::ToParent => &[MessageKind::Pid, MessageKind::Ready, MessageKind::Error],
            Direction::ToChild => &[MessageKind::Config],
        }
    }
}

/// The peer sent something that is not a valid message for this end.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line grew past the largest cap, before its newline arrived.
    #[error("message longer than {cap} bytes")]
    TooLong {
        /// The cap it passed.
        cap: usize,
    },
    /// A complete message is over its type's cap.
    #[error("{kind} message of {len} bytes is over its cap of {cap}")]
    OverCap {
        /// Its type.
        kind: MessageKind,
        /// Its length.
        len: usize,
        /// The cap for its type.
        cap: usize,
    },
    /// A line that is not a valid message.
    #[error("malformed message: {reason}")]
    Malformed {
        /// What the JSON parser said.
        reason: String,
    },
    /// A valid message that does not travel in this direction.
    #[error("unexpected {kind} message")]
    WrongDirection {
        /// Its type.
        kind: MessageKind,
    },
    /// The peer closed the stream inside a message.
    #[error("end of stream inside a message ({buffered} bytes without a newline)")]
    Truncated {
        /// How many bytes of the message had arrived.
        buffered: usize,
    },
}

/// Appends `message` and its newline to `dst`.
pub fn encode(message: &Message, dst: &mut BytesMut) -> Result<(), EncodeError> {
    let json = serde_json::to_vec(message).map_err(|e| EncodeError(e.to_string()))?;
    dst.reserve(json.len() + 1);
    dst.extend_from_slice(&json);
    dst.extend_from_slice(b"\n");
    Ok(())
}

/// `message` as one line.
pub fn encode_to_bytes(message: &Message) -> Result<Bytes, EncodeError> {
    let mut dst = BytesMut::new();
    encode(message, &mut dst)?;
    Ok(dst.freeze())
}

/// A message could not be serialized (a path that is not UTF-8).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(pub String);

/// An incremental decoder for one direction of the socket.
///
/// Feed it bytes in any chunking, down to one byte at a time; it yields the
/// same messages. After it returns an error the stream is unusable: the
/// caller fails the launch.
#[derive(Debug)]
pub struct Decoder {
    direction: Direction,
    limits: Limits,
    /// The largest cap among the accepted types: no line may grow past it.
    line_cap: usize,
    /// The current line, without its newline.
    partial: BytesMut,
}

impl Decoder {
    /// A decoder for `direction` with the given caps.
    pub fn new(direction: Direction, limits: Limits) -> Decoder {
        let line_cap = direction
            .kinds()
            .iter()
            .map(|&kind| limits.cap(kind))
            .max()
            .unwrap_or(0);
        Decoder {
            direction,
            limits,
            line_cap,
            partial: BytesMut::new(),
        }
    }

    /// How many bytes of an unfinished message are held.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// The most bytes this decoder will ever hold.
    pub fn line_cap(&self) -> usize {
        self.line_cap
    }

    /// Takes bytes from the front of `input` up to the end of the next
    /// message and returns it, or takes all of `input` and returns `None`
    /// when no message is complete yet.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Message>, DecodeError> {
        match input.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let (line, rest) = input.split_at(end);
                *input = &rest[1..];
                let message = if self.partial.is_empty() {
                    // Fast path: the whole line is in the input; no copy.
                    self.parse(line)
                } else {
                    self.take(line)?;
                    let line = self.partial.split().freeze();
                    self.parse(&line)
                };
                message.map(Some)
            }
            None => {
                self.take(input)?;
                *input = &[];
                Ok(None)
            }
        }
    }

    /// The peer closed its end: an error if a message was left unfinished.
    pub fn decode_eof(&self) -> Result<(), DecodeError> {
        match self.partial.len() {
            0 => Ok(()),
            buffered => Err(DecodeError::Truncated { buffered }),
        }
    }

    /// Appends part of a line, refusing to grow past the line cap.
    fn take(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        if self.partial.len() + bytes.len() > self.line_cap {
            self.partial.clear();
            return Err(DecodeError::TooLong { cap: self.line_cap });
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    fn parse(&self, line: &[u8]) -> Result<Message, DecodeError> {
        if line.len() > self.line_cap {
            return Err(DecodeError::TooLong { cap: self.line_cap });
        }
        let message: Message = serde_json::from_slice(line).map_err(|e| DecodeError::Malformed {
            reason: e.to_string(),
        })?;
        let kind = message.kind();
        if !self.direction.accepts(kind) {
            return Err(DecodeError::WrongDirection { kind });
        }
        let cap = self.limits.cap(kind);
        if line.len() > cap {
            return Err(DecodeError::OverCap {
                kind,
                len: line.len(),
                cap,
            });
        }
        Ok(message)
    }
}
