//! The YAML configuration: one `sources:` list and one `sinks:` list, each entry with a `name` and a
//! `type`. [`Config::parse`] reports every error it finds at once, each with its place in the file.
//!
//! Parsing happens in three steps so that one bad entry does not hide the errors of the others:
//! the YAML is read into generic values with their locations, `${ENV}` references are expanded
//! inside string values (after parsing, so a secret can never inject YAML), and each entry is then
//! deserialized into its typed configuration and validated on its own.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

mod alerting;
mod api;
mod cluster;
mod pxgrid;
mod server;
mod sink;
mod source;
mod subscription;
#[cfg(test)]
mod tests;
mod topology;
mod typed;
mod webex_events;
mod webhook;

pub use alerting::{
    DataMatcher, EventMatcher, FlappingConfig, InhibitRuleConfig, RouteConfig, TimeIntervalConfig,
    TimeIntervalSpec, TimeRangeSpec,
};
pub use api::{ApiAuth, ApiSection, ApiToken, CorsConfig, FeedConfig, Scope};
pub use cluster::{ClusterConfig, LeaseConfig, NatsConfig, NatsTls, StreamConfig};
pub use pxgrid::PxgridSourceConfig;
pub use server::{HttpSection, ServerTls, StoreSection, Synchronous};
pub use sink::{
    ActionAllow, ActionsConfig, AllowKeyword, CommandsConfig, FileSinkConfig, RetryConfig,
    SinkConfig, SinkMatch, StdoutFormat, StdoutSinkConfig, WebexSinkConfig,
};
pub use source::{BackoffConfig, DmePlatform, DmeSourceConfig, SourceConfig, TlsConfig};
pub use subscription::{ASSUMED_SUBSCRIPTION_TIMEOUT, SubscriptionOverride, SubscriptionPlan};
pub use topology::{DiscoveryProtocol, TopologyConfig};
pub use typed::interpolate;
use typed::{typed_entries, typed_list, typed_optional, typed_section};
pub use webex_events::WebexEventsSourceConfig;
pub use webhook::{
    BasicAuth, DigestEncoding, GenericMapping, HeaderToken, HmacAlgorithm, HmacAuth,
    HttpSignatureAuth, SecretValue, StandardWebhooksAuth, WebhookAuth, WebhookProvider,
    WebhookSourceConfig, standard_webhooks_key,
};

/// The whole configuration of one netpulse process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub store: StoreSection,
    pub http: HttpSection,
    pub api: ApiSection,
    pub sources: Vec<SourceConfig>,
    pub sinks: Vec<SinkConfig>,
    /// The routing tree's top-level routes (children of a root that takes every event).
    pub routes: Vec<RouteConfig>,
    pub time_intervals: Vec<TimeIntervalConfig>,
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Root causes from LLDP/CDP (`topology:`); `None` when the section is absent.
    pub topology: Option<TopologyConfig>,
    /// Several nodes sharing NATS JetStream (`cluster:`); `None`: one node, the embedded store.
    pub cluster: Option<ClusterConfig>,
}

/// Every problem found in a configuration, each prefixed with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "{count} configuration error{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            writeln!(f, "  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A secret read from the environment or a file. Its `Debug` form never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    store: Option<Spanned<Value>>,
    #[serde(default)]
    http: Option<Spanned<Value>>,
    #[serde(default)]
    api: Option<Spanned<Value>>,
    #[serde(default)]
    sources: Vec<Spanned<Value>>,
    #[serde(default)]
    sinks: Vec<Spanned<Value>>,
    #[serde(default)]
    routes: Vec<Spanned<Value>>,
    #[serde(default)]
    time_intervals: Vec<Spanned<Value>>,
    #[serde(default)]
    inhibit_rules: Vec<Spanned<Value>>,
    #[serde(default)]
    topology: Option<Spanned<Value>>,
    #[serde(default)]
    cluster: Option<Spanned<Value>>,
}

