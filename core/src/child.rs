//! The child side of the handshake: receive the config, reply `ready` or
//! `error`.

use bytes::Bytes;

use crate::config::{Config, PROTOCOL_VERSION};
use crate::framing::{encode_to_bytes, Decoder, Direction, Limits};
use crate::message::{ChildError, ChildStep, Message, StepTime};

/// What the child's handshake tells the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildEvent {
    /// The parent's config arrived whole, followed by the parent's
    /// half-close. Set up, then call [`ChildHandshake::ready`] or
    /// [`ChildHandshake::fail`].
    Config(Box<Config>),
    /// The parent sent something unusable. The handshake has queued an
    /// `error` reply saying so; send it, then exit non-zero.
    Failed(ChildError),
}

/// The child's end of the handshake.
///
/// Feed it the socket's bytes and its end of stream; drain
/// [`poll_event`](ChildHandshake::poll_event), then
/// [`poll_transmit`](ChildHandshake::poll_transmit) for bytes to write.
///
/// A failure is not replied at once: the reply waits until the parent's
/// half-close has been read, so the child never closes a socket with unread
/// data in it (which would reset the connection, and the parent would see a
/// reset instead of the error). While draining, bytes are counted, not kept.
#[derive(Debug)]
pub struct ChildHandshake {
    decoder: Decoder,
    /// The parent's cap on an `error` reply, which a reply must fit.
    error_cap: usize,
    state: State,
    eof: bool,
    config: Option<Box<Config>>,
    /// A reply waiting for the parent's end of stream.
    held: Option<Message>,
    transmit: Option<Bytes>,
    events: Vec<ChildEvent>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the config and the end of stream after it.
    Receiving,
    /// The config was delivered; the child is setting up.
    Configured,
    /// `ready` was sent; an `error` may still follow (a failed `exec`).
    Ready,
    /// `error` was sent or is held.
    Failed,
}

/// The handshake was used out of order: a bug in the child program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ready before the config was delivered, or after a failure")]
pub struct NotConfigured;

impl ChildHandshake {
    /// A handshake with the given caps on what the parent may send.
    pub fn new(limits: Limits) -> ChildHandshake {
        ChildHandshake {
            decoder: Decoder::new(Direction::ToChild, limits),
            error_cap: limits.error,
            state: State::Receiving,
            eof: false,
            config: None,
            held: None,
            transmit: None,
            events: Vec::new(),
        }
    }

    /// How many bytes of an unfinished message are held.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Whether the child should keep reading the socket.
    pub fn wants_read(&self) -> bool {
        !self.eof
    }

    /// Bytes from the parent.
    pub fn handle_read(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.state != State::Receiving {
                // Draining after a failure: count nothing, keep nothing.
                return;
            }
            match self.decoder.decode(&mut data) {
                Ok(Some(Message::Config(config))) if self.config.is_none() => {
                    self.config = Some(config);
                }
                Ok(Some(other)) => self.protocol_error(format!("unexpected {} message", other.kind())),
                Ok(None) => {}
                Err(error) => self.protocol_error(error.to_string()),
            }
        }
    }

    /// The parent half-closed the socket.
    pub fn handle_eof(&mut self) {
        if self.eof {
            return;
        }
        self.eof = true;
        if self.state == State::Receiving {
            if let Err(error) = self.decoder.decode_eof() {
                self.protocol_error(error.to_string());
            } else {
                match self.config.take() {
                    Some(config) if config.version != PROTOCOL_VERSION => self.protocol_error(format!(
                        "protocol version {} is not {PROTOCOL_VERSION}",
                        config.version
                    )),
                    Some(config) => {
                        self.state = State::Configured;
                        self.events.push(ChildEvent::Config(config));
                    }
                    None => self.protocol_error("end of stream before the config".to_owned()),
                }
            }
        }
        if let Some(message) = self.held.take() {
            self.queue(&message);
        }
    }

    /// Set-up is done: queue `ready`. `exec` is next.
    pub fn ready(&mut self) -> Result<(), NotConfigured> {
        self.ready_with_timings(Vec::new())
    }

    /// [`ready`](ChildHandshake::ready), with how long each set-up step
    /// took (for a config that asks: [`Config::report_timings`]).
    pub fn ready_with_timings(&mut self, timings: Vec<StepTime>) -> Result<(), NotConfigured> {
        if self.state != State::Configured {
            return Err(NotConfigured);
        }
        self.state = State::Ready;
        self.queue(&Message::Ready { timings });
        Ok(())
    }

    /// Set-up failed: queue `error`, sent once the parent's stream has
    /// ended. A second failure is dropped: the first is the cause. A message
    /// too long for the parent's cap (the `error` cap of this handshake's
    /// limits) is cut short, so the parent reads the error rather than
    /// refusing an oversized reply.
    pub fn fail(&mut self, mut error: ChildError) {
        if self.state == State::Failed {
            return;
        }
        fit(&mut error, self.error_cap);
        self.state = State::Failed;
        let message = Message::Error(error);
        if self.eof {
            self.queue(&message);
        } else {
            self.held = Some(message);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ChildEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    /// Bytes to write to the parent.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.take()
    }

    fn protocol_error(&mut self, message: String) {
        if self.state == State::Failed {
            return;
        }
        let error = ChildError {
            message,
            step: ChildStep::Config,
            errno: None,
        };
        self.events.push(ChildEvent::Failed(error.clone()));
        self.fail(error);
    }

    fn queue(&mut self, message: &Message) {
        // Replies hold no paths, so they always encode.
        if let Ok(bytes) = encode_to_bytes(message) {
            let mut joined = self.transmit.take().map(Vec::from).unwrap_or_default();
            joined.extend_from_slice(&bytes);
            self.transmit = Some(Bytes::from(joined));
        }
    }
}

/// Cuts `error`'s message until its `error` line fits `cap` bytes. Each
/// pass drops at least the excess (a message byte encodes to one byte or
/// more), so it ends in a pass or two.
fn fit(error: &mut ChildError, cap: usize) {
    loop {
        let len = encoded_len(error);
        if len <= cap || error.message.is_empty() {
            return;
        }
        let keep = error.message.len().saturating_sub(len - cap);
        truncate(&mut error.message, keep);
    }
}

/// The length of `error`'s line, without its newline.
fn encoded_len(error: &ChildError) -> usize {
    encode_to_bytes(&Message::Error(error.clone())).map_or(0, |bytes| bytes.len() - 1)
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
    }
}

/// The setns helper's report of the process it forked.
pub fn pid_report(pid: i32) -> Bytes {
    // A `pid` message always encodes.
    encode_to_bytes(&Message::Pid { pid }).unwrap_or_default()
}
