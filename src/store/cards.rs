//! `webex_cards`: every message with buttons a Webex sink posted (Webex's message id → the sink,
//! the room it is in and the event it reports). A click is acted on only when its message is one
//! of these, for the sink that handles it, in the room it was posted to; what the buttons act on
//! is read from the recorded event, never from the click. A card goes with its event when
//! retention deletes it (`ON DELETE CASCADE`).

use rusqlite::{Connection, params};

/// One card netpulse posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRow {
    pub message_id: String,
    pub sink: String,
    pub room: String,
    /// The event the card reports (a notification, or an alarm's event).
    pub seq: u64,
}

/// Records a posted card. Recording the same message again changes nothing (a delivery retried
/// after its card was recorded).
pub(super) fn insert(conn: &Connection, card: &CardRow, created_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO webex_cards (message_id, sink, room, seq, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (message_id) DO NOTHING",
    )?
    .execute(params![
        card.message_id,
        card.sink,
        card.room,
        card.seq as i64,
        created_ms
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AlarmUpdate, Event};
    use crate::store::{NewEvent, Reader, Store, StoreConfig};

    #[tokio::test]
    async fn a_recorded_card_is_found_by_its_message_with_the_alarms_of_its_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path().join("netpulse.db"))).unwrap();
        let event = Event::new(
            "dc1",
            "com.cisco.dme.modified",
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        );
        let raise = NewEvent {
            alarms: vec![AlarmUpdate {
                key: "dc1:sys/phys-[eth1/1]".into(),
                raised: true,
            }],
            ..NewEvent::new(event)
        };
        let seq = store.append(&[raise]).await.unwrap()[0].seq;
        let card = CardRow {
            message_id: "m1".into(),
            sink: "noc".into(),
            room: "r1".into(),
            seq,
        };
        store.record_card(card.clone()).await.unwrap();
        // Recorded again (a retried delivery): no error, the first stays.
        store
            .record_card(CardRow {
                room: "other".into(),
                ..card.clone()
            })
            .await
            .unwrap();
        let reader = Reader::open(store.path()).unwrap();
        assert_eq!(reader.card("m1").unwrap(), Some(card));
        assert_eq!(reader.card("m2").unwrap(), None);
        assert_eq!(
            reader.event_alarms(seq).unwrap(),
            [AlarmUpdate {
                key: "dc1:sys/phys-[eth1/1]".into(),
                raised: true
            }]
        );
        assert!(reader.event_alarms(seq + 100).unwrap().is_empty());
    }
}
