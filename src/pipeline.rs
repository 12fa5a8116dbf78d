//! The path every accepted event takes: routed to the sinks whose `match:` takes it, appended to
//! the store together with one outbox row per sink (one transaction, shared with other callers'
//! events), and only then announced to those sinks. A webhook is acknowledged when
//! [`Pipeline::ingest`] returns, so an acknowledged event is durable and owed to every sink.
//!
//! A sink that a route of the alerting policy names takes nothing through its own `match:`: the
//! router (`gateway::router`) reads the log and appends its notifications with their outbox rows
//! itself. After each commit of new events the pipeline wakes the router.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::config::SinkConfig;
use crate::route::Routes;
use crate::store::{Appended, NewEvent, Store, StoreError};

/// Routes events to sinks and wakes the sinks that have new work.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Replaced as a whole when a configuration reload changes the sinks.
    routing: RwLock<Arc<Routing>>,
    /// The sinks some route names (`route::Policy::routed_sinks`): no per-event outbox rows.
    routed: RwLock<Arc<HashSet<String>>>,
    /// The router's waker: notified after every commit of new events.
    router: Arc<Notify>,
}

/// The sinks events are routed to, and what wakes each.
struct Routing {
    routes: Routes,
    /// The Webex sinks with `commands:` or `actions:`: each takes every bot interaction (a
    /// message to the bot, a card's button), whatever its `match:` and the routes say.
    interactive: Vec<String>,
    wakers: HashMap<String, Arc<Notify>>,
}

/// Whether `event` is someone talking to a Webex bot: a message posted to it or a card's button
/// (from a `provider: webex` webhook, `com.cisco.webex.messages.created` /
/// `com.cisco.webex.attachmentActions.created`, or a `webex_events` source,
/// `com.cisco.webex.message.created` / `com.cisco.webex.attachment_action.created`).
pub fn is_bot_interaction(event: &crate::event::Event) -> bool {
    let kind = event.kind.as_str();
    kind.starts_with("com.cisco.webex.message") || kind.starts_with("com.cisco.webex.attachment")
}

impl Routing {
    /// The routes of `sinks`; a sink already in `previous` keeps its waker.
    fn new(sinks: &[SinkConfig], previous: Option<&Routing>) -> Routing {
        let wakers = sinks
            .iter()
            .map(|sink| {
                let name = sink.name();
                let waker = previous.and_then(|routing| routing.wakers.get(name).cloned());
                (name.to_owned(), waker.unwrap_or_default())
            })
            .collect();
        let interactive = sinks
            .iter()
            .filter_map(|sink| match sink {
                SinkConfig::Webex(webex) if webex.commands.is_some() || webex.actions.is_some() => {
                    Some(webex.name.clone())
                }
                _ => None,
            })
            .collect();
        Routing {
            routes: Routes::new(sinks),
            interactive,
            wakers,
        }
    }
}

/// The sinks that get an outbox row for `event`: those whose own `match:` takes it and that no
/// route names, and the interactive Webex sinks for a bot interaction.
fn routing_of(
    routing: &Routing,
    routed: &HashSet<String>,
    event: &crate::event::Event,
) -> Vec<String> {
    let mut sinks = routing.routes.sinks_for(event);
    if !routed.is_empty() {
        sinks.retain(|sink| !routed.contains(sink));
    }
    if !routing.interactive.is_empty() && is_bot_interaction(event) {
        for sink in &routing.interactive {
            if !sinks.contains(sink) {
                sinks.push(sink.clone());
            }
        }
    }
    sinks
}

impl Pipeline {
    pub fn new(store: Store, sinks: &[SinkConfig]) -> Pipeline {
        Pipeline {
            inner: Arc::new(Inner {
                store,
                routing: RwLock::new(Arc::new(Routing::new(sinks, None))),
                routed: RwLock::new(Arc::new(HashSet::new())),
                router: Arc::new(Notify::new()),
            }),
        }
    }

    /// From now on, the sinks named here (the routes' sinks, see
    /// [`crate::route::Policy::routed_sinks`]) get no outbox row for an event their own `match:`
    /// takes: the router delivers to them.
    pub fn set_routed_sinks(&self, sinks: impl IntoIterator<Item = String>) {
        *self.inner.routed.write().expect("routed lock") = Arc::new(sinks.into_iter().collect());
    }

