//! The wire framing: one message a line, capped incremental decoding.

use cradle_core::framing::{encode_to_bytes, DecodeError, Decoder, Direction, Limits};
use cradle_core::message::{ChildError, ChildStep, Message, MessageKind};
use cradle_core::Config;

fn error_message() -> Message {
    Message::Error(ChildError {
        message: "pivot_root /var/lib/box: invalid argument".to_owned(),
        step: ChildStep::Rootfs,
        errno: Some(22),
    })
}

fn every_message() -> [Message; 4] {
    [
        Message::Config(Box::new(Config::new(["/bin/sh", "-c", "echo 'a\nb'"]))),
        Message::Pid { pid: 4242 },
        Message::ready(),
        error_message(),
    ]
}

/// Decodes all of `chunks` in order; stops at the first error.
fn decode_chunks(decoder: &mut Decoder, chunks: &[&[u8]]) -> Result<Vec<Message>, DecodeError> {
    let mut messages = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        while !rest.is_empty() {
            messages.extend(decoder.decode(&mut rest)?);
        }
    }
    Ok(messages)
}

fn decode_line(direction: Direction, line: &[u8]) -> Result<Option<Message>, DecodeError> {
    let mut rest = line;
    Decoder::new(direction, Limits::default()).decode(&mut rest)
}

#[test]
fn each_message_encodes_to_one_line_tagged_by_its_type() {
    for message in every_message() {
        let line = encode_to_bytes(&message).unwrap();
        let body = line.strip_suffix(b"\n").expect("ends with a newline");
        assert!(!body.contains(&b'\n'), "{message:?} spans lines");
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["type"], message.kind().as_str());
    }
}

#[test]
fn the_tags_on_the_wire() {
    let tags: Vec<&str> = every_message().iter().map(|m| m.kind().as_str()).collect();
    assert_eq!(tags, ["config", "pid", "ready", "error"]);
    assert_eq!(
        &encode_to_bytes(&Message::ready()).unwrap()[..],
        b"{\"type\":\"ready\"}\n"
    );
}

#[test]
fn any_chunking_gives_the_same_messages() {
    let stream: Vec<u8> = [Message::Pid { pid: 7 }, Message::ready(), error_message()]
        .iter()
        .flat_map(|m| encode_to_bytes(m).unwrap().to_vec())
        .collect();
    let whole = decode_chunks(
        &mut Decoder::new(Direction::ToParent, Limits::default()),
        &[&stream],
    )
    .unwrap();
    assert_eq!(
        whole,
        [Message::Pid { pid: 7 }, Message::ready(), error_message()]
    );

    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
    assert_eq!(decode_chunks(&mut decoder, &bytewise).unwrap(), whole);

    for first in 0..stream.len() {
        for second in first..stream.len() {
            let chunks = [&stream[..first], &stream[first..second], &stream[second..]];
            let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
            assert_eq!(
                decode_chunks(&mut decoder, &chunks).unwrap(),
                whole,
                "split at {first}, {second}"
            );
            assert_eq!(decoder.decode_eof(), Ok(()));
        }
    }
}

#[test]
fn decode_takes_input_up_to_the_end_of_one_message() {
    let stream = b"{\"type\":\"ready\"}\n{\"type\":\"pid\",\"pid\":1}\n{\"ty";
    let mut rest = &stream[..];
    let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
    assert_eq!(decoder.decode(&mut rest), Ok(Some(Message::ready())));
    assert_eq!(rest, b"{\"type\":\"pid\",\"pid\":1}\n{\"ty");
    assert_eq!(decoder.decode(&mut rest), Ok(Some(Message::Pid { pid: 1 })));
    assert_eq!(decoder.decode(&mut rest), Ok(None));
    assert!(rest.is_empty());
    assert_eq!(decoder.buffered(), 4);
}

#[test]
fn a_line_over_the_largest_cap_is_refused_before_its_newline() {
    let limits = Limits {
        config: 100,
        pid: 10,
        ready: 20,
        error: 40,
    };
    let mut decoder = Decoder::new(Direction::ToParent, limits);
    assert_eq!(
        decoder.line_cap(),
        40,
        "the largest cap the parent accepts: error's"
    );
    let mut rest = &[b' '; 40][..];
    assert_eq!(decoder.decode(&mut rest), Ok(None));
    assert_eq!(decoder.buffered(), 40);
    let mut one_more = &b" "[..];
    assert_eq!(
        decoder.decode(&mut one_more),
        Err(DecodeError::TooLong { cap: 40 })
    );
    assert!(decoder.buffered() <= decoder.line_cap());

    let child = Decoder::new(Direction::ToChild, limits);
    assert_eq!(child.line_cap(), 100, "the child accepts only config");
}

