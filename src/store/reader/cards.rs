//! The reads of `webex_cards` (see `store/cards.rs`) and of an event's alarm updates.

use rusqlite::OptionalExtension;

use super::Reader;
use crate::event::AlarmUpdate;
use crate::store::CardRow;
use crate::store::route::parse_alarms;

impl Reader {
    /// The card posted as `message_id`, if netpulse posted it (and retention kept its event).
    pub fn card(&self, message_id: &str) -> anyhow::Result<Option<CardRow>> {
        let row = self
            .conn
            .prepare_cached("SELECT sink, room, seq FROM webex_cards WHERE message_id = ?1")?
            .query_row([message_id], |row| {
                Ok(CardRow {
                    message_id: message_id.to_owned(),
                    sink: row.get(0)?,
                    room: row.get(1)?,
                    seq: row.get::<_, i64>(2)? as u64,
                })
            })
            .optional()?;
        Ok(row)
    }

    /// The alarms the event `seq` raised or cleared (empty when it touched none, or is gone).
    pub fn event_alarms(&self, seq: u64) -> anyhow::Result<Vec<AlarmUpdate>> {
        let text: Option<Option<String>> = self
            .conn
            .prepare_cached("SELECT alarms FROM events WHERE seq = ?1")?
            .query_row([seq as i64], |row| row.get(0))
            .optional()?;
        Ok(parse_alarms(text.flatten().as_deref()))
    }
}
