//! The alerting policy of the configuration: `routes:` (the routing tree), `time_intervals:`
//! (recurring maintenance windows, Alertmanager's semantics) and `inhibit_rules:`; and
//! [`EventMatcher`], the one way an event is matched (a sink's `match:`, a route, an inhibition
//! rule, a silence made through the API). Plain data: `route::` compiles and applies it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_duration_opt;
use crate::event::{AlarmState, Severity};

/// Which events a rule takes. Every field that is set must match; within a field, any listed
/// value is enough; an empty matcher takes everything.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EventMatcher {
    /// Source names; the event must come from one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    /// Device names (the event's `device`), exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device: Vec<String>,
    /// Event types, exactly (`com.cisco.sdwan.alarm.raised`).
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<String>,
    /// Event type prefixes, e.g. `com.cisco.sdwan.`; the type must start with one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub type_prefix: Vec<String>,
    /// Only events at least this severe (info < warning < minor < major < critical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// Alarm states (`raised`, `cleared`, `info`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarmstate: Vec<AlarmState>,
    /// Subject prefixes (`sys/intf/phys-[eth1/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_prefix: Vec<String>,
    /// Conditions on the event's `data`, each a JSON pointer with a value it must equal or a
    /// regular expression its text must match; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataMatcher>,
}

/// One condition on `data`: the value at `pointer` (RFC 6901, `/values/0/system-ip`) equals
/// `equals`, or (as text: a string as is, another value as its JSON) matches `regex`
/// (anchored at both ends, as Alertmanager's `=~`). Exactly one of the two is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DataMatcher {
    pub pointer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// One route of the tree (`routes:` at the top level are the root's children). A route that
/// leaves a setting out takes its parent's; the root's are the defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Shown in traces and notifications; default `route-<n>` by position (`route-1.2`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "match")]
    pub filter: EventMatcher,
    /// The sinks this route notifies (by name); empty: the parent's.
    #[serde(default)]
    pub sinks: Vec<String>,
    /// Event attributes that make a group (`source`, `device`, `type`, `severity`, `subject`,
    /// `objectclass`, `alarmstate`, or a JSON pointer into `data` such as `/siteId`); `[...]`
    /// makes each alarm its own group. Default: the parent's, at the root `[source]`.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits for more alarms before its first notification (10 s).
    #[serde(default, with = "serde_duration_opt")]
    pub group_wait: Option<Duration>,
    /// How long after a notification a group waits before notifying what changed (5 m).
    #[serde(default, with = "serde_duration_opt")]
    pub group_interval: Option<Duration>,
    /// How long before alarms still raised are notified again (4 h; `0s` turns it off).
    #[serde(default, with = "serde_duration_opt")]
    pub repeat_interval: Option<Duration>,
    /// Whether clears are notified (true).
    #[serde(default)]
    pub notify_clears: Option<bool>,
    /// Names of `time_intervals` during which this route notifies nothing.
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    /// Names of `time_intervals` outside which this route notifies nothing.
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    /// Flap detection; default the parent's, at the root on (`cycles: 3`, `window: 10m`).
    #[serde(default)]
    pub flapping: Option<FlappingConfig>,
    /// Also try the routes after this one when it matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// An alarm that raises and clears `cycles` times within `window` is flapping: notified once as
/// such, then quiet until it has been stable for `window`. `enabled: false` turns it off.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FlappingConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_flap_cycles")]
    pub cycles: u32,
    #[serde(
        default = "default_flap_window",
        with = "crate::duration::serde_duration"
    )]
    pub window: Duration,
}

impl Default for FlappingConfig {
    fn default() -> FlappingConfig {
        FlappingConfig {
            enabled: true,
            cycles: default_flap_cycles(),
            window: default_flap_window(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_flap_cycles() -> u32 {
    3
}

fn default_flap_window() -> Duration {
    Duration::from_secs(600)
}

/// An inhibition rule: while an alarm matching `source` is raised, new alarms matching `target`
/// that have the same values of every `equal` attribute are not notified (their clears still
/// are, when their raise was notified).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub source: EventMatcher,
    pub target: EventMatcher,
    /// Attributes as in `group_by` (`device`, `/siteId`).
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A named set of recurring times (Alertmanager's `time_intervals`): a time is in it when it is
/// in any of `time_intervals`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    pub name: String,
    pub time_intervals: Vec<TimeIntervalSpec>,
}

/// One recurring interval: every field set must hold (an unset field holds always). Written as
/// in Alertmanager: `times: [{start_time: "09:00", end_time: "17:00"}]`, `weekdays:
/// ["monday:friday"]`, `days_of_month: ["1:5", "-1"]`, `months: ["january:march", "12"]`,
/// `years: ["2026:2027"]`, `location: Europe/Paris` (default UTC).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    #[serde(default)]
    pub times: Vec<TimeRangeSpec>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    #[serde(default)]
    pub location: Option<String>,
}

/// `start_time` inclusive, `end_time` exclusive, `HH:MM` from `00:00` to `24:00`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    pub start_time: String,
    pub end_time: String,
}
