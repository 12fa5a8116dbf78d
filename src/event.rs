//! The normalized event: plain data, no IO.
//!
//! Its JSON form is a CloudEvents 1.0 structured-mode event: `specversion`, `id`, `source`, `type`,
//! `time`, `subject`, `datacontenttype` and `data` (the original object, unchanged). netpulse's own
//! fields are CloudEvents extension attributes (lowercase letters only, as the spec requires):
//! `seq` (gateway sequence number), `device`, `objectclass`, `severity`, `alarmstate`, `summary`
//! `link` (a URL to the event on its platform) and `resync` (present and true when the event was found by a resynchronisation after a gap).

use serde::{Deserialize, Serialize};

/// The CloudEvents `type` of netpulse's own gap marker.
pub const GAP_EVENT_TYPE: &str = "io.netpulse.source.gap";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

/// Where an event stands in an alarm's life: it raises an alarm, clears one, or is plain information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmState {
    Raised,
    Cleared,
    Info,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Raised => "raised",
            AlarmState::Cleared => "cleared",
            AlarmState::Info => "info",
        }
    }
}

/// What an event does to one alarm: raises the alarm `key`, or clears it when `raised` is false.
/// A source makes these with its events (an SD-WAN clear names the alarms it clears); the store
/// keeps each alarm's state. Every key starts with its source's name and `:`, so that one
/// source's events can never change another source's alarms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmUpdate {
    pub key: String,
    pub raised: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub specversion: SpecVersion,
    pub id: String,
    /// URI reference of the producer: `/netpulse/<source name>`.
    pub source: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change happened (the device's timestamp when it gives one).
    pub time: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub datacontenttype: SpecContentType,
    /// Assigned by the gateway when the event enters the pipeline; 0 before that.
    pub seq: u64,
    pub device: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectclass: Option<String>,
    pub severity: Severity,
    pub alarmstate: AlarmState,
    pub summary: String,
    /// A URL to this event on the platform that produced it (e.g. the SD-WAN Manager alarm page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
    pub data: serde_json::Value,
}

/// Always `"1.0"`; a type of its own so an event can't be built with another version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecVersion {
    #[default]
    #[serde(rename = "1.0")]
    V1,
}

/// Always `"application/json"`: `data` is JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecContentType {
    #[default]
    #[serde(rename = "application/json")]
    Json,
}

/// A fresh event id: a UUID version 7 (RFC 9562) that sorts after every id this process made
/// before it. Its 48-bit timestamp is the Unix millisecond and its 12-bit `rand_a` a counter
/// within that millisecond (RFC 9562 §6.2, method 1; after 4,096 ids in one millisecond the
/// timestamp runs ahead by one). The other 62 bits come from the thread's ChaCha generator
/// (`rand::rng`, seeded from the OS) rather than from a `getrandom` system call per id as
/// `Uuid::now_v7` makes: one system call less on every webhook request.
pub fn new_event_id() -> String {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    // `millis << 12 | counter`: the later of this millisecond's first value and one past the
    // last value handed out.
    let floor = millis << 12;
    let previous = LAST
        .fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |last| Some(floor.max(last + 1)),
        )
        .expect("the closure always answers");
    let stamp = floor.max(previous + 1);
    let mut bytes: [u8; 10] = rand::random();
    bytes[..2].copy_from_slice(&((stamp & 0xFFF) as u16).to_be_bytes());
    let id = uuid::Builder::from_unix_timestamp_millis(stamp >> 12, &bytes).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

impl Event {
    /// A new event with a fresh time-ordered id and informational defaults.
    pub fn new(
        source_name: &str,
        kind: impl Into<String>,
        time: jiff::Timestamp,
        data: serde_json::Value,
    ) -> Event {
        Event {
            specversion: SpecVersion::V1,
            id: new_event_id(),
            source: format!("/netpulse/{source_name}"),
            kind: kind.into(),
            time,
            subject: None,
            datacontenttype: SpecContentType::Json,
            seq: 0,
            device: source_name.to_owned(),
            objectclass: None,
            severity: Severity::Info,
            alarmstate: AlarmState::Info,
            summary: String::new(),
            link: None,
            resync: false,
            data,
        }
    }

    /// The name of the source that produced the event: its CloudEvents `source` without the
    /// `/netpulse/` that [`Event::new`] puts in front.
    pub fn source_name(&self) -> &str {
        self.source
            .strip_prefix("/netpulse/")
            .unwrap_or(&self.source)
    }

