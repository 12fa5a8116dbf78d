//! Configuration reload (SIGHUP, `POST /api/v1/reload`): the file is read again and, if it is
//! valid, only the sources and sinks whose entry changed are started, stopped or restarted; every
//! other source keeps its session (no reconnect, no gap) and every other sink its worker. An
//! invalid file changes nothing, and the answer lists its errors with their places.
//!
//! An entry is the same when it is equal after `${ENV}` and `*_file` secrets were read again, so a
//! changed password restarts the source that uses it. Every new or changed source is built before
//! anything is stopped: a source that cannot be built (an unreadable CA file) refuses the reload as
//! a whole. A sink is stopped (it writes what is due) before its new configuration starts; one
//! that then cannot start is reported in `failed`. The `store`, `http` and `api` sections are not
//! changed by a reload: a change there is reported as needing a restart.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::router::PolicyUpdates;
use super::sinks::{self, RunningSink};
use crate::config::{Config, SinkConfig, SourceConfig};
use crate::event::Event;
use crate::http::HookRoutes;
use crate::pipeline::Pipeline;
use crate::source::{self, Registry, SourceHandle};

/// How long a reload waits for a removed source's session to end (a DME device logs out).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks up `${VAR}` references.
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The configuration file a gateway was started from, and where its `${VAR}`s are looked up.
#[derive(Clone)]
pub struct ConfigFile {
    path: PathBuf,
    env: Env,
}

impl ConfigFile {
    /// A file whose `${VAR}`s come from the process environment.
    pub fn new(path: impl Into<PathBuf>) -> ConfigFile {
        ConfigFile::with_env(path, Arc::new(|name: &str| std::env::var(name).ok()))
    }

    /// A file whose `${VAR}`s come from `env` (tests never touch the process environment).
    pub fn with_env(path: impl Into<PathBuf>, env: Env) -> ConfigFile {
        ConfigFile {
            path: path.into(),
            env,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the file (secret files included) on a blocking thread.
    pub async fn read(&self) -> Result<Config, ReloadError> {
        let file = self.clone();
        tokio::task::spawn_blocking(move || file.read_blocking())
            .await
            .map_err(|error| ReloadError::Invalid(vec![format!("reading failed: {error}")]))?
    }

    fn read_blocking(&self) -> Result<Config, ReloadError> {
        let place = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path).map_err(|error| {
            ReloadError::Invalid(vec![format!("{place}: cannot read: {error}")])
        })?;
        let base = self.path.parent().unwrap_or(Path::new("."));
        Config::parse_with(&text, base, &*self.env).map_err(|errors| {
            ReloadError::Invalid(
                errors
                    .0
                    .into_iter()
                    .map(|error| format!("{place}: {error}"))
                    .collect(),
            )
        })
    }
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read, is not valid, or a new source cannot be built; each error says
    /// where.
    #[error("the configuration is not valid, nothing was changed: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("netpulse was not started from a configuration file: there is nothing to read again")]
    NoFile,
    #[error("netpulse is shutting down")]
    ShuttingDown,
}

/// What a reload did, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReloadReport {
    pub sources: Changes,
    pub sinks: Changes,
    /// Sinks stopped for a new configuration that then could not start, with why.
    pub failed: Vec<String>,
    /// Sections whose change needs a restart of netpulse; they keep running as they were.
    pub not_applied: Vec<String>,
}

/// What happened to each source, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Changes {
    pub started: Vec<String>,
    pub stopped: Vec<String>,
    pub restarted: Vec<String>,
    pub kept: Vec<String>,
}

impl Changes {
    fn changed(&self) -> bool {
        !(self.started.is_empty() && self.stopped.is_empty() && self.restarted.is_empty())
    }
}

/// Reloads the configuration of a running gateway, one reload at a time.
pub struct Reloader {
    pub(super) file: Option<ConfigFile>,
    pub(super) state: tokio::sync::Mutex<Running>,
    pub(super) sources: Registry,
    pub(super) hooks: HookRoutes,
    pub(super) shared: Arc<source::dme::SharedClients>,
    pub(super) pipeline: Pipeline,
    /// What a Webex sink's room acts through (cards, commands).
    pub(super) operator: crate::operator::Operator,
    /// Which sinks share their deliveries with the cluster (none in single-node mode).
    pub(super) recorders: crate::cluster::sinks::DeliveryRecorders,
    /// The gateway's drain; each sink runs with a child of it.
    pub(super) drain: CancellationToken,
    /// The sink list the API shows.
    pub(super) sink_configs: Arc<std::sync::RwLock<Arc<Vec<SinkConfig>>>>,
    pub(super) tracker: TaskTracker,
    pub(super) shutdown: CancellationToken,
    /// Hands the alerting policy of a reloaded configuration to the router.
    pub(super) policy: PolicyUpdates,
}

