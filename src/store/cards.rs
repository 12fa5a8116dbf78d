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
