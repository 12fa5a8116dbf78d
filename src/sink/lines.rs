//! Line-oriented sinks, `type: file` (JSON Lines appended to a file) and `type: stdout`. Each takes
//! batches of due rows from its outbox, writes them on a blocking thread (file writes block),
//! flushes once (and fsyncs once, when asked to) and only then marks them delivered.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::time::Duration;

use anyhow::Context;

use super::outbox::Outbox;
use crate::config::{FileSinkConfig, StdoutFormat, StdoutSinkConfig};
use crate::event::Event;
use crate::store::Delivery;

const MAX_BATCH: usize = 1024;
/// Long enough for a batch on a slow disk; a crashed writer's rows come back after it.
const LEASE: Duration = Duration::from_secs(60);
/// After a failed write the batch is retried after this pause, doubling up to the maximum.
const RETRY_INITIAL: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The writer and what to do after each batch; moved to the blocking thread and back.
struct LineWriter {
    out: Box<dyn Write + Send>,
    format: StdoutFormat,
    fsync: Option<File>,
}

pub fn spawn_file(
    config: &FileSinkConfig,
    outbox: Outbox,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    // Only the owner may read the events a new file receives (the umask may narrow it further).
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&config.path)
        .with_context(|| {
            format!(
                "sink {}: cannot open {} for appending",
                config.name,
                config.path.display()
            )
        })?;
    let fsync = if config.fsync {
        Some(
            file.try_clone()
                .context("cannot duplicate the file handle")?,
        )
    } else {
        None
    };
    let writer = LineWriter {
        out: Box::new(BufWriter::with_capacity(64 * 1024, file)),
        format: StdoutFormat::Json,
        fsync,
    };
    Ok(tokio::spawn(run(writer, outbox)))
}

pub fn spawn_stdout(config: &StdoutSinkConfig, outbox: Outbox) -> tokio::task::JoinHandle<()> {
    let writer = LineWriter {
        out: Box::new(std::io::stdout()),
        format: config.format,
        fsync: None,
    };
    tokio::spawn(run(writer, outbox))
}

