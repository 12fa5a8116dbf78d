//! Outputs. One module per kind; [`SinkConfig`] is the registry and [`spawn`] the dispatcher.
//! Every sink takes its work from the store's outbox ([`outbox::Outbox`]), never from memory, so a
//! crash or an outage of the target loses nothing: pending deliveries resume after a restart.

use crate::config::SinkConfig;

mod lines;
pub mod outbox;
pub mod webex;

pub use outbox::Outbox;

/// A running sink; the gateway waits on `task` at shutdown.
pub struct SinkHandle {
    pub name: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts a sink reading from `outbox`.
pub fn spawn(config: &SinkConfig, outbox: Outbox) -> anyhow::Result<SinkHandle> {
    let task = match config {
        SinkConfig::File(file) => lines::spawn_file(file, outbox)?,
        SinkConfig::Stdout(stdout) => lines::spawn_stdout(stdout, outbox),
        SinkConfig::Webex(webex) => webex::spawn(webex, outbox)?,
    };
    Ok(SinkHandle {
        name: config.name().to_owned(),
        task,
    })
}
