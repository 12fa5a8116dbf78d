//! `type: webhook` source entries: an HTTP path on netpulse's server where a platform posts its
//! notifications, the provider that says how to read them, and how the sender proves who it is.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Problems, Secret, resolve_secret};

mod mapping;

pub use mapping::GenericMapping;

/// Paths netpulse serves itself; a webhook cannot take them (nor anything under `/api/`).
const RESERVED_PATHS: &[&str] = &["/metrics", "/healthz", "/readyz", "/api"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// Catalyst Center: the controller's URL, to make the relative event links it sends absolute.
    /// Webex: the API to fetch messages from (default `https://webexapis.com`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Webex: the bot's token, to fetch the message or card action a notification points to.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `provider: generic`: where each field of the event is in the document.
    #[serde(default)]
    pub mapping: Option<GenericMapping>,
    /// Overrides `http.max_body_bytes` for this receiver.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookProvider {
    /// Cisco Catalyst SD-WAN Manager (vManage) alarm notifications.
    Sdwan,
    /// Cisco Meraki alert webhooks (`sharedSecret` in the body, or in a header by template).
    Meraki,
    /// Cisco Catalyst Center (DNA Center) event notifications.
    CatalystCenter,
    /// ThousandEyes classic alert webhooks.
    Thousandeyes,
    /// Cisco Intersight webhooks (HTTP Signature).
    Intersight,
    /// Webex webhooks (`X-Spark-Signature`); the message or card action is fetched with `token`.
    Webex,
    /// Any JSON, read through the source's `mapping:` (ThousandEyes custom webhooks, in-house
    /// tools).
    Generic,
    /// Any sender that follows Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`).
    StandardWebhooks,
    /// CloudEvents 1.0 over HTTP, structured or binary mode.
    Cloudevents,
}

impl WebhookProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookProvider::Sdwan => "sdwan",
            WebhookProvider::Meraki => "meraki",
            WebhookProvider::CatalystCenter => "catalyst_center",
            WebhookProvider::Thousandeyes => "thousandeyes",
            WebhookProvider::Intersight => "intersight",
            WebhookProvider::Webex => "webex",
            WebhookProvider::StandardWebhooks => "standard_webhooks",
            WebhookProvider::Generic => "generic",
            WebhookProvider::Cloudevents => "cloudevents",
        }
    }

    /// The authentication schemes this provider's platform can use.
    fn accepts(self, scheme: &str) -> bool {
        match self {
            WebhookProvider::Sdwan => matches!(scheme, "basic" | "none"),
            WebhookProvider::Meraki => matches!(scheme, "shared_secret" | "none"),
            WebhookProvider::CatalystCenter | WebhookProvider::Thousandeyes => {
                matches!(scheme, "basic" | "bearer" | "header" | "none")
            }
            WebhookProvider::Intersight => matches!(scheme, "http_signature" | "none"),
            WebhookProvider::Webex => matches!(scheme, "hmac" | "none"),
            WebhookProvider::StandardWebhooks => matches!(scheme, "standard_webhooks" | "none"),
            WebhookProvider::Cloudevents | WebhookProvider::Generic => matches!(
                scheme,
                "basic" | "bearer" | "header" | "hmac" | "standard_webhooks" | "none"
            ),
        }
    }
}

/// How a sender proves who it is; exactly one scheme is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAuth {
    #[serde(default)]
    pub basic: Option<BasicAuth>,
    /// `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer: Option<SecretValue>,
    /// A token in a header of its own, e.g. `X-Auth-Token` (Catalyst Center destinations).
    #[serde(default)]
    pub header: Option<HeaderToken>,
    /// Meraki: the HTTP server's shared secret, in the body's `sharedSecret` (default template) or
    /// in `Authorization` (`Bearer`, `Basic` or `Splunk` templates).
    #[serde(default)]
    pub shared_secret: Option<SecretValue>,
    /// An HMAC of the raw body in a header.
    #[serde(default)]
    pub hmac: Option<HmacAuth>,
    /// Intersight: draft-cavage HTTP Signature (HMAC-SHA256) with the webhook's secret.
    #[serde(default)]
    pub http_signature: Option<HttpSignatureAuth>,
    /// Standard Webhooks: `whsec_` secrets (several during a rotation).
    #[serde(default)]
    pub standard_webhooks: Option<StandardWebhooksAuth>,
    /// Accept requests without any credentials (a lab behind a firewall). Logged at start.
    #[serde(default)]
    pub none: bool,
}

