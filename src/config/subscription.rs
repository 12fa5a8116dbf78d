//! When a DME source refreshes each subscription, how long the device keeps one that is not
//! refreshed, and when netpulse raises its own alarm about it: the per-query
//! [`SubscriptionPlan`], from `subscription_refresh`, `subscription_overrides` and
//! `subscription_alarm_margin`.

use std::time::Duration;

use serde::Deserialize;

use super::Problems;
use super::source::DmeSourceConfig;
use crate::duration::serde_duration;

/// The subscription lifetime assumed when neither the query (`refresh-timeout=`) nor an override
/// names one: APIC documents 60 s; the NX-OS value is not documented (INFER: the same DME code).
pub const ASSUMED_SUBSCRIPTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Subscriptions whose device behaves differently from the source's default: some classes are
/// expired sooner than `refresh-timeout` asks (LLDP on APIC, aci-containers#1704), and an NX-OS
/// switch's timeout is not documented, so it can be stated here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionOverride {
    /// A piece of the query it applies to (`lldpAdjEp`, `/api/class/l2BD.json`); absent: every
    /// query. The first matching entry applies.
    #[serde(default, rename = "match")]
    pub matches: Option<String>,
    /// How long the device keeps the subscription without a refresh.
    #[serde(default, deserialize_with = "optional_duration")]
    pub timeout: Option<Duration>,
    /// How often netpulse refreshes it.
    #[serde(default, deserialize_with = "optional_duration")]
    pub refresh: Option<Duration>,
}

impl SubscriptionOverride {
    fn applies_to(&self, query: &str) -> bool {
        self.matches
            .as_deref()
            .is_none_or(|piece| query.contains(piece))
    }
}

/// One subscription's schedule: what netpulse assumes of the device and when it acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionPlan {
    /// The device drops the subscription this long after its last refresh.
    pub timeout: Duration,
    /// netpulse refreshes it this long after its last successful refresh.
    pub refresh: Duration,
    /// netpulse raises `io.netpulse.subscription.at_risk` when less than this is left.
    pub alarm_margin: Duration,
}

impl DmeSourceConfig {
    /// The plan of the subscription to `query` (as subscribed, with any `refresh-timeout=`).
    ///
    /// - timeout: the first matching override's `timeout`, else the query's `refresh-timeout`
    ///   (APIC), else [`ASSUMED_SUBSCRIPTION_TIMEOUT`];
    /// - refresh: the override's `refresh`, else `subscription_refresh` when it is shorter than
    ///   the timeout, else half the timeout;
    /// - alarm margin: `subscription_alarm_margin` when it is under what a refresh on time leaves
    ///   (timeout − refresh), else a third of the timeout but at most half of that slack, so that
    ///   a healthy schedule never raises it.
    pub fn subscription_plan(&self, query: &str) -> SubscriptionPlan {
        let matching = self
            .subscription_overrides
            .iter()
            .find(|entry| entry.applies_to(query));
        let timeout = matching
            .and_then(|entry| entry.timeout)
            .or_else(|| refresh_timeout_of(query))
            .unwrap_or(ASSUMED_SUBSCRIPTION_TIMEOUT);
        let refresh = matching.and_then(|entry| entry.refresh).unwrap_or(
            if self.subscription_refresh < timeout {
                self.subscription_refresh
            } else {
                timeout / 2
            },
        );
        let slack = timeout.saturating_sub(refresh);
        let alarm_margin = match self.subscription_alarm_margin {
            Some(margin) if margin < slack => margin,
            _ => (timeout / 3).min(slack / 2),
        };
        SubscriptionPlan {
            timeout,
            refresh,
            alarm_margin,
        }
    }

    /// Reports overrides and margins that cannot work for the configured queries.
    pub(super) fn validate_subscription_plans(&self, place: &str, problems: &mut Problems) {
        for (index, entry) in self.subscription_overrides.iter().enumerate() {
            let at = format!("{place}.subscription_overrides[{index}]");
            if entry.timeout.is_none() && entry.refresh.is_none() {
                problems.push(&at, "set timeout, refresh or both");
            }
            if entry.timeout.is_some_and(|timeout| timeout.is_zero())
                || entry.refresh.is_some_and(|refresh| refresh.is_zero())
            {
                problems.push(&at, "timeout and refresh must be above 0");
            }
            if let (Some(timeout), Some(refresh)) = (entry.timeout, entry.refresh)
                && refresh >= timeout
            {
                problems.push(
                    &format!("{at}.refresh"),
                    "must be shorter than its timeout, e.g. half of it",
                );
            }
        }
        for (index, query) in self.subscriptions.iter().enumerate() {
            let plan = self.subscription_plan(query);
            if plan.refresh >= plan.timeout {
                problems.push(
                    &format!("{place}.subscriptions[{index}]"),
                    format!(
                        "refreshed every {:?} but the device keeps it only {:?}: shorten the override's refresh",
                        plan.refresh, plan.timeout
                    ),
                );
            }
            if let Some(margin) = self.subscription_alarm_margin
                && margin >= plan.timeout.saturating_sub(plan.refresh)
            {
                problems.push(
                    &format!("{place}.subscription_alarm_margin"),
                    format!(
                        "{margin:?} would raise the alarm on every healthy refresh of {query:?} (timeout {:?}, refresh {:?}): keep it under timeout - refresh",
                        plan.timeout, plan.refresh
                    ),
                );
            }
        }
    }
}

