//! `--log-format json`: one JSON object per line in the shape runc writes
//! (logrus's): `{"level":"error","msg":"...","time":"..."}`, with each
//! field of the event as a key of its own. containerd's shim reads the
//! last `"level":"error"` line's `msg` as the runtime's error.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The runc-shaped JSON line format.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RuncJson;

impl<S, N> FormatEvent<S, N> for RuncJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "level".to_owned(),
            Value::from(level_name(*event.metadata().level())),
        );
        line.insert("msg".to_owned(), Value::from(fields.message));
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        line.insert("time".to_owned(), Value::from(time));
        for (key, value) in fields.others {
            // The three keys engines read are never overwritten by a field.
            line.entry(key).or_insert(Value::from(value));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// logrus's level names, which engines match on.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// An event's message and its other fields, as text.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    others: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields {
    fn record(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.others.push((field.name().to_owned(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What the formatter wrote for the events `log` makes.
    fn lines(log: impl FnOnce()) -> Vec<Value> {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&written);
        let subscriber = tracing_subscriber::fmt()
            .event_format(RuncJson)
            .with_writer(move || SharedSink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(written.lock().expect("lock").clone()).expect("UTF-8");
        text.lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect()
    }

    struct SharedSink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for SharedSink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_error_is_a_runc_line_that_containerd_reads() {
        let lines = lines(|| tracing::error!(id = "web", "exec failed: \"x\" not found"));
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "error");
        assert_eq!(line["msg"], "exec failed: \"x\" not found");
        assert_eq!(line["id"], "web");
        // RFC 3339, as Go's time.Time reads it.
        let time = line["time"].as_str().expect("a time");
        assert!(
            time.len() >= 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
    }

    #[test]
    fn levels_have_logrus_names_and_fields_cannot_hide_the_message() {
        let lines = lines(|| {
            tracing::warn!(msg = "a field", "the message");
            tracing::info!("started");
        });
        assert_eq!(lines[0]["level"], "warning");
        assert_eq!(lines[0]["msg"], "the message");
        assert_eq!(lines[1]["level"], "info");
    }
}