    /// The alarm policy of device events (DME, pxGrid, Webex events): an event raises or clears
    /// the alarm of its source and its subject (a port's link, an APIC fault), so the alarms API
    /// shows what is down now. Informational events, and events about no object, touch no alarm.
    /// Webhook providers name their alarms themselves.
    pub fn device_alarm(&self) -> Option<AlarmUpdate> {
        let raised = match self.alarmstate {
            AlarmState::Raised => true,
            AlarmState::Cleared => false,
            AlarmState::Info => return None,
        };
        let subject = self.subject.as_deref()?;
        let source = self.source_name();
        Some(AlarmUpdate {
            key: format!("{source}:{subject}"),
            raised,
        })
    }

    /// One readable line: time, device, severity, summary.
    pub fn to_text_line(&self) -> String {
        let time = self.time.strftime("%Y-%m-%d %H:%M:%S%.3f");
        let marker = if self.resync { " [resync]" } else { "" };
        format!(
            "{time} #{seq} {device} {severity:<8} {summary}{marker}",
            seq = self.seq,
            device = self.device,
            severity = self.severity.as_str(),
            summary = self.summary
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_device_event_raises_or_clears_the_alarm_of_its_source_and_subject() {
        let mut event = Event::new(
            "leaf1",
            "com.cisco.dme.modified",
            jiff::Timestamp::now(),
            json!({}),
        );
        event.subject = Some("sys/intf/phys-[eth1/1]".into());
        assert_eq!(event.device_alarm(), None, "information touches no alarm");
        event.alarmstate = AlarmState::Raised;
        let raised = AlarmUpdate {
            key: "leaf1:sys/intf/phys-[eth1/1]".into(),
            raised: true,
        };
        assert_eq!(event.device_alarm(), Some(raised));
        event.alarmstate = AlarmState::Cleared;
        assert!(!event.device_alarm().unwrap().raised);
        event.subject = None;
        assert_eq!(event.device_alarm(), None, "no object, no alarm");
    }

    fn sample() -> Event {
        let time: jiff::Timestamp = "2019-10-18T19:42:29.446Z".parse().unwrap();
        let mut event = Event::new(
            "leaf1",
            "com.cisco.dme.modified",
            time,
            json!({"l1PhysIf": {"attributes": {"dn": "sys/intf/phys-[eth1/1]"}}}),
        );
        event.subject = Some("sys/intf/phys-[eth1/1]".into());
        event.seq = 7;
        event
    }

    #[test]
    fn event_ids_are_distinct_version_7_uuids_of_the_current_millisecond() {
        let before = jiff::Timestamp::now().as_millisecond() as u64;
        let ids: Vec<String> = (0..1000).map(|_| new_event_id()).collect();
        let after = jiff::Timestamp::now().as_millisecond() as u64;
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
            let (seconds, nanos) = uuid.get_timestamp().unwrap().to_unix();
            let millis = seconds * 1000 + u64::from(nanos) / 1_000_000;
            // The counter lets the timestamp run ahead only past 4,096 ids in a millisecond,
            // which other tests running at the same time may reach; never behind the clock.
            assert!((before..=after + 1000).contains(&millis), "{id}: {millis}");
            assert_eq!(id, &id.to_lowercase());
        }
    }

    #[test]
    fn json_form_is_a_cloudevents_structured_event() {
        let value = serde_json::to_value(sample()).unwrap();
        assert_eq!(value["specversion"], "1.0");
        assert_eq!(value["type"], "com.cisco.dme.modified");
        assert_eq!(value["source"], "/netpulse/leaf1");
        assert_eq!(value["time"], "2019-10-18T19:42:29.446Z");
        assert_eq!(value["datacontenttype"], "application/json");
        assert_eq!(value["seq"], 7);
        assert_eq!(value["alarmstate"], "info");
        assert!(
            value.get("resync").is_none(),
            "resync is left out when false"
        );
        // CloudEvents: extension attribute names are lowercase alphanumeric, at most 20 characters.
        for key in value.as_object().unwrap().keys() {
            assert!(
                key.len() <= 20
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "{key}"
            );
        }
    }

    #[test]
    fn json_form_round_trips() {
        let event = sample();
        let text = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let first = sample().id;
        let second = sample().id;
        assert!(second > first);
        // Far more than one millisecond holds, from two threads at once: every id sorts after
        // the ids made before it on the same thread.
        let threads: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(|| (0..20_000).map(|_| new_event_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::new();
        for thread in threads {
            let ids = thread.join().unwrap();
            assert!(
                ids.windows(2).all(|pair| pair[0] < pair[1]),
                "ids out of order"
            );
            all.extend(ids);
        }
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "an id was handed out twice");
    }
}
