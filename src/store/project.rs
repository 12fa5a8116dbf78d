//! The projection's command (cluster mode): one batch of stream messages folded into the store
//! in one savepoint of the group commit. Events are stored at their stream sequence (the `seq`
//! on every node) with the outbox rows of this node's routing and their alarm updates, as an
//! append would; control messages go through `controls.rs`; a message fenced with a revision
//! older than its key's newest lease is dropped; the cursor moves in the same savepoint, so a
//! restart resumes exactly after what was stored.

use rusqlite::{Connection, OptionalExtension, params};

use super::events::{self, Prepared};
use super::writer::Memory;
use super::{Committed, NewEvent, StoreError, controls, fences};
use crate::cluster::wire::Control;

/// Messages of the stream, in stream order, and the last sequence they cover.
#[derive(Debug)]
pub struct ProjectBatch {
    pub messages: Vec<Projected>,
    /// The cursor after this batch: at least the last message's sequence.
    pub last_seq: u64,
}

/// One message of the stream.
#[derive(Debug)]
pub struct Projected {
    /// The stream sequence.
    pub seq: u64,
    /// The `Np-Fence` header, `<lease key> <revision>`.
    pub fence: Option<String>,
    pub body: ProjectedBody,
}

#[derive(Debug)]
pub enum ProjectedBody {
    /// An event; its `idempotency_key` is the message's `Nats-Msg-Id`, its `sinks` this node's
    /// routing.
    Event(Box<NewEvent>),
    Control(Control),
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectOutcome {
    /// The sequences of the events stored (not skipped as duplicates or fenced).
    pub stored: Vec<u64>,
    /// The sinks that got new outbox rows.
    pub sinks: Vec<String>,
    /// Messages dropped for a stale fence: (sequence, fence).
    pub fenced: Vec<(u64, String)>,
    /// Events skipped because their id or key was already stored.
    pub duplicates: u64,
}

/// A batch made ready on the caller's thread.
#[derive(Debug)]
pub(super) struct PreparedBatch {
    messages: Vec<(u64, Option<String>, PreparedBody)>,
    last_seq: u64,
}

#[derive(Debug)]
enum PreparedBody {
    Event(Box<Prepared>),
    Control(Control),
}

impl PreparedBatch {
    pub(super) fn new(batch: ProjectBatch) -> Result<PreparedBatch, StoreError> {
        let messages = batch
            .messages
            .into_iter()
            .map(|message| {
                let body = match message.body {
                    ProjectedBody::Event(item) => {
                        PreparedBody::Event(Box::new(Prepared::new(&item)?))
                    }
                    ProjectedBody::Control(control) => PreparedBody::Control(control),
                };
                Ok((message.seq, message.fence, body))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(PreparedBatch {
            messages,
            last_seq: batch.last_seq,
        })
    }

    pub(super) fn weight(&self) -> usize {
        self.messages.len().max(1)
    }

    /// What the feed is told once committed: the stored events, in seq order.
    pub(super) fn committed(&self, outcome: &ProjectOutcome) -> Vec<Committed> {
        let mut stored = outcome.stored.iter().peekable();
        let mut committed = Vec::with_capacity(outcome.stored.len());
        for (seq, _, body) in &self.messages {
            if stored.peek() == Some(&seq)
                && let PreparedBody::Event(item) = body
            {
                committed.push(item.committed(*seq));
                stored.next();
            }
        }
        committed
    }
}

/// Folds `batch` in the open savepoint and moves the cursor.
pub(super) fn apply(
    conn: &Connection,
    memory: &mut Memory,
    batch: &PreparedBatch,
    now_ms: i64,
) -> rusqlite::Result<ProjectOutcome> {
    let mut outcome = ProjectOutcome::default();
    let cursor = cursor(conn)?;
    for (seq, fence, body) in &batch.messages {
        if *seq <= cursor {
            continue;
        }
        if let Some(fence) = fence
            && let Some((key, revision)) = fences::parse(fence)
            && fences::is_stale(conn, key, revision)?
        {
            outcome.fenced.push((*seq, fence.clone()));
            continue;
        }
        match body {
            PreparedBody::Event(item) => {
                if events::append_at(conn, memory, item, *seq as i64, now_ms)? {
                    outcome.stored.push(*seq);
                    for sink in item.sinks() {
                        if !outcome.sinks.contains(sink) {
                            outcome.sinks.push(sink.clone());
                        }
                    }
                } else {
                    outcome.duplicates += 1;
                }
            }
            PreparedBody::Control(control) => apply_control(conn, control, *seq)?,
        }
    }
    set_cursor(conn, batch.last_seq.max(cursor))?;
    Ok(outcome)
}

/// Folds one control message in its own savepoint: a message this node cannot fold (a
/// delivery record for an event retention deleted...) is logged and passed over rather than
/// stopping the projection at it forever. Errors that mean the store cannot write end the batch.
fn apply_control(conn: &Connection, control: &Control, seq: u64) -> rusqlite::Result<()> {
    conn.execute_batch("SAVEPOINT control")?;
    match controls::apply(conn, control, seq) {
        Ok(()) => conn.execute_batch("RELEASE control"),
        Err(err) if super::command::cannot_write(&err) => Err(err),
        Err(err) => {
            tracing::warn!(seq, kind = control.kind(), error = %err, "a control message of the stream cannot be folded; passed over");
            metrics::counter!("netpulse_cluster_controls_skipped_total").increment(1);
            conn.execute_batch("ROLLBACK TO control; RELEASE control")
        }
    }
}

/// The last stream sequence projected (0 before the first).
pub(super) fn cursor(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT seq FROM cluster_cursor WHERE id = 0")?
        .query_row([], |row| row.get::<_, i64>(0))
        .optional()
        .map(|seq| seq.unwrap_or(0) as u64)
}

fn set_cursor(conn: &Connection, seq: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO cluster_cursor (id, seq) VALUES (0, ?1)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
    )?
    .execute(params![seq as i64])?;
    Ok(())
}
