//! Sink entries of the configuration (`sinks:`), one variant per kind.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Problems, resolve_path};

/// One entry of `sinks:`; the `type` field picks the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Appends events as JSON Lines (one CloudEvents JSON object per line) to a file.
    File(FileSinkConfig),
    /// Writes events to standard output, as JSON Lines or as one readable line each.
    Stdout(StdoutSinkConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub name: String,
    pub path: PathBuf,
    /// Also fsync after each batch, so a power loss cannot take written lines away.
    #[serde(default)]
    pub fsync: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    pub name: String,
    #[serde(default)]
    pub format: StdoutFormat,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StdoutFormat {
    /// One CloudEvents JSON object per line.
    #[default]
    Json,
    /// One human-readable line per event.
    Text,
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::File(file) => &file.name,
            SinkConfig::Stdout(stdout) => &stdout.name,
        }
    }

    pub(crate) fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        if let SinkConfig::File(file) = self {
            file.path = resolve_path(base_dir, &file.path);
            let parent = file.path.parent().unwrap_or(Path::new("."));
            if !parent.as_os_str().is_empty() && !parent.is_dir() {
                problems.push(
                    &format!("{place}.path"),
                    format!("the folder {} does not exist", parent.display()),
                );
            }
        }
    }
}
