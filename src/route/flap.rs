//! Flap detection per alarm of a group: an alarm that completes `cycles` raise→clear cycles
//! within `window` is flapping; it stays so, quiet, until it has not changed for `window`.
//! The history outlives the group (a flapping alarm ends and restarts its group each cycle), so
//! it is kept apart, keyed by group id and alarm key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::{Changes, FLAP, earlier, later, member_key};
use crate::config::FlappingConfig;

/// A route's `flapping:` as a group keeps it (in its state row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FlapConfig {
    pub(crate) enabled: bool,
    pub(crate) cycles: u32,
    pub(crate) window: std::time::Duration,
}

impl From<&FlappingConfig> for FlapConfig {
    fn from(config: &FlappingConfig) -> FlapConfig {
        FlapConfig {
            enabled: config.enabled,
            cycles: config.cycles,
            window: config.window,
        }
    }
}

/// What a raise or clear means for flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlapStep {
    /// Not flapping: notify as usual.
    Steady,
    /// This change made the alarm flapping: one `Flapping` line.
    Started,
    /// Already flapping: quiet.
    Quiet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flap {
    group: String,
    alarm: String,
    /// When each recent cycle completed (its clear), within the window.
    clears: Vec<jiff::Timestamp>,
    flapping: bool,
    last_change: jiff::Timestamp,
    /// The window of the route when the history was recorded (a reload may change it).
    window: std::time::Duration,
}

impl Flap {
    fn stable_at(&self) -> jiff::Timestamp {
        later(self.last_change, self.window)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct FlapTracker {
    flaps: BTreeMap<(String, String), Flap>,
}

impl FlapTracker {
    /// Records a raise or clear of `alarm` in `group` at `now`.
    pub(crate) fn record(
        &mut self,
        config: &FlapConfig,
        group: &str,
        alarm: &str,
        raised: bool,
        now: jiff::Timestamp,
        changes: &mut Changes,
    ) -> FlapStep {
        if !config.enabled {
            return FlapStep::Steady;
        }
        let id = (group.to_owned(), alarm.to_owned());
        if raised && !self.flaps.contains_key(&id) {
            // A raise starts no cycle: history begins with the first clear.
            return FlapStep::Steady;
        }
        let flap = self.flaps.entry(id).or_insert_with(|| Flap {
            group: group.to_owned(),
            alarm: alarm.to_owned(),
            clears: Vec::new(),
            flapping: false,
            last_change: now,
            window: config.window,
        });
        flap.last_change = now;
        flap.window = config.window;
        let step = if flap.flapping {
            FlapStep::Quiet
        } else if raised {
            FlapStep::Steady
        } else {
            let since = earlier(now, config.window);
            flap.clears.retain(|clear| *clear > since);
            flap.clears.push(now);
            if flap.clears.len() >= config.cycles.max(1) as usize {
                flap.flapping = true;
                flap.clears.clear();
                FlapStep::Started
            } else {
                FlapStep::Steady
            }
        };
        changes.put(member_key(FLAP, group, alarm), flap);
        step
    }

    pub(crate) fn is_flapping(&self, group: &str, alarm: &str) -> bool {
        self.flaps
            .get(&(group.to_owned(), alarm.to_owned()))
            .is_some_and(|flap| flap.flapping)
    }

    /// The flapping alarms stable at `now` (no change for their window): no longer flapping,
    /// as `(group, alarm)`. Histories with no recent cycle are forgotten.
    pub(crate) fn settle(
        &mut self,
        now: jiff::Timestamp,
        changes: &mut Changes,
    ) -> Vec<(String, String)> {
        let mut stable = Vec::new();
        self.flaps.retain(|(group, alarm), flap| {
            let row = member_key(FLAP, group, alarm);
            if flap.flapping && flap.stable_at() <= now {
                flap.flapping = false;
                stable.push((group.clone(), alarm.clone()));
            }
            if flap.flapping {
                return true;
            }
            let since = earlier(now, flap.window);
            let before = flap.clears.len();
            flap.clears.retain(|clear| *clear > since);
            if flap.clears.is_empty() {
                changes.delete(row);
                false
            } else {
                if flap.clears.len() != before {
                    changes.put(row, flap);
                }
                true
            }
        });
        stable
    }

    /// When the next flapping alarm becomes stable.
    pub(crate) fn next_deadline(&self) -> Option<jiff::Timestamp> {
        self.flaps
            .values()
            .filter(|flap| flap.flapping)
            .map(Flap::stable_at)
            .min()
    }

    pub(crate) fn restore(&mut self, value: &str) -> Result<(), String> {
        let flap: Flap = serde_json::from_str(value).map_err(|e| e.to_string())?;
        self.flaps
            .insert((flap.group.clone(), flap.alarm.clone()), flap);
        Ok(())
    }
}
