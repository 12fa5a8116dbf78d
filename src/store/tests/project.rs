//! The projection's command (cluster mode): events at the stream's sequence, duplicates and
//! stale fences dropped, controls folded, the cursor moved with them, the feed told.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::*;
use crate::cluster::wire::Control;

fn projected(seq: u64, fence: Option<&str>, item: NewEvent) -> Projected {
    Projected {
        seq,
        fence: fence.map(str::to_owned),
        body: ProjectedBody::Event(Box::new(item)),
    }
}

fn keyed(key: &str, sinks: &[&str], alarm: Option<&str>) -> NewEvent {
    NewEvent {
        idempotency_key: Some(key.to_owned()),
        sinks: sinks.iter().map(|sink| sink.to_string()).collect(),
        alarms: alarm
            .map(|key| AlarmUpdate {
                key: key.to_owned(),
                raised: true,
            })
            .into_iter()
            .collect(),
        ..NewEvent::new(event("edge1", Severity::Major))
    }
}

#[tokio::test]
async fn events_are_stored_at_the_stream_seq_with_outbox_rows_alarms_and_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let listeners = Arc::new(AtomicUsize::new(1));
    let (tap, mut announcements) = CommitTap::new(listeners, 16);
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    config.tap = Some(tap);
    let store = Store::open(config).unwrap();
    let lease = Control::Lease {
        key: "dev.edge1".into(),
        node: "b".into(),
        revision: 9,
        acquired_ms: 0,
    };
    let batch = ProjectBatch {
        messages: vec![
            projected(3, None, keyed("k1", &["archive"], Some("edge1:a"))),
            Projected {
                seq: 5,
                fence: None,
                body: ProjectedBody::Control(lease),
            },
            // Older than the lease folded just before it: dropped.
            projected(6, Some("dev.edge1 8"), keyed("k2", &["archive"], None)),
            projected(7, Some("dev.edge1 9"), keyed("k3", &[], None)),
            // The same key as seq 3 (a relay beyond the duplicate window): skipped.
            projected(8, None, keyed("k1", &["archive"], None)),
        ],
        last_seq: 9,
    };
    let outcome = store.project(batch).await.unwrap();
    assert_eq!(outcome.stored, [3, 7]);
    assert_eq!(outcome.sinks, ["archive"]);
    assert_eq!(outcome.fenced, [(6, "dev.edge1 8".to_owned())]);
    assert_eq!(outcome.duplicates, 1);

    let reader = store.reader().unwrap();
    assert_eq!(reader.seq_range().unwrap(), (3, 7));
    assert_eq!(reader.projection_cursor().unwrap(), 9);
    assert_eq!(reader.fence("dev.edge1").unwrap(), Some(9));
    assert_eq!(reader.outbox_counts("archive").unwrap().pending, 1);
    let alarm = reader.alarm("edge1:a").unwrap().unwrap();
    assert_eq!((alarm.raised, alarm.first_seq), (true, 3));

    let mut told = Vec::new();
    announcements.recv_many(&mut told, 10).await;
    let seqs: Vec<u64> = told.iter().map(|committed| committed.seq).collect();
    assert_eq!(
        seqs,
        [3, 7],
        "the feed hears of projected events in seq order"
    );

    // The same messages again (a consumer restarted before the cursor): nothing changes.
    let again = ProjectBatch {
        messages: vec![projected(7, None, keyed("k9", &["archive"], None))],
        last_seq: 7,
    };
    let outcome = store.project(again).await.unwrap();
    assert!(outcome.stored.is_empty());
    assert_eq!(reader.projection_cursor().unwrap(), 9);
    store.close().await;
}

#[tokio::test]
async fn the_spool_keeps_rows_in_order_until_they_are_unspooled() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let row = |msg_id: &str| SpoolRow {
        id: 0,
        subject: "np.ev.vmanage".into(),
        msg_id: msg_id.into(),
        fence: Some("dev.vmanage 3".into()),
        payload: b"{}".to_vec(),
        created_ms: 0,
    };
    store
        .spool(vec![row("a"), row("b"), row("c")])
        .await
        .unwrap();
    let reader = store.reader().unwrap();
    let rows = reader.spooled(2).unwrap();
    assert_eq!(
        rows.iter()
            .map(|row| row.msg_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(rows[0].fence.as_deref(), Some("dev.vmanage 3"));
    store.unspool(vec![rows[0].id]).await.unwrap();
    assert_eq!(reader.spool_depth().unwrap(), 2);
    assert_eq!(reader.spooled(10).unwrap()[0].msg_id, "b");
    store.close().await;
}
