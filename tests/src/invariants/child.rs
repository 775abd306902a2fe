//! The child's handshake under an arbitrary script of parent bytes, end of
//! stream, and the child program's own `ready`/`fail` calls.

use cradle_core::child::NotConfigured;
use cradle_core::config::{Interface, Veth};
use cradle_core::framing::encode_to_bytes;
use cradle_core::message::ChildStep;
use cradle_core::{
    ChildError, ChildEvent, ChildHandshake, Config, DecodeError, Decoder, Direction, Limits, Message,
    Namespace, NamespaceKind, PROTOCOL_VERSION,
};

/// One scripted run of a child's handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInput {
    /// The caps on what the parent may send.
    pub limits: Limits,
    /// What happens, in order. The run ends with the parent's end of
    /// stream if the script has none.
    pub ops: Vec<ChildOp>,
}

/// One thing that happens to the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildOp {
    /// The parent writes these bytes (read only while the child reads).
    Bytes(Vec<u8>),
    /// The parent writes [`sample_config`] with this protocol version.
    Config {
        /// The config's `version`.
        version: u32,
    },
    /// The parent half-closes its end.
    Eof,
    /// The child program calls [`ChildHandshake::ready`].
    Ready,
    /// The child program calls [`ChildHandshake::fail`] at this step.
    Fail(ChildStep),
}

/// A config such as a container's init receives.
pub fn sample_config(version: u32) -> Config {
    let mut config = Config::new(["/bin/sh", "-c", "exec sleep 1"]);
    config.version = version;
    config.namespaces = [NamespaceKind::Mount, NamespaceKind::Uts, NamespaceKind::Net]
        .into_iter()
        .map(Namespace::new)
        .collect();
    config.hostname = Some("box".to_owned());
    config.networks = vec![
        Interface::Loopback,
        Interface::Veth(Veth {
            host_name: "cradle0".to_owned(),
            peer_name: "cradle0p".to_owned(),
            name: "eth0".to_owned(),
            ..Veth::default()
        }),
    ];
    config.env = vec!["PATH=/bin:/usr/bin".to_owned()];
    config
}

/// Runs the script and checks, after every step, that:
/// - the child reads until the parent's end of stream, and no longer;
/// - it delivers the config only at end of stream, only when the stream was
///   exactly one config of this protocol version, and then always;
/// - it reports a protocol failure exactly when what the parent sent stops
///   being the start of such a stream;
/// - it emits at most one event;
/// - it writes nothing before the parent's end of stream (a reply waits for
///   it), and after it exactly `ready` if the program said so, then the
///   first failure if there was one, each within the parent's default caps;
/// - `ready` is refused, leaving the handshake unchanged, unless the config
///   was delivered and nothing failed.
pub fn check_child(input: &ChildInput) {
    let mut run = ChildRun::new(input.limits);
    for op in &input.ops {
        run.apply(op);
    }
    run.apply(&ChildOp::Eof);
}

struct ChildRun {
    child: ChildHandshake,
    limits: Limits,
    /// What the parent sent before its end of stream.
    received: Vec<u8>,
    eof: bool,
    delivered: Option<Box<Config>>,
    events: usize,
    ready: bool,
    first_failure: Option<ChildError>,
    transmitted: Vec<u8>,
}

/// What the handshake should report for the step just taken.
#[derive(Debug, PartialEq)]
enum Expected {
    Nothing,
    Failure,
    Config(Box<Config>),
}

impl ChildRun {
    fn new(limits: Limits) -> ChildRun {
        ChildRun {
            child: ChildHandshake::new(limits),
            limits,
            received: Vec::new(),
            eof: false,
            delivered: None,
            events: 0,
            ready: false,
            first_failure: None,
            transmitted: Vec::new(),
        }
    }

    /// Still waiting for the config: nothing delivered, nothing failed.
    fn receiving(&self) -> bool {
        self.delivered.is_none() && self.first_failure.is_none() && !self.eof
    }

    fn apply(&mut self, op: &ChildOp) {
        let receiving = self.receiving();
        let expected = match op {
            ChildOp::Bytes(bytes) => self.read(bytes),
            ChildOp::Config { version } => {
                let line = encode_to_bytes(&Message::Config(Box::new(sample_config(*version))))
                    .expect("the sample config encodes");
                self.read(&line)
            }
            ChildOp::Eof => {
                self.child.handle_eof();
                self.eof = true;
                match receiving.then(|| self.lone_config()) {
                    None => Expected::Nothing,
                    Some(Some(config)) => Expected::Config(config),
                    Some(None) => Expected::Failure,
                }
            }
            ChildOp::Ready => {
                let allowed = self.delivered.is_some() && self.first_failure.is_none() && !self.ready;
                let before = format!("{:?}", self.child);
                match (self.child.ready(), allowed) {
                    (Ok(()), true) => self.ready = true,
                    (Err(NotConfigured), false) => {
                        assert_eq!(
                            before,
                            format!("{:?}", self.child),
                            "a refused ready changed the child"
                        );
                    }
                    (result, _) => panic!("ready() gave {result:?} but should {}", refusal(allowed)),
                }
                Expected::Nothing
            }
            ChildOp::Fail(step) => {
                let error = ChildError {
                    message: format!("set-up failed at {step}"),
                    step: *step,
                    errno: Some(5),
                };
                self.child.fail(error.clone());
                self.first_failure.get_or_insert(error);
                Expected::Nothing
            }
        };
        self.settle(op, expected);
    }

