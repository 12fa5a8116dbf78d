//! One pxGrid session, from account activation to failure: activate (waiting while PENDING),
//! look the services up, open the WebSocket, CONNECT and SUBSCRIBE, resynchronise after a gap,
//! then the live loop of MESSAGE frames and heart-beats.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Pxgrid;
use super::client::{SessionError, Socket};
use super::protocol::{self, AccountState, PUBSUB_SERVICE, SESSION_SERVICE};
use super::stomp::{self, Frame, Item};
use crate::source::ConnectionState;
use crate::source::lifecycle::{Gap, Link, Sync, unless_stopped};
use crate::source::socket;

type Ended = crate::source::lifecycle::Ended<SessionError>;

/// A peer silent for this many heart-beat intervals counts as dead.
const SILENCE_FACTOR: f64 = 2.5;

/// What ServiceLookup told us.
struct Services {
    /// The session directory: its node, `sessionTopic` and `restBaseUrl`, when ISE offers it.
    session_node: Option<String>,
    session_topic: Option<String>,
    rest_base_url: Option<String>,
    pubsub_node: String,
    ws_url: String,
}

/// A subscribed socket.
struct Live {
    socket: Socket,
    topics: Vec<String>,
    /// How often we must send something, and how long the peer may stay silent.
    send_every: Duration,
    silence_limit: Duration,
    /// Heart-beats were negotiated for our direction; otherwise we send WebSocket pings.
    stomp_heartbeat: bool,
}

impl Pxgrid {
    pub(super) async fn run_session(&mut self, link: &mut Link) -> Ended {
        let stop = link.stop.clone();
        let connect = Box::pin(self.connect(link));
        let Some(connected) = unless_stopped(stop, connect).await else {
            return Ended::Stopped;
        };
        match connected {
            Ok(Some(mut live)) => self.live(link, &mut live).await,
            Ok(None) => Ended::Stopped,
            Err(error) => Ended::Failed {
                error,
                healthy_until: None,
                was_live: false,
            },
        }
    }

    /// Activates the account and subscribes; `None` on shutdown while waiting for approval.
    async fn connect(&mut self, link: &mut Link) -> Result<Option<Live>, SessionError> {
        link.status.set_state(ConnectionState::Connecting);
        let password = match self.password.clone() {
            Some(password) => password,
            None => {
                let created = self.client.account_create().await?;
                tracing::warn!(source = %link.name, node_name = %created.node_name, "created a pxGrid account; its password is kept in memory only: store it in password_file to keep the account across restarts");
                self.password = Some(created.password.clone());
                created.password
            }
        };
        if !self.activate(link, &password).await? {
            return Ok(None);
        }
        let services = self.lookup(&password).await?;
        let secret = self
            .client
            .access_secret(&password, &services.pubsub_node)
            .await?;
        let socket = self.client.open_socket(&services.ws_url, &secret).await?;
        link.status.set_state(ConnectionState::Subscribing);
        let topics = match (&self.config.topics, &services.session_topic) {
            (Some(topics), _) => topics.clone(),
            (None, Some(topic)) => vec![topic.clone()],
            (None, None) => return Err(SessionError::NoService(SESSION_SERVICE.to_owned())),
        };
        let mut live = self
            .stomp_connect(link, socket, &services.pubsub_node, topics)
            .await?;
        let mut early = Vec::new();
        if let Some(stored) = link.restore_view().await {
            self.known = stored.objects.iter().map(protocol::known_session).collect();
        }
        if link.synced_once() {
            let resync = while_reading(
                self.fetch_missed(&password, &services, link.pending_gap()),
                &mut live.socket,
                &mut early,
            )
            .await?;
            if let Sync::AfterGap(gap) = link.in_sync() {
                self.report_gap(link, gap, resync, &services).await;
            }
        } else {
            link.in_sync();
            link.save_baseline(self.known.iter().map(protocol::session_object).collect())
                .await;
        }
        link.connected(Some(live.topics.len()));
        tracing::info!(source = %link.name, topics = ?live.topics, ws_url = %services.ws_url, "subscribed to pxGrid");
        for message in early {
            self.handle_message(link, &live.topics, &message).await?;
        }
        Ok(Some(live))
    }

