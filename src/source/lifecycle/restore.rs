//! A session-holding source's stored view: saved at its first snapshot, loaded at the start of a
//! run when the store holds one, so that what changed while netpulse was not listening (its own
//! downtime, or while another node owned the device) is reported as a gap and its differences
//! instead of disappearing into a new baseline.

use std::sync::Arc;

use crate::cluster::wire::ViewObject;
use crate::pipeline::Pipeline;
use crate::store::StoredView;

/// The gap reason when a source resumes from the view a previous run of netpulse stored.
pub const NETPULSE_DOWN: &str = "netpulse_down";
/// The gap reason when a node resumes from the view another node stored (cluster mode).
pub const OWNERSHIP_MOVED: &str = "ownership_moved";

/// The key of the one object of a stored view that is not the device's: what the view is a view
/// of (its `identity` attribute: the address and subscriptions of the entry that saved it). No
/// event has an empty subject, so the fold never touches it.
pub(super) const IDENTITY_KEY: &str = "";
const IDENTITY_CLASS: &str = "netpulse.view.identity";

/// Where a source saves and loads its view, and what a gap that starts at the stored view is
/// called.
#[derive(Clone)]
pub struct Views {
    pipeline: Pipeline,
    reason: Arc<str>,
}

impl Views {
    /// Views kept by `pipeline`'s store; a resumed view's gap is [`NETPULSE_DOWN`].
    pub fn new(pipeline: Pipeline) -> Views {
        Views {
            pipeline,
            reason: NETPULSE_DOWN.into(),
        }
    }

    /// The same, with another reason for the gap of a resumed view (e.g. [`OWNERSHIP_MOVED`]).
    pub fn with_reason(self, reason: &str) -> Views {
        Views {
            reason: reason.into(),
            ..self
        }
    }

    pub(super) fn reason(&self) -> &str {
        &self.reason
    }

    /// The source's stored view, without its identity object; `None` when the store holds none,
    /// when it is of another `identity` (logged), or when the store cannot be read (logged): each
    /// costs a new baseline rather than the session.
    pub(super) async fn load(&self, source: &str, identity: &str) -> Option<StoredView> {
        let mut stored = match self.pipeline.stored_view(source).await {
            Ok(stored) => stored?,
            Err(err) => {
                tracing::warn!(source = %source, error = format!("{err:#}"), "cannot read the stored view; the first snapshot is a new baseline");
                return None;
            }
        };
        let position = stored
            .objects
            .iter()
            .position(|object| object.key == IDENTITY_KEY);
        let stored_identity = position.map(|position| stored.objects.remove(position));
        let stored_identity = stored_identity
            .as_ref()
            .and_then(|object| object.attributes.get("identity"));
        if stored_identity.is_some_and(|stored| stored != identity) {
            tracing::info!(source = %source, stored = ?stored_identity, current = %identity, "the stored view is of another device or other subscriptions; the first snapshot is a new baseline");
            return None;
        }
        Some(stored)
    }

    /// Records that the source was listening until now (its live session ended at shutdown). In
    /// cluster mode this marks this node's copy only: a node that takes the device over later
    /// reports the gap from the move instead.
    pub(super) async fn stopped_listening(&self, source: &str) {
        if let Err(err) = self.pipeline.store().touch_view(source).await {
            tracing::debug!(source = %source, error = %err, "cannot record when the source stopped listening");
        }
    }