#[test]
fn a_long_line_in_one_chunk_is_refused_too() {
    let mut line = vec![b' '; 65];
    line.push(b'\n');
    let limits = Limits {
        error: 64,
        ready: 64,
        ..Limits::default()
    };
    let mut rest = &line[..];
    let mut decoder = Decoder::new(Direction::ToParent, limits);
    assert_eq!(decoder.decode(&mut rest), Err(DecodeError::TooLong { cap: 64 }));
}

#[test]
fn a_message_over_its_own_types_cap_is_over_cap() {
    // Valid JSON, padded: under the error cap (the line cap), over ready's.
    let padded = format!("{{\"type\":\"ready\"{}}}\n", " ".repeat(5000));
    let len = padded.len() - 1;
    assert_eq!(
        decode_line(Direction::ToParent, padded.as_bytes()),
        Err(DecodeError::OverCap {
            kind: MessageKind::Ready,
            len,
            cap: 4 << 10
        })
    );
    let padded_pid = format!("{{\"type\":\"pid\",{}\"pid\":1}}\n", " ".repeat(60));
    assert!(matches!(
        decode_line(Direction::ToParent, padded_pid.as_bytes()),
        Err(DecodeError::OverCap {
            kind: MessageKind::Pid,
            ..
        })
    ));
}

#[test]
fn a_message_at_its_cap_is_accepted() {
    let line = b"{\"type\":\"ready\"}\n";
    let limits = Limits {
        ready: line.len() - 1,
        ..Limits::default()
    };
    let mut rest = &line[..];
    assert_eq!(
        Decoder::new(Direction::ToParent, limits).decode(&mut rest),
        Ok(Some(Message::ready()))
    );
}

#[test]
fn malformed_lines_are_malformed() {
    for line in [
        &b"not json\n"[..],
        b"{\"type\":\"launch\"}\n",
        b"{\"type\":\"pid\"}\n",
        b"{\"type\":\"pid\",\"pid\":\"1\"}\n",
        b"{\"type\":\"pid\",\"pid\":4294967296}\n",
        b"{\"type\":\"error\",\"message\":\"x\"}\n",
        b"\n",
        b"{\"type\":\"ready\"}{\"type\":\"ready\"}\n",
        b"\xff\xfe\n",
    ] {
        let result = decode_line(Direction::ToParent, line);
        assert!(
            matches!(result, Err(DecodeError::Malformed { .. })),
            "{:?}: {result:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn an_unknown_child_step_is_other() {
    let line = b"{\"type\":\"error\",\"message\":\"x\",\"step\":\"landlock\"}\n";
    let Ok(Some(Message::Error(error))) = decode_line(Direction::ToParent, line) else {
        panic!("an error from a newer child decodes");
    };
    assert_eq!((error.step, error.errno), (ChildStep::Other, None));
}

#[test]
fn messages_travelling_the_other_way_are_refused() {
    let config = encode_to_bytes(&every_message()[0]).unwrap();
    assert_eq!(
        decode_line(Direction::ToParent, &config),
        Err(DecodeError::WrongDirection {
            kind: MessageKind::Config
        })
    );
    for message in &every_message()[1..] {
        let line = encode_to_bytes(message).unwrap();
        assert_eq!(
            decode_line(Direction::ToChild, &line),
            Err(DecodeError::WrongDirection { kind: message.kind() })
        );
    }
}

#[test]
fn end_of_stream_inside_a_message_is_truncated() {
    let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
    let mut rest = &b"{\"type\":\"ready\"}\n{\"type\":"[..];
    assert_eq!(decoder.decode(&mut rest), Ok(Some(Message::ready())));
    assert_eq!(decoder.decode(&mut rest), Ok(None));
    assert_eq!(decoder.decode_eof(), Err(DecodeError::Truncated { buffered: 8 }));
}

#[test]
fn end_of_stream_between_messages_is_clean() {
    let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
    assert_eq!(decoder.decode_eof(), Ok(()));
    let mut rest = &b"{\"type\":\"ready\"}\n"[..];
    assert_eq!(decoder.decode(&mut rest), Ok(Some(Message::ready())));
    assert_eq!(decoder.decode_eof(), Ok(()));
}
