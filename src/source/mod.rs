//! Inputs. One module per protocol; [`SourceConfig`] is the registry and [`spawn`] the dispatcher.
//! Every source sends its events into the gateway's channel and reports its state to a
//! [`SourceStatus`] that the status API and the tests read.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SourceConfig;
use crate::event::Event;

mod backoff;
pub mod dme;
pub mod pxgrid;
pub mod webex_events;
pub mod webhook;

/// What a source is given when it starts.
#[derive(Clone)]
pub struct SourceContext {
    pub name: String,
    pub events: mpsc::Sender<Event>,
    pub shutdown: CancellationToken,
    pub status: Arc<SourceStatus>,
}

/// Where a source's connection stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    #[default]
    Starting,
    Connecting,
    Subscribing,
    Connected,
    Backoff,
    Stopped,
}

/// The session state of one source, kept up to date by the source for the status API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusSnapshot {
    pub state: ConnectionState,
    pub subscriptions: usize,
    /// Device sessions: when every subscription was last refreshed successfully.
    pub last_refresh_at: Option<jiff::Timestamp>,
    pub connected_since: Option<jiff::Timestamp>,
    pub last_event_at: Option<jiff::Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<jiff::Timestamp>,
    pub events: u64,
    pub connects: u64,
    pub login_failures: u64,
    /// Device sessions: logins the device turned away for now (HTTP 5xx, such as 503 while it
    /// starts or has too many sessions), retried with backoff; wrong credentials count in
    /// `login_failures` instead.
    pub logins_unavailable: u64,
    pub gaps: u64,
    /// Webhook receivers: requests refused (credentials, content type, size, invalid body).
    pub rejected: u64,
    pub last_gap_ms: Option<u64>,
    pub duplicates_suppressed: u64,
}

/// A shared, cheaply updated [`StatusSnapshot`].
#[derive(Debug, Default)]
pub struct SourceStatus {
    inner: Mutex<StatusSnapshot>,
}

impl SourceStatus {
    pub fn snapshot(&self) -> StatusSnapshot {
        self.inner.lock().expect("status lock").clone()
    }

    pub fn update(&self, change: impl FnOnce(&mut StatusSnapshot)) {
        change(&mut self.inner.lock().expect("status lock"));
    }

    pub fn set_state(&self, state: ConnectionState) {
        self.update(|status| status.state = state);
    }

    pub fn set_error(&self, error: &str) {
        self.update(|status| {
            status.last_error = Some(error.to_owned());
            status.last_error_at = Some(jiff::Timestamp::now());
        });
    }
}

/// A running source as the gateway sees it.
pub struct SourceHandle {
    pub name: String,
    pub status: Arc<SourceStatus>,
    pub(crate) detail: SourceDetail,
}

/// Per-protocol state the gateway can show (a DME device's object view, for instance).
pub(crate) enum SourceDetail {
    Dme(dme::DmeHandle),
    Webhook(Arc<webhook::WebhookReceiver>),
    Pxgrid(pxgrid::PxgridHandle),
    WebexEvents(webex_events::WebexEventsHandle),
}

impl SourceHandle {
    /// The source's `type` and, for webhooks, its `provider`, as configured.
    pub fn kind(&self) -> (&'static str, Option<&'static str>) {
        match &self.detail {
            SourceDetail::Dme(_) => ("dme", None),
            SourceDetail::Webhook(receiver) => ("webhook", Some(receiver.provider.as_str())),
            SourceDetail::Pxgrid(_) => ("pxgrid", None),
            SourceDetail::WebexEvents(_) => ("webex_events", None),
        }
    }

    /// For DME sources: what netpulse believes the device holds, as (class, attributes) sorted by dn.
    pub fn dme_objects(&self) -> Option<Vec<(String, std::collections::BTreeMap<String, String>)>> {
        match &self.detail {
            SourceDetail::Dme(handle) => Some(handle.objects()),
            _ => None,
        }
    }

    /// For webhook sources: the receiver the HTTP server routes requests to.
    pub fn webhook_receiver(&self) -> Option<Arc<webhook::WebhookReceiver>> {
        match &self.detail {
            SourceDetail::Webhook(receiver) => Some(receiver.clone()),
            _ => None,
        }
    }
}

/// Starts one source on the tracker and returns its handle.
pub fn spawn(
    config: &SourceConfig,
    http: &crate::config::HttpSection,
    shared: &dme::SharedClients,
    events: mpsc::Sender<Event>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<SourceHandle> {
    let status = Arc::new(SourceStatus::default());
    let context = SourceContext {
        name: config.name().to_owned(),
        events,
        shutdown,
        status: status.clone(),
    };
    let detail = match config {
        SourceConfig::Dme(dme) => SourceDetail::Dme(dme::spawn(dme, shared, context, tracker)?),
        SourceConfig::Pxgrid(pxgrid) => {
            SourceDetail::Pxgrid(pxgrid::spawn(pxgrid, context, tracker)?)
        }
        SourceConfig::WebexEvents(webex) => {
            SourceDetail::WebexEvents(webex_events::spawn(webex, context, tracker)?)
        }
        SourceConfig::Webhook(webhook) => {
            // A receiver has no session of its own: it is up when the HTTP server is.
            status.set_state(ConnectionState::Connected);
            SourceDetail::Webhook(Arc::new(webhook::WebhookReceiver::new(
                webhook,
                http,
                status.clone(),
            )))
        }
    };
    Ok(SourceHandle {
        name: config.name().to_owned(),
        status,
        detail,
    })
}

/// Metrics of one session-holding source (DME, pxGrid), registered once so the hot path does
/// not rebuild label sets.
pub(crate) struct Counters {
    pub events: metrics::Counter,
    pub duplicates: metrics::Counter,
    pub reconnects: metrics::Counter,
    pub login_failures: metrics::Counter,
    pub logins_unavailable: metrics::Counter,
    pub gaps: metrics::Counter,
}

impl Counters {
    pub fn new(name: &str) -> Counters {
        let counter = |metric: &'static str| metrics::counter!(metric, "source" => name.to_owned());
        Counters {
            events: counter("netpulse_source_events_total"),
            duplicates: counter("netpulse_source_duplicates_suppressed_total"),
            reconnects: counter("netpulse_source_reconnects_total"),
            login_failures: counter("netpulse_source_login_failures_total"),
            logins_unavailable: counter("netpulse_source_logins_unavailable_total"),
            gaps: counter("netpulse_source_gaps_total"),
        }
    }
}

/// A period without a subscription: from when the session was last known healthy to its failure.
pub(crate) struct Gap {
    pub since: jiff::Timestamp,
    pub reason: String,
}
