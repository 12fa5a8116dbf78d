//! A silence or a one-off maintenance window, made through the API: a matcher and a time span.
//! It reaches the engine as an operator event of the log (so every node of a cluster applies it
//! in the same order) and mutes the new alarms it matches while it is active.

use serde::{Deserialize, Serialize};

use crate::config::EventMatcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MuteKind {
    Silence,
    Window,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mute {
    pub id: String,
    pub kind: MuteKind,
    pub matcher: EventMatcher,
    pub starts_at: jiff::Timestamp,
    pub ends_at: jiff::Timestamp,
    #[serde(default)]
    pub comment: String,
    /// The name of the API token that made it.
    pub created_by: String,
    pub created_at: jiff::Timestamp,
    /// Set when it was ended early (expired through the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_by: Option<String>,
}

impl Mute {
    /// Whether it mutes at `now` (from `starts_at` inclusive to `ends_at` exclusive).
    pub fn is_active(&self, now: jiff::Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}
