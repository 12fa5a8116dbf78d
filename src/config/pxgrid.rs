//! `type: pxgrid` source entries: Cisco ISE pxGrid 2.0 (being written).

use std::path::Path;

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PxgridSourceConfig {
    pub name: String,
}

impl PxgridSourceConfig {
    pub(crate) fn validate(&mut self, place: &str, _base_dir: &Path, problems: &mut Problems) {
        problems.push(place, "type pxgrid is not available yet");
    }
}