/// Collects errors with their location so they can all be reported together.
pub(crate) struct Problems {
    errors: Vec<String>,
    /// Values that came from the environment or a file, with what to show instead.
    hidden: Vec<(String, String)>,
}

impl Problems {
    pub(crate) fn push(&mut self, place: &str, message: impl fmt::Display) {
        self.errors.push(format!("{place}: {message}"));
    }

    /// Remembers a value read from the environment or a file, so that no message shows it.
    pub(crate) fn hide(&mut self, value: &str, shown_as: String) {
        if !value.is_empty() && !self.hidden.iter().any(|(hidden, _)| hidden == value) {
            self.hidden.push((value.to_owned(), shown_as));
        }
    }

    /// The errors, with every hidden value replaced by its name. serde quotes a value it cannot
    /// take (`invalid type: string "..."`, `unknown variant `...``) and the checks quote theirs
    /// with `{:?}`, so each value is replaced as written and as Rust escapes it. A value of fewer
    /// than four characters is replaced only where quoted whole, lest every `1` of a message
    /// become `${PORT}`; longer ones wherever they appear, inside a longer string too.
    fn into_errors(mut self) -> Vec<String> {
        // Longest first, so that a value containing another is replaced whole.
        self.hidden
            .sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        let mut errors = std::mem::take(&mut self.errors);
        for error in &mut errors {
            for (value, shown_as) in &self.hidden {
                let debug = format!("{value:?}");
                let escaped = &debug[1..debug.len() - 1];
                if value.chars().count() >= 4 {
                    *error = error.replace(escaped, shown_as).replace(value, shown_as);
                } else {
                    *error = error
                        .replace(&debug, &format!("\"{shown_as}\""))
                        .replace(&format!("`{value}`"), &format!("`{shown_as}`"));
                }
            }
        }
        errors
    }
}

