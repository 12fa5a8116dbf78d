//! The alerting router's reads: the log after its cursor (with each event's alarm updates), its
//! state rows, an event's decisions, a group's thread, and an event found by its id.

use anyhow::Context;
use rusqlite::{OptionalExtension, params};

use super::{LogScan, MAX_LIMIT, Reader, StateRows, parse_event};
use crate::store::body::Body;

impl Reader {
    /// Events after `after` in seq order, at most `limit`, each with the alarms it raised or
    /// cleared: what the alerting router observes.
    pub fn logged_events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<crate::store::LoggedEvent>> {
        Ok(self.scan_log(after, limit)?.events)
    }

    /// Like [`Reader::logged_events_after`], but of the `limit` events after `after` only those
    /// whose type starts with `kind_prefix` are parsed and returned: the router with no route
    /// needs only the operator events, and skips parsing the rest.
    pub fn logged_events_of_kind_after(
        &self,
        after: u64,
        limit: usize,
        kind_prefix: &str,
    ) -> anyhow::Result<LogScan> {
        // Through the index on `kind`, not a scan of every event after `after`: with no route
        // the router looks for operator events after every batch the pipeline commits. The
        // newest seq is read first, so every event up to it is committed and the scan can
        // claim to have passed it.
        let (_, newest) = self.seq_range()?;
        if newest <= after {
            return Ok(LogScan {
                events: Vec::new(),
                scanned: 0,
                last: None,
            });
        }
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, alarms, body FROM events
             WHERE kind >= ?1 AND kind < ?1 || x'ff' AND seq > ?2 AND seq <= ?3
             ORDER BY seq LIMIT ?4",
        )?;
        let mut rows = statement.query(params![
            kind_prefix,
            after.min(i64::MAX as u64) as i64,
            newest.min(i64::MAX as u64) as i64,
            limit.min(MAX_LIMIT) as i64
        ])?;
        let mut events = Vec::new();
        while let Some(row) = rows
            .next()
            .with_context(|| format!("cannot read the log after {after}"))?
        {
            let seq: i64 = row.get(0)?;
            let alarms: Option<String> = row.get(1)?;
            let Body(body) = row.get(2)?;
            events.push(crate::store::LoggedEvent {
                seq: seq as u64,
                event: parse_event(seq, &body)?,
                alarms: crate::store::route::parse_alarms(alarms.as_deref()),
            });
        }
        // A full page may leave more operator events: the scan stops at the last one read.
        let last = if events.len() >= limit.min(MAX_LIMIT) {
            events.last().map(|logged| logged.seq)
        } else {
            Some(newest)
        };
        Ok(LogScan {
            // How many seqs it passed (the events between are not read: they are not operator
            // events).
            scanned: last.map_or(0, |last| last.saturating_sub(after) as usize),
            last,
            events,
        })
    }

    fn scan_log(&self, after: u64, limit: usize) -> anyhow::Result<LogScan> {
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, alarms, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = statement.query(params![
            after.min(i64::MAX as u64) as i64,
            limit.min(MAX_LIMIT) as i64
        ])?;
        let mut scan = LogScan {
            events: Vec::new(),
            scanned: 0,
            last: None,
        };
        let context = || format!("cannot read the log after {after}");
        while let Some(row) = rows.next().with_context(context)? {
            let seq: i64 = row.get(0)?;
            scan.scanned += 1;
            scan.last = Some(seq as u64);
            let alarms: Option<String> = row.get(1)?;
            let Body(body) = row.get(2)?;
            scan.events.push(crate::store::LoggedEvent {
                seq: seq as u64,
                event: parse_event(seq, &body)?,
                alarms: crate::store::route::parse_alarms(alarms.as_deref()),
            });
        }
        Ok(scan)
    }

    /// The router's cursor (`None` before its first commit) and its state rows.
    pub fn route_state(&self) -> anyhow::Result<(Option<u64>, StateRows)> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT key, value FROM route_state ORDER BY key")?;
        let mut rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()
            .context("cannot read the router's state")?;
        let mut cursor = None;
        if let Some(index) = rows
            .iter()
            .position(|(key, _)| key == crate::store::route::CURSOR_KEY)
        {
            let (_, value) = rows.remove(index);
            cursor = Some(
                value
                    .parse::<u64>()
                    .with_context(|| format!("the router's cursor {value:?} is not a seq"))?,
            );
        }
        Ok((cursor, rows))
    }

    /// The decisions recorded for event `seq`, with the notifications that reported it: a
    /// `grouped` (or `flapping`) decision gets the notifications of its group among those
    /// whose members include `seq`.
    pub fn route_trace(&self, seq: u64) -> anyhow::Result<Vec<crate::store::TraceRow>> {
        let seq = seq.min(i64::MAX as u64) as i64;
        let decisions = self
            .conn
            .prepare_cached("SELECT decision FROM route_trace WHERE seq = ?1 ORDER BY rowid")?
            .query_map([seq], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .with_context(|| format!("cannot read the trace of event {seq}"))?;
        if decisions.is_empty() {
            return Ok(Vec::new());
        }
        // The notifications that reported the event, with their group (from their body).
        let reported = self
            .conn
            .prepare_cached(
                "SELECT notification_members.notification_seq, events.body
                 FROM notification_members JOIN events ON events.seq = notification_seq
                 WHERE member_seq = ?1 ORDER BY notification_seq",
            )?
            .query_map([seq], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Body>(1)?.0))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .with_context(|| format!("cannot read the notifications of event {seq}"))?;
        let reported: Vec<(u64, Option<String>)> = reported
            .into_iter()
            .map(|(notification, body)| (notification, group_of(&body)))
            .collect();
        decisions
            .iter()
            .map(|json| {
                let decision: crate::route::Decision = serde_json::from_str(json)
                    .with_context(|| format!("a stored decision of event {seq} is not valid"))?;
                let group = match &decision.outcome {
                    crate::route::Outcome::Grouped { group }
                    | crate::route::Outcome::Flapping { group } => Some(group.as_str()),
                    _ => None,
                };
                // A held alarm is reported by its root cause's notifications, whatever group.
                let held = matches!(decision.outcome, crate::route::Outcome::Held { .. });
                let notifications = reported
                    .iter()
                    .filter(|(_, reported_group)| {
                        held || (group.is_some() && reported_group.as_deref() == group)
                    })
                    .map(|(notification, _)| *notification)
                    .collect();
                Ok(crate::store::TraceRow {
                    decision,
                    notifications,
                })
            })
            .collect()
    }

    /// The message that starts `group`'s thread in `sink`.
    pub fn thread(&self, sink: &str, group: &str) -> anyhow::Result<Option<String>> {
        self.conn
            .prepare_cached("SELECT message_id FROM sink_threads WHERE sink = ?1 AND grp = ?2")?
            .query_row([sink, group], |row| row.get(0))
            .optional()
            .with_context(|| format!("cannot read the thread of {group} in {sink}"))
    }

    /// The seq of the event with this id (`None` if there is none, or retention deleted it).
    ///
    /// `events.id` has no index (version 6 dropped it: it cost a random page per append). An id
    /// netpulse made is a UUIDv7, whose first 48 bits are the milliseconds at which it was made,
    /// shortly before the event was stored: so the event is among those received from that
    /// instant (less [`ID_CLOCK_SLACK_MS`]) to [`ID_STORE_DELAY_MS`] later. Events are received
    /// in seq order, so that window's first and last seqs are found by a binary search over seq
    /// with point lookups of `received_ms` (a few dozen B-tree descents), and only the window is
    /// scanned. An id that is not a UUIDv7 (a provider's own) or not found there (the event
    /// waited longer to be stored, or the clock stepped back) costs a scan of the whole log.
    pub fn seq_of_id(&self, id: &str) -> anyhow::Result<Option<u64>> {
        if let Some(made_ms) = uuid_v7_millis(id) {
            let from = self.first_received_at(made_ms.saturating_sub(ID_CLOCK_SLACK_MS))?;
            let to = self.first_received_at(made_ms.saturating_add(ID_STORE_DELAY_MS + 1))?;
            if let Some(from) = from {
                let found: Option<i64> = self
                    .conn
                    .prepare_cached(
                        "SELECT seq FROM events WHERE seq >= ?1 AND seq < ?2 AND id = ?3 LIMIT 1",
                    )?
                    .query_row(params![from, to.unwrap_or(i64::MAX), id], |row| row.get(0))
                    .optional()
                    .with_context(|| format!("cannot look up event {id}"))?;
                if let Some(seq) = found {
                    return Ok(Some(seq as u64));
                }
            }
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM events WHERE id = ?1 LIMIT 1")?
            .query_row([id], |row| row.get(0))
            .optional()
            .with_context(|| format!("cannot look up event {id}"))?;
        Ok(found.map(|seq| seq as u64))
    }

    /// The first seq whose event was received at or after `at_ms`, assuming `received_ms`
    /// grows with seq (binary search over the seq range); `None` when none was.
    pub(in crate::store) fn first_received_at(&self, at_ms: i64) -> anyhow::Result<Option<i64>> {
        // The first stored event at or after `seq`, with when it was received.
        let mut at_or_after = self.conn.prepare_cached(
            "SELECT seq, received_ms FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
        )?;
        let mut probe = |seq: i64| -> anyhow::Result<Option<(i64, i64)>> {
            Ok(at_or_after
                .query_row([seq], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?)
        };
        let Some((mut low, first_ms)) = probe(i64::MIN)? else {
            return Ok(None);
        };
        if first_ms >= at_ms {
            return Ok(Some(low));
        }
        let newest: i64 = self
            .conn
            .query_row("SELECT max(seq) FROM events", [], |row| row.get(0))?;
        // Invariant: the event at `low` was received before `at_ms`, and the answer is `best`
        // or a stored seq in (low, high).
        let (mut high, mut best) = (newest + 1, None);
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            match probe(middle)? {
                // Nothing is stored in [middle, seq): a smaller answer is below `middle`.
                Some((seq, ms)) if seq < high && ms >= at_ms => {
                    best = Some(seq);
                    high = middle;
                }
                Some((seq, _)) if seq < high => low = seq,
                // Nothing stored in [middle, high).
                _ => high = middle,
            }
        }
        Ok(best)
    }
}

/// How long before the instant in its id an event may have been received (another thread's
/// clock read a little earlier; the id's millisecond is truncated).
const ID_CLOCK_SLACK_MS: i64 = 1_000;
/// How long after the instant in its id an event is looked for first: a device event waits in
/// the dispatcher's queue, a webhook's in the writer's, and both through a store outage's
/// retries; longer waits are found by the full scan.
const ID_STORE_DELAY_MS: i64 = 10 * 60 * 1_000;

/// The milliseconds in a UUIDv7 (`xxxxxxxx-xxxx-7xxx-...`), if `id` is one.
fn uuid_v7_millis(id: &str) -> Option<i64> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    if uuid.get_version_num() != 7 {
        return None;
    }
    let bytes = uuid.as_bytes();
    let mut millis = [0u8; 8];
    millis[2..].copy_from_slice(&bytes[..6]);
    Some(i64::from_be_bytes(millis))
}

/// The `group` of a stored notification event's `data`, if it has one.
fn group_of(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Data {
        group: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        data: Option<Data>,
    }
    serde_json::from_str::<Body>(body).ok()?.data?.group
}
