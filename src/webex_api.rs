//! The Webex REST API as netpulse calls it: one client for every component that talks to Webex,
//! the `webex_events` source (WDM device registration, `people/me`, the message or card action
//! an activity points to), the `provider: webex` webhook ([`Fetcher`]: what a notification
//! points to) and the Webex sink (messages posted, recent messages listed). It sits beside
//! `source/` and `sink/` so both can use it without one layer reaching into the other.
//!
//! An id that goes into a URL path comes from a peer (a webhook body, an activity), so it is
//! checked to be a Webex (Hydra) id before it is used ([`hydra`]) and percent-encoded as one path
//! segment: `data.id = "../rooms"` must never turn a message fetch into a room listing made with
//! the bot's token.

pub mod hydra;
mod notification;

use std::time::Duration;

use anyhow::Context;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::Value;

pub use notification::Fetcher;

use crate::config::TlsConfig;
use crate::tls::{HttpClient, HttpClientOptions};

/// What a Webex id in a URL path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/v1/messages/{id}`
    Messages,
    /// `/v1/attachment/actions/{id}`
    AttachmentActions,
    /// `/v1/people/{id}`
    People,
}

impl Resource {
    fn path(self) -> &'static [&'static str] {
        match self {
            Resource::Messages => &["v1", "messages"],
            Resource::AttachmentActions => &["v1", "attachment", "actions"],
            Resource::People => &["v1", "people"],
        }
    }
}

/// How to reach the API and as whom.
pub struct WebexApiOptions<'a> {
    /// Who uses the client, as the log names it: `sink "webex"`.
    pub component: &'a str,
    /// `https://webexapis.com`, or the simulator's URL.
    pub base_url: &'a str,
    /// The bot's access token.
    pub token: &'a str,
    pub tls: &'a TlsConfig,
    pub timeout: Duration,
}

/// The shared client: the HTTP client from the TLS policy, the base URL, the bearer token.
pub struct WebexApi {
    client: HttpClient,
    base_url: Url,
    authorization: HeaderValue,
}

impl WebexApi {
    pub fn new(options: &WebexApiOptions) -> anyhow::Result<WebexApi> {
        let client = crate::tls::http_client(&HttpClientOptions {
            timeout: options.timeout,
            // A site may reach the Webex cloud only through its proxy.
            proxy_from_environment: true,
            ..HttpClientOptions::new(options.component, options.tls)
        })?;
        let base_url = Url::parse(options.base_url.trim_end_matches('/'))
            .with_context(|| format!("the Webex API URL {:?} is not a URL", options.base_url))?;
        anyhow::ensure!(
            !base_url.cannot_be_a_base(),
            "the Webex API URL {:?} cannot have paths",
            options.base_url
        );
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", options.token))
            .context("the token contains characters that cannot go in a header")?;
        authorization.set_sensitive(true);
        Ok(WebexApi {
            client,
            base_url,
            authorization,
        })
    }

    /// The HTTP client and the TLS configuration (for the Mercury WebSocket).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// `{base_url}/{segments...}`, each segment percent-encoded as one path segment.
    pub fn url<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .expect("checked to be a base URL")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// The URL of one resource, once `id` is known to be a Webex id.
    pub fn resource_url(&self, resource: Resource, id: &str) -> Result<Url, hydra::NotAnId> {
        let id = hydra::check(id)?;
        Ok(self.url(resource.path().iter().copied().chain([id])))
    }

    /// `GET url` with the token: the status and the body as JSON (`null` when it is not).
    pub async fn get(&self, url: Url) -> anyhow::Result<(StatusCode, Value)> {
        let response = self
            .client
            .http
            .get(url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// `POST url` with a JSON body and the token: the response, for callers that classify it.
    pub async fn post(&self, url: Url, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.client
            .http
            .post(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .json(body)
            .send()
            .await
    }

    /// One message or card action: `Ok(None)` on 404 (gone, or not offered).
    pub async fn fetch(&self, resource: Resource, id: &str) -> anyhow::Result<Option<Value>> {
        let url = self.resource_url(resource, id)?;
        let (status, body) = self.get(url.clone()).await?;
        match status {
            status if status.is_success() => Ok(Some(body)),
            StatusCode::NOT_FOUND => Ok(None),
            status => anyhow::bail!("GET {url}: HTTP {status}: {}", excerpt(&body)),
        }
    }

    /// The primary email of the person `id` (`GET /v1/people/{id}` → `emails[0]`): who clicked a
    /// card. `Ok(None)` when Webex does not know the person or lists no email.
    pub async fn person_email(&self, id: &str) -> anyhow::Result<Option<String>> {
        let person = self.fetch(Resource::People, id).await?;
        Ok(person.and_then(|person| person["emails"][0].as_str().map(str::to_owned)))
    }

    /// The bot's own person id (`GET /v1/people/me`).
    pub async fn me(&self) -> anyhow::Result<String> {
        let url = self.url(["v1", "people", "me"]);
        let (status, body) = self.get(url.clone()).await?;
        anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}");
        body["id"]
            .as_str()
            .map(str::to_owned)
            .context("people/me has no id")
    }
}

/// The start of an error body, for a log line.
fn excerpt(body: &Value) -> String {
    let text = match body {
        Value::Null => String::new(),
        other => other.to_string(),
    };
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests;
