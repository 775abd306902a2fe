//! The framing decoder and the message codec.
//!
//! The decoder is checked against a reference written from its contract:
//! the stream is split at each newline, each line judged on its own (too
//! long for any type, not JSON, the wrong direction, over its own type's
//! cap, or a message), a trailing line too long as soon as it is, and a
//! trailing partial line at the end of stream truncated. Agreeing with it
//! for every chunking means the chunking does not matter.

use cradle_core::framing::encode_to_bytes;
use cradle_core::message::MessageKind;
use cradle_core::{ChildError, Config, DecodeError, Decoder, Direction, Limits, Message};

/// One stream of bytes for a decoder, cut into chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderInput {
    /// Which end decodes.
    pub direction: Direction,
    /// Its caps.
    pub limits: Limits,
    /// The stream, in the chunks the decoder is fed.
    pub chunks: Vec<Vec<u8>>,
}

/// Small caps, so that short fuzz inputs reach every cap.
pub const SMALL_LIMITS: Limits = Limits {
    config: 512,
    pid: 24,
    ready: 24,
    error: 96,
};

/// What a decoder yields for a stream: its messages up to the first error,
/// then that error, or the end-of-stream error.
type Outcome = Vec<Result<Message, DecodeError>>;

/// Feeds the chunks to a decoder, then ends the stream, and checks that:
/// it takes every byte it is given; it never holds more than its line cap;
/// it yields what the reference yields for the whole stream; and every
/// message it yields encodes to one line that decodes to itself.
pub fn check_decoder(input: &DecoderInput) {
    let mut decoder = Decoder::new(input.direction, input.limits);
    let mut outcome = Outcome::new();
    'stream: for chunk in &input.chunks {
        let mut rest = chunk.as_slice();
        while !rest.is_empty() {
            let before = rest.len();
            let result = decoder.decode(&mut rest);
            assert!(
                decoder.buffered() <= decoder.line_cap(),
                "the decoder holds {} bytes, over its line cap of {}",
                decoder.buffered(),
                decoder.line_cap()
            );
            match result {
                Ok(Some(message)) => outcome.push(Ok(message)),
                Ok(None) => assert!(rest.is_empty(), "no message yet, but input was left untaken"),
                Err(error) => {
                    outcome.push(Err(error));
                    break 'stream;
                }
            }
            assert!(rest.len() < before, "decode took nothing from {before} bytes");
        }
    }
    if !matches!(outcome.last(), Some(Err(_))) {
        if let Err(error) = decoder.decode_eof() {
            outcome.push(Err(error));
        }
    }
    let expected = reference(input.direction, input.limits, &input.chunks.concat());
    assert_eq!(
        outcome, expected,
        "chunked decoding differs from the reference for the whole stream"
    );
    for message in outcome.iter().flatten() {
        check_round_trip(message);
    }
}

/// The reference decoder: what the framing contract says `stream` decodes
/// to.
fn reference(direction: Direction, limits: Limits, stream: &[u8]) -> Outcome {
    let line_cap = [
        MessageKind::Config,
        MessageKind::Pid,
        MessageKind::Ready,
        MessageKind::Error,
    ]
    .into_iter()
    .filter(|&kind| direction.accepts(kind))
    .map(|kind| limits.cap(kind))
    .max()
    .unwrap_or(0);
    let mut outcome = Outcome::new();
    let mut lines = stream.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let complete = lines.peek().is_some();
        let result = if line.len() > line_cap {
            Err(DecodeError::TooLong { cap: line_cap })
        } else if !complete {
            if !line.is_empty() {
                outcome.push(Err(DecodeError::Truncated { buffered: line.len() }));
            }
            break;
        } else {
            judge(direction, limits, line)
        };
        let failed = result.is_err();
        outcome.push(result);
        if failed {
            break;
        }
    }
    outcome
}

/// One complete line, under the line cap.
fn judge(direction: Direction, limits: Limits, line: &[u8]) -> Result<Message, DecodeError> {
    let message: Message = serde_json::from_slice(line).map_err(|e| DecodeError::Malformed {
        reason: e.to_string(),
    })?;
    let kind = message.kind();
    if !direction.accepts(kind) {
        return Err(DecodeError::WrongDirection { kind });
    }
    let cap = limits.cap(kind);
    if line.len() > cap {
        return Err(DecodeError::OverCap {
            kind,
            len: line.len(),
            cap,
        });
    }
    Ok(message)
}

/// The `message` target: one line (up to its first newline, if any) decoded
/// by both ends, and as each message body on its own. Whatever decodes must
/// round-trip.
pub fn check_message(data: &[u8]) {
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    for direction in [Direction::ToParent, Direction::ToChild] {
        let mut decoder = Decoder::new(direction, Limits::default());
        let input = [line, b"\n"].concat();
        let mut rest = input.as_slice();
        match decoder.decode(&mut rest) {
            Ok(Some(message)) => {
                assert!(
                    direction.accepts(message.kind()),
                    "{direction:?} accepted {message:?}"
                );
                check_round_trip(&message);
            }
            Ok(None) => panic!("a complete line decoded to nothing"),
            Err(_) => {}
        }
        assert!(rest.is_empty(), "the decoder left part of one line untaken");
    }
    if let Ok(config) = serde_json::from_slice::<Config>(line) {
        check_round_trip(&Message::Config(Box::new(config)));
    }
    if let Ok(error) = serde_json::from_slice::<ChildError>(line) {
        check_round_trip(&Message::Error(error));
    }
}

/// `message` encodes to one line tagged by its type, which decodes to
/// `message`.
pub fn check_round_trip(message: &Message) {
    let line = match encode_to_bytes(message) {
        Ok(line) => line,
        Err(error) => panic!("{message:?} does not encode: {error}"),
    };
    let body = line
        .strip_suffix(b"\n")
        .expect("an encoded message ends with a newline");
    assert!(!body.contains(&b'\n'), "an encoded message spans lines: {line:?}");
    let json: serde_json::Value = serde_json::from_slice(body).expect("an encoded message is JSON");
    assert_eq!(
        json.get("type").and_then(|t| t.as_str()),
        Some(message.kind().as_str()),
        "an encoded message is tagged by its type"
    );
    let direction = match message.kind() {
        MessageKind::Config => Direction::ToChild,
        _ => Direction::ToParent,
    };
    let unlimited = Limits {
        config: usize::MAX,
        pid: usize::MAX,
        ready: usize::MAX,
        error: usize::MAX,
    };
    let mut rest = &line[..];
    let decoded = Decoder::new(direction, unlimited).decode(&mut rest);
    assert_eq!(
        decoded,
        Ok(Some(message.clone())),
        "a message does not survive a round trip"
    );
}
