//! `type: pxgrid` source entries: a Cisco ISE pxGrid 2.0 consumer (control REST API, then STOMP
//! over a WebSocket).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::source::{BackoffConfig, TlsConfig};
use super::{Problems, Secret, check_http_url, check_timers, resolve_secret};
use crate::duration::serde_duration;

/// A pxGrid client account on an ISE deployment, subscribed to one or more topics.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PxgridSourceConfig {
    pub name: String,
    /// The pxGrid node, `https://ise:8910`; the control API is under `/pxgrid/control/`.
    pub address: String,
    /// The pxGrid client name this gateway registers as (an ISE administrator approves it once).
    pub node_name: String,
    /// The account's password. Absent together with `password_file`: netpulse calls
    /// `AccountCreate` at start and keeps the returned password in memory only, so every restart
    /// creates (and needs approval of) a new account; ISE also has AccountCreate disabled by
    /// default. Prefer creating the account once and storing its password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (its trailing newline is ignored); alternative to `password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Certificate-based authentication: a client certificate (PEM chain) ISE trusts, and its
    /// key. The account is then activated with the certificate and an empty password, as the
    /// pxGrid documentation says; no password is needed.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// What `AccountActivate` sends as `description` (shown to the ISE administrator).
    #[serde(default = "default_description")]
    pub description: String,
    /// STOMP destinations to subscribe to, e.g. `/topic/com.cisco.ise.session`. Absent: the
    /// `sessionTopic` that ServiceLookup of `com.cisco.ise.session` announces.
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    /// Wait between `AccountActivate` calls while the account is PENDING approval. Cisco
    /// recommends at least 60 s.
    #[serde(default = "default_activation_poll", with = "serde_duration")]
    pub activation_poll: Duration,
    /// The STOMP heart-beat netpulse offers and asks for, both ways. Whether ISE agrees is
    /// UNKNOWN (no public sample negotiates one): when it does not, netpulse sends WebSocket pings
    /// at this interval instead. Either way, a peer silent for 2.5 intervals counts as dead.
    #[serde(default = "default_heartbeat", with = "serde_duration")]
    pub heartbeat: Duration,
    /// After a reconnect, `getSessions` asks for sessions changed since the gap began minus this
    /// margin (ISE's clock and netpulse's may differ; repeated sessions are suppressed).
    #[serde(default = "default_resync_margin", with = "serde_duration")]
    pub resync_margin: Duration,
    /// Timeout of each REST call.
    #[serde(
        default = "super::source::default_request_timeout",
        with = "serde_duration"
    )]
    pub request_timeout: Duration,
    #[serde(default)]
    pub backoff: BackoffConfig,
}

fn default_description() -> String {
    "netpulse gateway".to_owned()
}

fn default_activation_poll() -> Duration {
    Duration::from_secs(60)
}

fn default_heartbeat() -> Duration {
    Duration::from_secs(30)
}

fn default_resync_margin() -> Duration {
    Duration::from_secs(60)
}

impl PxgridSourceConfig {
    /// The configured password, if any (`None`: the source creates its account). A source that
    /// authenticates with a client certificate uses an empty password.
    pub fn password(&self) -> Option<&str> {
        if self.client_cert_file.is_some() {
            return Some("");
        }
        self.password.as_ref().map(Secret::expose)
    }

    pub(crate) fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        check_http_url(
            &format!("{place}.address"),
            &self.address,
            Some("https://ise:8910"),
            problems,
        );
        if self.node_name.is_empty() {
            problems.push(&format!("{place}.node_name"), "must not be empty");
        } else if self.node_name.contains(':') {
            // HTTP Basic separates the node name from the password with ':'.
            problems.push(&format!("{place}.node_name"), "must not contain ':'");
        }
        match (&mut self.client_cert_file, &mut self.client_key_file) {
            (Some(cert), Some(key)) => {
                *cert = super::resolve_path(base_dir, cert);
                *key = super::resolve_path(base_dir, key);
                if let Err(error) = crate::tls::ClientIdentity::from_files(cert, key) {
                    problems.push(&format!("{place}.client_cert_file"), format!("{error:#}"));
                }
                if self.password.is_some() || self.password_file.is_some() {
                    problems.push(
                        &format!("{place}.password"),
                        "a client certificate replaces the password: keep one of them",
                    );
                }
            }
            (None, None) => {}
            _ => problems.push(
                &format!("{place}.client_cert_file"),
                "client_cert_file and client_key_file go together",
            ),
        }
        // Without either, the account is created at start (see `password`).
        if self.password.is_some() || self.password_file.is_some() {
            resolve_secret(
                place,
                "password",
                &mut self.password,
                &self.password_file,
                base_dir,
                problems,
            );
        }
        self.tls
            .validate(&format!("{place}.tls"), base_dir, problems);
        if let Some(topics) = &self.topics {
            if topics.is_empty() {
                problems.push(
                    &format!("{place}.topics"),
                    "list at least one topic, or remove topics to follow the session topic",
                );
            }
            for (index, topic) in topics.iter().enumerate() {
                if !topic.starts_with("/topic/") {
                    problems.push(
                        &format!("{place}.topics[{index}]"),
                        format!(
                            "{topic:?} must start with /topic/, e.g. /topic/com.cisco.ise.session"
                        ),
                    );
                }
            }
        }
        let positive = [
            ("activation_poll", self.activation_poll),
            ("heartbeat", self.heartbeat),
            ("request_timeout", self.request_timeout),
        ];
        check_timers(place, &positive, problems);
        self.backoff.validate(place, problems);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::parse_source;
    use crate::config::{Config, ConfigErrors, SourceConfig};

    fn parse(entry: &str) -> Result<Config, ConfigErrors> {
        parse_source("name: ise\n    type: pxgrid", entry, "PXGRID_PASSWORD")
    }

    #[test]
    fn minimal_entry_takes_defaults() {
        let config =
            parse("    address: https://ise:8910\n    node_name: netpulse\n    password: ${PXGRID_PASSWORD}\n")
                .unwrap();
        let SourceConfig::Pxgrid(pxgrid) = &config.sources[0] else {
            panic!("not a pxgrid source");
        };
        assert_eq!(pxgrid.password(), Some("secret"));
        assert_eq!(pxgrid.activation_poll.as_secs(), 60);
        assert!(pxgrid.topics.is_none());
    }

    #[test]
    fn without_password_the_account_is_created() {
        let config = parse("    address: https://ise:8910\n    node_name: netpulse\n").unwrap();
        let SourceConfig::Pxgrid(pxgrid) = &config.sources[0] else {
            panic!("not a pxgrid source");
        };
        assert_eq!(pxgrid.password(), None);
    }

    #[test]
    fn every_mistake_is_reported() {
        let errors = parse(
            "    address: ise\n    node_name: \"a:b\"\n    topics: [com.cisco.ise.session]\n    heartbeat: 0s\n    backoff: { initial: 5s, max: 1s }\n",
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "(ise).address",
            "(ise).node_name: must not contain ':'",
            "(ise).topics[0]",
            "(ise).heartbeat",
            "(ise).backoff",
        ] {
            assert!(errors.contains(expected), "{expected} missing in {errors}");
        }
    }
}