/// What the gateway runs now.
pub(super) struct Running {
    pub config: Config,
    /// Where new sources send their events; `None` once the gateway stops.
    pub events: Option<mpsc::Sender<Event>>,
    pub sinks: Vec<RunningSink>,
}

impl Reloader {
    /// The `topology:` section of the configuration running now (`GET /api/v1/topology`).
    pub async fn topology(&self) -> Option<crate::config::TopologyConfig> {
        self.state.lock().await.config.topology.clone()
    }

    /// Reads the file again and applies it; logs what it did, or why it changed nothing.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let result = match &self.file {
            Some(file) => match file.read().await {
                Ok(config) => self.apply(config).await,
                Err(error) => Err(error),
            },
            None => Err(ReloadError::NoFile),
        };
        match &result {
            Ok(report) => tracing::info!(
                changed = report.sources.changed(),
                started = ?report.sources.started,
                stopped = ?report.sources.stopped,
                restarted = ?report.sources.restarted,
                kept = report.sources.kept.len(),
                sinks_started = ?report.sinks.started,
                sinks_stopped = ?report.sinks.stopped,
                sinks_restarted = ?report.sinks.restarted,
                failed = ?report.failed,
                not_applied = ?report.not_applied,
                "configuration reloaded"
            ),
            Err(error) => tracing::error!(error = %error, "configuration reload refused"),
        }
        result
    }

    /// Applies a new configuration: starts, stops and restarts the sources that changed.
    pub async fn apply(&self, config: Config) -> Result<ReloadReport, ReloadError> {
        let mut running = self.state.lock().await;
        let Some(events) = running.events.clone() else {
            return Err(ReloadError::ShuttingDown);
        };
        if self.shutdown.is_cancelled() {
            return Err(ReloadError::ShuttingDown);
        }
        // An alerting policy that does not compile refuses the reload as a whole.
        let policy = crate::route::Policy::compile(&config).map_err(ReloadError::Invalid)?;
        let current = self.sources.list();
        let plan = plan(&current, &config.sources, config.topology.as_ref());
        let mut prepared = self.prepare(&config, &plan, &current)?;
        let leaving: Vec<&Arc<SourceHandle>> = current
            .iter()
            .filter(|source| !plan.kept.contains(source.name.as_str()))
            .collect();
        // Concurrently: thousands of removed devices each log out.
        futures_util::future::join_all(leaving.iter().map(|source| source.remove(STOP_TIMEOUT)))
            .await;
        let by_name: HashMap<&str, &Arc<SourceHandle>> = current
            .iter()
            .map(|source| (source.name.as_str(), source))
            .collect();
        let sources: Vec<Arc<SourceHandle>> = config
            .sources
            .iter()
            .map(|entry| match prepared.remove(entry.name()) {
                Some(new) => {
                    let views = source::lifecycle::Views::new(self.pipeline.clone());
                    Arc::new(new.start(
                        events.clone(),
                        Some(views),
                        self.shutdown.clone(),
                        &self.tracker,
                    ))
                }
                None => Arc::clone(by_name[entry.name()]),
            })
            .collect();
        self.hooks.set(
            sources
                .iter()
                .filter_map(|source| source.webhook_receiver()),
        );
        self.sources.replace(sources);
        // Before the sinks change: a sink a route now names gets no per-event row from the
        // moment it is routed to.
        self.policy.set(policy);
        let (sinks, failed) = self.apply_sinks(&mut running, &config.sinks).await;
        let report = ReloadReport {
            not_applied: not_applied(&running.config, &config),
            sources: plan.changes,
            sinks,
            failed,
        };
        running.config.sources = config.sources;
        running.config.sinks = config.sinks;
        running.config.routes = config.routes;
        running.config.time_intervals = config.time_intervals;
        running.config.inhibit_rules = config.inhibit_rules;
        Ok(report)
    }

    /// Stops the sinks that left or changed, routes events to the new list, and starts the sinks
    /// that are new or changed (after the old one of the same name has ended, so that two workers
    /// never share an outbox).
    async fn apply_sinks(
        &self,
        running: &mut Running,
        entries: &[SinkConfig],
    ) -> (Changes, Vec<String>) {
        let mut changes = Changes::default();
        let mut kept: HashMap<String, RunningSink> = HashMap::new();
        let mut leaving = Vec::new();
        for sink in running.sinks.drain(..) {
            match entries
                .iter()
                .find(|entry| entry.name() == sink.config.name())
            {
                Some(entry) if *entry == sink.config => {
                    kept.insert(entry.name().to_owned(), sink);
                }
                Some(_) => leaving.push(sink),
                None => {
                    changes.stopped.push(sink.config.name().to_owned());
                    leaving.push(sink);
                }
            }
        }
        futures_util::future::join_all(leaving.into_iter().map(RunningSink::stop)).await;
        self.pipeline.set_sinks(entries);
        *self.sink_configs.write().expect("sinks lock") = Arc::new(entries.to_vec());
        let mut failed = Vec::new();
        for entry in entries {
            let name = entry.name().to_owned();
            if let Some(sink) = kept.remove(&name) {
                running.sinks.push(sink);
                changes.kept.push(name);
                continue;
            }
            let restarted = running.config.sinks.iter().any(|old| old.name() == name);
            match sinks::start(
                entry,
                &self.pipeline,
                &self.operator,
                &self.recorders,
                &self.drain,
            )
            .await
            {
                Ok(sink) => running.sinks.push(sink),
                Err(error) => {
                    tracing::error!(sink = %name, error = %format!("{error:#}"), "the reloaded sink cannot start: its deliveries wait in the store");
                    failed.push(format!("{name}: {error:#}"));
                    continue;
                }
            }
            if restarted {
                changes.restarted.push(name);
            } else {
                changes.started.push(name);
            }
        }
        (changes, failed)
    }

    /// Builds every new or changed source, or says why each one that cannot be built fails.
    fn prepare(
        &self,
        config: &Config,
        plan: &Plan,
        current: &[Arc<SourceHandle>],
    ) -> Result<HashMap<String, source::Prepared>, ReloadError> {
        let mut prepared = HashMap::new();
        let mut errors = Vec::new();
        for (index, entry) in config.sources.iter().enumerate() {
            if plan.kept.contains(entry.name()) {
                continue;
            }
            let previous = current.iter().find(|source| source.name == entry.name());
            let topology = config.topology.as_ref();
            let previous = previous.map(Arc::as_ref);
            match source::prepare(entry, &config.http, topology, &self.shared, previous) {
                Ok(source) => {
                    prepared.insert(entry.name().to_owned(), source);
                }
                Err(error) => {
                    errors.push(format!("sources[{index}] ({}): {error:#}", entry.name()))
                }
            }
        }
        if errors.is_empty() {
            Ok(prepared)
        } else {
            Err(ReloadError::Invalid(errors))
        }
    }

    /// Waits for shutdown, then refuses every later reload and hands over the running sinks.
    pub(super) async fn close(&self) -> Vec<RunningSink> {
        self.shutdown.cancelled().await;
        let mut running = self.state.lock().await;
        running.events = None;
        std::mem::take(&mut running.sinks)
    }
}

