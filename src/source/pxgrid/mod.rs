//! Cisco ISE pxGrid 2.0 sessions (being written).

use tokio_util::task::TaskTracker;

use crate::config::PxgridSourceConfig;
use crate::source::SourceContext;

/// What the gateway keeps of a running pxGrid source.
pub struct PxgridHandle;

pub fn spawn(
    _config: &PxgridSourceConfig,
    _context: SourceContext,
    _tracker: &TaskTracker,
) -> anyhow::Result<PxgridHandle> {
    anyhow::bail!("type pxgrid is not available yet")
}