    /// `AccountActivate` until ENABLED; false on shutdown while PENDING.
    async fn activate(&mut self, link: &Link, password: &str) -> Result<bool, SessionError> {
        let mut polls = 0u32;
        loop {
            let activation = self
                .client
                .account_activate(password, &self.config.description)
                .await?;
            match activation.account_state {
                AccountState::Enabled => return Ok(true),
                AccountState::Disabled => {
                    return Err(SessionError::Disabled(self.config.node_name.clone()));
                }
                AccountState::Pending | AccountState::Init => {
                    polls += 1;
                    tracing::info!(source = %link.name, node_name = %self.config.node_name, polls, next_poll_ms = self.config.activation_poll.as_millis() as u64, "pxGrid account is waiting for approval by an ISE administrator");
                    link.status.update(|status| {
                        status.state = ConnectionState::Connecting;
                        status.last_error = Some(format!(
                            "account {} is PENDING approval in ISE",
                            self.config.node_name
                        ));
                        status.last_error_at = Some(jiff::Timestamp::now());
                    });
                    tokio::select! {
                        _ = link.stop.cancelled() => return Ok(false),
                        _ = tokio::time::sleep(self.config.activation_poll) => {}
                    }
                }
            }
        }
    }

    async fn lookup(&self, password: &str) -> Result<Services, SessionError> {
        let session = match self.client.service_lookup(password, SESSION_SERVICE).await {
            Ok(service) => Some(service),
            // Other topics work without the session directory.
            Err(SessionError::NoService(_)) if self.config.topics.is_some() => None,
            Err(error) => return Err(error),
        };
        let property = |name: &str| {
            session
                .as_ref()
                .and_then(|service| service.property(name))
                .map(str::to_owned)
        };
        let pubsub_name = property("wsPubsubService").unwrap_or_else(|| PUBSUB_SERVICE.into());
        let pubsub = self.client.service_lookup(password, &pubsub_name).await?;
        let ws_url = pubsub
            .property("wsUrl")
            .ok_or_else(|| SessionError::Protocol(format!("{pubsub_name} has no wsUrl")))?
            .to_owned();
        Ok(Services {
            session_node: session.as_ref().map(|service| service.node_name.clone()),
            session_topic: property("sessionTopic"),
            rest_base_url: property("restBaseUrl"),
            pubsub_node: pubsub.node_name,
            ws_url,
        })
    }

    /// CONNECT (waiting for CONNECTED) and SUBSCRIBE to every topic.
    async fn stomp_connect(
        &self,
        link: &Link,
        mut socket: Socket,
        host: &str,
        topics: Vec<String>,
    ) -> Result<Live, SessionError> {
        let heartbeat = self.config.heartbeat.as_millis() as u64;
        let connect = Frame::new("CONNECT")
            .header("accept-version", "1.2")
            .header("host", host)
            .header("heart-beat", format!("{heartbeat},{heartbeat}"));
        send(&mut socket, &connect).await?;
        let connected = tokio::time::timeout(self.config.request_timeout, next_frame(&mut socket))
            .await
            .map_err(|_| SessionError::Protocol("no CONNECTED frame in time".into()))??;
        if connected.command != "CONNECTED" {
            return Err(SessionError::Protocol(format!(
                "expected CONNECTED, got {}",
                connected.command
            )));
        }
        let (server_can, server_wants) = stomp::parse_heartbeat(connected.get("heart-beat"))
            .map_err(|err| SessionError::Protocol(err.to_string()))?;
        let send_ms = stomp::negotiate(heartbeat, server_wants);
        let receive_ms = stomp::negotiate(server_can, heartbeat);
        for (index, topic) in topics.iter().enumerate() {
            let subscribe = Frame::new("SUBSCRIBE")
                .header("destination", topic.as_str())
                .header("id", index.to_string());
            send(&mut socket, &subscribe).await?;
        }
        let fallback = self.config.heartbeat;
        let interval = |ms: u64| match ms {
            0 => fallback,
            ms => Duration::from_millis(ms),
        };
        tracing::debug!(source = %link.name, send_ms, receive_ms, "STOMP heart-beats negotiated");
        Ok(Live {
            socket,
            topics,
            send_every: interval(send_ms),
            // Without STOMP heart-beats from ISE, our pings' pongs keep the connection audible.
            silence_limit: interval(receive_ms.max(if send_ms == 0 { 0 } else { send_ms }))
                .mul_f64(SILENCE_FACTOR),
            stomp_heartbeat: send_ms > 0,
        })
    }