/// What a reload does to the sources.
struct Plan {
    changes: Changes,
    /// Names of the sources that keep running untouched.
    kept: HashSet<String>,
}

/// Compares the running sources with the new entries, by name: an equal entry is kept, a
/// different one restarted, a new name started, a name no longer there stopped.
fn plan(
    current: &[Arc<SourceHandle>],
    entries: &[SourceConfig],
    topology: Option<&crate::config::TopologyConfig>,
) -> Plan {
    let running: HashMap<&str, &SourceConfig> = current
        .iter()
        .map(|source| (source.name.as_str(), source.config()))
        .collect();
    let mut changes = Changes::default();
    let mut kept = HashSet::new();
    for entry in entries {
        let name = entry.name().to_owned();
        match running.get(entry.name()) {
            // A running source has its effective form (see `source::effective`).
            Some(config) if **config == source::effective(entry, topology) => {
                kept.insert(name.clone());
                changes.kept.push(name);
            }
            Some(_) => changes.restarted.push(name),
            None => changes.started.push(name),
        }
    }
    let wanted: HashSet<&str> = entries.iter().map(SourceConfig::name).collect();
    changes.stopped = current
        .iter()
        .filter(|source| !wanted.contains(source.name.as_str()))
        .map(|source| source.name.clone())
        .collect();
    Plan { changes, kept }
}

