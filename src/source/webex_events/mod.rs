//! Webex real-time events over the Mercury WebSocket (being written).

use tokio_util::task::TaskTracker;

use crate::config::WebexEventsSourceConfig;
use crate::source::SourceContext;

/// What the gateway keeps of a running Webex events source.
pub struct WebexEventsHandle;

pub fn spawn(
    _config: &WebexEventsSourceConfig,
    _context: SourceContext,
    _tracker: &TaskTracker,
) -> anyhow::Result<WebexEventsHandle> {
    anyhow::bail!("type webex_events is not available yet")
}