    /// Saves the source's first snapshot with its identity; a failure is logged (the next
    /// restart then takes a new baseline, as before views were kept).
    pub(super) async fn save(&self, source: &str, identity: &str, mut objects: Vec<ViewObject>) {
        let count = objects.len();
        objects.push(ViewObject {
            key: IDENTITY_KEY.into(),
            class: IDENTITY_CLASS.into(),
            attributes: [("identity".to_owned(), identity.to_owned())].into(),
        });
        match self.pipeline.save_baseline(source, objects).await {
            Ok(()) => tracing::debug!(source = %source, objects = count, "baseline saved"),
            Err(err) => {
                tracing::warn!(source = %source, error = %err, "cannot save the baseline; a restart will take a new one")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::source::SourceStatus;
    use crate::source::lifecycle::{Ended, Link, Protocol, SessionControl, Sync};
    use crate::store::{Store, StoreConfig};

    fn object(key: &str) -> ViewObject {
        ViewObject {
            key: key.into(),
            class: "l2BD".into(),
            attributes: [("name".to_owned(), key.to_owned())].into(),
        }
    }

    /// What each session of a run found: the stored objects it restored, and its sync's gap
    /// reason (`None`: the baseline).
    type Found = Arc<Mutex<Vec<(Option<usize>, Option<String>)>>>;

    struct Restoring {
        found: Found,
    }

    impl Protocol for Restoring {
        type Error = String;

        async fn session(&mut self, link: &mut Link) -> Ended<String> {
            let restored = link.restore_view().await.map(|view| view.objects.len());
            let reason = match link.in_sync() {
                Sync::Baseline => {
                    link.save_baseline(vec![object("a")]).await;
                    None
                }
                Sync::AfterGap(gap) => Some(gap.reason),
            };
            self.found.lock().unwrap().push((restored, reason));
            link.connected(None);
            link.stop.cancelled().await;
            Ended::Stopped
        }

        fn record_failure(&self, _link: &Link, _error: &String) {}
    }

    async fn wait_found(found: &Found, count: usize) -> Vec<(Option<usize>, Option<String>)> {
        tokio::time::timeout(Duration::from_secs(10), async {
            while found.lock().unwrap().len() < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the session syncs");
        found.lock().unwrap().clone()
    }

    /// Runs a source `leaf1` watching `identity` over a store in `dir`; answers its control.
    fn run(
        dir: &tempfile::TempDir,
        views: Views,
        identity: &str,
        found: &Found,
    ) -> (SessionControl, Store) {
        let store = Store::open(StoreConfig::new(dir.path().join("db"))).unwrap();
        let views = Views {
            pipeline: Pipeline::new(store.clone(), &[]),
            ..views
        };
        let (events, _receiver) = mpsc::channel(16);
        let mut link = Link::new("leaf1", events, Arc::new(SourceStatus::default()));
        link.keep_views(views, identity.into());
        let control = SessionControl::new();
        let protocol = Restoring {
            found: found.clone(),
        };
        tokio::spawn(crate::source::lifecycle::run(
            protocol,
            link,
            crate::config::BackoffConfig::default(),
            control.clone(),
            CancellationToken::new(),
        ));
        (control, store)
    }

    fn views(dir: &tempfile::TempDir) -> Views {
        let store = Store::open(StoreConfig::new(dir.path().join("seed"))).unwrap();
        Views::new(Pipeline::new(store, &[]))
    }

    #[tokio::test]
    async fn a_run_resumes_from_the_stored_view_and_a_stop_then_start_loads_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let found: Found = Arc::default();
        let (control, store) = run(&dir, views(&dir), "10.0.0.1", &found);
        assert_eq!(wait_found(&found, 1).await, [(None, None)], "the baseline");
        let saved = store.reader().unwrap().view("leaf1").unwrap().unwrap();
        let identity = ViewObject {
            key: IDENTITY_KEY.into(),
            class: IDENTITY_CLASS.into(),
            attributes: [("identity".to_owned(), "10.0.0.1".to_owned())].into(),
        };
        assert_eq!(saved.objects, [identity.clone(), object("a")]);

        // Another writer (in a cluster: another node's projection) changes the stored view while
        // the source is stopped; the next run starts from it, after a gap since that change, for
        // the views' reason (the device was reported meanwhile: not blind since the stop).
        control.stop();
        tokio::time::sleep(Duration::from_millis(5)).await;
        store
            .save_view("leaf1", vec![identity, object("a"), object("b")])
            .await
            .unwrap();
        assert!(control.start());
        let found_now = wait_found(&found, 2).await;
        assert_eq!(found_now[1], (Some(2), Some(NETPULSE_DOWN.into())));
        control.remove();
    }

    #[tokio::test]
    async fn a_fresh_process_resumes_after_a_gap_of_the_views_reason() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(StoreConfig::new(dir.path().join("db"))).unwrap();
            store.save_view("leaf1", vec![object("a")]).await.unwrap();
            store.close().await;
        }
        let found: Found = Arc::default();
        let views = views(&dir).with_reason(OWNERSHIP_MOVED);
        let (control, store) = run(&dir, views, "10.0.0.1", &found);
        assert_eq!(
            wait_found(&found, 1).await,
            [(Some(1), Some(OWNERSHIP_MOVED.into()))]
        );
        control.remove();
        drop(store);
    }

    #[tokio::test]
    async fn a_view_of_another_device_is_not_resumed_from_but_replaced_by_a_new_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let found: Found = Arc::default();
        let (control, store) = run(&dir, views(&dir), "10.0.0.1", &found);
        wait_found(&found, 1).await;
        control.remove();
        store.close().await;

        let found: Found = Arc::default();
        let (control, store) = run(&dir, views(&dir), "10.0.0.2", &found);
        assert_eq!(
            wait_found(&found, 1).await,
            [(None, None)],
            "a new baseline"
        );
        let saved = store.reader().unwrap().view("leaf1").unwrap().unwrap();
        assert_eq!(saved.objects[0].attributes["identity"], "10.0.0.2");
        control.remove();
    }
}
