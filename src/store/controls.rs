//! Control messages of the stream (`cluster::wire::Control`) folded into the store by the
//! projection, each through the module of its table: a lease acquisition into `fences.rs`, a
//! sink's delivery outcome into the outbox, a Webex card and thread into theirs, a device's
//! baseline into its view.

use rusqlite::Connection;

use super::{CardRow, cards, fences, outbox, route, views};
use crate::cluster::wire::Control;

/// Folds `control`, found at stream sequence `seq`.
pub(super) fn apply(conn: &Connection, control: &Control, seq: u64) -> rusqlite::Result<()> {
    match control {
        Control::Lease {
            key,
            node,
            revision,
            ..
        } => fences::record(conn, key, *revision, node, seq),
        Control::Delivery { sink, seq, outcome } => {
            outbox::apply_delivery(conn, sink, *seq, outcome)
        }
        Control::Card {
            message_id,
            sink,
            room,
            seq: card_seq,
            created_ms,
        } => {
            // A card whose event this node no longer has (retention) is not worth a row: a
            // click on it finds no card anywhere, as on a single node.
            if !event_exists(conn, *card_seq)? {
                return Ok(());
            }
            let card = CardRow {
                message_id: message_id.clone(),
                sink: sink.clone(),
                room: room.clone(),
                seq: *card_seq,
            };
            cards::insert(conn, &card, *created_ms)
        }
        Control::Thread {
            sink,
            group,
            message_id,
        } => route::set_thread(conn, sink, group, message_id),
        Control::Baseline { source, objects } => views::apply_baseline(conn, source, objects, seq),
    }
}

fn event_exists(conn: &Connection, seq: u64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM events WHERE seq = ?1")?
        .exists([seq as i64])
}
