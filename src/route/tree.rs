//! The routing tree compiled: which routes, sinks and groups an event reaches, and why
//! (`netpulse route test`). Alertmanager's rules: the top-level routes are the children of an
//! implicit root that takes every event; the first matching child takes the event unless it says
//! `continue`; a matching route whose children all miss handles the event itself; a setting a
//! route leaves out is its parent's.

use std::collections::BTreeMap;
use std::time::Duration;

use super::matcher::{Matcher, attribute};
use super::state::fnv1a;
use crate::config::{FlappingConfig, RouteConfig};
use crate::event::Event;

/// `group_by: ["..."]`: every alarm (or informational event) is its own group.
pub const EACH_ALARM: &str = "...";

/// A route's settings after inheritance.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSettings {
    pub sinks: Vec<String>,
    pub group_by: Vec<String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    /// Zero: alarms still raised are never notified again.
    pub repeat_interval: Duration,
    pub notify_clears: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub flapping: FlappingConfig,
}

impl Default for RouteSettings {
    /// The implicit root's settings, the defaults of every route.
    fn default() -> RouteSettings {
        RouteSettings {
            sinks: Vec::new(),
            group_by: vec!["source".to_owned()],
            group_wait: Duration::from_secs(10),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            notify_clears: true,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            flapping: FlappingConfig::default(),
        }
    }
}

impl RouteSettings {
    /// The settings of `config` under a parent with these.
    fn inherit(&self, config: &RouteConfig) -> RouteSettings {
        let or_parent = |own: &Vec<String>, parent: &Vec<String>| {
            if own.is_empty() { parent } else { own }.clone()
        };
        RouteSettings {
            sinks: or_parent(&config.sinks, &self.sinks),
            group_by: config.group_by.clone().unwrap_or(self.group_by.clone()),
            group_wait: config.group_wait.unwrap_or(self.group_wait),
            group_interval: config.group_interval.unwrap_or(self.group_interval),
            repeat_interval: config.repeat_interval.unwrap_or(self.repeat_interval),
            notify_clears: config.notify_clears.unwrap_or(self.notify_clears),
            // Inherited like every other setting (unlike Alertmanager): a maintenance window on a
            // site's route should also quiet the routes nested under it.
            mute_time_intervals: or_parent(&config.mute_time_intervals, &self.mute_time_intervals),
            active_time_intervals: or_parent(
                &config.active_time_intervals,
                &self.active_time_intervals,
            ),
            flapping: config.flapping.clone().unwrap_or(self.flapping.clone()),
        }
    }
}

/// A group's identity: its id string and the `group_by` values that make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    /// `<route>/<sink>/<16 hex digits of the values' FNV-1a hash>`: stable across restarts.
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

/// The group of `event` (or, with `group_by: ["..."]`, of its alarm `alarm`) for a route's sink.
/// An attribute the event lacks is the empty string, as a missing label in Alertmanager.
pub fn group_key(
    route: &str,
    sink: &str,
    group_by: &[String],
    event: &Event,
    alarm: &str,
) -> GroupKey {
    let mut labels = BTreeMap::new();
    for name in group_by {
        let value = if name == EACH_ALARM {
            alarm.to_owned()
        } else {
            attribute(event, name)
                .map(|value| value.into_owned())
                .unwrap_or_default()
        };
        labels.insert(name.clone(), value);
    }
    let mut parts = Vec::with_capacity(labels.len() * 2);
    for (name, value) in &labels {
        parts.push(name.as_str());
        parts.push(value.as_str());
    }
    GroupKey {
        id: format!("{route}/{sink}/{:016x}", fnv1a(&parts)),
        labels,
    }
}

/// One route that takes an event: its id, its settings, and per sink the event's group.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    pub route: String,
    pub settings: RouteSettings,
    /// One per sink, in the order of `settings.sinks`; with `group_by: ["..."]`, the group of
    /// the event's first alarm (or of the event itself when it has none).
    pub groups: Vec<(String, GroupKey)>,
}

#[derive(Debug, Clone)]
struct Node {
    id: String,
    matcher: Matcher,
    settings: RouteSettings,
    continue_matching: bool,
    children: Vec<Node>,
}

/// The compiled routing tree.
#[derive(Debug, Clone)]
pub struct RouteTree {
    root: Node,
}

/// Whether `name` is an attribute `route::attribute` knows (see [`super::matcher::ATTRIBUTES`]).
pub(crate) fn is_attribute(name: &str) -> bool {
    super::matcher::check_attribute(name, false).is_ok()
}

impl RouteTree {
    /// Compiles the top-level routes; every problem in words, each with its place
    /// (`routes[0].routes[1]: ...`).
    pub fn new(routes: &[RouteConfig]) -> Result<RouteTree, Vec<String>> {
        let mut errors = Vec::new();
        let root_settings = RouteSettings::default();
        let children = compile_children(routes, &root_settings, "", "routes", &mut errors);
        let root = Node {
            id: "root".to_owned(),
            matcher: Matcher::new(&Default::default()).map_err(|error| vec![error])?,
            settings: root_settings,
            continue_matching: false,
            children,
        };
        if errors.is_empty() {
            Ok(RouteTree { root })
        } else {
            Err(errors)
        }
    }

