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

/// How long a sink of this kind lets rows accumulate after a wake-up before claiming them: line
/// sinks write in batches, a Webex message goes out at once.
pub fn linger(config: &SinkConfig) -> std::time::Duration {
    match config {
        SinkConfig::File(_) | SinkConfig::Stdout(_) => std::time::Duration::from_millis(50),
        SinkConfig::Webex(_) => std::time::Duration::ZERO,
    }
}

/// Starts a sink reading from `outbox`; `operator` lets a Webex sink act on what its room asks
/// (card buttons, write commands).
pub fn spawn(
    config: &SinkConfig,
    outbox: Outbox,
    operator: Option<crate::operator::Operator>,
) -> anyhow::Result<SinkHandle> {
    let task = match config {
        SinkConfig::File(file) => lines::spawn_file(file, outbox)?,
        SinkConfig::Stdout(stdout) => lines::spawn_stdout(stdout, outbox),
        SinkConfig::Webex(webex) => webex::spawn(webex, outbox, operator)?,
    };
    Ok(SinkHandle {
        name: config.name().to_owned(),
        task,
    })
}
