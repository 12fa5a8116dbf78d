//! Devices' last views (what each session last reported), kept so that a restart or a new owner
//! resynchronises against them instead of taking a new baseline.
//!
//! A source's view starts with its first snapshot ([`apply_baseline`]: the `SaveView` command in
//! single-node mode, `Control::Baseline` in cluster mode) and then changes only through the events
//! the source reports, folded by the writer in the savepoint that appends each event ([`fold`]),
//! so the stored view is exactly what was reported. Only a source with a saved baseline (a row in
//! `view_sources`) folds: events of other sources, or of a source whose baseline a store from
//! before version 10 never saw, leave the tables alone.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::cluster::wire::ViewObject;
use crate::event::Event;

/// Attributes of a DME object that describe the message, or that the key already says: not kept.
const NOT_KEPT: [&str; 3] = ["status", "childAction", "dn"];

/// A source's stored view, as a session loads it at its start.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredView {
    pub objects: Vec<ViewObject>,
    /// The log position of its last change (its baseline, or the last event folded into it).
    pub seq: u64,
    /// When it last changed, or when its session last ended cleanly (at a shutdown): until then,
    /// at least, the source was listening.
    pub updated: jiff::Timestamp,
}

/// What one event does to its source's view, worked out on the caller's thread so the writer
/// only runs one or two statements.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ViewFold {
    key: String,
    class: String,
    change: FoldChange,
}

#[derive(Debug, Clone, PartialEq)]
enum FoldChange {
    /// The object as a whole (a created DME object, a pxGrid session's state).
    Replace(String),
    /// Attributes to set on the object (a modified DME object carries only what changed).
    Merge(String),
    Remove,
}

/// How `event` changes its source's view: DME/APIC `com.cisco.dme.created|modified|deleted` (the
/// object is `subject` = dn, `objectclass`, `data = {class: {attributes}}`) and pxGrid
/// `com.cisco.ise.session.*` (`subject` = the session's key, its state and time). `None` for
/// every other event, at the cost of one string comparison.
pub(super) fn fold_of(event: &Event) -> Option<ViewFold> {
    let kind = event.kind.as_str();
    let change = match kind {
        "com.cisco.dme.created" => FoldChange::Replace(dme_attributes(event)?),
        "com.cisco.dme.modified" => FoldChange::Merge(dme_attributes(event)?),
        "com.cisco.dme.deleted" => FoldChange::Remove,
        _ if kind.starts_with("com.cisco.ise.session.")
            && event.objectclass.as_deref() == Some("session") =>
        {
            let (state, time) = crate::source::pxgrid::protocol::session_version(&event.data);
            let attributes = BTreeMap::from([("state", state), ("time", time)]);
            FoldChange::Replace(serde_json::to_string(&attributes).ok()?)
        }
        _ => return None,
    };
    Some(ViewFold {
        // The empty key is the view's identity object (`source::lifecycle::restore`).
        key: event.subject.clone().filter(|key| !key.is_empty())?,
        class: event.objectclass.clone()?,
        change,
    })
}

/// The attributes of a DME event's object as kept: compact JSON, without the transport fields, the
/// dn (the key) and the empty `rn` of a push.
fn dme_attributes(event: &Event) -> Option<String> {
    let class = event.objectclass.as_deref()?;
    let attributes = event.data.get(class)?.get("attributes")?.as_object()?;
    let kept: BTreeMap<&str, &str> = attributes
        .iter()
        .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)))
        .filter(|(key, value)| {
            let empty_rn = *key == "rn" && value.is_empty();
            !NOT_KEPT.contains(key) && !empty_rn
        })
        .collect();
    serde_json::to_string(&kept).ok()
}

