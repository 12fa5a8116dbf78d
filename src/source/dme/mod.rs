//! The DME source (`type: dme`): NX-OS and APIC WebSocket subscriptions.
//!
//! Per device: log in, open `wss://device/socket<token>`, subscribe to every configured query,
//! refresh the subscriptions and the session in time, and on any failure reconnect with jittered
//! exponential backoff, subscribe again and **resynchronise**: the objects the device returns are
//! compared with netpulse's view, the differences become events (marked `resync`), preceded by one
//! gap event that says how long netpulse was blind and why.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio_util::task::TaskTracker;

use crate::config::DmeSourceConfig;
use crate::source::backoff::{Backoff, wait_to_reconnect};
use crate::source::{ConnectionState, Counters, Gap, SourceContext};

mod client;
pub mod normalize;
pub mod protocol;
mod session;
pub mod view;

pub use client::SharedClients;
use client::{DmeClient, SessionError};
use view::DeviceView;

/// What the gateway keeps of a running DME source.
pub struct DmeHandle {
    view: Arc<Mutex<DeviceView>>,
}

impl DmeHandle {
    /// netpulse's view of the device: (class, attributes) of every subscribed object, by dn.
    pub fn objects(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.view.lock().expect("view lock").objects()
    }
}

/// Starts the device's session task.
pub fn spawn(
    config: &DmeSourceConfig,
    shared: &SharedClients,
    context: SourceContext,
    tracker: &TaskTracker,
) -> anyhow::Result<DmeHandle> {
    let client = DmeClient::new(config, shared)?;
    let view = Arc::new(Mutex::new(DeviceView::default()));
    let device = Device {
        counters: Counters::new(&context.name),
        config: config.clone(),
        client,
        connects: shared.connects.clone(),
        view: view.clone(),
        context,
        synced_once: false,
    };
    tracker.spawn(device.run());
    Ok(DmeHandle { view })
}

/// How a session ended.
enum Ended {
    Shutdown,
    Failed {
        error: SessionError,
        healthy_until: Option<jiff::Timestamp>,
        was_live: bool,
    },
}

struct Device {
    config: DmeSourceConfig,
    client: DmeClient,
    /// The gateway-wide limit on devices connecting at once.
    connects: Arc<tokio::sync::Semaphore>,
    view: Arc<Mutex<DeviceView>>,
    context: SourceContext,
    counters: Counters,
    /// False until the first subscription succeeds: the first snapshot is the baseline, not news.
    synced_once: bool,
}

impl Device {
    async fn run(mut self) {
        let mut backoff = Backoff::new(&self.config.backoff);
        let mut gap: Option<Gap> = None;
        loop {
            let (error, healthy_until, was_live) = match self.session(&mut gap).await {
                Ended::Shutdown => break,
                Ended::Failed {
                    error,
                    healthy_until,
                    was_live,
                } => (error, healthy_until, was_live),
            };
            if was_live {
                backoff.reset();
            }
            self.record_failure(&error);
            if self.synced_once && gap.is_none() {
                gap = Some(Gap {
                    since: healthy_until.unwrap_or_else(jiff::Timestamp::now),
                    reason: error.to_string(),
                });
            }
            let delay = backoff.next_delay();
            if !wait_to_reconnect(&self.context, delay, &self.counters.reconnects).await {
                break;
            }
        }
        self.context.status.set_state(ConnectionState::Stopped);
    }

    fn record_failure(&self, error: &SessionError) {
        let name = &self.context.name;
        let address = &self.config.address;
        match error {
            SessionError::LoginRefused(_) => {
                self.counters.login_failures.increment(1);
                self.context
                    .status
                    .update(|status| status.login_failures += 1);
                tracing::error!(source = %name, address = %address, username = %self.config.username, error = %error, "login refused by the device");
            }
            SessionError::LoginUnavailable { status, .. } => {
                self.counters.logins_unavailable.increment(1);
                self.context
                    .status
                    .update(|snapshot| snapshot.logins_unavailable += 1);
                tracing::warn!(source = %name, address = %address, status, error = %error, "the device turned the login away for now (starting, or too many sessions?)");
            }
            _ => {
                tracing::warn!(source = %name, address = %address, kind = error.kind(), error = %error, "device session failed")
            }
        }
        self.context.status.set_error(&error.to_string());
    }
}
