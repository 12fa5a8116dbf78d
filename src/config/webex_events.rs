//! `type: webex_events` source entries: Webex real-time events over Mercury (being written).

use std::path::Path;

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebexEventsSourceConfig {
    pub name: String,
}

impl WebexEventsSourceConfig {
    pub(crate) fn validate(&mut self, place: &str, _base_dir: &Path, problems: &mut Problems) {
        problems.push(place, "type webex_events is not available yet");
    }
}
