//! `api:`: the history API, the live feed and the dashboard. Authentication is on by default: with
//! no token configured every API request is refused with what to configure, unless the operator
//! turns authentication off explicitly (`auth: { disabled: true }`, logged as a warning).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{Problems, Secret, resolve_secret};
use crate::duration::serde_duration;

/// Tokens shorter than this are refused: they can be guessed.
const MIN_TOKEN_CHARS: usize = 12;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    #[serde(default)]
    pub auth: ApiAuth,
    #[serde(default)]
    pub cors: CorsConfig,
    #[serde(default)]
    pub feed: FeedConfig,
}

/// Who may use the API: bearer tokens, each with a scope.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiAuth {
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// No authentication at all: anyone who reaches the port may read and retry (labs only).
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds the token; shown in logs instead of the token.
    pub name: String,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub scope: Scope,
}

impl ApiToken {
    pub fn secret(&self) -> &str {
        self.token.as_ref().map(Secret::expose).unwrap_or("")
    }
}

/// What a token allows; each scope includes those before it (`admin` includes `ack` and
/// `read`), which the derived order says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Queries, the live feed and the dashboard.
    #[default]
    Read,
    /// Also acknowledging and closing alarms (a NOC screen's operators, who should not change
    /// silences or the configuration).
    Ack,
    /// Also operations that change state (retrying a dead letter, silences, reload).
    Admin,
}

impl Scope {
    /// The scope as the configuration writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Ack => "ack",
            Scope::Admin => "admin",
        }
    }
}

/// Cross-origin access for browser applications served from elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser (`https://noc.example.com`), or `"*"`.
    #[serde(default)]
    pub allow_origins: Vec<String>,
}

/// The live feed's limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Events queued for one client at most; a client further behind is disconnected (it can
    /// resume from the last seq it saw).
    #[serde(default = "default_client_buffer")]
    pub client_buffer: usize,
    /// A client whose socket takes no data for this long is disconnected (SSE: for this long
    /// plus `heartbeat`, since an idle SSE stream sends only every heartbeat).
    #[serde(default = "default_send_timeout", with = "serde_duration")]
    pub send_timeout: Duration,
    /// How often an idle stream sends a keep-alive.
    #[serde(default = "default_heartbeat", with = "serde_duration")]
    pub heartbeat: Duration,
}

impl Default for FeedConfig {
    fn default() -> FeedConfig {
        FeedConfig {
            client_buffer: default_client_buffer(),
            send_timeout: default_send_timeout(),
            heartbeat: default_heartbeat(),
        }
    }
}

fn default_client_buffer() -> usize {
    1024
}

fn default_send_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_heartbeat() -> Duration {
    Duration::from_secs(15)
}

impl ApiSection {
    pub(crate) fn validate(&mut self, base_dir: &Path, problems: &mut Problems) {
        if self.auth.disabled && !self.auth.tokens.is_empty() {
            problems.push(
                "api.auth",
                "tokens are set and authentication is disabled: remove one of them",
            );
        }
        for (index, token) in self.auth.tokens.iter_mut().enumerate() {
            let place = format!("api.auth.tokens[{index}] ({})", token.name);
            resolve_secret(
                &place,
                "token",
                &mut token.token,
                &token.token_file,
                base_dir,
                problems,
            );
            let length = token.secret().chars().count();
            if token.token.is_some() && length < MIN_TOKEN_CHARS {
                problems.push(
                    &place,
                    format!(
                        "the token has {length} characters; use at least {MIN_TOKEN_CHARS} random ones (e.g. `openssl rand -hex 32`)"
                    ),
                );
            }
        }
        let names = self
            .auth
            .tokens
            .iter()
            .map(|token| token.name.as_str())
            .enumerate();
        super::check_unique_names("api.auth.tokens", names, problems);
        if self.feed.client_buffer == 0 {
            problems.push("api.feed.client_buffer", "must be at least 1");
        }
        for (index, origin) in self.cors.allow_origins.iter().enumerate() {
            let valid = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/'));
            if !valid {
                problems.push(
                    &format!("api.cors.allow_origins[{index}]"),
                    format!(
                        "{origin:?} is not an origin: write scheme://host[:port] without a path, or \"*\""
                    ),
                );
            }
        }
    }
}