/// The `refresh-timeout=<seconds>` a query asks the device for (APIC).
fn refresh_timeout_of(query: &str) -> Option<Duration> {
    let (_, options) = query.split_once('?')?;
    options
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == "refresh-timeout")
        .filter_map(|(_, value)| value.parse::<u64>().ok())
        .map(Duration::from_secs)
        .next_back()
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    serde_duration::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> Result<DmeSourceConfig, Vec<String>> {
        let yaml = format!(
            "store: {{ path: db }}\nsources:\n  - name: leaf1\n    type: dme\n    address: https://leaf1\n    username: admin\n    password: x\n    subscriptions: [/api/class/l1PhysIf.json, /api/class/lldpAdjEp.json]\n{extra}"
        );
        let config = crate::config::Config::parse_with(&yaml, std::path::Path::new("."), &|_| None)
            .map_err(|errors| errors.0)?;
        match config.sources.into_iter().next() {
            Some(crate::config::SourceConfig::Dme(dme)) => Ok(*dme),
            _ => unreachable!("one dme source"),
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn by_default_a_subscription_lives_60s_is_refreshed_every_30s_and_alarms_with_15s_left() {
        let config = source("").unwrap();
        let plan = config.subscription_plan("/api/class/l1PhysIf.json");
        assert_eq!(
            plan,
            SubscriptionPlan {
                timeout: S(60),
                refresh: S(30),
                // A third of 60 s is 20 s, but a refresh on time leaves 30 s: half of it.
                alarm_margin: S(15),
            }
        );
    }

    #[test]
    fn an_override_gives_a_class_its_own_timeout_and_refresh() {
        let config = source(
            "    subscription_overrides:\n      - { match: lldpAdjEp, timeout: 20s }\n      - { timeout: 45s, refresh: 15s }\n",
        )
        .unwrap();
        let lldp = config.subscription_plan("/api/class/lldpAdjEp.json");
        assert_eq!(
            (lldp.timeout, lldp.refresh),
            (S(20), S(10)),
            "subscription_refresh (30s) is not shorter than 20s: half of it"
        );
        let other = config.subscription_plan("/api/class/l1PhysIf.json");
        assert_eq!((other.timeout, other.refresh), (S(45), S(15)));
        assert_eq!(other.alarm_margin, S(15), "a third of 45 s");
    }

    #[test]
    fn the_refresh_timeout_a_query_asks_for_is_the_timeout() {
        let config = source("    platform: apic\n    subscription_timeout: 120s\n").unwrap();
        assert!(config.subscriptions[0].ends_with("?refresh-timeout=120"));
        let plan = config.subscription_plan(&config.subscriptions[0]);
        assert_eq!((plan.timeout, plan.refresh), (S(120), S(30)));
        assert_eq!(plan.alarm_margin, S(40));
        // A query added by netpulse without the parameter keeps the device's default.
        let added = config.subscription_plan("/api/class/lldpAdjEp.json");
        assert_eq!(added.timeout, ASSUMED_SUBSCRIPTION_TIMEOUT);
    }

    #[test]
    fn an_explicit_alarm_margin_is_used_and_refused_when_a_healthy_refresh_would_raise_it() {
        let config = source(
            "    subscription_alarm_margin: 25s\n    subscription_overrides: [{ match: lldpIf, timeout: 20s, refresh: 10s }]\n",
        )
        .unwrap();
        assert_eq!(
            config
                .subscription_plan("/api/class/l1PhysIf.json")
                .alarm_margin,
            S(25)
        );
        assert_eq!(
            config
                .subscription_plan("/api/class/lldpIf.json")
                .alarm_margin,
            S(5),
            "a query whose slack (10 s) is under it: half the slack"
        );
        let config = source("    subscription_alarm_margin: 10s\n").unwrap();
        assert_eq!(
            config
                .subscription_plan("/api/class/l1PhysIf.json")
                .alarm_margin,
            S(10)
        );
        let errors = source("    subscription_alarm_margin: 30s\n").unwrap_err();
        assert!(
            errors[0].contains("subscription_alarm_margin"),
            "{errors:?}"
        );
    }

    #[test]
    fn overrides_that_cannot_work_are_reported() {
        let errors = source(
            "    subscription_overrides:\n      - { match: l1PhysIf }\n      - { timeout: 10s, refresh: 10s }\n",
        )
        .unwrap_err();
        let text = errors.join("\n");
        assert!(
            text.contains("subscription_overrides[0]: set timeout, refresh or both"),
            "{text}"
        );
        assert!(
            text.contains("subscription_overrides[1].refresh: must be shorter"),
            "{text}"
        );
    }
}
