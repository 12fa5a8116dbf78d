//! Line-oriented sinks, `type: file` (JSON Lines appended to a file) and `type: stdout`. Both run
//! on a dedicated thread, because writes block: each wakeup takes every event already queued,
//! writes them as one batch and flushes once (and fsyncs once, when asked to).

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use super::{SharedEvent, SinkHandle};
use crate::config::{FileSinkConfig, StdoutFormat, StdoutSinkConfig};
use crate::event::Event;

const QUEUE: usize = 4096;
const MAX_BATCH: usize = 1024;

pub fn spawn_file(config: &FileSinkConfig) -> anyhow::Result<SinkHandle> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.path)
        .with_context(|| {
            format!(
                "sink {}: cannot open {} for appending",
                config.name,
                config.path.display()
            )
        })?;
    let fsync = config.fsync;
    let sync_file = file
        .try_clone()
        .context("cannot duplicate the file handle")?;
    let after_batch = move || if fsync { sync_file.sync_data() } else { Ok(()) };
    Ok(spawn_writer(
        &config.name,
        BufWriter::with_capacity(64 * 1024, file),
        StdoutFormat::Json,
        after_batch,
    ))
}

pub fn spawn_stdout(config: &StdoutSinkConfig) -> SinkHandle {
    spawn_writer(&config.name, std::io::stdout(), config.format, || Ok(()))
}

fn spawn_writer<W, F>(
    name: &str,
    mut out: W,
    format: StdoutFormat,
    mut after_batch: F,
) -> SinkHandle
where
    W: Write + Send + 'static,
    F: FnMut() -> std::io::Result<()> + Send + 'static,
{
    let (sender, mut receiver) = mpsc::channel::<SharedEvent>(QUEUE);
    let (finished_tx, finished) = oneshot::channel();
    let sink_name = name.to_owned();
    let written = metrics::counter!("netpulse_sink_events_total", "sink" => sink_name.clone());
    let errors = metrics::counter!("netpulse_sink_errors_total", "sink" => sink_name.clone());
    std::thread::Builder::new()
        .name(format!("sink-{name}"))
        .spawn(move || {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = receiver.blocking_recv() {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                let result = write_batch(&mut out, &batch, format).and_then(|()| out.flush()).and_then(|()| after_batch());
                match result {
                    Ok(()) => written.increment(batch.len() as u64),
                    Err(err) => {
                        errors.increment(1);
                        tracing::error!(sink = %sink_name, error = %err, events = batch.len(), "cannot write events");
                    }
                }
                batch.clear();
            }
            let _ = finished_tx.send(());
        })
        .expect("cannot start a sink thread");
    SinkHandle {
        name: name.to_owned(),
        events: sender,
        finished,
    }
}

fn write_batch<W: Write>(
    out: &mut W,
    batch: &[SharedEvent],
    format: StdoutFormat,
) -> std::io::Result<()> {
    for event in batch {
        write_event(out, event, format)?;
    }
    Ok(())
}

fn write_event<W: Write>(out: &mut W, event: &Event, format: StdoutFormat) -> std::io::Result<()> {
    match format {
        StdoutFormat::Json => {
            serde_json::to_writer(&mut *out, event).map_err(std::io::Error::other)?
        }
        StdoutFormat::Text => out.write_all(event.to_text_line().as_bytes())?,
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn file_sink_appends_one_json_line_per_event_and_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "earlier line\n").unwrap();
        let config = FileSinkConfig {
            name: "archive".into(),
            path: path.clone(),
            fsync: true,
        };
        let handle = spawn_file(&config).unwrap();
        for index in 0..3 {
            let mut event = Event::new(
                "leaf1",
                "com.cisco.dme.modified",
                jiff::Timestamp::now(),
                serde_json::json!({}),
            );
            event.seq = index;
            handle.events.send(Arc::new(event)).await.unwrap();
        }
        drop(handle.events);
        handle.finished.await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0], "earlier line",
            "the file is appended to, not truncated"
        );
        let sequences: Vec<u64> = lines[1..]
            .iter()
            .map(|line| serde_json::from_str::<Event>(line).unwrap().seq)
            .collect();
        assert_eq!(sequences, [0, 1, 2]);
    }
}
