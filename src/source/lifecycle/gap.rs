//! The gap: a period in which a source could not see what happened, and the one event that says
//! so. Pure: no IO.

use serde_json::{Map, Value};

use crate::event::{AlarmState, Event, GAP_EVENT_TYPE, Severity};

/// A period without a subscription: from when the session was last known healthy to its failure
/// (or its stop), reported once the next session is in sync.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gap {
    pub since: jiff::Timestamp,
    pub reason: String,
}

impl Gap {
    /// The gap's length up to `until`, in ms (0 if the clock went back).
    pub fn duration_ms(&self, until: jiff::Timestamp) -> u64 {
        until.duration_since(self.since).as_millis().max(0) as u64
    }
}

/// The gap event of every session-holding source: type [`GAP_EVENT_TYPE`], a warning without an
/// alarm, `data` with `since`, `until`, `duration_ms`, `reason` and what the protocol adds
/// (`data`: what the resync found), and the summary `gap of 1.5 s (<reason>); <outcome>`, where
/// `outcome` says what the protocol recovered.
pub(crate) fn gap_event(
    source_name: &str,
    gap: &Gap,
    until: jiff::Timestamp,
    outcome: &str,
    mut data: Map<String, Value>,
) -> Event {
    let duration_ms = gap.duration_ms(until);
    data.insert("since".into(), serde_json::json!(gap.since));
    data.insert("until".into(), serde_json::json!(until));
    data.insert("duration_ms".into(), duration_ms.into());
    data.insert("reason".into(), gap.reason.as_str().into());
    let mut event = Event::new(source_name, GAP_EVENT_TYPE, until, Value::Object(data));
    event.severity = Severity::Warning;
    event.alarmstate = AlarmState::Info;
    event.summary = format!(
        "gap of {:.1} s ({}); {outcome}",
        duration_ms as f64 / 1000.0,
        gap.reason
    );
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_event_says_how_long_why_and_what_was_recovered() {
        let since: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let until: jiff::Timestamp = "2026-01-02T03:04:06.500Z".parse().unwrap();
        let gap = Gap {
            since,
            reason: "WebSocket closed by the device".into(),
        };
        let mut data = Map::new();
        data.insert("created".into(), 2.into());
        let event = gap_event("leaf1", &gap, until, "resynchronised: 2 created", data);
        assert_eq!(event.kind, GAP_EVENT_TYPE);
        assert_eq!(event.severity, Severity::Warning);
        assert_eq!(event.alarmstate, AlarmState::Info);
        assert_eq!(event.time, until);
        assert_eq!(
            event.summary,
            "gap of 1.5 s (WebSocket closed by the device); resynchronised: 2 created"
        );
        assert_eq!(
            event.data,
            serde_json::json!({
                "since": since, "until": until, "duration_ms": 1500,
                "reason": "WebSocket closed by the device", "created": 2,
            })
        );
    }

    #[test]
    fn a_clock_that_went_back_makes_an_empty_gap_not_a_huge_one() {
        let until = jiff::Timestamp::now();
        let gap = Gap {
            since: until + jiff::SignedDuration::from_secs(5),
            reason: "x".into(),
        };
        assert_eq!(gap.duration_ms(until), 0);
    }
}
