//! The alarms' reads: the list the API and the bot show (with each alarm's raising event and its
//! operator state), and one alarm by key.

use anyhow::Context;
use rusqlite::OptionalExtension;

use super::{MAX_LIMIT, Reader, summary_of};
use crate::event::Severity;
use crate::store::body::Body;
use crate::store::schema::severity_from_rank;

/// Which alarms [`Reader::alarms`] lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlarmFilter {
    /// Raised and not cleared since, and not closed by an operator.
    #[default]
    Active,
    /// Raised and acknowledged by an operator (a subset of `Active`).
    Acknowledged,
    /// Raised and closed by an operator (not in `Active`).
    Closed,
    Cleared,
    All,
}

/// An alarm with what the API shows of it: the current state, and the event that raised it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmView {
    pub row: AlarmRow,
    /// How many events raised or cleared it.
    pub events: u64,
    /// When the raising event happened (the device's time), if it is still stored.
    pub first_seen: Option<jiff::Timestamp>,
    /// When the latest event about it happened.
    pub last_seen: Option<jiff::Timestamp>,
    /// The raising event's source, device, severity, type and summary, if it is still stored.
    pub source: Option<String>,
    pub device: Option<String>,
    pub severity: Option<Severity>,
    pub kind: Option<String>,
    pub summary: Option<String>,
    /// What an operator did to it since it was last raised (acknowledged, closed), if anything.
    pub operator: Option<crate::operator::OperatorState>,
}

/// The current state of one alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRow {
    pub key: String,
    pub raised: bool,
    /// The event that raised it (most recently, if it was cleared and raised again).
    pub first_seq: u64,
    /// The latest event that raised or cleared it.
    pub last_seq: u64,
    /// When the store recorded the latest change.
    pub updated: jiff::Timestamp,
}

impl Reader {
    /// Alarms with their raising event, most recently changed first.
    pub fn alarms(&self, which: AlarmFilter, limit: usize) -> anyhow::Result<Vec<AlarmView>> {
        // `alarms.operator` is NULL or a JSON `OperatorState` (`alarms.rs`).
        const STATE: &str = "json_extract(alarms.operator, '$.state')";
        let condition = match which {
            AlarmFilter::Active => {
                format!("WHERE alarms.raised = 1 AND coalesce({STATE}, '') != 'closed'")
            }
            AlarmFilter::Acknowledged => {
                format!("WHERE alarms.raised = 1 AND {STATE} = 'acknowledged'")
            }
            AlarmFilter::Closed => format!("WHERE alarms.raised = 1 AND {STATE} = 'closed'"),
            AlarmFilter::Cleared => "WHERE alarms.raised = 0".to_owned(),
            AlarmFilter::All => String::new(),
        };
        let sql = format!(
            "{ALARM_VIEW} {condition}
             ORDER BY alarms.updated_ms DESC, alarms.last_seq DESC LIMIT {}",
            limit.min(MAX_LIMIT)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement
            .query_map([], alarm_view)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("cannot list alarms")?;
        Ok(rows)
    }

    /// The alarm `key` as [`Reader::alarms`] shows it, if any event ever raised or cleared it
    /// (and retention has not deleted it since). Scans `alarms`, whose keys are not indexed
    /// (`alarms.rs`): for an operator's action, not for a hot path.
    pub fn alarm_view(&self, key: &str) -> anyhow::Result<Option<AlarmView>> {
        let sql = format!("{ALARM_VIEW} WHERE alarms.key = ?1");
        self.conn
            .prepare_cached(&sql)?
            .query_row([key], alarm_view)
            .optional()
            .with_context(|| format!("cannot read alarm {key}"))
    }

    /// The current state of the alarm `key`, if any event ever raised or cleared it (and
    /// retention has not deleted it since it was cleared). Scans `alarms`, whose keys are not
    /// indexed (`alarms.rs`): for tests and tools, not for a hot path.
    pub fn alarm(&self, key: &str) -> anyhow::Result<Option<AlarmRow>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT raised, first_seq, last_seq, updated_ms FROM alarms WHERE key = ?1",
            )?
            .query_row([key], |row| {
                Ok((
                    row.get::<_, bool>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .optional()
            .with_context(|| format!("cannot read alarm {key}"))?;
        let Some((raised, first_seq, last_seq, updated_ms)) = row else {
            return Ok(None);
        };
        Ok(Some(AlarmRow {
            key: key.to_owned(),
            raised,
            first_seq: first_seq as u64,
            last_seq: last_seq as u64,
            updated: jiff::Timestamp::from_millisecond(updated_ms)?,
        }))
    }
}

/// The columns [`alarm_view`] reads: the alarm's row, its raising and latest events.
const ALARM_VIEW: &str =
    "SELECT alarms.key, alarms.raised, alarms.first_seq, alarms.last_seq, alarms.updated_ms,
         alarms.events, first.time_ms, last.time_ms, first.source, first.device,
         first.severity, first.kind, first.body, alarms.operator
     FROM alarms
     LEFT JOIN events AS first ON first.seq = alarms.first_seq
     LEFT JOIN events AS last ON last.seq = alarms.last_seq";

/// One row of [`ALARM_VIEW`].
fn alarm_view(row: &rusqlite::Row) -> rusqlite::Result<AlarmView> {
    let time = |index: usize| -> rusqlite::Result<Option<jiff::Timestamp>> {
        Ok(row
            .get::<_, Option<i64>>(index)?
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()))
    };
    let key: String = row.get(0)?;
    let operator =
        row.get::<_, Option<String>>(13)?
            .and_then(|json| match serde_json::from_str(&json) {
                Ok(operator) => Some(operator),
                Err(error) => {
                    tracing::warn!(%key, %error, "an alarm's operator state is not valid JSON");
                    None
                }
            });
    Ok(AlarmView {
        row: AlarmRow {
            key,
            raised: row.get(1)?,
            first_seq: row.get::<_, i64>(2)? as u64,
            last_seq: row.get::<_, i64>(3)? as u64,
            updated: jiff::Timestamp::from_millisecond(row.get(4)?)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        },
        events: row.get::<_, i64>(5)? as u64,
        first_seen: time(6)?,
        last_seen: time(7)?,
        source: row.get(8)?,
        device: row.get(9)?,
        severity: row.get::<_, Option<i64>>(10)?.and_then(severity_from_rank),
        kind: row.get(11)?,
        summary: row
            .get::<_, Option<Body>>(12)?
            .and_then(|Body(body)| summary_of(&body)),
        operator,
    })
}
