//! The path every accepted event takes: routed to the sinks whose `match:` takes it, appended to
//! the store together with one outbox row per sink (one transaction, shared with other callers'
//! events), and only then announced to those sinks. A webhook is acknowledged when
//! [`Pipeline::ingest`] returns, so an acknowledged event is durable and owed to every sink.

use std::collections::HashMap;
use std::sync::Arc;

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
    routes: Routes,
    wakers: HashMap<String, Arc<Notify>>,
}

impl Pipeline {
    pub fn new(store: Store, sinks: &[SinkConfig]) -> Pipeline {
        let routes = Routes::new(sinks);
        let wakers = sinks
            .iter()
            .map(|sink| (sink.name().to_owned(), Arc::new(Notify::new())))
            .collect();
        Pipeline {
            inner: Arc::new(Inner {
                store,
                routes,
                wakers,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// What the sink named `sink` waits on for new work.
    pub fn waker(&self, sink: &str) -> Arc<Notify> {
        self.inner
            .wakers
            .get(sink)
            .cloned()
            .unwrap_or_else(|| Arc::new(Notify::new()))
    }

    /// Routes each event (its `sinks` are replaced by the routing result), appends them durably
    /// and wakes the sinks that got new rows. Resolves after the commit. The items stay the
    /// caller's, so a batch the store could not take can be offered again as it is.
    pub async fn ingest(&self, items: &mut [NewEvent]) -> Result<Vec<Appended>, StoreError> {
        for item in items.iter_mut() {
            item.sinks = self.inner.routes.sinks_for(&item.event);
        }
        let appended = self.inner.store.append(items).await?;
        let stored = items
            .iter()
            .zip(&appended)
            .filter(|(_, outcome)| !outcome.duplicate);
        for sink in stored.flat_map(|(item, _)| &item.sinks) {
            // `notify_one` keeps a single permit: waking a sink twice costs nothing more.
            if let Some(waker) = self.inner.wakers.get(sink) {
                waker.notify_one();
            }
        }
        Ok(appended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Severity};

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
}