async fn run(writer: LineWriter, outbox: Outbox) {
    let written = metrics::counter!("netpulse_sink_events_total", "sink" => outbox.sink.clone());
    let errors = metrics::counter!("netpulse_sink_errors_total", "sink" => outbox.sink.clone());
    let mut writer = Some(writer);
    let mut pause = RETRY_INITIAL;
    while let Some(batch) = outbox.next(MAX_BATCH, LEASE).await {
        let Some(taken) = writer.take() else { break };
        let ids: Vec<i64> = batch.iter().map(|delivery| delivery.id).collect();
        let joined = tokio::task::spawn_blocking(move || {
            let mut taken = taken;
            let result = taken.write(&batch);
            (taken, result)
        })
        .await;
        let Ok((returned, result)) = joined else {
            tracing::error!(sink = %outbox.sink, "the writer thread panicked; the sink stops");
            break;
        };
        writer = Some(returned);
        match result {
            Ok(()) => {
                written.increment(ids.len() as u64);
                outbox.delivered(ids).await;
                pause = RETRY_INITIAL;
            }
            Err(error) => {
                errors.increment(1);
                tracing::error!(sink = %outbox.sink, %error, events = ids.len(), retry_in = ?pause, "cannot write events; retrying");
                outbox.release(ids).await;
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = outbox.drain.cancelled() => {}
                }
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

impl LineWriter {
    fn write(&mut self, batch: &[Delivery]) -> std::io::Result<()> {
        for delivery in batch {
            write_event(&mut self.out, &delivery.event, self.format)?;
        }
        self.out.flush()?;
        if let Some(file) = &self.fsync {
            file.sync_data()?;
        }
        Ok(())
    }
}

fn write_event(out: &mut dyn Write, event: &Event, format: StdoutFormat) -> std::io::Result<()> {
    match format {
        StdoutFormat::Json => {
            serde_json::to_writer(&mut *out, event).map_err(std::io::Error::other)?
        }
        StdoutFormat::Text => out.write_all(escape_controls(&event.to_text_line()).as_bytes())?,
    }
    out.write_all(b"\n")
}

/// The line with every character that a terminal or a log reader would act on written as an
/// escape: `\n`, `\r` and `\t`, other C0 controls and DEL as `\xNN`, C1 controls (a lone
/// U+009B is a CSI to some terminals), the Unicode line and paragraph separators and the
/// bidirectional overrides as `\u{NNNN}`. Summaries and device names come from the devices and
/// webhook senders: without this a newline in one forges a second line, and an escape sequence
/// reaches the operator's terminal.
fn escape_controls(line: &str) -> std::borrow::Cow<'_, str> {
    fn needs_escape(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !line.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut escaped = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                escaped.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => escaped.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewEvent, Store, StoreConfig};
    use std::sync::Arc;

    /// Runs the file sink `config` over `store`'s outbox, draining from the start: it writes what
    /// is due and stops.
    async fn drain_file(config: &FileSinkConfig, store: Store) {
        let outbox = Outbox {
            store,
            sink: config.name.clone(),
            waker: Arc::new(tokio::sync::Notify::new()),
            drain: tokio_util::sync::CancellationToken::new(),
            linger: Duration::ZERO,
            recorder: Default::default(),
        };
        outbox.drain.cancel();
        spawn_file(config, outbox).unwrap().await.unwrap();
    }

    /// A summary or device name is untrusted text: a newline in it must not forge a second log
    /// line, and an escape sequence must not reach the operator's terminal.
    #[test]
    fn a_text_line_shows_control_characters_escaped_and_stays_one_line() {
        let mut event = Event::new(
            "leaf1",
            "com.cisco.dme.modified",
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        );
        event.device = "edge\x1b]0;owned\x07".into();
        event.summary =
            "link down\r\n1970-01-01 00:00:00.000 #0 core1 critical forged\x1b[2J\u{9b}31m\u{2028}end\ttab"
                .into();
        let mut out = Vec::new();
        write_event(&mut out, &event, StdoutFormat::Text).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = text.strip_suffix('\n').expect("ends with a newline");
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{2028}'),
            "{line:?}"
        );
        assert!(
            line.contains(
                "edge\\x1b]0;owned\\x07 info     link down\\r\\n1970-01-01 00:00:00.000 #0 core1 critical forged\\x1b[2J\\u{9b}31m\\u{2028}end\\ttab"
            ),
            "{line}"
        );
    }

    #[tokio::test]
    async fn file_sink_appends_one_json_line_per_outbox_row_and_marks_them_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "earlier line\n").unwrap();
        let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
        let mut sequences = Vec::new();
        for _ in 0..3 {
            let event = Event::new(
                "leaf1",
                "com.cisco.dme.modified",
                jiff::Timestamp::now(),
                serde_json::json!({}),
            );
            let item = NewEvent {
                sinks: vec!["archive".to_owned()],
                ..NewEvent::new(event)
            };
            sequences.push(store.append(&[item]).await.unwrap()[0].seq);
        }
        let config = FileSinkConfig {
            name: "archive".into(),
            path: path.clone(),
            fsync: true,
            filter: Default::default(),
        };
        drain_file(&config, store.clone()).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0], "earlier line",
            "the file is appended to, not truncated"
        );
        let written: Vec<u64> = lines[1..]
            .iter()
            .map(|line| serde_json::from_str::<Event>(line).unwrap().seq)
            .collect();
        assert_eq!(written, sequences);
        let counts = store.reader().unwrap().outbox_counts("archive").unwrap();
        assert_eq!((counts.pending, counts.delivered), (0, 3));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_events_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
        let config = FileSinkConfig {
            name: "archive".into(),
            path: dir.path().join("events.jsonl"),
            fsync: false,
            filter: Default::default(),
        };
        drain_file(&config, store).await;
        let mode = std::fs::metadata(&config.path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
}
