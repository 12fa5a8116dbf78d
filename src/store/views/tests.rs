//! The fold of device events into stored views, checked against the in-memory view the sessions
//! keep: what is stored after the events must be what the session believes.

use std::collections::BTreeMap;

use crate::cluster::wire::ViewObject;
use crate::source::dme::normalize::to_event;
use crate::source::dme::protocol::Mo;
use crate::source::dme::view::DeviceView;
use crate::store::{NewEvent, Store, StoreConfig};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreConfig::new(dir.path().join("db"))).unwrap()
}

fn mo(class: &str, pairs: &[(&str, &str)]) -> Mo {
    Mo {
        class: class.into(),
        attributes: pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    }
}

const ETH1: &str = "sys/intf/phys-[eth1/1]/phys";
const ETH2: &str = "sys/intf/phys-[eth1/2]/phys";

fn port(dn: &str, oper: &str, ts: &str) -> Mo {
    mo(
        "ethpmPhysIf",
        &[
            ("dn", dn),
            ("rn", "phys"),
            ("operSt", oper),
            ("speed", "100G"),
            ("modTs", ts),
        ],
    )
}

/// What a push of `status` looks like: the changed attributes, an empty rn, the status.
fn push(dn: &str, status: &str, pairs: &[(&str, &str)]) -> Mo {
    let mut object = mo("ethpmPhysIf", pairs);
    object.attributes.insert("dn".into(), dn.into());
    object.attributes.insert("rn".into(), String::new());
    object.attributes.insert("status".into(), status.into());
    object
}

/// Applies pushes to `view` and appends the events the session would emit for them.
async fn report(store: &Store, source: &str, view: &mut DeviceView, pushes: &[Mo]) {
    let now = jiff::Timestamp::now();
    let items: Vec<NewEvent> = pushes
        .iter()
        .filter_map(|mo| view.apply_push(mo))
        .map(|change| NewEvent::new(to_event(source, &change, false, now)))
        .collect();
    store.append(&items).await.unwrap();
}

fn stored(store: &Store, source: &str) -> Option<Vec<ViewObject>> {
    let view = store.reader().unwrap().view(source).unwrap()?;
    Some(view.objects)
}

/// The objects of a view as the sessions compare them.
fn as_compared(objects: &[ViewObject]) -> Vec<(String, BTreeMap<String, String>)> {
    let mut view = DeviceView::default();
    view.restore(objects);
    view.objects()
}

#[tokio::test]
async fn the_stored_view_follows_the_reported_events_and_equals_the_sessions_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut view = DeviceView::default();
    view.reconcile(&[
        port(ETH1, "up", "2026-01-01T00:00:00.001+00:00"),
        port(ETH2, "up", "2026-01-01T00:00:00.001+00:00"),
    ]);
    store.save_view("leaf1", view.view_objects()).await.unwrap();
    let baseline = store.reader().unwrap().view("leaf1").unwrap().unwrap();
    assert_eq!(as_compared(&baseline.objects), view.objects());

    let eth3 = "sys/intf/phys-[eth1/3]/phys";
    report(
        &store,
        "leaf1",
        &mut view,
        &[
            // A modification carries only what changed: the rest of the object must stay.
            push(
                ETH1,
                "modified",
                &[
                    ("operSt", "down"),
                    ("modTs", "2026-01-01T00:00:01.000+00:00"),
                ],
            ),
            push(ETH2, "deleted", &[]),
            push(
                eth3,
                "created",
                &[
                    ("operSt", "up"),
                    ("speed", "10G"),
                    ("modTs", "2026-01-01T00:00:02.000+00:00"),
                ],
            ),
        ],
    )
    .await;

    let objects = stored(&store, "leaf1").unwrap();
    assert_eq!(as_compared(&objects), view.objects());
    let eth1 = objects.iter().find(|object| object.key == ETH1).unwrap();
    assert_eq!(eth1.attributes["operSt"], "down");
    assert_eq!(
        eth1.attributes["speed"], "100G",
        "the rest of the object is kept"
    );
    assert!(
        !eth1.attributes.contains_key("status") && !eth1.attributes.contains_key("dn"),
        "transport fields and the key are not stored: {:?}",
        eth1.attributes
    );
    assert!(objects.iter().all(|object| object.key != ETH2));
    let after = store.reader().unwrap().view("leaf1").unwrap().unwrap();
    assert!(after.seq > baseline.seq && after.updated >= baseline.updated);
}

#[tokio::test]
async fn a_source_without_a_saved_baseline_folds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut view = DeviceView::default();
    report(
        &store,
        "leaf1",
        &mut view,
        &[push(ETH1, "created", &[("operSt", "up")])],
    )
    .await;
    assert_eq!(stored(&store, "leaf1"), None);
    store.save_view("leaf2", Vec::new()).await.unwrap();
    report(
        &store,
        "leaf1",
        &mut view,
        &[push(ETH1, "modified", &[("operSt", "down")])],
    )
    .await;
    assert_eq!(stored(&store, "leaf1"), None);
    assert_eq!(
        stored(&store, "leaf2"),
        Some(Vec::new()),
        "not another source's"
    );
}

#[tokio::test]
async fn pxgrid_session_events_keep_each_sessions_state_and_time() {
    use crate::source::pxgrid::protocol::{known_session, session_event};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.save_view("ise", Vec::new()).await.unwrap();
    let session = |state: &str, time: &str| {
        serde_json::json!({
            "macAddress": "00:11:22:33:44:55", "state": state, "timestamp": time,
            "userName": "alice", "nasIpAddress": "10.0.0.1",
        })
    };
    let now = jiff::Timestamp::now();
    let items: Vec<NewEvent> = [
        session("STARTED", "2026-01-01T00:00:00Z"),
        session("AUTHENTICATED", "2026-01-01T00:00:05Z"),
    ]
    .iter()
    .map(|body| NewEvent::new(session_event("ise", body, now)))
    .collect();
    store.append(&items).await.unwrap();
    let objects = stored(&store, "ise").unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(
        known_session(&objects[0]),
        (
            "00:11:22:33:44:55".to_owned(),
            (
                "AUTHENTICATED".to_owned(),
                "2026-01-01T00:00:05Z".to_owned()
            )
        )
    );
}

#[tokio::test]
async fn a_new_baseline_replaces_the_view_and_removed_sources_lose_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut view = DeviceView::default();
    view.reconcile(&[port(ETH1, "up", "2026-01-01T00:00:00.001+00:00")]);
    store.save_view("leaf1", view.view_objects()).await.unwrap();
    store.save_view("leaf2", view.view_objects()).await.unwrap();
    let mut other = DeviceView::default();
    other.reconcile(&[port(ETH2, "up", "2026-01-01T00:00:00.001+00:00")]);
    store
        .save_view("leaf1", other.view_objects())
        .await
        .unwrap();
    assert_eq!(
        as_compared(&stored(&store, "leaf1").unwrap()),
        other.objects()
    );

    assert_eq!(store.retain_views(vec!["leaf1".into()]).await.unwrap(), 1);
    assert_eq!(stored(&store, "leaf2"), None);
    assert!(stored(&store, "leaf1").is_some());
}
