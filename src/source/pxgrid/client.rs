//! The REST and WebSocket calls of a pxGrid consumer: the control API (`AccountCreate`,
//! `AccountActivate`, `ServiceLookup`, `AccessSecret`), the session directory's `getSessions`,
//! and opening the pubsub WebSocket with HTTP Basic credentials.

use std::sync::Arc;

use base64::Engine;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::protocol::{AccessSecret, Activation, CreatedAccount, Service, Services, Sessions};
use crate::config::PxgridSourceConfig;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a session failed, in the terms the reconnect loop acts on.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("credentials refused: {0} (check node_name and password)")]
    Unauthorized(String),
    #[error("the ISE administrator disabled account {0}")]
    Disabled(String),
    #[error("service {0} is not available on the pxGrid node")]
    NoService(String),
    #[error("pxGrid node answered HTTP {status}: {text}")]
    Http { status: u16, text: String },
    #[error("cannot reach the pxGrid node: {0}")]
    Transport(String),
    #[error("WebSocket: {0}")]
    Socket(String),
    #[error("WebSocket closed by the pxGrid node{0}")]
    SocketClosed(String),
    #[error("pxGrid node sent a STOMP ERROR: {0}")]
    StompError(String),
    #[error("no heart-beat or message from the pxGrid node for {0} ms")]
    PeerSilent(u64),
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

impl SessionError {
    pub fn kind(&self) -> &'static str {
        match self {
            SessionError::Unauthorized(_) => "unauthorized",
            SessionError::Disabled(_) => "disabled",
            SessionError::NoService(_) => "no_service",
            SessionError::Http { .. } => "http",
            SessionError::Transport(_) => "transport",
            SessionError::Socket(_) => "socket",
            SessionError::SocketClosed(_) => "socket_closed",
            SessionError::StompError(_) => "stomp_error",
            SessionError::PeerSilent(_) => "peer_silent",
            SessionError::Protocol(_) => "protocol",
        }
    }
}

fn transport(err: reqwest::Error) -> SessionError {
    SessionError::Transport(crate::tls::error_chain(&err))
}

/// The calls of one pxGrid source.
pub struct PxgridClient {
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    base: String,
    pub node_name: String,
}

impl PxgridClient {
    pub fn new(config: &PxgridSourceConfig) -> anyhow::Result<PxgridClient> {
        let identity = match (&config.client_cert_file, &config.client_key_file) {
            (Some(cert), Some(key)) => Some(crate::tls::ClientIdentity::from_files(cert, key)?),
            _ => None,
        };
        let crate::tls::HttpClient { http, tls } =
            crate::tls::http_client(&crate::tls::HttpClientOptions {
                identity: identity.as_ref(),
                timeout: config.request_timeout,
                ..crate::tls::HttpClientOptions::new(
                    &format!("source {:?}", config.name),
                    &config.tls,
                )
            })?;
        Ok(PxgridClient {
            http,
            tls,
            base: config.address.trim_end_matches('/').to_owned(),
            node_name: config.node_name.clone(),
        })
    }

    /// `POST <url>` with a JSON body and, when given, Basic `node_name:password`.
    async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        password: Option<&str>,
        body: &Value,
    ) -> Result<T, SessionError> {
        let mut request = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .json(body);
        if let Some(password) = password {
            request = request.basic_auth(&self.node_name, Some(password));
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let text = || String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        match status {
            StatusCode::OK => serde_json::from_slice(&bytes)
                .map_err(|err| SessionError::Protocol(format!("{url}: {err}"))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(SessionError::Unauthorized(
                format!("HTTP {status} from {url}"),
            )),
            _ => Err(SessionError::Http {
                status: status.as_u16(),
                text: text(),
            }),
        }
    }

    fn control(&self, operation: &str) -> String {
        format!("{}/pxgrid/control/{operation}", self.base)
    }

    /// Creates the account (no authentication); ISE answers with its password.
    pub async fn account_create(&self) -> Result<CreatedAccount, SessionError> {
        let body = json!({"nodeName": self.node_name});
        self.post(&self.control("AccountCreate"), None, &body).await
    }

    pub async fn account_activate(
        &self,
        password: &str,
        description: &str,
    ) -> Result<Activation, SessionError> {
        let body = json!({"description": description});
        self.post(&self.control("AccountActivate"), Some(password), &body)
            .await
    }

    /// The first service of that name (ISE shuffles them on purpose).
    pub async fn service_lookup(
        &self,
        password: &str,
        name: &str,
    ) -> Result<Service, SessionError> {
        let services: Services = self
            .post(
                &self.control("ServiceLookup"),
                Some(password),
                &json!({"name": name}),
            )
            .await?;
        services
            .services
            .into_iter()
            .next()
            .ok_or_else(|| SessionError::NoService(name.to_owned()))
    }

    pub async fn access_secret(&self, password: &str, peer: &str) -> Result<String, SessionError> {
        let secret: AccessSecret = self
            .post(
                &self.control("AccessSecret"),
                Some(password),
                &json!({"peerNodeName": peer}),
            )
            .await?;
        Ok(secret.secret)
    }

    /// `getSessions` of the session directory, since `start` when given.
    pub async fn get_sessions(
        &self,
        rest_base_url: &str,
        secret: &str,
        start: Option<jiff::Timestamp>,
    ) -> Result<Vec<Value>, SessionError> {
        let body = match start {
            Some(start) => json!({"startTimestamp": start.to_string()}),
            None => json!({}),
        };
        let url = format!("{}/getSessions", rest_base_url.trim_end_matches('/'));
        let sessions: Sessions = self.post(&url, Some(secret), &body).await?;
        Ok(sessions.sessions)
    }

    /// Opens the pubsub WebSocket with Basic `node_name:secret`.
    pub async fn open_socket(&self, ws_url: &str, secret: &str) -> Result<Socket, SessionError> {
        let mut request = ws_url
            .into_client_request()
            .map_err(|err| SessionError::Protocol(format!("wsUrl {ws_url:?}: {err}")))?;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{secret}", self.node_name));
        let value = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|err| SessionError::Protocol(err.to_string()))?;
        request.headers_mut().insert("Authorization", value);
        let connector = Connector::Rustls(self.tls.clone());
        match tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            false,
            Some(connector),
        )
        .await
        {
            Ok((socket, _response)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response))
                if response.status().as_u16() == 401 =>
            {
                Err(SessionError::Unauthorized(format!(
                    "HTTP 401 from {ws_url}"
                )))
            }
            Err(err) => Err(SessionError::Socket(err.to_string())),
        }
    }
}