impl Config {
    /// Reads and parses a configuration file, looking `${VAR}` references up in the process
    /// environment.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!("cannot read configuration file {}: {err}", path.display())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse_with(&text, base, &|name| std::env::var(name).ok())
            .map_err(|errors| anyhow::anyhow!("{}: {errors}", path.display()))
    }

    /// Parses a configuration with `${VAR}` references resolved from the process environment;
    /// relative file paths are taken from the current directory.
    pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse_with(text, Path::new("."), &|name| std::env::var(name).ok())
    }

    /// Parses a configuration with an explicit environment, so tests never touch the real one.
    pub fn parse_with(
        text: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let (config, errors) = Config::parse_keeping(text, base_dir, env)?;
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// As [`Config::parse_with`], but a file that is valid YAML gives its configuration even
    /// with errors (an entry that does not deserialize left out), and the errors beside it:
    /// `netpulse route test` checks a policy on a machine without the gateway's secrets.
    pub fn parse_keeping(
        text: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<String>), ConfigErrors> {
        let document: Document = serde_saphyr::from_str(text)
            .map_err(|err| ConfigErrors(vec![format!("invalid YAML: {err}{}", yaml_hint(text))]))?;
        let mut problems = Problems {
            errors: Vec::new(),
            hidden: Vec::new(),
        };
        // An entry that fails to deserialize is left out, so each kept entry carries its index
        // in the file: later errors must name the entry the operator wrote, not its rank among
        // the survivors.
        let (source_indices, sources): (Vec<usize>, _) =
            typed_entries(&document.sources, "sources", env, &mut problems)
                .into_iter()
                .unzip();
        let (sink_indices, sinks): (Vec<usize>, _) =
            typed_entries(&document.sinks, "sinks", env, &mut problems)
                .into_iter()
                .unzip();
        let routes = typed_list(&document.routes, "routes", env, &mut problems);
        let time_intervals = typed_list(
            &document.time_intervals,
            "time_intervals",
            env,
            &mut problems,
        );
        let inhibit_rules =
            typed_list(&document.inhibit_rules, "inhibit_rules", env, &mut problems);
        let store = typed_section(document.store.as_ref(), "store", env, &mut problems);
        let http = typed_section(document.http.as_ref(), "http", env, &mut problems);
        let api = typed_section(document.api.as_ref(), "api", env, &mut problems);
        let topology = document.topology.as_ref().map(|section| {
            typed_section::<TopologyConfig>(Some(section), "topology", env, &mut problems)
        });
        // A section that does not parse leaves no cluster (its errors are reported), rather than
        // a default one whose checks would add errors of their own.
        let cluster = document.cluster.as_ref().and_then(|section| {
            typed_optional::<ClusterConfig>(section, "cluster", env, &mut problems)
        });
        let mut config = Config {
            store,
            http,
            api,
            sources,
            sinks,
            routes,
            time_intervals,
            inhibit_rules,
            topology,
            cluster,
        };
        config.validate(base_dir, &source_indices, &sink_indices, &mut problems);
        alerting::validate(
            &config.routes,
            &config.time_intervals,
            &config.inhibit_rules,
            &alerting::Context {
                sinks: &config.sinks,
                sink_indices: &sink_indices,
                sinks_complete: sink_indices.len() == document.sinks.len(),
                intervals_complete: config.time_intervals.len() == document.time_intervals.len(),
            },
            &mut problems,
        );
        Ok((config, problems.into_errors()))
    }

    /// Alerting routes and topology keep their state in the router, which does not run in
    /// cluster mode yet: refused rather than silently ignored.
    fn refuse_alerting_in_cluster_mode(&self, problems: &mut Problems) {
        let used = [
            ("routes", !self.routes.is_empty()),
            ("time_intervals", !self.time_intervals.is_empty()),
            ("inhibit_rules", !self.inhibit_rules.is_empty()),
            ("topology", self.topology.is_some()),
        ];
        for (section, present) in used {
            if present {
                problems.push(
                    section,
                    "alerting routes, time intervals, inhibit rules and topology are not yet available in cluster mode (`cluster:`): remove this section, or run netpulse without `cluster:`; sinks with `match:` work in both",
                );
            }
        }
    }

    /// Checks the whole configuration; `source_indices[i]` and `sink_indices[i]` are the places
    /// in the file of `self.sources[i]` and `self.sinks[i]`.
    fn validate(
        &mut self,
        base_dir: &Path,
        source_indices: &[usize],
        sink_indices: &[usize],
        problems: &mut Problems,
    ) {
        if self.sources.is_empty() {
            problems.push("sources", "no source is configured: add at least one entry");
        }
        self.store.validate(base_dir, problems);
        self.http.validate(base_dir, problems);
        self.api.validate(base_dir, problems);
        if let Some(topology) = &self.topology {
            topology.validate(problems);
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate(problems);
            self.refuse_alerting_in_cluster_mode(problems);
        }
        check_unique_names(
            "sources",
            source_indices
                .iter()
                .copied()
                .zip(self.sources.iter().map(SourceConfig::name)),
            problems,
        );
        check_unique_names(
            "sinks",
            sink_indices
                .iter()
                .copied()
                .zip(self.sinks.iter().map(SinkConfig::name)),
            problems,
        );
        for (&index, source) in source_indices.iter().zip(self.sources.iter()) {
            if source.name() == crate::route::OWN_SOURCE {
                problems.push(
                    &format!("sources[{index}].name"),
                    format!(
                        "{:?} is netpulse's own source (its notifications and operator events): choose another name",
                        crate::route::OWN_SOURCE
                    ),
                );
            }
        }
        for (&index, source) in source_indices.iter().zip(self.sources.iter_mut()) {
            source.validate(
                &format!("sources[{index}] ({})", source.name()),
                base_dir,
                problems,
            );
        }
        webhook::check_unique_paths(&self.sources, problems);
        for (&index, sink) in sink_indices.iter().zip(self.sinks.iter_mut()) {
            sink.validate(
                &format!("sinks[{index}] ({})", sink.name()),
                base_dir,
                problems,
            );
        }
    }
}

