//! Inhibition: while an alarm matching a rule's `source` is raised, new alarms matching its
//! `target` with the same values of its `equal` attributes are not notified. The engine sees
//! every event (routed or not), so the raised source alarms are tracked here from all of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::matcher::{Matcher, attribute};
use super::state::{Changes, INHIBIT};
use super::tree::is_attribute;
use crate::config::InhibitRuleConfig;
use crate::event::{AlarmUpdate, Event};

/// One rule compiled.
#[derive(Debug, Clone)]
pub(crate) struct InhibitRule {
    /// `name`, or `inhibit-<n>` by position (1-based).
    pub(crate) name: String,
    source: Matcher,
    target: Matcher,
    equal: Vec<String>,
}

impl InhibitRule {
    pub(crate) fn compile(
        index: usize,
        config: &InhibitRuleConfig,
    ) -> Result<InhibitRule, Vec<String>> {
        let place = format!("inhibit_rules[{index}]");
        let mut errors = Vec::new();
        let mut compile = |matcher, field: &str| {
            Matcher::new(matcher).map_err(|error| errors.push(format!("{place}.{field}: {error}")))
        };
        let source = compile(&config.source, "source");
        let target = compile(&config.target, "target");
        for name in &config.equal {
            if !is_attribute(name) {
                errors.push(format!("{place}.equal: unknown attribute {name:?}"));
            }
        }
        match (source, target) {
            (Ok(source), Ok(target)) if errors.is_empty() => Ok(InhibitRule {
                name: config
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("inhibit-{}", index + 1)),
                source,
                target,
                equal: config.equal.clone(),
            }),
            _ => Err(errors),
        }
    }

    /// Whether `event` matches the rule's source, and its target.
    pub(crate) fn roles(&self, event: &Event) -> (bool, bool) {
        (self.source.matches(event), self.target.matches(event))
    }

    /// The event's values of the `equal` attributes (missing is empty, as in Alertmanager).
    fn values(&self, event: &Event) -> Vec<String> {
        self.equal
            .iter()
            .map(|name| {
                attribute(event, name)
                    .map(|value| value.into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// What a raised source alarm inhibits: per rule it matched, its `equal` values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inhibiting {
    key: String,
    rules: Vec<(String, Vec<String>)>,
}

/// The raised alarms that match some rule's `source`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inhibitor {
    raised: BTreeMap<String, Inhibiting>,
}

impl Inhibitor {
    /// The raised alarm and rule that inhibit the raise of `alarm` by `event`, if any. An alarm
    /// is never inhibited by itself.
    pub(crate) fn inhibits(
        &self,
        rules: &[InhibitRule],
        event: &Event,
        alarm: &str,
    ) -> Option<(String, String)> {
        for rule in rules.iter().filter(|rule| rule.target.matches(event)) {
            let values = rule.values(event);
            for source in self.raised.values().filter(|source| source.key != alarm) {
                let same = source
                    .rules
                    .iter()
                    .any(|(name, equal)| *name == rule.name && *equal == values);
                if same {
                    return Some((source.key.clone(), rule.name.clone()));
                }
            }
        }
        None
    }

    /// Follows the event's alarm updates: a raise matching a rule's source starts inhibiting, a
    /// clear stops it.
    pub(crate) fn observe(
        &mut self,
        rules: &[InhibitRule],
        event: &Event,
        alarms: &[AlarmUpdate],
        changes: &mut Changes,
    ) {
        for update in alarms {
            let row = format!("{INHIBIT}{}", update.key);
            let matched: Vec<(String, Vec<String>)> = if update.raised {
                rules
                    .iter()
                    .filter(|rule| rule.source.matches(event))
                    .map(|rule| (rule.name.clone(), rule.values(event)))
                    .collect()
            } else {
                Vec::new()
            };
            if matched.is_empty() {
                if self.raised.remove(&update.key).is_some() {
                    changes.delete(row);
                }
            } else {
                let inhibiting = Inhibiting {
                    key: update.key.clone(),
                    rules: matched,
                };
                changes.put(row, &inhibiting);
                self.raised.insert(update.key.clone(), inhibiting);
            }
        }
    }

    /// Loads one persisted row.
    pub(crate) fn restore(&mut self, value: &str) -> Result<(), String> {
        let inhibiting: Inhibiting = serde_json::from_str(value).map_err(|e| e.to_string())?;
        self.raised.insert(inhibiting.key.clone(), inhibiting);
        Ok(())
    }
}
