//! The DME source (`type: dme`): NX-OS and APIC WebSocket subscriptions.
//!
//! Per device: log in, open `wss://device/socket<token>`, subscribe to every configured query,
//! refresh the subscriptions and the session in time, and on any failure reconnect with jittered
//! exponential backoff, subscribe again and **resynchronise**: the objects the device returns are
//! compared with netpulse's view, the differences become events (marked `resync`), preceded by one
//! gap event that says how long netpulse was blind and why.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::config::DmeSourceConfig;
use crate::source::lifecycle::{Link, Protocol};

pub mod adjacency;
mod client;
pub mod health;
pub mod normalize;
pub mod protocol;
mod refresh;
mod session;
pub mod view;

pub use client::SharedClients;
use client::{DmeClient, SessionError};
use view::DeviceView;

/// netpulse's view of one device, shared with the gateway (the tests compare it with the device).
pub(crate) type SharedView = Arc<Mutex<DeviceView>>;

/// Objects of a device view: (class, attributes) of every subscribed object, by dn.
pub(crate) fn objects(view: &SharedView) -> Vec<(String, BTreeMap<String, String>)> {
    view.lock().expect("view lock").objects()
}

/// Makes the device's protocol half; the lifecycle runs it. `view`: the view of the same device's
/// previous run, to resynchronise against instead of starting from a new baseline.
pub(crate) fn device(
    config: &DmeSourceConfig,
    shared: &SharedClients,
    view: Option<SharedView>,
) -> anyhow::Result<(Device, SharedView)> {
    let client = DmeClient::new(config, shared)?;
    let view = view.unwrap_or_default();
    let device = Device {
        config: config.clone(),
        client,
        connects: shared.connects.clone(),
        view: view.clone(),
        health: refresh::DeviceHealth::default(),
    };
    Ok((device, view))
}

/// One DME device: its client, and the view that outlives sessions.
pub(crate) struct Device {
    config: DmeSourceConfig,
    client: DmeClient,
    /// The gateway-wide limit on devices connecting at once.
    connects: Arc<tokio::sync::Semaphore>,
    view: SharedView,
    /// The subscription alarms raised and not yet cleared, and whether it ever logged in.
    health: refresh::DeviceHealth,
}

impl Protocol for Device {
    type Error = SessionError;

    async fn session(&mut self, link: &mut Link) -> crate::source::lifecycle::Ended<SessionError> {
        self.run_session(link).await
    }

    fn record_failure(&self, link: &Link, error: &SessionError) {
        let name = &link.name;
        let address = &self.config.address;
        match error {
            SessionError::LoginRefused(_) => {
                link.counters.login_failures.increment(1);
                link.status.update(|status| status.login_failures += 1);
                tracing::error!(source = %name, address = %address, username = %self.config.username, error = %error, "login refused by the device");
            }
            SessionError::LoginUnavailable { status, .. } => {
                link.counters.logins_unavailable.increment(1);
                link.status
                    .update(|snapshot| snapshot.logins_unavailable += 1);
                tracing::warn!(source = %name, address = %address, status, error = %error, "the device turned the login away for now (starting, or too many sessions?)");
            }
            _ => {
                tracing::warn!(source = %name, address = %address, kind = error.kind(), error = %error, "device session failed")
            }
        }
    }
}
