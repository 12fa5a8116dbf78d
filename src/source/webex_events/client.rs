//! The REST and WebSocket calls of a Webex events session: WDM device registration, the
//! Mercury socket, and fetching what an activity refers to. Failures become a [`SessionError`]
//! the reconnect loop acts on.

use std::sync::Arc;

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::config::WebexEventsSourceConfig;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The socket upgrade answered 404: the registration is stale, register again.
    #[error("device registration unknown to Mercury (HTTP 404): registering again")]
    RegistrationGone,
    #[error("closed by Webex with {code} {reason:?}")]
    Closed { code: u16, reason: String },
    #[error("{0}")]
    Failed(String),
}

impl From<anyhow::Error> for SessionError {
    fn from(err: anyhow::Error) -> SessionError {
        SessionError::Failed(format!("{err:#}"))
    }
}

/// A device registration: where to connect.
#[derive(Debug, Clone)]
pub struct Device {
    pub url: String,
    pub web_socket_url: String,
}

pub struct WebexClient {
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    config: WebexEventsSourceConfig,
}

impl WebexClient {
    pub fn new(config: &WebexEventsSourceConfig) -> anyhow::Result<WebexClient> {
        let tls = crate::tls::client_config(&config.tls)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(WebexClient {
            http,
            tls,
            config: config.clone(),
        })
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<(StatusCode, Value)> {
        let response = self
            .http
            .get(url)
            .bearer_auth(self.config.token())
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Reuses the registration named `device_name` or makes one, so restarts do not pile up
    /// registrations (Webex allows a few hundred per user).
    pub async fn register(&self) -> anyhow::Result<Device> {
        let name = self.config.device_name();
        let url = format!("{}/devices", self.config.wdm_url);
        let (status, body) = self.get_json(&url).await?;
        if status.is_success()
            && let Some(found) = body["devices"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|device| device["name"] == name.as_str())
            && let Some(device) = parse_device(found)
        {
            return Ok(device);
        }
        let body = json!({
            "deviceName": name, "name": name, "deviceType": "DESKTOP",
            "localizedModel": "rust", "model": "rust",
            "systemName": "netpulse", "systemVersion": env!("CARGO_PKG_VERSION"),
        });
        let response = self
            .http
            .post(&url)
            .bearer_auth(self.config.token())
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(
            status.is_success(),
            "device registration refused: HTTP {status}: {}",
            body["message"].as_str().unwrap_or("")
        );
        parse_device(&body).context("device registration answer has no url or webSocketUrl")
    }

    pub async fn open_socket(&self, device: &Device) -> Result<Socket, SessionError> {
        let connector = Connector::Rustls(self.tls.clone());
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            device.web_socket_url.as_str(),
            None,
            false,
            Some(connector),
        );
        match tokio::time::timeout(self.config.request_timeout, connect).await {
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response)))
                if response.status() == StatusCode::NOT_FOUND =>
            {
                Err(SessionError::RegistrationGone)
            }
            Ok(Err(err)) => Err(SessionError::Failed(format!(
                "cannot open the socket: {err}"
            ))),
            Err(_) => Err(SessionError::Failed("opening the socket timed out".into())),
        }
    }

    /// The bot's own person id (`GET /v1/people/me`).
    pub async fn me(&self) -> anyhow::Result<String> {
        let url = format!("{}/v1/people/me", self.config.base_url);
        let (status, body) = self.get_json(&url).await?;
        anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}");
        body["id"]
            .as_str()
            .map(str::to_owned)
            .context("people/me has no id")
    }

    /// `GET {base_url}/v1/<path>/<id>`: `Ok(None)` on 404 (the resource is gone, or not offered).
    pub async fn fetch(&self, path: &str, id: &str) -> anyhow::Result<Option<Value>> {
        let url = format!("{}/v1/{path}/{id}", self.config.base_url);
        let (status, body) = self.get_json(&url).await?;
        match status {
            status if status.is_success() => Ok(Some(body)),
            StatusCode::NOT_FOUND => Ok(None),
            status => anyhow::bail!("GET {url}: HTTP {status}"),
        }
    }
}

fn parse_device(body: &Value) -> Option<Device> {
    Some(Device {
        url: body["url"].as_str()?.to_owned(),
        web_socket_url: body["webSocketUrl"].as_str()?.to_owned(),
    })
}
