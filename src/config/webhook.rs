//! `type: webhook` source entries: an HTTP path on netpulse's server where a platform posts its
//! notifications, the provider that says how to read them, and how the sender proves who it is.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Problems, Secret, resolve_secret};

/// Paths netpulse serves itself; a webhook cannot take them (nor anything under `/api/`).
const RESERVED_PATHS: &[&str] = &["/metrics", "/healthz", "/readyz", "/api"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSourceConfig {
    pub name: String,
    pub provider: WebhookProvider,
    /// Where the platform posts, e.g. `/hooks/sdwan`.
    pub path: String,
    /// How requests are authenticated. Required: an open receiver must be asked for explicitly
    /// with `auth: { none: true }`.
    #[serde(default)]
    pub auth: Option<WebhookAuth>,
    /// SD-WAN: the manager's URL, for the details link of each alarm in messages.
    #[serde(default)]
    pub vmanage_url: Option<String>,
    /// Overrides `http.max_body_bytes` for this receiver.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookProvider {
    /// Cisco Catalyst SD-WAN Manager (vManage) alarm notifications.
    Sdwan,
}

impl WebhookProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookProvider::Sdwan => "sdwan",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAuth {
    #[serde(default)]
    pub basic: Option<BasicAuth>,
    /// Accept requests without any credentials (a lab behind a firewall). Logged at start.
    #[serde(default)]
    pub none: bool,
}

/// HTTP Basic credentials the sender must present (SD-WAN: the notification rule's webhook
/// username and password).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl BasicAuth {
    pub fn password(&self) -> &str {
        self.password.as_ref().map(Secret::expose).unwrap_or("")
    }
}

impl WebhookSourceConfig {
    pub(crate) fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) {
            problems.push(
                &format!("{place}.path"),
                format!("{:?} must be a URL path such as /hooks/sdwan", self.path),
            );
        }
        let taken = |reserved: &&str| {
            self.path == **reserved || self.path.starts_with(&format!("{reserved}/"))
        };
        if let Some(reserved) = RESERVED_PATHS.iter().copied().find(taken) {
            problems.push(
                &format!("{place}.path"),
                format!("{:?} is taken by netpulse itself ({reserved}); choose another path such as /hooks/{}", self.path, self.name),
            );
        }
        match &mut self.auth {
            None => problems.push(
                &format!("{place}.auth"),
                "say how senders authenticate: auth: { basic: { username: ..., password: ${ENV} } }, or auth: { none: true } to accept anyone",
            ),
            Some(auth) => match (&mut auth.basic, auth.none) {
                (Some(_), true) => problems.push(
                    &format!("{place}.auth"),
                    "basic and none contradict each other: keep one",
                ),
                (None, false) => problems.push(
                    &format!("{place}.auth"),
                    "set basic: { username, password } or none: true",
                ),
                (Some(basic), false) => {
                    let place = format!("{place}.auth.basic");
                    if basic.username.is_empty() || basic.username.contains(':') {
                        problems.push(
                            &format!("{place}.username"),
                            "must not be empty nor contain ':'",
                        );
                    }
                    resolve_secret(
                        &place,
                        "password",
                        &mut basic.password,
                        &basic.password_file,
                        base_dir,
                        problems,
                    );
                }
                (None, true) => {}
            },
        }
        if let Some(url) = &self.vmanage_url {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
                _ => problems.push(
                    &format!("{place}.vmanage_url"),
                    format!("{url:?} must be an http:// or https:// URL"),
                ),
            }
        }
        if self.max_body_bytes.is_some_and(|limit| limit < 1024) {
            problems.push(&format!("{place}.max_body_bytes"), "must be at least 1024");
        }
    }
}
