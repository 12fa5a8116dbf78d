//! The alerting engine's tables: its state rows (`route_state`, the log cursor among them), the
//! decisions of each event (`route_trace`), which notifications reported which events
//! (`notification_members`) and the thread each sink's group lives in (`sink_threads`). Its
//! commit appends the notifications and operator events it made in the same transaction as the
//! state that made them.

use rusqlite::{Connection, params};

use crate::event::{AlarmUpdate, Event};
use crate::route::{Decision, StateChange};

use super::events::{self, Prepared};
use super::writer::Memory;
use super::{Appended, NewEvent, StoreError};

/// One step of the router, committed whole or not at all.
#[derive(Debug, Default)]
pub struct RouteCommit {
    /// Every event up to this seq has been observed.
    pub cursor: u64,
    pub state: Vec<StateChange>,
    /// Decisions by event seq.
    pub traces: Vec<(u64, Decision)>,
    /// Notification events (each with its sink in `sinks`) and the seqs each reports.
    pub notifications: Vec<(NewEvent, Vec<u64>)>,
    /// Operator events the clock made (a window started or ended).
    pub operator_events: Vec<NewEvent>,
}

/// One event of the log with the alarms it raised or cleared.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub seq: u64,
    pub event: Event,
    pub alarms: Vec<AlarmUpdate>,
}

/// One decision about an event, as stored, with the notifications that reported it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceRow {
    #[serde(flatten)]
    pub decision: Decision,
    /// The seqs of the notification events that reported this event (for `grouped`).
    pub notifications: Vec<u64>,
}

/// The state row that holds the router's cursor; the engine's own keys never take this name.
pub(super) const CURSOR_KEY: &str = "cursor";

/// `alarms` as `events.alarms` stores them: one `+key` (raised) or `-key` (cleared) per line,
/// `None` when there are none. A key holding a newline or a backslash has them escaped (`\n`,
/// `\\`), so that any key round-trips; keys are never built unless there is an update.
pub(super) fn alarms_text(alarms: &[AlarmUpdate]) -> Option<String> {
    if alarms.is_empty() {
        return None;
    }
    let mut text = String::with_capacity(alarms.iter().map(|a| a.key.len() + 2).sum());
    for (index, alarm) in alarms.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.push(if alarm.raised { '+' } else { '-' });
        if alarm.key.contains(['\n', '\\']) {
            text.push_str(&alarm.key.replace('\\', "\\\\").replace('\n', "\\n"));
        } else {
            text.push_str(&alarm.key);
        }
    }
    Some(text)
}

/// The alarm updates `events.alarms` holds (see [`alarms_text`]); lines that are not `+key` or
/// `-key` are skipped.
pub(super) fn parse_alarms(text: Option<&str>) -> Vec<AlarmUpdate> {
    let Some(text) = text else {
        return Vec::new();
    };
    text.split('\n')
        .filter_map(|line| {
            let raised = match line.as_bytes().first()? {
                b'+' => true,
                b'-' => false,
                _ => return None,
            };
            let key = &line[1..];
            let key = if key.contains('\\') {
                unescape(key)
            } else {
                key.to_owned()
            };
            Some(AlarmUpdate { key, raised })
        })
        .collect()
}

fn unescape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A [`RouteCommit`] made ready for the writer on the caller's thread: its events serialized,
/// its decisions as JSON.
#[derive(Debug)]
pub(super) struct PreparedCommit {
    cursor: u64,
    state: Vec<StateChange>,
    /// `(seq, route, sink, decision JSON)`.
    traces: Vec<(u64, String, String, String)>,
    /// The notification events, then the operator events: appended in this order.
    pub(super) items: Vec<Prepared>,
    /// The members of each notification: `members[i]` goes with `items[i]`.
    members: Vec<Vec<u64>>,
}

impl PreparedCommit {
    pub(super) fn new(commit: RouteCommit) -> Result<PreparedCommit, StoreError> {
        let RouteCommit {
            cursor,
            state,
            traces,
            notifications,
            operator_events,
        } = commit;
        if state.iter().any(|change| change.key == CURSOR_KEY) {
            return Err(StoreError::Rejected(format!(
                "the state row {CURSOR_KEY:?} is the router's cursor"
            )));
        }
        let traces = traces
            .into_iter()
            .map(|(seq, decision)| {
                let json = serde_json::to_string(&decision).map_err(|err| {
                    StoreError::Rejected(format!("a decision cannot be serialized: {err}"))
                })?;
                Ok((seq, decision.route, decision.sink, json))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut items = Vec::with_capacity(notifications.len() + operator_events.len());
        let mut members = Vec::with_capacity(notifications.len());
        for (event, seqs) in &notifications {
            items.push(Prepared::new(event)?);
            members.push(seqs.clone());
        }
        for event in &operator_events {
            items.push(Prepared::new(event)?);
        }
        Ok(PreparedCommit {
            cursor,
            state,
            traces,
            items,
            members,
        })
    }

    /// How much of a batch this commit takes: its events, at least one.
    pub(super) fn weight(&self) -> usize {
        self.items.len().max(1)
    }
}

/// Writes one router step in the command's savepoint: its events appended through
/// [`events::append`] (seqs, outbox rows, keys), the memberships of its notifications, its
/// decisions, its state rows and the cursor.
pub(super) fn commit(
    conn: &Connection,
    memory: &mut Memory,
    commit: &PreparedCommit,
    now_ms: i64,
) -> rusqlite::Result<Vec<Appended>> {
    let appended = commit
        .items
        .iter()
        .map(|item| events::append(conn, memory, item, now_ms))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut member = conn.prepare_cached(
        "INSERT INTO notification_members (member_seq, notification_seq) VALUES (?1, ?2)",
    )?;
    for (seqs, notification) in commit.members.iter().zip(&appended) {
        // A duplicate (an idempotency key already stored) was reported before: no new rows.
        if notification.duplicate {
            continue;
        }
        for seq in seqs {
            member.execute(params![*seq as i64, notification.seq as i64])?;
        }
    }
    // A decision about an event that retention has deleted meanwhile is dropped rather than
    // failing the whole step (its row would break the foreign key).
    let mut trace = conn.prepare_cached(
        "INSERT INTO route_trace (seq, route, sink, decision)
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM events WHERE seq = ?1)",
    )?;
    for (seq, route, sink, decision) in &commit.traces {
        trace.execute(params![*seq as i64, route, sink, decision])?;
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO route_state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?;
    let mut delete = conn.prepare_cached("DELETE FROM route_state WHERE key = ?1")?;
    for change in &commit.state {
        match &change.value {
            Some(value) => upsert.execute(params![change.key, value])?,
            None => delete.execute([&change.key])?,
        };
    }
    upsert.execute(params![CURSOR_KEY, commit.cursor.to_string()])?;
    Ok(appended)
}

/// Remembers the message that starts `group`'s thread in `sink`.
pub(super) fn set_thread(
    conn: &Connection,
    sink: &str,
    group: &str,
    message_id: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sink_threads (sink, grp, message_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (sink, grp) DO UPDATE SET message_id = excluded.message_id",
    )?
    .execute(params![sink, group, message_id])?;
    Ok(())
}
