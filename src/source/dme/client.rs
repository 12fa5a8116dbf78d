//! The REST and WebSocket calls of a DME session: login, aaaRefresh, logout, subscribe,
//! subscriptionRefresh and opening `wss://device/socket<token>`. Each reply is classified into a
//! [`SessionError`] the session loop can act on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::protocol::{self, Login, Mo};
use crate::config::{DmeSourceConfig, TlsConfig};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a session call failed, in the terms the session loop acts on.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("login refused: {0} (check username and password)")]
    LoginRefused(String),
    /// The device turned the login away for now (HTTP 5xx, e.g. 503 while it starts or when it
    /// has too many sessions): not a credentials problem, retried with backoff.
    #[error("login refused for now by the device: HTTP {status}: {text} (retrying with backoff)")]
    LoginUnavailable { status: u16, text: String },
    #[error("session token no longer valid: {0}")]
    TokenInvalid(String),
    #[error("device has no open WebSocket for this session: {0}")]
    NoSocket(String),
    #[error("subscription {id} was lost by the device: {text}")]
    SubscriptionLost { id: String, text: String },
    #[error("device unavailable: HTTP {status}: {text}")]
    Unavailable { status: u16, text: String },
    #[error("device answered HTTP {status}: {text}")]
    Http { status: u16, text: String },
    #[error("cannot reach device: {0}")]
    Transport(String),
    #[error("WebSocket: {0}")]
    Socket(String),
    #[error("WebSocket closed by the device{0}")]
    SocketClosed(String),
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

impl SessionError {
    pub fn kind(&self) -> &'static str {
        match self {
            SessionError::LoginRefused(_) => "login_refused",
            SessionError::LoginUnavailable { .. } => "login_unavailable",
            SessionError::TokenInvalid(_) => "token_invalid",
            SessionError::NoSocket(_) => "no_socket",
            SessionError::SubscriptionLost { .. } => "subscription_lost",
            SessionError::Unavailable { .. } => "unavailable",
            SessionError::Http { .. } => "http",
            SessionError::Transport(_) => "transport",
            SessionError::Socket(_) => "socket",
            SessionError::SocketClosed(_) => "socket_closed",
            SessionError::Protocol(_) => "protocol",
        }
    }
}

fn transport(err: reqwest::Error) -> SessionError {
    SessionError::Transport(crate::tls::error_chain(&err))
}

/// How many devices may be logging in and subscribing at the same time, gateway-wide. Thousands
/// of devices starting together (or coming back after a network outage) would otherwise hit the
/// AAA servers all at once, and hold every device's login, handshake and snapshot in memory at
/// the same moment; a device's connect takes a few milliseconds, so the queue drains quickly.
pub const CONNECT_CONCURRENCY: usize = 64;

/// What every DME source of a gateway shares: HTTP and TLS clients per TLS setting (so thousands
/// of devices do not each hold a connection pool and a certificate store) and the connect limit.
pub struct SharedClients {
    clients: Mutex<HashMap<(TlsConfig, Duration), Clients>>,
    pub(super) connects: Arc<tokio::sync::Semaphore>,
}

impl Default for SharedClients {
    fn default() -> Self {
        SharedClients {
            clients: Mutex::default(),
            connects: Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY)),
        }
    }
}

/// The REST client and the TLS configuration the WebSocket connector uses.
type Clients = crate::tls::HttpClient;

impl SharedClients {
    /// The clients for `tls` and `timeout`, built once; `component` (the source) is named in the
    /// warning an unverified client logs, for each source that uses one.
    fn get(
        &self,
        component: &str,
        tls: &TlsConfig,
        timeout: Duration,
    ) -> anyhow::Result<(reqwest::Client, Arc<rustls::ClientConfig>)> {
        let mut clients = self.clients.lock().expect("clients lock");
        if let Some(found) = clients.get(&(tls.clone(), timeout)) {
            crate::tls::warn_if_insecure(component, tls);
            return Ok((found.http.clone(), found.tls.clone()));
        }
        // A device's calls are sequential, so one kept-alive connection per device suffices.
        let built = crate::tls::http_client(&crate::tls::HttpClientOptions {
            timeout,
            ..crate::tls::HttpClientOptions::new(component, tls)
        })?;
        clients.insert((tls.clone(), timeout), built.clone());
        Ok((built.http, built.tls))
    }
}

/// The calls of one device.
pub struct DmeClient {
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    base: String,
    username: String,
    password: String,
}

impl DmeClient {
    pub fn new(config: &DmeSourceConfig, shared: &SharedClients) -> anyhow::Result<DmeClient> {
        let component = format!("source {:?}", config.name);
        let (http, tls) = shared.get(&component, &config.tls, config.request_timeout)?;
        Ok(DmeClient {
            http,
            tls,
            base: config.address.trim_end_matches('/').to_owned(),
            username: config.username.clone(),
            password: config.password().to_owned(),
        })
    }

    pub async fn login(&self) -> Result<Login, SessionError> {
        let body = serde_json::json!({"aaaUser": {"attributes": {"name": self.username, "pwd": self.password}}});
        let response = self
            .http
            .post(format!("{}/api/aaaLogin.json", self.base))
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let (status, bytes) = read(response).await?;
        if status != StatusCode::OK {
            return Err(match classify(status, &bytes, None) {
                SessionError::Unavailable { status, text } => {
                    SessionError::LoginUnavailable { status, text }
                }
                other => other,
            });
        }
        protocol::parse_login(&bytes).map_err(SessionError::Protocol)
    }

