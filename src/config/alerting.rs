//! The alerting policy of the configuration: `routes:` (the routing tree), `time_intervals:`
//! (recurring maintenance windows, Alertmanager's semantics) and `inhibit_rules:`; and
//! [`EventMatcher`], the one way an event is matched (a sink's `match:`, a route, an inhibition
//! rule, a silence made through the API). Plain data: `route::` compiles and applies it; the
//! checks here compile it once to report every mistake with its place.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Problems, SinkConfig};
use crate::duration::serde_duration_opt;
use crate::event::{AlarmState, Severity};
use crate::route::{Matcher, TimeInterval, check_attribute};

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
///
/// `equals` is JSON equality, except that a number or boolean also equals the string of its
/// JSON text and the reverse (`equals: 1` matches `"1"`, `equals: "true"` matches `true`):
/// devices are not consistent about quoting (SD-WAN's `site_id`), and YAML makes the
/// difference easy to miss. A value missing from the event (or `null`, for `regex`) matches
/// nothing.
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

impl EventMatcher {
    /// True when no field is set: the matcher takes every event.
    pub fn is_empty(&self) -> bool {
        *self == EventMatcher::default()
    }
}

/// The defaults of the routing tree's implicit root (DESIGN: Alertmanager's, with
/// `group_by: [source]`); validation walks the tree with them to compare inherited timers.
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// What the other lists of the configuration say, for the checks that refer to them.
pub(super) struct Context<'a> {
    pub sinks: &'a [SinkConfig],
    /// `sink_indices[i]` is the place in the file of `sinks[i]`.
    pub sink_indices: &'a [usize],
    /// Whether every entry of `sinks:` deserialized (otherwise a name a route refers to may
    /// belong to the entry that did not, and saying it is unknown would mislead).
    pub sinks_complete: bool,
    /// Whether every entry of `time_intervals:` deserialized.
    pub intervals_complete: bool,
}

/// Checks `routes:`, `time_intervals:`, `inhibit_rules:` and every sink's `match:`; each error
/// with its place.
pub(super) fn validate(
    routes: &[RouteConfig],
    time_intervals: &[TimeIntervalConfig],
    inhibit_rules: &[InhibitRuleConfig],
    context: &Context<'_>,
    problems: &mut Problems,
) {
    for (&index, sink) in context.sink_indices.iter().zip(context.sinks) {
        if let Err(message) = Matcher::new(sink.filter()) {
            problems.push(&format!("sinks[{index}] ({}).match", sink.name()), message);
        }
    }

    let mut interval_names = HashSet::new();
    for (index, interval) in time_intervals.iter().enumerate() {
        let place = format!("time_intervals[{index}] ({})", interval.name);
        if !interval_names.insert(interval.name.as_str()) {
            problems.push(
                &format!("time_intervals[{index}].name"),
                format!(
                    "the name {:?} is used twice; names must be unique",
                    interval.name
                ),
            );
        }
        if let Err(errors) = TimeInterval::compile(interval) {
            for error in errors {
                // `error` starts with its place inside the interval (`time_intervals[0].times`).
                match error.split_once(": ") {
                    Some((inner, message)) => problems.push(&format!("{place}.{inner}"), message),
                    None => problems.push(&place, error),
                }
            }
        }
    }

    let mut walk = Walk {
        context,
        interval_names: &interval_names,
        ids: HashSet::new(),
        routed_sinks: Vec::new(),
        problems,
    };
    let root = Inherited {
        group_interval: DEFAULT_GROUP_INTERVAL,
        repeat_interval: DEFAULT_REPEAT_INTERVAL,
    };
    for (index, route) in routes.iter().enumerate() {
        walk.route(
            route,
            &format!("routes[{index}]"),
            &format!("route-{}", index + 1),
            root,
        );
    }

    // A sink named by a route takes its events through the route, grouped; a `match:` of its
    // own would silently stop applying.
    let routed_sinks = std::mem::take(&mut walk.routed_sinks);
    for (&index, sink) in context.sink_indices.iter().zip(context.sinks) {
        if let Some((_, route)) = routed_sinks.iter().find(|(name, _)| name == sink.name())
            && !sink.filter().is_empty()
        {
            walk.problems.push(
                &format!("sinks[{index}] ({}).match", sink.name()),
                format!(
                    "{place} sends this sink its notifications, so the sink's own match would never apply: move the match into the route (or a child route of it)",
                    place = route
                ),
            );
        }
    }

    let mut rule_names = HashSet::new();
    for (index, rule) in inhibit_rules.iter().enumerate() {
        let place = match &rule.name {
            Some(name) => format!("inhibit_rules[{index}] ({name})"),
            None => format!("inhibit_rules[{index}]"),
        };
        if let Some(name) = &rule.name
            && !rule_names.insert(name.as_str())
        {
            problems.push(
                &format!("inhibit_rules[{index}].name"),
                format!("the name {name:?} is used twice; names must be unique"),
            );
        }
        if rule.source.is_empty() {
            problems.push(
                &format!("{place}.source"),
                "is empty: it would take every alarm, so any raised alarm would inhibit the targets; say which alarms inhibit",
            );
        }
        for (field, matcher) in [("source", &rule.source), ("target", &rule.target)] {
            if let Err(message) = Matcher::new(matcher) {
                problems.push(&format!("{place}.{field}"), message);
            }
        }
        for (position, name) in rule.equal.iter().enumerate() {
            if let Err(message) = check_attribute(name, false) {
                problems.push(&format!("{place}.equal[{position}]"), message);
            }
        }
    }
}

