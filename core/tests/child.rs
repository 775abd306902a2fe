//! The child's end of the handshake.

use cradle_core::child::{pid_report, NotConfigured};
use cradle_core::framing::{encode_to_bytes, DecodeError, Decoder, Direction, Limits};
use cradle_core::message::{ChildError, ChildStep};
use cradle_core::{ChildEvent, ChildHandshake, Config, Message, PROTOCOL_VERSION};

fn config() -> Config {
    let mut config = Config::new(["/bin/echo", "hello"]);
    config.hostname = Some("box".to_owned());
    config
}

fn config_line(config: &Config) -> Vec<u8> {
    encode_to_bytes(&Message::Config(Box::new(config.clone())))
        .unwrap()
        .to_vec()
}

fn setup_error() -> ChildError {
    ChildError {
        message: "sethostname: operation not permitted".to_owned(),
        step: ChildStep::Hostname,
        errno: Some(1),
    }
}

/// Everything the child has queued for the parent, decoded.
fn replies(child: &mut ChildHandshake) -> Vec<Message> {
    let mut bytes = Vec::new();
    while let Some(chunk) = child.poll_transmit() {
        bytes.extend_from_slice(&chunk);
    }
    let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
    let mut rest = &bytes[..];
    let mut messages = Vec::new();
    while !rest.is_empty() {
        messages.extend(decoder.decode(&mut rest).expect("the child's replies decode"));
    }
    assert_eq!(
        decoder.decode_eof(),
        Ok(()),
        "the child's replies end with a newline"
    );
    messages
}

#[track_caller]
fn protocol_failure(child: &mut ChildHandshake) -> ChildError {
    match child.poll_event() {
        Some(ChildEvent::Failed(error)) => {
            assert_eq!((error.step, error.errno), (ChildStep::Config, None));
            error
        }
        other => panic!("expected a protocol failure, got {other:?}"),
    }
}

#[test]
fn the_config_is_delivered_only_after_the_parents_end_of_stream() {
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_read(&config_line(&config()));
    assert_eq!(child.poll_event(), None, "the parent may still send more");
    assert!(child.wants_read());
    child.handle_eof();
    assert!(!child.wants_read());
    assert_eq!(child.poll_event(), Some(ChildEvent::Config(Box::new(config()))));
    assert_eq!(child.poll_event(), None);
    assert_eq!(child.poll_transmit(), None);
    child.ready().unwrap();
    assert_eq!(replies(&mut child), [Message::ready()]);
}

#[test]
fn the_config_arrives_in_any_chunks() {
    let line = config_line(&config());
    let mut child = ChildHandshake::new(Limits::default());
    for byte in line.chunks(1) {
        child.handle_read(byte);
        assert_eq!(child.poll_event(), None);
    }
    child.handle_eof();
    assert_eq!(child.poll_event(), Some(ChildEvent::Config(Box::new(config()))));
}

#[test]
fn an_error_reply_waits_for_the_parents_end_of_stream() {
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_read(b"{\"type\":\"ready\"}\n");
    let error = protocol_failure(&mut child);
    assert!(error.message.contains("ready"), "{error}");
    assert_eq!(child.poll_transmit(), None, "the parent has not finished sending");
    assert!(child.wants_read(), "the child drains the socket");
    child.handle_read(&config_line(&config()));
    assert_eq!(child.poll_transmit(), None);
    child.handle_eof();
    assert_eq!(replies(&mut child), [Message::Error(error)]);
    assert_eq!(child.poll_event(), None, "one failure, one event");
}

#[test]
fn a_set_up_failure_before_the_end_of_stream_is_held_too() {
    // The program's own failure (say, it could not read its environment)
    // before the parent finished: the reply waits all the same.
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_read(&config_line(&config())[..10]);
    child.fail(setup_error());
    assert_eq!(child.poll_transmit(), None);
    child.handle_read(&config_line(&config())[10..]);
    child.handle_eof();
    assert_eq!(child.poll_event(), None, "a failed child gets no config");
    assert_eq!(replies(&mut child), [Message::Error(setup_error())]);
}

#[test]
fn draining_keeps_nothing() {
    let limits = Limits {
        config: 1024,
        ..Limits::default()
    };
    let mut child = ChildHandshake::new(limits);
    child.handle_read(b"garbage\n");
    let error = protocol_failure(&mut child);
    let size_after_failure = format!("{child:?}").len();
    // Far more than any cap, without a newline: a decoder would refuse it;
    // a draining child must not even hold it.
    let junk = vec![b'x'; 1 << 20];
    for _ in 0..8 {
        child.handle_read(&junk);
    }
    assert_eq!(
        format!("{child:?}").len(),
        size_after_failure,
        "draining held bytes"
    );
    assert_eq!(child.poll_event(), None);
    child.handle_eof();
    assert_eq!(replies(&mut child), [Message::Error(error)]);
}

