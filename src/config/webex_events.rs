//! `type: webex_events` source entries: a Webex bot's real-time events over the Mercury WebSocket
//! (WDM device registration, then the socket), for bots without a public webhook URL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::sink::default_webex_base_url;
use super::source::{BackoffConfig, TlsConfig};
use super::{Problems, Secret, check_http_url, check_timers, resolve_secret};
use crate::duration::serde_duration;

/// A Webex bot listening to the rooms it is in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebexEventsSourceConfig {
    pub name: String,
    /// The bot's access token (usually `${WEBEX_BOT_TOKEN}`).
    #[serde(default)]
    pub token: Option<Secret>,
    /// A file holding the token (its trailing newline is ignored); alternative to `token`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The public REST API, where messages are fetched (`{base_url}/v1/messages/<id>`).
    #[serde(default = "default_webex_base_url")]
    pub base_url: String,
    /// The WDM service (`{wdm_url}/devices`). Clients normally find it in the U2C service
    /// catalog; this default is the value hard-coded by public bots (UNKNOWN whether it holds for
    /// every organisation), hence configurable.
    #[serde(default = "default_wdm_url")]
    pub wdm_url: String,
    /// The device registration's `name`; a registration with this name is reused at start, so
    /// restarts do not use up the per-user registration limit. Default `netpulse-<name>`.
    #[serde(default)]
    pub device_name: Option<String>,
    /// The cluster part of Hydra ids (`ciscospark://<cluster>/MESSAGE/<uuid>`): `us` in every
    /// public example; other clusters are UNKNOWN, hence configurable.
    #[serde(default = "default_cluster")]
    pub hydra_cluster: String,
    #[serde(default)]
    pub tls: TlsConfig,
    /// How long after a pong the next ping is sent (the SDK's `pingInterval`).
    #[serde(default = "default_ping_interval", with = "serde_duration")]
    pub ping_interval: Duration,
    /// How long a pong may take before the socket counts as dead (the SDK's `pongTimeout`).
    #[serde(default = "default_pong_timeout", with = "serde_duration")]
    pub pong_timeout: Duration,
    /// How long after the authorization frame `mercury.buffer_state` may take. Webex's own
    /// deadline is UNKNOWN (30 s is inferred for authorization); configurable.
    #[serde(default = "default_ready_timeout", with = "serde_duration")]
    pub ready_timeout: Duration,
    /// Timeout of each REST call (WDM, messages).
    #[serde(
        default = "super::source::default_request_timeout",
        with = "serde_duration"
    )]
    pub request_timeout: Duration,
    /// Skip messages the bot posted itself (found through `GET /v1/people/me`), so a Webex sink
    /// posting with the same bot does not feed its own messages back.
    #[serde(default = "default_true")]
    pub ignore_own_messages: bool,
    #[serde(default)]
    pub backoff: BackoffConfig,
}

fn default_wdm_url() -> String {
    "https://wdm-a.wbx2.com/wdm/api/v1".to_owned()
}

fn default_cluster() -> String {
    "us".to_owned()
}

fn default_ping_interval() -> Duration {
    Duration::from_secs(15)
}

fn default_pong_timeout() -> Duration {
    Duration::from_secs(14)
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_true() -> bool {
    true
}

impl WebexEventsSourceConfig {
    pub fn token(&self) -> &str {
        self.token.as_ref().map(Secret::expose).unwrap_or("")
    }

    pub fn device_name(&self) -> String {
        self.device_name
            .clone()
            .unwrap_or_else(|| format!("netpulse-{}", self.name))
    }

    pub(crate) fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        for (field, value) in [("base_url", &self.base_url), ("wdm_url", &self.wdm_url)] {
            check_http_url(&format!("{place}.{field}"), value, None, problems);
        }
        self.base_url = self.base_url.trim_end_matches('/').to_owned();
        self.wdm_url = self.wdm_url.trim_end_matches('/').to_owned();
        resolve_secret(
            place,
            "token",
            &mut self.token,
            &self.token_file,
            base_dir,
            problems,
        );
        self.tls
            .validate(&format!("{place}.tls"), base_dir, problems);
        let positive = [
            ("ping_interval", self.ping_interval),
            ("pong_timeout", self.pong_timeout),
            ("ready_timeout", self.ready_timeout),
            ("request_timeout", self.request_timeout),
        ];
        check_timers(place, &positive, problems);
        if self.device_name.as_deref() == Some("") {
            problems.push(&format!("{place}.device_name"), "must not be empty");
        }
        self.backoff.validate(place, problems);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::parse_source;
    use crate::config::{Config, ConfigErrors, SourceConfig};

    fn parse(entry: &str) -> Result<Config, ConfigErrors> {
        parse_source("name: bot\n    type: webex_events", entry, "BOT_TOKEN")
    }

    #[test]
    fn minimal_entry_takes_defaults() {
        let config = parse("    token: ${BOT_TOKEN}\n").unwrap();
        let SourceConfig::WebexEvents(webex) = &config.sources[0] else {
            panic!("not a webex_events source");
        };
        assert_eq!(webex.token(), "secret");
        assert_eq!(webex.base_url, "https://webexapis.com");
        assert_eq!(webex.wdm_url, "https://wdm-a.wbx2.com/wdm/api/v1");
        assert_eq!(webex.device_name(), "netpulse-bot");
        assert_eq!(webex.ping_interval.as_secs(), 15);
        assert_eq!(webex.pong_timeout.as_secs(), 14);
    }

    #[test]
    fn every_mistake_is_reported() {
        let errors = parse(
            "    wdm_url: wdm\n    pong_timeout: 0s\n    backoff: { initial: 5s, max: 1s }\n",
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "(bot).wdm_url",
            "set token",
            "(bot).pong_timeout",
            "(bot).backoff",
        ] {
            assert!(errors.contains(expected), "{expected} missing in {errors}");
        }
    }
}