/// Folds one appended event (at `seq`) into `source`'s view, if the source has one.
pub(super) fn fold(
    conn: &Connection,
    source: &str,
    fold: &ViewFold,
    seq: i64,
    now_ms: i64,
) -> rusqlite::Result<()> {
    // One statement both records the change and tells whether the source keeps a view.
    let held = conn
        .prepare_cached("UPDATE view_sources SET seq = ?2, updated_ms = ?3 WHERE source = ?1")?
        .execute(params![source, seq, now_ms])?;
    if held == 0 {
        return Ok(());
    }
    let (key, class) = (&fold.key, &fold.class);
    match &fold.change {
        FoldChange::Replace(attributes) => conn
            .prepare_cached(
                "INSERT INTO view_objects (source, key, class, attributes) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, key) DO UPDATE
                 SET class = excluded.class, attributes = excluded.attributes",
            )?
            .execute(params![source, key, class, attributes])?,
        FoldChange::Merge(attributes) => conn
            .prepare_cached(
                "INSERT INTO view_objects (source, key, class, attributes) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, key) DO UPDATE
                 SET class = excluded.class,
                     attributes = json_patch(view_objects.attributes, excluded.attributes)",
            )?
            .execute(params![source, key, class, attributes])?,
        FoldChange::Remove => conn
            .prepare_cached("DELETE FROM view_objects WHERE source = ?1 AND key = ?2")?
            .execute(params![source, key])?,
    };
    Ok(())
}

/// Stores a session's first snapshot as `source`'s view (replacing any), at stream or log
/// position `seq`. Called by the projection for [`crate::cluster::wire::Control::Baseline`] and by
/// the writer for the single-node `SaveView` command.
pub(crate) fn apply_baseline(
    connection: &Connection,
    source: &str,
    objects: &[ViewObject],
    seq: u64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM view_objects WHERE source = ?1")?
        .execute([source])?;
    let mut insert = connection.prepare_cached(
        "INSERT OR REPLACE INTO view_objects (source, key, class, attributes)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for object in objects {
        let attributes =
            serde_json::to_string(&object.attributes).expect("string maps always serialize");
        insert.execute(params![source, object.key, object.class, attributes])?;
    }
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO view_sources (source, seq, updated_ms) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            source,
            seq as i64,
            jiff::Timestamp::now().as_millisecond()
        ])?;
    Ok(())
}

/// Records that `source` was listening until `now_ms` (a session that ended cleanly at
/// shutdown): the next run's gap starts there rather than at the view's last change.
pub(super) fn touch(conn: &Connection, source: &str, now_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE view_sources SET updated_ms = max(updated_ms, ?2) WHERE source = ?1",
    )?
    .execute(params![source, now_ms])?;
    Ok(())
}

/// Deletes the views of every source not named in `keep` (sources removed from the
/// configuration); answers how many views went.
pub(super) fn retain(conn: &Connection, keep: &[String]) -> rusqlite::Result<u64> {
    let stored: Vec<String> = conn
        .prepare("SELECT source FROM view_sources")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut removed = 0;
    for source in stored.iter().filter(|source| !keep.contains(source)) {
        conn.execute("DELETE FROM view_objects WHERE source = ?1", [source])?;
        conn.execute("DELETE FROM view_sources WHERE source = ?1", [source])?;
        removed += 1;
    }
    Ok(removed)
}

/// `source`'s stored view, if its baseline was ever saved.
pub(super) fn load(conn: &Connection, source: &str) -> rusqlite::Result<Option<StoredView>> {
    let head = conn
        .query_row(
            "SELECT seq, updated_ms FROM view_sources WHERE source = ?1",
            [source],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        )
        .optional()?;
    let Some((seq, updated_ms)) = head else {
        return Ok(None);
    };
    let objects = conn
        .prepare("SELECT key, class, attributes FROM view_objects WHERE source = ?1 ORDER BY key")?
        .query_map([source], |row| {
            let attributes: String = row.get(2)?;
            Ok(ViewObject {
                key: row.get(0)?,
                class: row.get(1)?,
                // A row this module did not write whole is an empty object rather than an error
                // that would cost the source its view.
                attributes: serde_json::from_str(&attributes).unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(StoredView {
        objects,
        seq: seq.max(0) as u64,
        updated: jiff::Timestamp::from_millisecond(updated_ms)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    }))
}

#[cfg(test)]
mod tests;
