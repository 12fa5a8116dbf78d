//! Outputs. One module per kind; [`SinkConfig`] is the registry and [`spawn`] the dispatcher.
//! A sink receives shared events from the gateway over a bounded channel, so a slow sink slows the
//! pipeline down instead of losing events.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::SinkConfig;
use crate::event::Event;

mod lines;

/// Events as the gateway hands them to sinks: shared, never copied per sink.
pub type SharedEvent = Arc<Event>;

/// A running sink: the gateway sends into `events` and waits on `finished` at shutdown.
pub struct SinkHandle {
    pub name: String,
    pub events: mpsc::Sender<SharedEvent>,
    pub finished: tokio::sync::oneshot::Receiver<()>,
}

/// Starts a sink.
pub fn spawn(config: &SinkConfig) -> anyhow::Result<SinkHandle> {
    match config {
        SinkConfig::File(file) => lines::spawn_file(file),
        SinkConfig::Stdout(stdout) => Ok(lines::spawn_stdout(stdout)),
    }
}