#[test]
fn a_config_over_its_cap_fails_before_its_newline() {
    let line = config_line(&config());
    let limits = Limits {
        config: line.len() / 2,
        ..Limits::default()
    };
    let mut child = ChildHandshake::new(limits);
    child.handle_read(&line[..line.len() / 2]);
    assert_eq!(child.poll_event(), None);
    child.handle_read(&line[line.len() / 2..line.len() - 1]);
    let error = protocol_failure(&mut child);
    let too_long = DecodeError::TooLong { cap: line.len() / 2 }.to_string();
    assert_eq!(error.message, too_long);
}

#[test]
fn another_protocol_version_fails_at_the_config_step() {
    let mut other = config();
    other.version = PROTOCOL_VERSION + 1;
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_read(&config_line(&other));
    assert_eq!(
        child.poll_event(),
        None,
        "the version is checked once the config is whole"
    );
    child.handle_eof();
    let error = protocol_failure(&mut child);
    assert!(error.message.contains("version"), "{error}");
    assert_eq!(replies(&mut child), [Message::Error(error)]);
    assert_eq!(child.ready(), Err(NotConfigured));
}

#[test]
fn a_second_config_is_a_protocol_error() {
    let mut child = ChildHandshake::new(Limits::default());
    let line = config_line(&config());
    child.handle_read(&[line.clone(), line].concat());
    protocol_failure(&mut child);
    child.handle_eof();
    assert_eq!(child.poll_event(), None);
}

#[test]
fn end_of_stream_without_a_config_fails() {
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_eof();
    let error = protocol_failure(&mut child);
    assert_eq!(replies(&mut child), [Message::Error(error)]);
}

#[test]
fn end_of_stream_inside_the_config_fails() {
    let mut child = ChildHandshake::new(Limits::default());
    let line = config_line(&config());
    child.handle_read(&line[..line.len() - 1]);
    child.handle_eof();
    let error = protocol_failure(&mut child);
    let truncated = DecodeError::Truncated {
        buffered: line.len() - 1,
    };
    assert_eq!(error.message, truncated.to_string());
}

#[test]
fn ready_before_the_config_is_misuse() {
    let mut child = ChildHandshake::new(Limits::default());
    let before = format!("{child:?}");
    assert_eq!(child.ready(), Err(NotConfigured));
    assert_eq!(format!("{child:?}"), before, "refusing changed the handshake");
    child.handle_read(&config_line(&config()));
    assert_eq!(
        child.ready(),
        Err(NotConfigured),
        "not before the end of stream either"
    );
}

#[test]
fn ready_after_a_failure_or_twice_is_misuse() {
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_read(&config_line(&config()));
    child.handle_eof();
    child.poll_event();
    child.ready().unwrap();
    assert_eq!(child.ready(), Err(NotConfigured));
    child.fail(setup_error());
    assert_eq!(child.ready(), Err(NotConfigured));
    assert_eq!(
        replies(&mut child),
        [Message::ready(), Message::Error(setup_error())]
    );
}

#[test]
fn a_failure_after_ready_is_a_failed_exec_and_is_sent_at_once() {
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_read(&config_line(&config()));
    child.handle_eof();
    child.poll_event();
    child.ready().unwrap();
    assert_eq!(replies(&mut child), [Message::ready()]);
    let exec = ChildError {
        message: "execve /bin/echo: permission denied".to_owned(),
        step: ChildStep::Exec,
        errno: Some(13),
    };
    child.fail(exec.clone());
    assert_eq!(replies(&mut child), [Message::Error(exec)]);
}

#[test]
fn the_first_failure_is_the_one_reported() {
    let mut child = ChildHandshake::new(Limits::default());
    child.handle_read(&config_line(&config()));
    child.handle_eof();
    child.poll_event();
    child.fail(setup_error());
    child.fail(ChildError {
        message: "a consequence".to_owned(),
        step: ChildStep::Exec,
        errno: None,
    });
    assert_eq!(replies(&mut child), [Message::Error(setup_error())]);
}

#[test]
fn the_pid_report_is_one_pid_message() {
    let report = pid_report(31337);
    let mut rest = &report[..];
    let mut decoder = Decoder::new(Direction::ToParent, Limits::default());
    assert_eq!(decoder.decode(&mut rest), Ok(Some(Message::Pid { pid: 31337 })));
    assert!(rest.is_empty());
}

#[test]
fn an_error_echoing_a_huge_input_is_cut_to_fit_the_parents_cap() {
    let limits = Limits::default();
    let mut child = ChildHandshake::new(limits);
    // serde names the unknown variant in its error: 200 KB of it.
    let line = format!("{{\"type\":\"{}\"}}\n", "x".repeat(200_000));
    assert!(
        line.len() < limits.config,
        "within the config cap, so it is parsed"
    );
    child.handle_read(line.as_bytes());
    child.handle_eof();
    protocol_failure(&mut child);
    match replies(&mut child).as_slice() {
        // `replies` decoded it within the parent's caps; it keeps what fits.
        [Message::Error(error)] => {
            assert!(
                error.message.len() > limits.error / 2,
                "cut no shorter than needed"
            );
            assert!(error.message.len() < limits.error);
        }
        other => panic!("expected one error reply, got {other:?}"),
    }
}
