//! The alerting policy of a configuration, compiled and checked: the routing tree, the time
//! intervals by name, the inhibition rules. Every problem is reported with its place.

use std::collections::BTreeMap;

use super::inhibit::InhibitRule;
use super::interval::TimeInterval;
use super::tree::{RouteSettings, RouteTree};
use crate::config::{Config, RouteConfig, TopologyConfig};
use crate::event::Event;

/// The alerting policy of a configuration, compiled: the routing tree, the time intervals, the
/// inhibition rules.
#[derive(Debug, Clone)]
pub struct Policy {
    tree: RouteTree,
    /// Every route's settings by id (the engine looks them up at each flush).
    routes: BTreeMap<String, RouteSettings>,
    pub(crate) intervals: BTreeMap<String, TimeInterval>,
    pub(crate) inhibit_rules: Vec<InhibitRule>,
    /// `topology:` when enabled: the graph is kept and alarms behind a failure are held.
    pub(crate) topology: Option<TopologyConfig>,
}

impl Default for Policy {
    /// No routes, no intervals, no rules: only operator events matter.
    fn default() -> Policy {
        let tree = RouteTree::new(&[]).expect("an empty tree compiles");
        Policy {
            tree,
            routes: BTreeMap::new(),
            intervals: BTreeMap::new(),
            inhibit_rules: Vec::new(),
            topology: None,
        }
    }
}

impl Policy {
    /// Compiles the configuration's `routes`, `time_intervals` and `inhibit_rules`; every
    /// problem in words, with its place.
    pub fn compile(config: &Config) -> Result<Policy, Vec<String>> {
        let mut errors = Vec::new();
        let tree = RouteTree::new(&config.routes).unwrap_or_else(|mut tree_errors| {
            errors.append(&mut tree_errors);
            RouteTree::new(&[]).expect("an empty tree compiles")
        });
        let mut intervals = BTreeMap::new();
        for (index, interval) in config.time_intervals.iter().enumerate() {
            let place = format!("time_intervals[{index}]");
            match TimeInterval::compile(interval) {
                Ok(compiled) => {
                    if intervals.insert(interval.name.clone(), compiled).is_some() {
                        errors.push(format!(
                            "{place}: a second interval named {:?}",
                            interval.name
                        ));
                    }
                }
                Err(problems) => errors.extend(
                    problems
                        .into_iter()
                        .map(|problem| format!("{place}: {problem}")),
                ),
            }
        }
        let sinks: Vec<&str> = config.sinks.iter().map(|sink| sink.name()).collect();
        check_references(&config.routes, "routes", &sinks, &intervals, &mut errors);
        let mut inhibit_rules = Vec::new();
        for (index, rule) in config.inhibit_rules.iter().enumerate() {
            match InhibitRule::compile(index, rule) {
                Ok(rule) => inhibit_rules.push(rule),
                Err(mut problems) => errors.append(&mut problems),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let routes = tree.routes().into_iter().collect();
        Ok(Policy {
            tree,
            routes,
            intervals,
            inhibit_rules,
            topology: config.topology.clone().filter(|topology| topology.enabled),
        })
    }

    /// True when there is no route and no topology: nothing is grouped or folded, only
    /// operator events matter.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty() && self.topology.is_none()
    }

    /// `topology:`, when enabled.
    pub fn topology(&self) -> Option<&TopologyConfig> {
        self.topology.as_ref()
    }

    /// The sinks some route names (they take no event through their own `match:`), in the order
    /// the tree first names them.
    pub fn routed_sinks(&self) -> Vec<String> {
        let mut sinks: Vec<String> = Vec::new();
        for (_, settings) in self.tree.routes() {
            for sink in settings.sinks {
                if !sinks.contains(&sink) {
                    sinks.push(sink);
                }
            }
        }
        sinks
    }

    pub fn tree(&self) -> &RouteTree {
        &self.tree
    }

    /// The settings of the route `id`.
    pub fn route(&self, id: &str) -> Option<&RouteSettings> {
        self.routes.get(id)
    }

    /// For `netpulse route test`: the tree's explanation, then the inhibition rules the event
    /// would start or be subject to.
    pub fn explain(&self, event: &Event) -> Vec<String> {
        let mut lines = self.tree.explain(event);
        for rule in &self.inhibit_rules {
            let (source, target) = rule.roles(event);
            if source {
                lines.push(format!(
                    "inhibit rule {}: while raised, this alarm inhibits the rule's targets",
                    rule.name
                ));
            }
            if target {
                lines.push(format!(
                    "inhibit rule {}: inhibited while a source alarm with the same values is raised",
                    rule.name
                ));
            }
        }
        lines
    }

    /// What `netpulse route test` prints: [`Policy::explain`], then for each route the event
    /// reaches, whether its time intervals mute it at `now`.
    pub fn test_report(&self, event: &Event, now: jiff::Timestamp) -> Vec<String> {
        let mut lines = self.explain(event);
        for matched in self.tree.resolve(event) {
            match self.muting_interval(&matched.settings, now) {
                Some(interval) => lines.push(format!(
                    "route {} is muted now ({now}) by time interval {interval}: its notifications wait for the interval's end",
                    matched.route
                )),
                None if !(matched.settings.mute_time_intervals.is_empty()
                    && matched.settings.active_time_intervals.is_empty()) =>
                {
                    lines.push(format!(
                        "route {} is not muted now ({now}) by its time intervals",
                        matched.route
                    ))
                }
                None => {}
            }
        }
        lines
    }

    /// The interval that mutes a route with these settings at `now`: one of its
    /// `mute_time_intervals` that holds, or (outside all its `active_time_intervals`) the first
    /// of those.
    pub(crate) fn muting_interval(
        &self,
        settings: &RouteSettings,
        now: jiff::Timestamp,
    ) -> Option<String> {
        let holds = |name: &String| self.intervals.get(name).is_some_and(|i| i.contains(now));
        if let Some(name) = settings.mute_time_intervals.iter().find(|name| holds(name)) {
            return Some(name.clone());
        }
        let active = &settings.active_time_intervals;
        (!active.is_empty() && !active.iter().any(holds)).then(|| active[0].clone())
    }

    /// When one of the route's intervals next changes: when it may stop being muted.
    pub(crate) fn unmuted_at(
        &self,
        settings: &RouteSettings,
        now: jiff::Timestamp,
    ) -> Option<jiff::Timestamp> {
        settings
            .mute_time_intervals
            .iter()
            .chain(&settings.active_time_intervals)
            .filter_map(|name| self.intervals.get(name)?.next_change(now))
            .min()
    }
}

/// Sinks and time intervals named by routes must exist.
fn check_references(
    routes: &[RouteConfig],
    place: &str,
    sinks: &[&str],
    intervals: &BTreeMap<String, TimeInterval>,
    errors: &mut Vec<String>,
) {
    for (index, route) in routes.iter().enumerate() {
        let place = format!("{place}[{index}]");
        for sink in &route.sinks {
            if !sinks.contains(&sink.as_str()) {
                errors.push(format!("{place}.sinks: no sink named {sink:?}"));
            }
        }
        for (field, names) in [
            ("mute_time_intervals", &route.mute_time_intervals),
            ("active_time_intervals", &route.active_time_intervals),
        ] {
            for name in names {
                if !intervals.contains_key(name) {
                    errors.push(format!("{place}.{field}: no time interval named {name:?}"));
                }
            }
        }
        check_references(
            &route.routes,
            &format!("{place}.routes"),
            sinks,
            intervals,
            errors,
        );
    }
}