    fn routed(&self) -> Arc<HashSet<String>> {
        self.inner.routed.read().expect("routed lock").clone()
    }

    /// What the alerting router waits on: notified after every commit of new events.
    pub fn router_waker(&self) -> Arc<Notify> {
        self.inner.router.clone()
    }

    /// The sinks whose own `match:` takes `event` and that no route names: where the
    /// one-message-per-event shorthand delivers it.
    pub fn sinks_for(&self, event: &crate::event::Event) -> Vec<String> {
        routing_of(&self.routing(), &self.routed(), event)
    }

    /// Routes events to these sinks from now on (a configuration reload); a sink that stays
    /// keeps its waker.
    pub fn set_sinks(&self, sinks: &[SinkConfig]) {
        let mut routing = self.inner.routing.write().expect("routing lock");
        *routing = Arc::new(Routing::new(sinks, Some(&routing)));
    }

    fn routing(&self) -> Arc<Routing> {
        self.inner.routing.read().expect("routing lock").clone()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// What the sink named `sink` waits on for new work.
    pub fn waker(&self, sink: &str) -> Arc<Notify> {
        self.routing()
            .wakers
            .get(sink)
            .cloned()
            .unwrap_or_else(|| Arc::new(Notify::new()))
    }

    /// Routes each event (its `sinks` are replaced by the routing result), appends them durably
    /// and wakes the sinks that got new rows. Resolves after the commit. The items stay the
    /// caller's, so a batch the store could not take can be offered again as it is.
    pub async fn ingest(&self, items: &mut [NewEvent]) -> Result<Vec<Appended>, StoreError> {
        let routing = self.routing();
        let routed = self.routed();
        for item in items.iter_mut() {
            item.sinks = routing_of(&routing, &routed, &item.event);
        }
        let appended = self.inner.store.append(items).await?;
        let mut stored = items
            .iter()
            .zip(&appended)
            .filter(|(_, outcome)| !outcome.duplicate)
            .peekable();
        if stored.peek().is_some() {
            // A single permit too: the router reads everything after its cursor when it wakes.
            self.inner.router.notify_one();
        }
        self.wake_sinks(&routing, stored.flat_map(|(item, _)| &item.sinks));
        Ok(appended)
    }

    /// Saves a session's first snapshot (the baseline, which produces no events) as `source`'s
    /// stored view; its later changes reach the view through its events (`store::views`).
    /// Single node: a store command. Cluster mode (issue 22, the log backend) publishes
    /// `Control::Baseline` instead, so that every node's projection stores it in log order.
    pub async fn save_baseline(
        &self,
        source: &str,
        objects: Vec<crate::cluster::wire::ViewObject>,
    ) -> Result<(), StoreError> {
        self.inner.store.save_view(source, objects).await
    }

    /// `source`'s stored view, as every node's store holds it (read on a blocking thread).
    pub async fn stored_view(
        &self,
        source: &str,
    ) -> anyhow::Result<Option<crate::store::StoredView>> {
        let path = self.inner.store.path().to_owned();
        let source = source.to_owned();
        tokio::task::spawn_blocking(move || crate::store::Reader::open(&path)?.view(&source))
            .await
            .map_err(|err| anyhow::anyhow!("the view reader failed: {err}"))?
    }

    /// Wakes the sinks named in `sinks` (those that got new outbox rows).
    pub fn wake(&self, sinks: impl IntoIterator<Item = impl AsRef<str>>) {
        self.wake_sinks(&self.routing(), sinks);
    }

    fn wake_sinks(&self, routing: &Routing, sinks: impl IntoIterator<Item = impl AsRef<str>>) {
        for sink in sinks {
            // `notify_one` keeps a single permit: waking a sink twice costs nothing more.
            if let Some(waker) = routing.wakers.get(sink.as_ref()) {
                waker.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Severity};

    #[test]
    fn new_sinks_route_from_now_on_and_a_sink_that_stays_keeps_its_waker() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(crate::store::StoreConfig::new(dir.path().join("db"))).unwrap();
        let stdout = |name: &str| {
            SinkConfig::Stdout(serde_json::from_value(serde_json::json!({"name": name})).unwrap())
        };
        let pipeline = Pipeline::new(store, &[stdout("all")]);
        let waker = pipeline.waker("all");
        let event = Event::new("leaf1", "x", jiff::Timestamp::now(), serde_json::json!({}));
        let sinks_for = |event| pipeline.routing().routes.sinks_for(event);
        assert_eq!(sinks_for(&event), ["all"]);
        pipeline.set_sinks(&[stdout("all"), stdout("copy")]);
        assert_eq!(sinks_for(&event), ["all", "copy"]);
        assert!(Arc::ptr_eq(&waker, &pipeline.waker("all")));
        pipeline.set_sinks(&[stdout("copy")]);
        assert_eq!(sinks_for(&event), ["copy"]);
    }

    #[tokio::test]
    async fn an_ingested_event_gets_the_outbox_rows_of_its_routes_and_wakes_their_sinks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(crate::store::StoreConfig::new(dir.path().join("db"))).unwrap();
        let configs = vec![
            SinkConfig::Stdout(serde_json::from_value(serde_json::json!({"name": "all"})).unwrap()),
            SinkConfig::Stdout(
                serde_json::from_value(serde_json::json!({
                    "name": "noc",
                    "match": {"source": ["vmanage"], "min_severity": "major"}
                }))
                .unwrap(),
            ),
            SinkConfig::Stdout(
                serde_json::from_value(serde_json::json!({
                    "name": "dme",
                    "match": {"type_prefix": ["com.cisco.dme."]}
                }))
                .unwrap(),
            ),
        ];
        let pipeline = Pipeline::new(store, &configs);
        let mut major = Event::new(
            "vmanage",
            "com.cisco.sdwan.alarm.raised",
            jiff::Timestamp::now(),
            serde_json::json!({}),
        );
        major.severity = Severity::Major;

        let noc = pipeline.waker("noc");
        let woken = noc.notified();
        let item = NewEvent::new(major);
        pipeline.ingest(&mut [item]).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), woken)
            .await
            .expect("the matching sink is woken after the commit");
        let reader = pipeline.store().reader().unwrap();
        assert_eq!(reader.outbox_counts("noc").unwrap().pending, 1);
        assert_eq!(reader.outbox_counts("all").unwrap().pending, 1);
        assert_eq!(reader.outbox_counts("dme").unwrap().pending, 0);
    }

    #[tokio::test]
    async fn a_sink_a_route_names_gets_no_row_per_event_and_the_router_is_woken_by_new_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(crate::store::StoreConfig::new(dir.path().join("db"))).unwrap();
        let stdout = |name: &str| {
            SinkConfig::Stdout(serde_json::from_value(serde_json::json!({"name": name})).unwrap())
        };
        let pipeline = Pipeline::new(store, &[stdout("grouped"), stdout("each")]);
        pipeline.set_routed_sinks(["grouped".to_owned()]);
        let router = pipeline.router_waker();
        let event = Event::new("leaf1", "x", jiff::Timestamp::now(), serde_json::json!({}));
        assert_eq!(pipeline.sinks_for(&event), ["each"]);

        let keyed = || NewEvent {
            idempotency_key: Some("leaf1:1".to_owned()),
            ..NewEvent::new(event.clone())
        };
        let woken = router.notified();
        pipeline.ingest(&mut [keyed()]).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), woken)
            .await
            .expect("the router is woken after the commit");
        let reader = pipeline.store().reader().unwrap();
        assert_eq!(reader.outbox_counts("grouped").unwrap().pending, 0);
        assert_eq!(reader.outbox_counts("each").unwrap().pending, 1);

        // A duplicate stores nothing new: the router is not woken for it.
        let mut woken = std::pin::pin!(router.notified());
        woken.as_mut().enable();
        pipeline.ingest(&mut [keyed()]).await.unwrap();
        assert!(
            futures_util::FutureExt::now_or_never(woken.as_mut()).is_none(),
            "a duplicate wakes nobody"
        );

        // Without routes, the sink takes its events again.
        pipeline.set_routed_sinks(Vec::new());
        assert_eq!(pipeline.sinks_for(&event), ["grouped", "each"]);
    }
}
