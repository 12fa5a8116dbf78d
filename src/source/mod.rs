//! Inputs. One module per protocol; [`SourceConfig`] is the registry and [`spawn`] the dispatcher.
//! Every source sends its events into the gateway's channel and reports its state to a
//! [`SourceStatus`] that the status API and the tests read. The session-holding sources (DME,
//! pxGrid, Webex events) are protocols run by the one [`lifecycle`]; a [`SourceHandle`] starts,
//! stops and restarts them from outside.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SourceConfig;
use crate::event::Event;

pub mod dme;
pub mod lifecycle;
pub mod pxgrid;
mod registry;
mod socket;
pub mod webex_events;
pub mod webhook;

pub use lifecycle::SessionControl;
pub use registry::Registry;

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
    /// Device sessions: logins after the source's first (each follows a session that ended).
    pub relogins: u64,
    /// DME: refreshes that succeeded later than planned, over every subscription.
    pub late_refreshes: u64,
    /// DME: refresh calls that failed (the subscription may still be alive), over every
    /// subscription.
    pub refresh_failures: u64,
    /// DME: each subscription of the current (or last) session and its health.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscription_health: Vec<SubscriptionStatus>,
}

/// Where a device subscription stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Refreshed on time.
    #[default]
    Healthy,
    /// Less than its alarm margin is left before the device would expire it.
    AtRisk,
    /// The device dropped it, or its timeout passed without a refresh; the session resubscribes.
    Lost,
    /// Its session ended; the next session subscribes again.
    Closed,
}

/// One subscription of a device session, as `/api/v1/sources` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubscriptionStatus {
    /// The device's subscription id.
    pub id: String,
    /// The query as subscribed (without `subscription=yes`).
    pub query: String,
    pub state: SubscriptionState,
    /// How long the device keeps it without a refresh (as netpulse assumes it, see the README).
    pub timeout_ms: u64,
    /// How often netpulse refreshes it.
    pub refresh_ms: u64,
    /// Under this margin netpulse raises `io.netpulse.subscription.at_risk`.
    pub alarm_margin_ms: u64,
    /// When the device last restarted its timeout: the last successful refresh (when it was
    /// sent), or the subscription.
    pub last_refresh_at: Option<jiff::Timestamp>,
    /// When the device would expire it without another refresh; none once closed.
    pub expires_at: Option<jiff::Timestamp>,
    /// Time left until `expires_at` when the status was read (negative: overdue).
    pub margin_ms: Option<i64>,
    /// How long the last successful refresh call took.
    pub last_refresh_took_ms: Option<u64>,
    pub refreshes: u64,
    pub late_refreshes: u64,
    pub refresh_failures: u64,
    pub last_error: Option<String>,
}

/// A shared, cheaply updated [`StatusSnapshot`].
#[derive(Debug, Default)]
pub struct SourceStatus {
    inner: Mutex<StatusSnapshot>,
}