fn check_unique_names<'a>(
    list: &str,
    names: impl Iterator<Item = (usize, &'a str)>,
    problems: &mut Problems,
) {
    let mut seen = HashSet::new();
    for (index, name) in names {
        if !seen.insert(name) {
            problems.push(
                &format!("{list}[{index}].name"),
                format!("the name {name:?} is used twice; names must be unique"),
            );
        }
    }
}

/// A plain `${VAR}` inside a `{ ... }` flow mapping is not valid YAML (`{` and `}` end the value),
/// which is easy to write and hard to see: say so when it may be the cause.
fn yaml_hint(text: &str) -> &'static str {
    let flow_reference = text.lines().any(|line| {
        let line = line.split(" #").next().unwrap_or(line);
        line.contains(": {") && line.contains(": ${")
    });
    if flow_reference {
        "\nhint: inside { ... } write references in quotes, e.g. { password: \"${HOOK_PASSWORD}\" }, or use one line per key"
    } else {
        ""
    }
}

/// Fills `secret` from `secret_file` when only the file is given (its trailing newline dropped), and
/// reports a missing or doubly given secret. `field` names the secret, e.g. `password`.
pub(crate) fn resolve_secret(
    place: &str,
    field: &str,
    secret: &mut Option<Secret>,
    secret_file: &Option<PathBuf>,
    base_dir: &Path,
    problems: &mut Problems,
) {
    match (&secret, secret_file) {
        (Some(_), Some(_)) => problems.push(
            place,
            format!("set either {field} or {field}_file, not both"),
        ),
        (None, None) => problems.push(
            place,
            format!(
                "set {field} (from the environment, e.g. {field}: ${{SECRET_VAR}}) or {field}_file"
            ),
        ),
        (None, Some(file)) => match std::fs::read_to_string(resolve_path(base_dir, file)) {
            Ok(text) => {
                let text = text.trim_end_matches(['\n', '\r']);
                problems.hide(text, format!("<the contents of {field}_file>"));
                *secret = Some(Secret::new(text));
            }
            Err(err) => problems.push(
                &format!("{place}.{field}_file"),
                format!("cannot read {}: {err}", file.display()),
            ),
        },
        (Some(_), None) => {}
    }
}

/// Reports `value` at `place` unless it is an http:// or https:// URL with a host; `example`
/// (e.g. `https://ise:8910`) completes the message when given.
pub(crate) fn check_http_url(
    place: &str,
    value: &str,
    example: Option<&str>,
    problems: &mut Problems,
) {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {}
        Ok(_) => {
            let example = example
                .map(|url| format!(", e.g. {url}"))
                .unwrap_or_default();
            problems.push(
                place,
                format!("{value:?} must be an http:// or https:// URL with a host{example}"),
            );
        }
        Err(err) => problems.push(place, format!("{value:?} is not a URL: {err}")),
    }
}

/// Reports each of the named timers shorter than 10ms: a value that small is a typing mistake
/// (a unit left out), and would spin.
pub(crate) fn check_timers(place: &str, timers: &[(&str, Duration)], problems: &mut Problems) {
    for (field, value) in timers {
        if *value < Duration::from_millis(10) {
            problems.push(&format!("{place}.{field}"), "must be at least 10ms");
        }
    }
}

/// Reports exponential delays (`backoff`, `retry`) that start at 0 or above their maximum.
pub(crate) fn check_delays(place: &str, initial: Duration, max: Duration, problems: &mut Problems) {
    if initial.is_zero() || initial > max {
        problems.push(place, "initial must be above 0 and not above max");
    }
}

/// Resolves a path written in the configuration relative to the configuration file's folder.
pub(crate) fn resolve_path(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}
