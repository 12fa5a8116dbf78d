//! Source entries of the configuration (`sources:`), one variant per protocol.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::pxgrid::PxgridSourceConfig;
use super::webex_events::WebexEventsSourceConfig;
use super::webhook::WebhookSourceConfig;
use super::{Problems, Secret, check_delays, check_http_url, resolve_path, resolve_secret};
use crate::duration::serde_duration;

/// One entry of `sources:`; the `type` field picks the variant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// NX-OS / APIC DME WebSocket subscriptions.
    Dme(Box<DmeSourceConfig>),
    /// Notifications posted to netpulse's HTTP server by a platform (SD-WAN Manager, ...).
    Webhook(Box<WebhookSourceConfig>),
    /// Cisco ISE pxGrid 2.0: STOMP over WebSocket.
    Pxgrid(Box<PxgridSourceConfig>),
    /// Webex real-time events (Mercury WebSocket), for bots without a public URL.
    WebexEvents(Box<WebexEventsSourceConfig>),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Dme(dme) => &dme.name,
            SourceConfig::Webhook(webhook) => &webhook.name,
            SourceConfig::Pxgrid(pxgrid) => &pxgrid.name,
            SourceConfig::WebexEvents(webex) => &webex.name,
        }
    }

    pub(crate) fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        // Every source's alarm keys are `<name>:...` (a device's `<name>:<subject>`, a webhook's
        // `<name>:<provider>:<id>`), and so are its redelivery keys: a name with a colon could
        // take another source's keys (`a` + `b:x` is `a:b` + `x`).
        if self.name().contains(':') {
            problems.push(
                &format!("{place}.name"),
                "must not contain ':' (it separates the source's name from its alarm and redelivery keys)",
            );
        }
        match self {
            SourceConfig::Dme(dme) => dme.validate(place, base_dir, problems),
            SourceConfig::Webhook(webhook) => webhook.validate(place, base_dir, problems),
            SourceConfig::Pxgrid(pxgrid) => pxgrid.validate(place, base_dir, problems),
            SourceConfig::WebexEvents(webex) => webex.validate(place, base_dir, problems),
        }
    }
}

/// A device (NX-OS switch or APIC) whose DME objects are subscribed over its WebSocket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmeSourceConfig {
    pub name: String,
    /// `https://switch` (or `http://` for labs); the WebSocket URL is derived from it.
    pub address: String,
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (its trailing newline is ignored); alternative to `password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// DME queries, e.g. `/api/mo/sys/intf.json?query-target=subtree&target-subtree-class=ethpmPhysIf`.
    /// netpulse adds `subscription=yes` itself.
    pub subscriptions: Vec<String>,
    /// How often each subscription is refreshed. Devices drop a subscription that is not refreshed
    /// within its timeout (60 s on APIC; the NX-OS value is not documented, 60 s is assumed), so the
    /// default leaves half of it as margin for a slow device.
    #[serde(default = "default_subscription_refresh", with = "serde_duration")]
    pub subscription_refresh: Duration,
    /// How often the session is refreshed with aaaRefresh. By default half of the
    /// `refreshTimeoutSeconds` the device announces at login.
    #[serde(default, deserialize_with = "optional_duration")]
    pub session_refresh: Option<Duration>,
    /// Timeout of each REST call to the device.
    #[serde(default = "default_request_timeout", with = "serde_duration")]
    pub request_timeout: Duration,
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// `nxos` (default) or `apic`.
    #[serde(default)]
    pub platform: DmePlatform,
    /// APIC: the subscription lifetime to ask for (`refresh-timeout`; 600 s is the largest value
    /// observed working, the documented maximum is UNKNOWN). `subscription_refresh` must be
    /// shorter. NX-OS support is UNKNOWN, so it is refused there.
    #[serde(default, deserialize_with = "optional_duration")]
    pub subscription_timeout: Option<Duration>,
    /// Queries whose device timeout or refresh differ (see [`super::subscription`]).
    #[serde(default)]
    pub subscription_overrides: Vec<super::subscription::SubscriptionOverride>,
    /// Raise `io.netpulse.subscription.at_risk` when a subscription has less than this left
    /// before the device would expire it; by default a third of its timeout.
    #[serde(default, deserialize_with = "optional_duration")]
    pub subscription_alarm_margin: Option<Duration>,
}

/// What kind of DME device a source talks to.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DmePlatform {
    /// A Nexus switch in NX-OS mode (NX-API REST).
    #[default]
    Nxos,
    /// An ACI fabric's controller. Usernames of a login domain are written `apic#<domain>\<user>`.
    Apic,
}

/// The longest `refresh-timeout` seen accepted by an APIC.
const MAX_SUBSCRIPTION_TIMEOUT: Duration = Duration::from_secs(600);

/// Reconnect delays: exponential from `initial` to `max`, each with random jitter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    #[serde(default = "default_backoff_initial", with = "serde_duration")]
    pub initial: Duration,
    #[serde(default = "default_backoff_max", with = "serde_duration")]
    pub max: Duration,
}

impl BackoffConfig {
    /// Reports a `backoff` of the entry at `place` that starts at 0 or above its maximum.
    pub(super) fn validate(&self, place: &str, problems: &mut Problems) {
        check_delays(
            &format!("{place}.backoff"),
            self.initial,
            self.max,
            problems,
        );
    }
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: default_backoff_initial(),
            max: default_backoff_max(),
        }
    }
}