impl SourceStatus {
    /// The status now; each subscription's `margin_ms` is computed at this moment.
    pub fn snapshot(&self) -> StatusSnapshot {
        let mut snapshot = self.inner.lock().expect("status lock").clone();
        let now = jiff::Timestamp::now().as_millisecond();
        for subscription in &mut snapshot.subscription_health {
            subscription.margin_ms = subscription
                .expires_at
                .map(|expires_at| expires_at.as_millisecond() - now);
        }
        snapshot
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
    /// The configuration it runs with (a reload compares it with the new one).
    pub(crate) config: SourceConfig,
    pub(crate) detail: SourceDetail,
    /// Session-holding sources: their lifecycle's control and task.
    session: Option<Session>,
}

struct Session {
    control: SessionControl,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Per-protocol state the gateway can show (a DME device's object view, for instance).
pub(crate) enum SourceDetail {
    Dme(dme::SharedView),
    Webhook(Arc<webhook::WebhookReceiver>),
    Pxgrid,
    WebexEvents,
}

impl SourceHandle {
    /// The source's `type` and, for webhooks, its `provider`, as configured.
    pub fn kind(&self) -> (&'static str, Option<&'static str>) {
        match &self.detail {
            SourceDetail::Dme(_) => ("dme", None),
            SourceDetail::Webhook(receiver) => ("webhook", Some(receiver.provider.as_str())),
            SourceDetail::Pxgrid => ("pxgrid", None),
            SourceDetail::WebexEvents => ("webex_events", None),
        }
    }

    /// The configuration the source runs with.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// For DME sources: what netpulse believes the device holds, as (class, attributes) sorted by dn.
    pub fn dme_objects(&self) -> Option<Vec<(String, std::collections::BTreeMap<String, String>)>> {
        match &self.detail {
            SourceDetail::Dme(view) => Some(dme::objects(view)),
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

    /// For session-holding sources (DME, pxGrid, Webex events): start, stop or restart their
    /// sessions. `None` for webhook receivers, which have no session (a reload adds and removes
    /// their routes).
    pub fn session(&self) -> Option<&SessionControl> {
        self.session.as_ref().map(|session| &session.control)
    }

    /// Ends the source for good (its session logs out) and waits until its task has ended, at
    /// most `timeout`. A webhook receiver stops when its route is removed.
    pub async fn remove(&self, timeout: std::time::Duration) {
        let Some(session) = &self.session else {
            self.status.set_state(ConnectionState::Stopped);
            return;
        };
        session.control.remove();
        let task = session.task.lock().expect("task lock").take();
        if let Some(task) = task
            && tokio::time::timeout(timeout, task).await.is_err()
        {
            tracing::warn!(source = %self.name, timeout_ms = timeout.as_millis() as u64, "the removed source's session did not end in time; it ends in the background");
        }
    }
}

/// What every source is started with.
pub struct SpawnContext<'a> {
    pub http: &'a crate::config::HttpSection,
    /// `topology:`: DME sources also subscribe to the LLDP/CDP adjacencies when it is on.
    pub topology: Option<&'a crate::config::TopologyConfig>,
    pub shared: &'a dme::SharedClients,
    pub events: mpsc::Sender<Event>,
    /// Where session-holding sources keep their views across restarts.
    pub views: Option<lifecycle::Views>,
    pub shutdown: CancellationToken,
    pub tracker: &'a TaskTracker,
}

/// Starts one source on the tracker and returns its handle.
pub fn spawn(config: &SourceConfig, context: &SpawnContext<'_>) -> anyhow::Result<SourceHandle> {
    Ok(
        prepare(config, context.http, context.topology, context.shared, None)?.start(
            context.events.clone(),
            context.views.clone(),
            context.shutdown.clone(),
            context.tracker,
        ),
    )
}

/// A source built but not started: what can fail (a certificate file, a client) has been done,
/// so a reload can build every new source before it stops any old one.
pub struct Prepared {
    handle: SourceHandle,
    protocol: Option<Runner>,
    /// It replaces a run of the same source: its first sync follows a gap.
    resume: bool,
}

/// A session-holding source's protocol, before its lifecycle starts.
enum Runner {
    // Boxed: a prepared source lives only until it starts, and the protocols differ in size.
    Dme(Box<dme::Device>, crate::config::BackoffConfig),
    Pxgrid(Box<pxgrid::Pxgrid>, crate::config::BackoffConfig),
    WebexEvents(Box<webex_events::Bot>, crate::config::BackoffConfig),
}

/// Builds one source (its client, its receiver) without starting it. `previous`: the running
/// source of the same name this one replaces (a reload); when it watches the same thing, the new
/// one resumes after a gap instead of starting from a new baseline (see [`resumes`]).
/// `topology`: the `topology:` section, which adds the adjacency subscriptions of DME sources.
pub fn prepare(
    config: &SourceConfig,
    http: &crate::config::HttpSection,
    topology: Option<&crate::config::TopologyConfig>,
    shared: &dme::SharedClients,
    previous: Option<&SourceHandle>,
) -> anyhow::Result<Prepared> {
    let config = &effective(config, topology);
    let status = Arc::new(SourceStatus::default());
    let resume = previous.is_some_and(|previous| resumes(&previous.config, config));
    let (detail, protocol) = match config {
        SourceConfig::Dme(dme) => {
            let view = match previous.map(|previous| &previous.detail) {
                Some(SourceDetail::Dme(view)) if resume => Some(view.clone()),
                _ => None,
            };
            let (device, view) = dme::device(dme, shared, view)?;
            let runner = Runner::Dme(Box::new(device), dme.backoff.clone());
            (SourceDetail::Dme(view), Some(runner))
        }
        SourceConfig::Pxgrid(pxgrid) => {
            let runner =
                Runner::Pxgrid(Box::new(pxgrid::consumer(pxgrid)?), pxgrid.backoff.clone());
            (SourceDetail::Pxgrid, Some(runner))
        }
        SourceConfig::WebexEvents(webex) => {
            let runner =
                Runner::WebexEvents(Box::new(webex_events::bot(webex)?), webex.backoff.clone());
            (SourceDetail::WebexEvents, Some(runner))
        }
        SourceConfig::Webhook(webhook) => {
            let receiver = webhook::WebhookReceiver::new(webhook, http, status.clone());
            (SourceDetail::Webhook(Arc::new(receiver)), None)
        }
    };
    let handle = SourceHandle {
        name: config.name().to_owned(),
        status,
        config: config.clone(),
        detail,
        session: None,
    };
    Ok(Prepared {
        handle,
        protocol,
        resume,
    })
}

/// A source entry as it runs: a DME source with `topology:` on also subscribes to its LLDP/CDP
/// adjacencies. A running source keeps this form, so a reload compares the new entries in it too
/// (turning `topology:` on or off restarts the DME sources with their new subscriptions).
pub fn effective(
    config: &SourceConfig,
    topology: Option<&crate::config::TopologyConfig>,
) -> SourceConfig {
    match config {
        SourceConfig::Dme(dme) => {
            SourceConfig::Dme(Box::new(dme::adjacency::with_topology(dme, topology)))
        }
        other => other.clone(),
    }
}

/// Whether a restarted source watches the same thing as before, so that what happened while it
/// restarted is a gap to report and resynchronise: the same device and subscriptions (DME; other
/// subscriptions make a new baseline), the same ISE node and account (pxGrid), the same bot
/// (Webex events). A webhook receiver has no session to resume.
fn resumes(previous: &SourceConfig, next: &SourceConfig) -> bool {
    match (previous, next) {
        (SourceConfig::Dme(previous), SourceConfig::Dme(next)) => {
            previous.address == next.address
                && previous.subscriptions == next.subscriptions
                && previous.platform == next.platform
        }
        (SourceConfig::Pxgrid(previous), SourceConfig::Pxgrid(next)) => {
            previous.address == next.address && previous.node_name == next.node_name
        }
        (SourceConfig::WebexEvents(_), SourceConfig::WebexEvents(_)) => true,
        _ => false,
    }
}

/// What a session-holding source's stored view is a view of: what [`resumes`] compares. A view
/// stored under another identity (the entry now names another device or other subscriptions) is
/// not resumed from: the first snapshot is a new baseline instead of a flood of differences.
fn view_identity(config: &SourceConfig) -> String {
    match config {
        SourceConfig::Dme(dme) => format!(
            "dme {} {:?} {}",
            dme.address,
            dme.platform,
            dme.subscriptions.join(" ")
        ),
        SourceConfig::Pxgrid(pxgrid) => format!("pxgrid {} {}", pxgrid.address, pxgrid.node_name),
        other => other.name().to_owned(),
    }
}

impl Prepared {
    /// The handle of a source that is never started (tests of what a reload plans).
    #[cfg(test)]
    pub(crate) fn into_handle(self) -> SourceHandle {
        self.handle
    }

    /// Starts the source's lifecycle on `tracker` (a webhook receiver is up at once: it has no
    /// session of its own, its route is served with the HTTP server's). `views`: where a
    /// session-holding source keeps its view across restarts.
    pub fn start(
        mut self,
        events: mpsc::Sender<Event>,
        views: Option<lifecycle::Views>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> SourceHandle {
        let handle = &mut self.handle;
        let Some(protocol) = self.protocol else {
            handle.status.set_state(ConnectionState::Connected);
            return self.handle;
        };
        let mut link = lifecycle::Link::new(&handle.name, events, handle.status.clone());
        if self.resume {
            link.resume("restarted by a configuration reload");
        }
        // Webex events has nothing to resynchronise against: only device sessions keep views.
        if let (Some(views), Runner::Dme(..) | Runner::Pxgrid(..)) = (views, &protocol) {
            link.keep_views(views, view_identity(&handle.config));
        }
        let control = SessionControl::new();
        let task = match protocol {
            Runner::Dme(device, backoff) => tracker.spawn(lifecycle::run(
                *device,
                link,
                backoff,
                control.clone(),
                shutdown,
            )),
            Runner::Pxgrid(pxgrid, backoff) => tracker.spawn(lifecycle::run(
                *pxgrid,
                link,
                backoff,
                control.clone(),
                shutdown,
            )),
            Runner::WebexEvents(bot, backoff) => tracker.spawn(lifecycle::run(
                *bot,
                link,
                backoff,
                control.clone(),
                shutdown,
            )),
        };
        handle.session = Some(Session {
            control,
            task: Mutex::new(Some(task)),
        });
        self.handle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(entry: &str) -> SourceConfig {
        let yaml = format!("store: {{ path: db }}\nsources:\n  - {entry}\n");
        let lookup = |_: &str| Some("secret".to_owned());
        let config = crate::config::Config::parse_with(&yaml, std::path::Path::new("."), &lookup);
        config.unwrap().sources.remove(0)
    }

    #[test]
    fn the_status_computes_each_subscriptions_margin_when_it_is_read() {
        let status = SourceStatus::default();
        let expires_at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
        status.update(|snapshot| {
            snapshot.subscription_health.push(SubscriptionStatus {
                expires_at: Some(expires_at),
                ..SubscriptionStatus::default()
            });
            snapshot.subscription_health.push(SubscriptionStatus {
                state: SubscriptionState::Closed,
                ..SubscriptionStatus::default()
            });
        });
        let snapshot = status.snapshot();
        let margin_ms = snapshot.subscription_health[0].margin_ms.unwrap();
        assert!(
            margin_ms > 3_000_000 && margin_ms <= 3_600_000,
            "{margin_ms}"
        );
        assert_eq!(
            snapshot.subscription_health[1].margin_ms, None,
            "closed: no margin"
        );
        let json = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(json["subscription_health"][1]["state"], "closed");
        assert_eq!(json["subscription_health"][0]["state"], "healthy");
        assert_eq!(
            (json["relogins"].as_u64(), json["refresh_failures"].as_u64()),
            (Some(0), Some(0))
        );
        let empty = serde_json::to_value(SourceStatus::default().snapshot()).unwrap();
        assert!(
            empty.get("subscription_health").is_none(),
            "other sources show no list"
        );
    }

    #[test]
    fn a_restart_resumes_only_when_it_watches_the_same_thing() {
        let dme = |address: &str, class: &str, timeout: &str| {
            source(&format!(
                "{{ name: leaf1, type: dme, address: \"{address}\", username: admin, password: \"${{P}}\", request_timeout: {timeout}, subscriptions: [/api/class/{class}.json] }}"
            ))
        };
        let before = dme("https://leaf1", "l1PhysIf", "10s");
        assert!(resumes(&before, &dme("https://leaf1", "l1PhysIf", "9s")));
        assert!(
            !resumes(&before, &dme("https://leaf1", "l2BD", "10s")),
            "other subscriptions: a new baseline"
        );
        assert!(
            !resumes(&before, &dme("https://leaf9", "l1PhysIf", "10s")),
            "another device"
        );
        let hook = source(
            "{ name: leaf1, type: webhook, provider: sdwan, path: /hooks/a, auth: { none: true } }",
        );
        assert!(!resumes(&before, &hook));
        assert!(!resumes(&hook, &hook), "a receiver has no session");
    }
}