    /// True when there is no route.
    pub fn is_empty(&self) -> bool {
        self.root.children.is_empty()
    }

    /// The routes that take `event`, in tree order; empty when it matched no route.
    pub fn resolve(&self, event: &Event) -> Vec<RouteMatch> {
        let mut nodes = Vec::new();
        take(&self.root, event, &mut nodes);
        let alarm = event.id.clone();
        nodes
            .into_iter()
            .filter(|node| !std::ptr::eq(*node, &self.root))
            .map(|node| route_match(node, event, &alarm))
            .collect()
    }

    /// The id and settings of every route, in tree order (depth first).
    pub fn routes(&self) -> Vec<(String, RouteSettings)> {
        let mut all = Vec::new();
        visit(&self.root, &mut |node| {
            all.push((node.id.clone(), node.settings.clone()))
        });
        all.remove(0);
        all
    }

    /// The settings of the route `id`, if the tree has it.
    pub fn settings(&self, id: &str) -> Option<RouteSettings> {
        self.routes()
            .into_iter()
            .find(|(route, _)| route == id)
            .map(|(_, settings)| settings)
    }

    /// Every route checked for `event`, in words: matched or why not, `continue`, and the sinks
    /// and groups of the routes that take it.
    pub fn explain(&self, event: &Event) -> Vec<String> {
        let mut lines = Vec::new();
        let taken = explain_children(&self.root, event, 0, &mut lines);
        if !taken {
            lines.push("matched no route: no notification".to_owned());
        }
        lines
    }
}

fn compile_children(
    configs: &[RouteConfig],
    parent: &RouteSettings,
    parent_path: &str,
    place: &str,
    errors: &mut Vec<String>,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        let place = format!("{place}[{index}]");
        let path = if parent_path.is_empty() {
            format!("{}", index + 1)
        } else {
            format!("{parent_path}.{}", index + 1)
        };
        let id = config
            .name
            .clone()
            .unwrap_or_else(|| format!("route-{path}"));
        let matcher = Matcher::new(&config.filter).unwrap_or_else(|error| {
            errors.push(format!("{place}.match: {error}"));
            Matcher::new(&Default::default()).expect("an empty matcher compiles")
        });
        let settings = parent.inherit(config);
        for name in &settings.group_by {
            if name != EACH_ALARM && !is_attribute(name) {
                errors.push(format!("{place}.group_by: unknown attribute {name:?}"));
            }
        }
        let child_place = format!("{place}.routes");
        let children = compile_children(&config.routes, &settings, &path, &child_place, errors);
        if settings.sinks.is_empty() && children.is_empty() {
            errors.push(format!(
                "{place}: no sinks on this route nor on any route above it"
            ));
        }
        nodes.push(Node {
            id,
            matcher,
            settings,
            continue_matching: config.continue_matching,
            children,
        });
    }
    nodes
}

/// The routes under `node` (or `node` itself) that take `event`.
fn take<'a>(node: &'a Node, event: &Event, taken: &mut Vec<&'a Node>) {
    let before = taken.len();
    for child in &node.children {
        if child.matcher.matches(event) {
            take(child, event, taken);
            if !child.continue_matching {
                break;
            }
        }
    }
    if taken.len() == before {
        taken.push(node);
    }
}

fn route_match(node: &Node, event: &Event, alarm: &str) -> RouteMatch {
    let groups = node
        .settings
        .sinks
        .iter()
        .map(|sink| {
            let key = group_key(&node.id, sink, &node.settings.group_by, event, alarm);
            (sink.clone(), key)
        })
        .collect();
    RouteMatch {
        route: node.id.clone(),
        settings: node.settings.clone(),
        groups,
    }
}

fn visit<'a>(node: &'a Node, each: &mut impl FnMut(&'a Node)) {
    each(node);
    for child in &node.children {
        visit(child, each);
    }
}

/// Explains the children of `node`; true when one of them (or a descendant) took the event.
fn explain_children(node: &Node, event: &Event, depth: usize, lines: &mut Vec<String>) -> bool {
    let indent = "  ".repeat(depth);
    let mut taken = false;
    for child in &node.children {
        if let Some(why) = child.matcher.mismatch(event) {
            lines.push(format!("{indent}{}: no match: {why}", child.id));
            continue;
        }
        let flow = if child.continue_matching {
            "; continue: the routes after it are tried too"
        } else {
            ""
        };
        lines.push(format!("{indent}{}: matched{flow}", child.id));
        if !explain_children(child, event, depth + 1, lines) {
            explain_taken(child, event, depth + 1, lines);
        }
        taken = true;
        if !child.continue_matching {
            break;
        }
    }
    taken
}

fn explain_taken(node: &Node, event: &Event, depth: usize, lines: &mut Vec<String>) {
    let indent = "  ".repeat(depth);
    let matched = route_match(node, event, &event.id);
    if matched.groups.is_empty() {
        lines.push(format!(
            "{indent}=> {} takes it, but names no sink",
            node.id
        ));
    }
    for (sink, key) in matched.groups {
        let labels: Vec<String> = key
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        lines.push(format!(
            "{indent}=> {} notifies sink {sink} in group {} ({})",
            node.id,
            key.id,
            labels.join(", ")
        ));
    }
}
