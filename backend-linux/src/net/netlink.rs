//! A blocking rtnetlink connection: one request at a time, answered before
//! the next is sent.
//!
//! The socket belongs to the network namespace of the thread that opened
//! it, so a connection acts on that namespace for its whole life.

use std::io;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
use nix::sys::time::{TimeVal, TimeValLike};

use super::error::{NetError, Operation};

/// How long the kernel may take to answer one request. It answers
/// rtnetlink requests while handling the send, so this only bounds a kernel
/// that misbehaves.
const REPLY_TIMEOUT_SECONDS: u64 = 5;
const REPLY_TIMEOUT: Duration = Duration::from_secs(REPLY_TIMEOUT_SECONDS);

/// The kernel caps one dump datagram at 32 KiB.
const RECEIVE_BUFFER: usize = 32 * 1024;

/// A dump that a concurrent change interrupted is retried this many times.
const DUMP_ATTEMPTS: usize = 3;

/// What a request is about, for its error.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subject<'a> {
    pub(crate) operation: Operation,
    pub(crate) interface: &'a str,
}

impl Subject<'_> {
    pub(crate) fn kernel(self, source: io::Error) -> NetError {
        NetError::Kernel {
            operation: self.operation,
            interface: self.interface.to_owned(),
            source,
        }
    }

    fn reply(self, reason: impl Into<String>) -> NetError {
        NetError::Reply {
            operation: self.operation,
            interface: self.interface.to_owned(),
            reason: reason.into(),
        }
    }
}

/// An rtnetlink socket connected to the kernel.
#[derive(Debug)]
pub(crate) struct Connection {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

/// The messages answering one request.
#[derive(Default)]
struct Replies {
    messages: Vec<RouteNetlinkMessage>,
    /// A dump saw a concurrent change and may be inconsistent.
    interrupted: bool,
}

impl Connection {
    /// Opens a connection in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Connection, NetError> {
        let socket_error = |source| NetError::Socket { source };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(socket_error)?;
        socket.bind_auto().map_err(socket_error)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(socket_error)?;
        let timeout = TimeVal::seconds(REPLY_TIMEOUT_SECONDS as i64);
        setsockopt(&socket, ReceiveTimeout, &timeout).map_err(|errno| socket_error(errno.into()))?;
        Ok(Connection {
            socket,
            sequence: 0,
            buffer: Vec::with_capacity(RECEIVE_BUFFER),
        })
    }

    /// Sends a change (`flags` adds `NLM_F_CREATE`, `NLM_F_EXCL`, ...) and
    /// waits for the kernel's acknowledgement.
    pub(crate) fn change(
        &mut self,
        request: RouteNetlinkMessage,
        flags: u16,
        subject: Subject<'_>,
    ) -> Result<(), NetError> {
        self.exchange(request, flags | NLM_F_ACK, subject).map(drop)
    }

    /// Asks for one object and returns the kernel's answer.
    pub(crate) fn get(
        &mut self,
        request: RouteNetlinkMessage,
        subject: Subject<'_>,
    ) -> Result<RouteNetlinkMessage, NetError> {
        let replies = self.exchange(request, NLM_F_ACK, subject)?;
        replies
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| subject.reply("acknowledged without an answer"))
    }

    /// Asks for every object of a kind.
    pub(crate) fn dump(
        &mut self,
        request: RouteNetlinkMessage,
        subject: Subject<'_>,
    ) -> Result<Vec<RouteNetlinkMessage>, NetError> {
        for _ in 0..DUMP_ATTEMPTS {
            let replies = self.exchange(request.clone(), NLM_F_DUMP, subject)?;
            if !replies.interrupted {
                return Ok(replies.messages);
            }
        }
        Err(subject.reply(format!(
            "dump interrupted by concurrent changes {DUMP_ATTEMPTS} times"
        )))
    }

    /// Sends one request and collects its answer up to the acknowledgement
    /// (or, for a dump, `NLMSG_DONE`).
    fn exchange(
        &mut self,
        request: RouteNetlinkMessage,
        flags: u16,
        subject: Subject<'_>,
    ) -> Result<Replies, NetError> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.sequence;
        let mut message = NetlinkMessage::new(header, NetlinkPayload::from(request));
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        let sent = self
            .socket
            .send(&bytes, 0)
            .map_err(|source| subject.kernel(source))?;
        if sent != bytes.len() {
            return Err(subject.reply(format!("sent {sent} of {} bytes", bytes.len())));
        }

        let deadline = Instant::now() + REPLY_TIMEOUT;
        let mut replies = Replies::default();
        loop {
            if Instant::now() > deadline {
                return Err(subject.kernel(io::Error::from_raw_os_error(libc::ETIMEDOUT)));
            }
            self.receive(subject)?;
            if let Some(outcome) = self.read_datagram(&mut replies, subject) {
                return outcome.map(|()| replies);
            }
        }
    }

    /// Receives one datagram into the buffer.
    fn receive(&mut self, subject: Subject<'_>) -> Result<(), NetError> {
        self.buffer.clear();
        let length = self
            .socket
            .recv(&mut self.buffer, libc::MSG_TRUNC)
            .map_err(|source| {
                if source.kind() == io::ErrorKind::WouldBlock {
                    subject.kernel(io::Error::from_raw_os_error(libc::ETIMEDOUT))
                } else {
                    subject.kernel(source)
                }
            })?;
        if length > self.buffer.len() {
            return Err(subject.reply(format!("a {length}-byte datagram exceeds the receive buffer")));
        }
        Ok(())
    }

    /// Reads the messages of the datagram in the buffer into `replies`;
    /// `Some` once the answer is complete.
    fn read_datagram(&self, replies: &mut Replies, subject: Subject<'_>) -> Option<Result<(), NetError>> {
        let mut rest = &self.buffer[..];
        while !rest.is_empty() {
            let length = match NetlinkBuffer::new_checked(rest) {
                Ok(frame) => frame.length() as usize,
                Err(error) => return Some(Err(subject.reply(error.to_string()))),
            };
            let message = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..length]) {
                Ok(message) => message,
                Err(error) => return Some(Err(subject.reply(error.to_string()))),
            };
            // Messages are padded to 4 bytes; the last one may not be.
            rest = rest.get(length.next_multiple_of(4)..).unwrap_or_default();
            if message.header.sequence_number != self.sequence {
                // The late answer to an earlier request that timed out.
                continue;
            }
            replies.interrupted |= message.header.flags & NLM_F_DUMP_INTR != 0;
            match message.payload {
                NetlinkPayload::InnerMessage(inner) => replies.messages.push(inner),
                NetlinkPayload::Error(error) => {
                    return Some(match error.code {
                        None => Ok(()),
                        Some(code) => Err(subject.kernel(io::Error::from_raw_os_error(-code.get()))),
                    });
                }
                NetlinkPayload::Done(done) if done.code < 0 => {
                    return Some(Err(subject.kernel(io::Error::from_raw_os_error(-done.code))));
                }
                NetlinkPayload::Done(_) => return Some(Ok(())),
                NetlinkPayload::Overrun(_) => return Some(Err(subject.reply("overrun"))),
                _ => {}
            }
        }
        None
    }
}
