//! Devices' last views (what each session last reported), kept so that a restart or a new owner
//! resynchronises against them instead of taking a new baseline.

use rusqlite::Connection;

use crate::cluster::wire::ViewObject;

/// Stores a session's first snapshot as `source`'s view (replacing any), at stream or log
/// position `seq`. Called by the projection for [`crate::cluster::wire::Control::Baseline`].
#[allow(dead_code)] // called by the projection (issue 22)
pub(crate) fn apply_baseline(
    connection: &Connection,
    source: &str,
    objects: &[ViewObject],
    seq: u64,
) -> rusqlite::Result<()> {
    // Contract stub (issue 22): the restart-view branch writes the table and this body.
    let _ = (connection, source, objects, seq);
    Ok(())
}
