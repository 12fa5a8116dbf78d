//! The REST and WebSocket calls of a Webex events session: WDM device registration, the
//! Mercury socket, and fetching what an activity refers to (through the shared
//! [`WebexApi`](crate::webex_api::WebexApi)). Failures become a [`SessionError`]
//! the reconnect loop acts on.

use anyhow::Context;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::config::WebexEventsSourceConfig;
use crate::webex_api::{Resource, WebexApi, WebexApiOptions};

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

/// The source's calls: the shared Webex API client, plus the WDM registry and the socket.
pub struct WebexClient {
    api: WebexApi,
    config: WebexEventsSourceConfig,
}

impl WebexClient {
    pub fn new(config: &WebexEventsSourceConfig) -> anyhow::Result<WebexClient> {
        let api = WebexApi::new(&WebexApiOptions {
            component: &format!("source {:?}", config.name),
            base_url: &config.base_url,
            token: config.token(),
            tls: &config.tls,
            timeout: config.request_timeout,
        })?;
        Ok(WebexClient {
            api,
            config: config.clone(),
        })
    }

    /// Reuses the registration named `device_name` or makes one, so restarts do not pile up
    /// registrations (Webex allows a few hundred per user).
    pub async fn register(&self) -> anyhow::Result<Device> {
        let name = self.config.device_name();
        let url = Url::parse(&format!("{}/devices", self.config.wdm_url))
            .with_context(|| format!("wdm_url {:?} is not a URL", self.config.wdm_url))?;
        let (status, body) = self.api.get(url.clone()).await?;
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
            .api
            .post(url.clone(), &body)
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
        let connector = Connector::Rustls(self.api.client().tls.clone());
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
        self.api.me().await
    }

    /// `GET {base_url}/v1/<path>/<id>` for `messages` and `attachment/actions`: `Ok(None)` on
    /// 404 (the resource is gone, or not offered).
    pub async fn fetch(&self, path: &str, id: &str) -> anyhow::Result<Option<Value>> {
        let resource = match path {
            "messages" => Resource::Messages,
            "attachment/actions" => Resource::AttachmentActions,
            other => anyhow::bail!("no Webex resource {other:?} to fetch"),
        };
        self.api.fetch(resource, id).await
    }
}

fn parse_device(body: &Value) -> Option<Device> {
    Some(Device {
        url: body["url"].as_str()?.to_owned(),
        web_socket_url: body["webSocketUrl"].as_str()?.to_owned(),
    })
}