/// How the device's TLS certificate is checked. Verification is on unless turned off explicitly.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the CA (or the self-signed device certificate) to trust.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256 fingerprint (`AB:CD:...`), whoever issued
    /// it: the usual answer for a switch with a self-signed certificate.
    #[serde(default)]
    pub fingerprint_sha256: Option<String>,
    /// Lab only: accept any certificate. Logged as a warning at start.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_subscription_refresh() -> Duration {
    Duration::from_secs(30)
}

/// The sources' REST timeout unless configured.
pub(super) fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_backoff_initial() -> Duration {
    Duration::from_secs(1)
}

fn default_backoff_max() -> Duration {
    Duration::from_secs(60)
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    serde_duration::deserialize(deserializer).map(Some)
}

impl DmeSourceConfig {
    /// The password, whether written inline (usually as `${ENV}`) or read from `password_file`.
    pub fn password(&self) -> &str {
        self.password.as_ref().map(Secret::expose).unwrap_or("")
    }

    fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        if let Some(timeout) = self.subscription_timeout {
            if self.platform != DmePlatform::Apic {
                problems.push(
                    &format!("{place}.subscription_timeout"),
                    "only APIC is known to take refresh-timeout: set platform: apic, or remove it",
                );
            } else if timeout < Duration::from_secs(2) || timeout > MAX_SUBSCRIPTION_TIMEOUT {
                problems.push(
                    &format!("{place}.subscription_timeout"),
                    "must be between 2s and 600s (the largest value observed working on APIC)",
                );
            } else if self.subscription_refresh >= timeout {
                problems.push(
                    &format!("{place}.subscription_refresh"),
                    format!(
                        "must be shorter than subscription_timeout ({}s), e.g. half of it",
                        timeout.as_secs()
                    ),
                );
            } else {
                // APIC reads it as one more query parameter of each subscription.
                for query in &mut self.subscriptions {
                    let separator = if query.contains('?') { '&' } else { '?' };
                    query.push_str(&format!("{separator}refresh-timeout={}", timeout.as_secs()));
                }
            }
        }
        check_http_url(&format!("{place}.address"), &self.address, None, problems);
        if self.username.is_empty() {
            problems.push(&format!("{place}.username"), "must not be empty");
        }
        resolve_secret(
            place,
            "password",
            &mut self.password,
            &self.password_file,
            base_dir,
            problems,
        );
        self.tls
            .validate(&format!("{place}.tls"), base_dir, problems);
        if self.subscriptions.is_empty() {
            problems.push(
                &format!("{place}.subscriptions"),
                "list at least one DME query, e.g. /api/class/ethpmPhysIf.json",
            );
        }
        for (index, query) in self.subscriptions.iter().enumerate() {
            if let Err(message) = check_query(query) {
                problems.push(&format!("{place}.subscriptions[{index}]"), message);
            }
        }
        if self.subscription_refresh.is_zero()
            || self.subscription_refresh >= Duration::from_secs(60)
        {
            problems.push(
                &format!("{place}.subscription_refresh"),
                "must be above 0 and under 60s, the subscription timeout of the device",
            );
        }
        self.backoff.validate(place, problems);
        self.validate_subscription_plans(place, problems);
    }
}

impl TlsConfig {
    pub(crate) fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        let chosen = [
            self.ca_file.is_some(),
            self.fingerprint_sha256.is_some(),
            self.insecure_skip_verify,
        ];
        if chosen.iter().filter(|set| **set).count() > 1 {
            problems.push(place, "ca_file, fingerprint_sha256 and insecure_skip_verify contradict each other: keep one");
        }
        if let Some(pin) = &self.fingerprint_sha256
            && let Err(message) = crate::tls::parse_fingerprint(pin)
        {
            problems.push(&format!("{place}.fingerprint_sha256"), message);
        }
        if let Some(file) = &self.ca_file {
            let resolved = resolve_path(base_dir, file);
            if let Err(err) = std::fs::metadata(&resolved) {
                problems.push(
                    &format!("{place}.ca_file"),
                    format!("cannot read {}: {err}", resolved.display()),
                );
            }
            if self.insecure_skip_verify {
                problems.push(
                    place,
                    "ca_file and insecure_skip_verify contradict each other: keep one",
                );
            }
            self.ca_file = Some(resolved);
        }
    }
}

/// A subscription must be a DME REST query (`/api/...json`) that netpulse can add
/// `subscription=yes` to.
fn check_query(query: &str) -> Result<(), String> {
    let path = query.split('?').next().unwrap_or_default();
    if !path.starts_with("/api/") {
        return Err(format!(
            "{query:?} must start with /api/ (e.g. /api/mo/sys/intf.json or /api/class/l1PhysIf.json)"
        ));
    }
    if !path.ends_with(".json") {
        return Err(format!(
            "{query:?} must ask for JSON: the path must end with .json"
        ));
    }
    if query.contains("subscription=") {
        return Err(format!(
            "{query:?} already has subscription=...; leave it out, netpulse adds it"
        ));
    }
    Ok(())
}