    fn read(&mut self, bytes: &[u8]) -> Expected {
        if !self.child.wants_read() {
            return Expected::Nothing;
        }
        let receiving = self.receiving();
        self.child.handle_read(bytes);
        self.received.extend_from_slice(bytes);
        if receiving && self.is_broken() {
            Expected::Failure
        } else {
            Expected::Nothing
        }
    }

    fn settle(&mut self, op: &ChildOp, expected: Expected) {
        assert_eq!(
            self.child.wants_read(),
            !self.eof,
            "the child reads until end of stream only"
        );
        let mut got = Expected::Nothing;
        while let Some(event) = self.child.poll_event() {
            self.events += 1;
            assert_eq!(self.events, 1, "a second event: {event:?}");
            got = match event {
                ChildEvent::Config(config) => {
                    self.delivered = Some(config.clone());
                    Expected::Config(config)
                }
                ChildEvent::Failed(error) => {
                    assert_eq!(
                        (error.step, error.errno),
                        (ChildStep::Config, None),
                        "a protocol failure is the config step's, without errno"
                    );
                    self.first_failure.get_or_insert(error);
                    Expected::Failure
                }
            };
        }
        assert_eq!(got, expected, "after {op:?}");
        while let Some(bytes) = self.child.poll_transmit() {
            self.transmitted.extend_from_slice(&bytes);
        }
        if !self.eof {
            assert!(
                self.transmitted.is_empty(),
                "the child wrote before the parent's end of stream"
            );
            return;
        }
        let mut replies = Vec::new();
        replies.extend(self.ready.then_some(Message::ready()));
        replies.extend(self.first_failure.clone().map(Message::Error));
        // Both ends use the same caps: the replies must fit the parent's.
        let (sent, error) = decode_all(Direction::ToParent, self.limits, &self.transmitted, true);
        assert_eq!(
            error, None,
            "the child's replies do not decode within the parent's caps"
        );
        assert_eq!(
            sent.len(),
            replies.len(),
            "the child's replies: {sent:?}, not {replies:?}"
        );
        for (got, want) in sent.iter().zip(&replies) {
            match (got, want) {
                // An error too long for the cap is cut to fit: the same step
                // and errno, a prefix of its message, whole when it fits.
                (Message::Error(got), Message::Error(want)) => {
                    assert_eq!(
                        (got.step, got.errno),
                        (want.step, want.errno),
                        "the child's error"
                    );
                    assert!(
                        want.message.starts_with(&got.message),
                        "{got:?} cut from {want:?}"
                    );
                    let fits = line_len(&Message::Error(want.clone())) <= self.limits.error;
                    assert!(!fits || got == want, "{got:?} cut although {want:?} fits");
                }
                _ => assert_eq!(got, want, "the child's replies"),
            }
        }
    }

    /// What the parent sent so far can no longer be the start of a lone
    /// config.
    fn is_broken(&self) -> bool {
        let (messages, error) = decode_all(Direction::ToChild, self.limits, &self.received, false);
        error.is_some() || messages.len() > 1
    }

    /// The config, if what the parent sent, now ended, is exactly one config
    /// of this protocol version.
    fn lone_config(&self) -> Option<Box<Config>> {
        match decode_all(Direction::ToChild, self.limits, &self.received, true) {
            (mut messages, None) if messages.len() == 1 => match messages.pop() {
                Some(Message::Config(config)) if config.version == PROTOCOL_VERSION => Some(config),
                _ => None,
            },
            _ => None,
        }
    }
}

fn refusal(allowed: bool) -> &'static str {
    if allowed {
        "succeed"
    } else {
        "be refused"
    }
}

/// Every message in `bytes` up to the first error, and that error; if the
/// stream has `ended`, a trailing partial line is an error too.
pub(crate) fn decode_all(
    direction: Direction,
    limits: Limits,
    bytes: &[u8],
    ended: bool,
) -> (Vec<Message>, Option<DecodeError>) {
    let mut decoder = Decoder::new(direction, limits);
    let mut rest = bytes;
    let mut messages = Vec::new();
    while !rest.is_empty() {
        match decoder.decode(&mut rest) {
            Ok(Some(message)) => messages.push(message),
            Ok(None) => {}
            Err(error) => return (messages, Some(error)),
        }
    }
    let error = if ended { decoder.decode_eof().err() } else { None };
    (messages, error)
}

/// The length of `message`'s line, without its newline.
fn line_len(message: &Message) -> usize {
    cradle_core::framing::encode_to_bytes(message).map_or(0, |bytes| bytes.len() - 1)
}