/// The timers a route inherits, to compare with those it sets.
#[derive(Clone, Copy)]
struct Inherited {
    group_interval: Duration,
    repeat_interval: Duration,
}

struct Walk<'a, 'p> {
    context: &'a Context<'a>,
    interval_names: &'a HashSet<&'a str>,
    /// Route ids seen (a `name`, or `route-<path>`).
    ids: HashSet<String>,
    /// Each sink a route names, with the first route's place.
    routed_sinks: Vec<(String, String)>,
    problems: &'p mut Problems,
}

impl Walk<'_, '_> {
    fn route(&mut self, route: &RouteConfig, path: &str, default_id: &str, parent: Inherited) {
        let place = match &route.name {
            Some(name) => format!("{path} ({name})"),
            None => path.to_owned(),
        };
        let id = route.name.clone().unwrap_or_else(|| default_id.to_owned());
        if let Some(name) = &route.name {
            if name.trim().is_empty() {
                self.problems
                    .push(&format!("{path}.name"), "must not be empty");
            } else if name.contains('/') {
                // Group ids are `<route>/<sink>/<hash>`.
                self.problems.push(
                    &format!("{path}.name"),
                    format!("{name:?} must not contain '/'"),
                );
            }
        }
        if !self.ids.insert(id.clone()) {
            self.problems.push(
                &format!("{path}.name"),
                format!("the route name {id:?} is used twice (a route without a name is called route-<position>, e.g. route-1.2); names must be unique"),
            );
        }
        if let Err(message) = Matcher::new(&route.filter) {
            self.problems.push(&format!("{place}.match"), message);
        }
        for (position, sink) in route.sinks.iter().enumerate() {
            if self.context.sinks.iter().any(|known| known.name() == sink) {
                if !self.routed_sinks.iter().any(|(name, _)| name == sink) {
                    self.routed_sinks.push((sink.clone(), place.clone()));
                }
            } else if self.context.sinks_complete {
                let known: Vec<&str> = self.context.sinks.iter().map(SinkConfig::name).collect();
                self.problems.push(
                    &format!("{place}.sinks[{position}]"),
                    format!("no sink is named {sink:?} (sinks: {})", known.join(", ")),
                );
            }
        }
        if let Some(group_by) = &route.group_by {
            for (position, name) in group_by.iter().enumerate() {
                if let Err(message) = check_attribute(name, true) {
                    self.problems
                        .push(&format!("{place}.group_by[{position}]"), message);
                }
            }
            if group_by.len() > 1 && group_by.iter().any(|name| name == "...") {
                self.problems.push(
                    &format!("{place}.group_by"),
                    "\"...\" (each alarm its own group) must be the only attribute",
                );
            }
        }
        if let Some(wait) = route.group_wait
            && wait > Duration::from_secs(24 * 3600)
        {
            self.problems.push(
                &format!("{place}.group_wait"),
                "must be at most 24h: the first notification of a group waits this long",
            );
        }
        if let Some(interval) = route.group_interval
            && interval < Duration::from_secs(1)
        {
            self.problems.push(
                &format!("{place}.group_interval"),
                "must be at least 1s (a unit left out?)",
            );
        }
        let inherited = Inherited {
            group_interval: route.group_interval.unwrap_or(parent.group_interval),
            repeat_interval: route.repeat_interval.unwrap_or(parent.repeat_interval),
        };
        if (route.group_interval.is_some() || route.repeat_interval.is_some())
            && !inherited.repeat_interval.is_zero()
            && inherited.repeat_interval < inherited.group_interval
        {
            self.problems.push(
                &format!("{place}.repeat_interval"),
                format!(
                    "{:?} is shorter than group_interval ({:?}): set 0s to turn repeats off, or at least group_interval",
                    inherited.repeat_interval, inherited.group_interval
                ),
            );
        }
        if let Some(flapping) = &route.flapping
            && flapping.enabled
        {
            if flapping.cycles < 2 {
                self.problems.push(
                    &format!("{place}.flapping.cycles"),
                    "must be at least 2 (with 1, every alarm that clears would be flapping)",
                );
            }
            if flapping.window < Duration::from_secs(1) {
                self.problems
                    .push(&format!("{place}.flapping.window"), "must be at least 1s");
            }
        }
        for (field, names) in [
            ("mute_time_intervals", &route.mute_time_intervals),
            ("active_time_intervals", &route.active_time_intervals),
        ] {
            for (position, name) in names.iter().enumerate() {
                if self.context.intervals_complete && !self.interval_names.contains(name.as_str()) {
                    self.problems.push(
                        &format!("{place}.{field}[{position}]"),
                        format!(
                            "no time interval is named {name:?} (define it under time_intervals:)"
                        ),
                    );
                }
            }
        }
        for (index, child) in route.routes.iter().enumerate() {
            self.route(
                child,
                &format!("{path}.routes[{index}]"),
                &format!("{default_id}.{}", index + 1),
                inherited,
            );
        }
    }
}