/// The sections a reload does not apply that differ.
fn not_applied(running: &Config, new: &Config) -> Vec<String> {
    let mut sections = Vec::new();
    if running.store != new.store {
        sections.push("store".to_owned());
    }
    if running.http != new.http {
        sections.push("http".to_owned());
    }
    if running.api != new.api {
        sections.push("api".to_owned());
    }
    if !sections.is_empty() {
        tracing::warn!(sections = ?sections, "these sections changed but need a restart of netpulse to apply");
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sources: &str) -> Config {
        let yaml = format!("store: {{ path: db }}\nsources:\n{sources}");
        Config::parse_with(&yaml, Path::new("."), &|_| Some("secret".into())).unwrap()
    }

    const LEAF1: &str = "  - { name: leaf1, type: dme, address: \"https://leaf1\", username: admin, password: \"${P}\", subscriptions: [/api/class/l1PhysIf.json] }\n";
    const LEAF2: &str = "  - { name: leaf2, type: dme, address: \"https://leaf2\", username: admin, password: \"${P}\", subscriptions: [/api/class/l1PhysIf.json] }\n";
    const LEAF2_CHANGED: &str = "  - { name: leaf2, type: dme, address: \"https://leaf2:8443\", username: admin, password: \"${P}\", subscriptions: [/api/class/l1PhysIf.json] }\n";
    const HOOK: &str = "  - { name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: { basic: { username: u, password: \"${P}\" } } }\n";

    fn handles(config: &Config) -> Vec<Arc<SourceHandle>> {
        let shared = source::dme::SharedClients::default();
        config
            .sources
            .iter()
            .map(|entry| {
                let prepared = source::prepare(entry, &config.http, None, &shared, None).unwrap();
                // Never started: only the names and configurations matter here.
                Arc::new(prepared.into_handle())
            })
            .collect()
    }

    #[test]
    fn equal_entries_are_kept_changed_ones_restarted_new_started_and_missing_stopped() {
        let before = config(&format!("{LEAF1}{LEAF2}{HOOK}"));
        let after = config(&format!(
            "{LEAF2_CHANGED}{HOOK}  - {{ name: leaf3, type: dme, address: \"https://leaf3\", username: admin, password: \"${{P}}\", subscriptions: [/api/class/l1PhysIf.json] }}\n"
        ));
        let planned = plan(&handles(&before), &after.sources, None);
        assert_eq!(
            planned.changes,
            Changes {
                started: vec!["leaf3".into()],
                stopped: vec!["leaf1".into()],
                restarted: vec!["leaf2".into()],
                kept: vec!["vmanage".into()],
            }
        );
        assert!(planned.changes.changed());
        let same = plan(&handles(&before), &before.sources, None);
        assert!(!same.changes.changed());
        assert_eq!(same.kept.len(), 3);
    }

    #[test]
    fn a_changed_secret_restarts_the_source_that_uses_it() {
        let before = config(LEAF1);
        let yaml = format!("store: {{ path: db }}\nsources:\n{LEAF1}");
        let after = Config::parse_with(&yaml, Path::new("."), &|_| Some("rotated".into())).unwrap();
        let planned = plan(&handles(&before), &after.sources, None);
        assert_eq!(planned.changes.restarted, ["leaf1"]);
    }

    #[test]
    fn turning_topology_on_or_off_restarts_the_dme_sources_only() {
        let before = config(&format!("{LEAF1}{HOOK}"));
        let topology = crate::config::TopologyConfig::default();
        let on = plan(&handles(&before), &before.sources, Some(&topology));
        assert_eq!(on.changes.restarted, ["leaf1"]);
        assert_eq!(on.changes.kept, ["vmanage"]);
        let shared = source::dme::SharedClients::default();
        let running: Vec<Arc<SourceHandle>> = before
            .sources
            .iter()
            .map(|entry| {
                let prepared =
                    source::prepare(entry, &before.http, Some(&topology), &shared, None).unwrap();
                Arc::new(prepared.into_handle())
            })
            .collect();
        let SourceConfig::Dme(leaf1) = running[0].config() else {
            panic!("leaf1 is a DME source")
        };
        assert_eq!(
            leaf1.subscriptions,
            [
                "/api/class/l1PhysIf.json",
                "/api/class/lldpAdjEp.json",
                "/api/class/cdpAdjEp.json"
            ]
        );
        let still_on = plan(&running, &before.sources, Some(&topology));
        assert!(!still_on.changes.changed(), "{:?}", still_on.changes);
        let off = plan(&running, &before.sources, None);
        assert_eq!(off.changes.restarted, ["leaf1"]);
    }

    #[test]
    fn sections_a_reload_cannot_apply_are_named() {
        let before = config(LEAF1);
        let mut after = before.clone();
        assert!(not_applied(&before, &after).is_empty());
        after.http.max_connections += 1;
        after.store.retention += Duration::from_secs(1);
        assert_eq!(not_applied(&before, &after), ["store", "http"]);
    }
}