    /// What `getSessions` returns since the gap began; `Err` with why when there is no resync.
    async fn fetch_missed(
        &self,
        password: &str,
        services: &Services,
        gap: Option<&Gap>,
    ) -> Result<Vec<Value>, String> {
        let (Some(node), Some(base)) = (&services.session_node, &services.rest_base_url) else {
            return Err("the session directory offers no restBaseUrl".into());
        };
        let since = gap
            .map(|gap| gap.since)
            .unwrap_or_else(jiff::Timestamp::now);
        let margin = jiff::SignedDuration::try_from(self.config.resync_margin)
            .unwrap_or(jiff::SignedDuration::ZERO);
        let start = since.checked_sub(margin).unwrap_or(since);
        let secret = self
            .client
            .access_secret(password, node)
            .await
            .map_err(|err| err.to_string())?;
        self.client
            .get_sessions(base, &secret, Some(start))
            .await
            .map_err(|err| err.to_string())
    }

    /// Emits the gap event, then every resynchronised session not already reported.
    async fn report_gap(
        &mut self,
        link: &Link,
        gap: Gap,
        resync: Result<Vec<Value>, String>,
        services: &Services,
    ) {
        let until = jiff::Timestamp::now();
        let sessions: Vec<Value> = match &resync {
            Ok(sessions) => sessions
                .iter()
                .filter(|session| self.is_new(link, session))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut data = serde_json::Map::new();
        data.insert("resynchronised".into(), resync.is_ok().into());
        data.insert("sessions".into(), sessions.len().into());
        let outcome = match &resync {
            Ok(_) => format!(
                "resynchronised {} sessions with getSessions",
                sessions.len()
            ),
            Err(why) => {
                data.insert("resync_error".into(), why.as_str().into());
                format!("not resynchronised: {why}")
            }
        };
        let duration_ms = link.report_gap(&gap, until, &outcome, data).await;
        tracing::info!(source = %link.name, gap_ms = duration_ms, sessions = sessions.len(), resynchronised = resync.is_ok(), rest = ?services.rest_base_url, "after a gap");
        for session in &sessions {
            let mut event = protocol::session_event(&link.name, session, until);
            event.resync = true;
            link.emit(event).await;
        }
    }

    async fn live(&mut self, link: &Link, live: &mut Live) -> Ended {
        let mut send_tick = tokio::time::interval(live.send_every);
        send_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let check = (live.silence_limit / 4).max(Duration::from_millis(10));
        let mut check_tick = tokio::time::interval(check);
        let mut last_received = Instant::now();
        let mut healthy_until = jiff::Timestamp::now();
        let stop = link.stop.clone();
        let failed = |error, healthy_until| Ended::Failed {
            error,
            healthy_until: Some(healthy_until),
            was_live: true,
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    let disconnect = Frame::new("DISCONNECT").header("receipt", "bye");
                    let _ = tokio::time::timeout(Duration::from_secs(1), send(&mut live.socket, &disconnect)).await;
                    return Ended::Stopped;
                }
                message = live.socket.next() => {
                    let bytes = match message {
                        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                        Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                        Some(Ok(Message::Close(close))) => {
                            let reason = close.map(|frame| format!(" (code {}, {:?})", u16::from(frame.code), frame.reason.as_str())).unwrap_or_default();
                            return failed(SessionError::SocketClosed(reason), healthy_until);
                        }
                        Some(Ok(_)) => Vec::new(),
                        Some(Err(err)) => return failed(SessionError::Socket(err.to_string()), healthy_until),
                        None => return failed(SessionError::SocketClosed(String::new()), healthy_until),
                    };
                    last_received = Instant::now();
                    healthy_until = jiff::Timestamp::now();
                    if let Err(error) = Box::pin(self.handle_message(link, &live.topics, &bytes)).await {
                        return failed(error, healthy_until);
                    }
                }
                _ = send_tick.tick() => {
                    let sent = if live.stomp_heartbeat {
                        live.socket.send(Message::Binary(stomp::HEARTBEAT.to_vec().into())).await
                    } else {
                        live.socket.send(Message::Ping(Vec::new().into())).await
                    };
                    if let Err(err) = sent {
                        return failed(SessionError::Socket(err.to_string()), healthy_until);
                    }
                }
                _ = check_tick.tick() => {
                    if last_received.elapsed() > live.silence_limit {
                        return failed(SessionError::PeerSilent(live.silence_limit.as_millis() as u64), healthy_until);
                    }
                }
            }
        }
    }

    /// Handles the frames of one WebSocket message: MESSAGE becomes events, ERROR ends the session.
    async fn handle_message(
        &mut self,
        link: &Link,
        topics: &[String],
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        let items = match stomp::decode(bytes) {
            Ok(items) => items,
            Err(err) => {
                tracing::warn!(source = %link.name, error = %err, bytes = bytes.len(), "ignoring a WebSocket message that is not STOMP");
                return Ok(());
            }
        };
        for item in items {
            let Item::Frame(frame) = item else { continue };
            match frame.command.as_str() {
                "MESSAGE" => self.handle_frame(link, topics, &frame).await,
                "ERROR" => {
                    let message = frame.get("message").unwrap_or_default().to_owned();
                    let body = String::from_utf8_lossy(&frame.body);
                    return Err(SessionError::StompError(
                        format!("{message} {body}").trim().to_owned(),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn handle_frame(&mut self, link: &Link, topics: &[String], frame: &Frame) {
        let destination = frame.topic(topics).to_owned();
        let body: Value = match serde_json::from_slice(&frame.body) {
            Ok(body) => body,
            Err(err) => {
                tracing::warn!(source = %link.name, destination = %destination, error = %err, "ignoring a MESSAGE whose body is not JSON");
                return;
            }
        };
        let received = jiff::Timestamp::now();
        let Some(sessions) = body.get("sessions").and_then(Value::as_array) else {
            let event = protocol::topic_event(&link.name, &destination, body, received);
            link.emit(event).await;
            return;
        };
        for session in sessions {
            if self.is_new(link, session) {
                link.emit(protocol::session_event(&link.name, session, received))
                    .await;
            }
        }
    }

    /// Records the session's state and time; false when exactly that was already reported.
    fn is_new(&mut self, link: &Link, session: &Value) -> bool {
        let Some(key) = protocol::session_key(session) else {
            return true;
        };
        let version = protocol::session_version(session);
        if self.known.get(key) == Some(&version) {
            link.duplicates(1);
            return false;
        }
        self.known.insert(key.to_owned(), version);
        true
    }
}

async fn send(socket: &mut Socket, frame: &Frame) -> Result<(), SessionError> {
    socket
        .send(Message::Binary(frame.encode().into()))
        .await
        .map_err(|err| SessionError::Socket(err.to_string()))
}

/// The next frame, skipping heart-beats.
async fn next_frame(socket: &mut Socket) -> Result<Frame, SessionError> {
    loop {
        let bytes = match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
            Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
            Some(Ok(Message::Close(_))) | None => {
                return Err(SessionError::SocketClosed(String::new()));
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(SessionError::Socket(err.to_string())),
        };
        let items = stomp::decode(&bytes).map_err(|err| SessionError::Protocol(err.to_string()))?;
        if let Some(frame) = items.into_iter().find_map(|item| match item {
            Item::Frame(frame) => Some(frame),
            Item::Heartbeat => None,
        }) {
            if frame.command == "ERROR" {
                let message = frame.get("message").unwrap_or_default().to_owned();
                return Err(SessionError::StompError(message));
            }
            return Ok(frame);
        }
    }
}

/// Awaits a call while still reading the socket, keeping what arrives meanwhile, in order.
async fn while_reading<F: Future>(
    call: F,
    socket: &mut Socket,
    buffer: &mut Vec<Vec<u8>>,
) -> Result<F::Output, SessionError> {
    let bytes = |message| match message {
        Message::Binary(bytes) => Some(bytes.to_vec()),
        Message::Text(text) => Some(text.as_bytes().to_vec()),
        _ => None,
    };
    socket::while_reading(call, socket, buffer, bytes)
        .await
        .map_err(|interrupted| {
            interrupted.into_error(SessionError::SocketClosed, SessionError::Socket)
        })
}