/// A secret given as `secret: ${ENV}` or `secret_file: path`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl SecretValue {
    pub fn expose(&self) -> &str {
        self.secret.as_ref().map(Secret::expose).unwrap_or("")
    }

    fn resolve(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        resolve_secret(
            place,
            "secret",
            &mut self.secret,
            &self.secret_file,
            base_dir,
            problems,
        );
        if self
            .secret
            .as_ref()
            .is_some_and(|secret| secret.expose().is_empty())
        {
            problems.push(
                place,
                "the secret is empty: an empty secret would match anything",
            );
        }
    }
}

/// The `secret` / `secret_file` pair of a scheme with other settings beside it.
macro_rules! secret_accessors {
    ($type:ty) => {
        impl $type {
            pub fn secret(&self) -> SecretValue {
                SecretValue {
                    secret: self.secret.clone(),
                    secret_file: self.secret_file.clone(),
                }
            }

            fn resolve(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
                let mut value = self.secret();
                value.resolve(place, base_dir, problems);
                self.secret = value.secret;
            }
        }
    };
}
secret_accessors!(HeaderToken);
secret_accessors!(HmacAuth);
secret_accessors!(HttpSignatureAuth);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderToken {
    /// The header's name, e.g. `X-Auth-Token`.
    pub name: String,
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DigestEncoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacAuth {
    /// The header carrying the signature, e.g. `X-Hub-Signature-256`.
    pub header: String,
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    #[serde(default)]
    pub encoding: DigestEncoding,
    /// Text before the digest in the header, e.g. `sha256=`.
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSignatureAuth {
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// How far the signed `Date` may be from netpulse's clock.
    #[serde(default = "default_skew", with = "crate::duration::serde_duration")]
    pub max_skew: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardWebhooksAuth {
    /// `whsec_<base64>` secrets; any of them may have signed (key rotation).
    pub secrets: Vec<Secret>,
    /// How far `webhook-timestamp` may be from netpulse's clock (the specification's 5 minutes).
    #[serde(default = "default_skew", with = "crate::duration::serde_duration")]
    pub tolerance: std::time::Duration,
}

/// The key of a Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes), if it is one.
pub fn standard_webhooks_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let encoded = secret.strip_prefix("whsec_")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

fn default_skew() -> std::time::Duration {
    std::time::Duration::from_secs(300)
}

impl WebhookAuth {
    /// The names of the schemes that are set.
    fn schemes(&self) -> Vec<&'static str> {
        let mut schemes = Vec::new();
        let mut add = |set: bool, name| {
            if set {
                schemes.push(name);
            }
        };
        add(self.basic.is_some(), "basic");
        add(self.bearer.is_some(), "bearer");
        add(self.header.is_some(), "header");
        add(self.shared_secret.is_some(), "shared_secret");
        add(self.hmac.is_some(), "hmac");
        add(self.http_signature.is_some(), "http_signature");
        add(self.standard_webhooks.is_some(), "standard_webhooks");
        add(self.none, "none");
        schemes
    }

    fn validate(
        &mut self,
        place: &str,
        provider: WebhookProvider,
        base_dir: &Path,
        problems: &mut Problems,
    ) {
        let schemes = self.schemes();
        match schemes.as_slice() {
            [] => problems.push(place, "set one scheme, e.g. basic: { username, password }, or none: true"),
            [scheme] if !provider.accepts(scheme) => problems.push(
                place,
                format!("{} does not send {scheme} credentials; see the provider's section in the README", provider.as_str()),
            ),
            [_] => {}
            several => problems.push(place, format!("set one scheme, not {}", several.join(" and "))),
        }
        if let Some(basic) = &mut self.basic {
            let place = format!("{place}.basic");
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
            if basic
                .password
                .as_ref()
                .is_some_and(|password| password.expose().is_empty())
            {
                problems.push(
                    &format!("{place}.password"),
                    "the password is empty: an empty password is the first one an attacker tries",
                );
            }
        }
        if let Some(bearer) = &mut self.bearer {
            bearer.resolve(&format!("{place}.bearer"), base_dir, problems);
        }
        if let Some(header) = &mut self.header {
            if axum::http::HeaderName::from_bytes(header.name.as_bytes()).is_err() {
                problems.push(
                    &format!("{place}.header.name"),
                    format!("{:?} is not a header name", header.name),
                );
            }
            header.resolve(&format!("{place}.header"), base_dir, problems);
        }
        if let Some(secret) = &mut self.shared_secret {
            secret.resolve(&format!("{place}.shared_secret"), base_dir, problems);
        }
        if let Some(hmac) = &mut self.hmac {
            if axum::http::HeaderName::from_bytes(hmac.header.as_bytes()).is_err() {
                problems.push(
                    &format!("{place}.hmac.header"),
                    format!("{:?} is not a header name", hmac.header),
                );
            }
            hmac.resolve(&format!("{place}.hmac"), base_dir, problems);
        }
        if let Some(signature) = &mut self.http_signature {
            signature.resolve(&format!("{place}.http_signature"), base_dir, problems);
        }
        if let Some(standard) = &self.standard_webhooks {
            if standard.secrets.is_empty() {
                problems.push(
                    &format!("{place}.standard_webhooks.secrets"),
                    "give at least one whsec_ secret",
                );
            }
            for (index, secret) in standard.secrets.iter().enumerate() {
                if standard_webhooks_key(secret.expose()).is_none() {
                    problems.push(
                        &format!("{place}.standard_webhooks.secrets[{index}]"),
                        "not a Standard Webhooks secret: expected whsec_ followed by base64 of 24 to 64 bytes",
                    );
                }
            }
        }
    }
}

/// HTTP Basic credentials the sender must present (SD-WAN: the notification rule's webhook
/// username and password).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
        } else if let Some(reason) = route_syntax(&self.path) {
            problems.push(
                &format!("{place}.path"),
                format!("{:?} {reason}: a webhook path is matched literally, give a plain path such as /hooks/{}", self.path, self.name),
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
            Some(auth) => auth.validate(&format!("{place}.auth"), self.provider, base_dir, problems),
        }
        match self.provider {
            WebhookProvider::Webex => resolve_secret(
                place,
                "token",
                &mut self.token,
                &self.token_file,
                base_dir,
                problems,
            ),
            _ if self.token.is_some() || self.token_file.is_some() => problems.push(
                &format!("{place}.token"),
                "only provider webex takes a token (to fetch messages)",
            ),
            _ => {}
        }
        match (&self.mapping, self.provider) {
            (None, WebhookProvider::Generic) => problems.push(
                &format!("{place}.mapping"),
                "provider generic needs a mapping: at least device and summary, e.g. mapping: { device: /host, summary: /message }",
            ),
            (Some(_), WebhookProvider::Generic) | (None, _) => {}
            (Some(_), other) => problems.push(
                &format!("{place}.mapping"),
                format!("only provider generic takes a mapping; {} has its own format", other.as_str()),
            ),
        }
        if let Some(mapping) = &self.mapping
            && let Err(error) = mapping.check()
        {
            problems.push(&format!("{place}.mapping"), error);
        }
        if let Some(url) = &self.base_url {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
                _ => problems.push(
                    &format!("{place}.base_url"),
                    format!("{url:?} must be an http:// or https:// URL"),
                ),
            }
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

/// Why `path` would not be matched literally by the router: `{x}` captures a segment, `{*x}`
/// the rest of the path, and a segment starting with `:` or `*` is refused by it at start.
fn route_syntax(path: &str) -> Option<&'static str> {
    if path.contains(['{', '}']) {
        return Some("contains { or }, which the router reads as a wildcard");
    }
    path.split('/')
        .any(|segment| segment.starts_with([':', '*']))
        .then_some("has a segment starting with : or *, which the router reads as a wildcard")
}

/// Two receivers cannot share one path (the router would refuse to start): the later one is
/// refused, naming the earlier.
pub(crate) fn check_unique_paths(sources: &[super::SourceConfig], problems: &mut Problems) {
    let mut seen: std::collections::HashMap<&str, (usize, &str)> = std::collections::HashMap::new();
    for (index, source) in sources.iter().enumerate() {
        let super::SourceConfig::Webhook(webhook) = source else {
            continue;
        };
        match seen.get(webhook.path.as_str()) {
            Some((first, name)) => problems.push(
                &format!("sources[{index}] ({}).path", webhook.name),
                format!(
                    "{:?} is already the path of sources[{first}] ({name}): each webhook source needs a path of its own",
                    webhook.path
                ),
            ),
            None => {
                seen.insert(&webhook.path, (index, &webhook.name));
            }
        }
    }
}

#[cfg(test)]
mod tests;