    /// Extends the session; the device may answer with a new token.
    pub async fn refresh_session(&self, token: &str) -> Result<Login, SessionError> {
        let (status, bytes) = self
            .get(&format!("{}/api/aaaRefresh.json", self.base), token)
            .await?;
        if status != StatusCode::OK {
            return Err(classify(status, &bytes, None));
        }
        protocol::parse_login(&bytes).map_err(SessionError::Protocol)
    }

    /// Ends the session so the device frees it at once; failures are of no consequence.
    pub async fn logout(&self, token: &str) {
        let body = serde_json::json!({"aaaUser": {"attributes": {"name": self.username}}});
        let request = self
            .http
            .post(format!("{}/api/aaaLogout.json", self.base))
            .header(COOKIE, cookie(token))
            .json(&body);
        let _ = tokio::time::timeout(Duration::from_secs(2), request.send()).await;
    }

    pub async fn open_socket(&self, token: &str) -> Result<Socket, SessionError> {
        let url = protocol::socket_url(&self.base, token);
        // Small buffers: a gateway holds thousands of these sockets and pushes are small.
        let config = WebSocketConfig::default()
            .read_buffer_size(2 * 1024)
            .write_buffer_size(0);
        let connector = Connector::Rustls(self.tls.clone());
        let (socket, _response) = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(config),
            true,
            Some(connector),
        )
        .await
        .map_err(|err| SessionError::Socket(err.to_string()))?;
        Ok(socket)
    }

    /// Subscribes to one query: returns the subscription id and the objects it covers now.
    pub async fn subscribe(
        &self,
        token: &str,
        query: &str,
    ) -> Result<(String, Vec<Mo>), SessionError> {
        let (status, bytes) = self
            .get(&protocol::subscription_url(&self.base, query), token)
            .await?;
        if status != StatusCode::OK {
            return Err(classify(status, &bytes, None));
        }
        match protocol::parse_reply(&bytes) {
            Ok(Ok(reply)) => {
                let id = reply.subscription_ids.into_iter().next().ok_or_else(|| {
                    SessionError::Protocol(format!("no subscriptionId in the reply to {query}"))
                })?;
                Ok((id, reply.objects))
            }
            Ok(Err(error)) => Err(SessionError::Http {
                status: status.as_u16(),
                text: error.text,
            }),
            Err(err) => Err(SessionError::Protocol(format!("reply to {query}: {err}"))),
        }
    }

    pub async fn refresh_subscription(&self, token: &str, id: &str) -> Result<(), SessionError> {
        let url = format!("{}/api/subscriptionRefresh.json?id={id}", self.base);
        let (status, bytes) = self.get(&url, token).await?;
        if status == StatusCode::OK && protocol::parse_error(&bytes).is_none() {
            return Ok(());
        }
        Err(classify(status, &bytes, Some(id)))
    }

    async fn get(
        &self,
        url: &str,
        token: &str,
    ) -> Result<(StatusCode, bytes::Bytes), SessionError> {
        let response = self
            .http
            .get(url)
            .header(COOKIE, cookie(token))
            .send()
            .await
            .map_err(transport)?;
        read(response).await
    }
}

fn cookie(token: &str) -> String {
    format!("APIC-cookie={token}")
}

async fn read(response: reqwest::Response) -> Result<(StatusCode, bytes::Bytes), SessionError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(transport)?;
    Ok((status, bytes))
}

/// Maps a failed reply to what it means for the session.
fn classify(status: StatusCode, body: &[u8], subscription: Option<&str>) -> SessionError {
    let error = protocol::parse_error(body);
    let text = error
        .as_ref()
        .map(|e| e.text.clone())
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    let code = error
        .as_ref()
        .and_then(|e| e.code.parse::<u16>().ok())
        .unwrap_or(status.as_u16());
    match (code, subscription) {
        (401, _) => SessionError::LoginRefused(text),
        (403, _) => SessionError::TokenInvalid(text),
        (405, _) => SessionError::NoSocket(text),
        // An expired or unknown subscription id answers the error envelope with code 400.
        (400, Some(id)) => SessionError::SubscriptionLost {
            id: id.to_owned(),
            text,
        },
        (500..=599, _) => SessionError::Unavailable {
            status: status.as_u16(),
            text,
        },
        _ => SessionError::Http {
            status: status.as_u16(),
            text,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_map_to_what_the_session_does_next() {
        let login = include_bytes!("../../../tests/data/dme/error-login-401.json");
        assert!(
            matches!(classify(StatusCode::UNAUTHORIZED, login, None), SessionError::LoginRefused(text) if text.contains("Username or password"))
        );
        let no_socket =
            include_bytes!("../../../tests/data/dme/error-subscribe-405-no-websocket.json");
        assert!(matches!(
            classify(StatusCode::METHOD_NOT_ALLOWED, no_socket, None),
            SessionError::NoSocket(_)
        ));
        let expired = br#"{"totalCount":"1","imdata":[{"error":{"attributes":{"code":"400","text":"gone"}}}]}"#;
        assert!(
            matches!(classify(StatusCode::BAD_REQUEST, expired, Some("7")), SessionError::SubscriptionLost { id, .. } if id == "7")
        );
        let token = br#"{"totalCount":"1","imdata":[{"error":{"attributes":{"code":"403","text":"Token was invalid (Error: Token timeout)"}}}]}"#;
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, token, None),
            SessionError::TokenInvalid(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, b"<html>", None),
            SessionError::Unavailable { status: 502, .. }
        ));
    }
}
