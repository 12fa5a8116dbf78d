//! A session-holding source's stored view: saved at its first snapshot, loaded at the start of a
//! run when the store holds one, so that what changed while netpulse was not listening (its own
//! downtime, or while another node owned the device) is reported as a gap and its differences
//! instead of disappearing into a new baseline.

use std::sync::Arc;

use crate::cluster::wire::ViewObject;
use crate::pipeline::Pipeline;
use crate::store::StoredView;

/// The gap reason when a source resumes from the view a previous run of netpulse stored.
pub const NETPULSE_DOWN: &str = "netpulse_down";
/// The gap reason when a node resumes from the view another node stored (cluster mode).
pub const OWNERSHIP_MOVED: &str = "ownership_moved";

/// Where a source saves and loads its view, and what a gap that starts at the stored view is
/// called.
#[derive(Clone)]
pub struct Views {
    pipeline: Pipeline,
    reason: Arc<str>,
}

impl Views {
    /// Views kept by `pipeline`'s store; a resumed view's gap is [`NETPULSE_DOWN`].
    pub fn new(pipeline: Pipeline) -> Views {
        Views {
            pipeline,
            reason: NETPULSE_DOWN.into(),
        }
    }

    /// The same, with another reason for the gap of a resumed view (e.g. [`OWNERSHIP_MOVED`]).
    pub fn with_reason(self, reason: &str) -> Views {
        Views {
            reason: reason.into(),
            ..self
        }
    }

    pub(super) fn reason(&self) -> &str {
        &self.reason
    }

    /// The source's stored view; `None` (logged) when the store cannot be read, which costs a
    /// new baseline rather than the session.
    pub(super) async fn load(&self, source: &str) -> Option<StoredView> {
        match self.pipeline.stored_view(source).await {
            Ok(stored) => stored,
            Err(err) => {
                tracing::warn!(source = %source, error = format!("{err:#}"), "cannot read the stored view; the first snapshot is a new baseline");
                None
            }
        }
    }

    /// Saves the source's first snapshot; a failure is logged (the next restart then takes a new
    /// baseline, as before views were kept).
    pub(super) async fn save(&self, source: &str, objects: Vec<ViewObject>) {
        let count = objects.len();
        match self.pipeline.save_baseline(source, objects).await {
            Ok(()) => tracing::debug!(source = %source, objects = count, "baseline saved"),
            Err(err) => {
                tracing::warn!(source = %source, error = %err, "cannot save the baseline; a restart will take a new one")
            }
        }
    }
}
