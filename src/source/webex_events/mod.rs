//! The Webex events source (`type: webex_events`): a bot's real-time events over Mercury, for
//! bots without a public webhook URL (`protocols-websocket.md` §4).
//!
//! A session: find the bot's WDM device registration by name (or register one), open its
//! `webSocketUrl`, send the authorization frame, wait for `mercury.buffer_state`, then ping every
//! `ping_interval` and expect each pong within `pong_timeout`, acknowledge every frame that has an
//! id, and turn `conversation.activity` posts into `com.cisco.webex.message.created` events (the
//! message fetched over REST: the activity's content is encrypted). On a close the source
//! reconnects with jittered backoff, except after 4000 "replaced" (another connection took the
//! registration: it stops and says so); a 404 on connect means the registration went stale and it
//! registers again at once. After a reconnect a gap event is emitted: Webex keeps no replay, so
//! what was posted in between is not recovered.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::task::TaskTracker;

use crate::config::WebexEventsSourceConfig;
use crate::event::Event;
use crate::source::backoff::{Backoff, wait_to_reconnect};
use crate::source::{ConnectionState, SourceContext};

mod client;
pub mod protocol;

use client::{Device, SessionError, Socket, WebexClient};
use protocol::{AfterClose, Incoming};

/// What the gateway keeps of a running Webex events source.
pub struct WebexEventsHandle;

pub fn spawn(
    config: &WebexEventsSourceConfig,
    context: SourceContext,
    tracker: &TaskTracker,
) -> anyhow::Result<WebexEventsHandle> {
    let bot = Bot {
        client: WebexClient::new(config)?,
        config: config.clone(),
        context,
        device: None,
        own_id: None,
        ready_once: false,
        reconnects: metrics::counter!("netpulse_source_reconnects_total", "source" => config.name.clone()),
    };
    tracker.spawn(bot.run());
    Ok(WebexEventsHandle)
}

/// How a session ended.
struct Ended {
    error: SessionError,
    /// Whether the socket became ready (then the backoff starts again from its first delay).
    was_live: bool,
    healthy_until: jiff::Timestamp,
}

struct Bot {
    config: WebexEventsSourceConfig,
    client: WebexClient,
    context: SourceContext,
    device: Option<Device>,
    /// The bot's person id, to skip its own messages.
    own_id: Option<String>,
    ready_once: bool,
    /// `netpulse_source_reconnects_total` of this source, as for the DME and pxGrid sources.
    reconnects: metrics::Counter,
}

impl Bot {
    async fn run(mut self) {
        let mut backoff = Backoff::new(&self.config.backoff);
        let mut gap: Option<(jiff::Timestamp, String)> = None;
        let mut reregistered = false;
        let shutdown = self.context.shutdown.clone();
        loop {
            let ended = tokio::select! {
                _ = shutdown.cancelled() => break,
                ended = self.session(&mut gap) => ended,
            };
            if ended.was_live {
                backoff.reset();
            }
            let error = ended.error;
            self.context.status.set_error(&error.to_string());
            if let SessionError::Closed { code, reason } = &error
                && protocol::after_close(*code) == AfterClose::Stop
            {
                let why = format!(
                    "stopped: Webex closed the socket with {code} {reason:?}: another connection took over this device registration; not reconnecting (restart the source to take it back)"
                );
                tracing::error!(source = %self.context.name, "{why}");
                self.context.status.set_error(&why);
                break;
            }
            tracing::warn!(source = %self.context.name, error = %error, "webex events session ended");
            if self.ready_once && gap.is_none() {
                gap = Some((ended.healthy_until, error.to_string()));
            }
            if matches!(error, SessionError::RegistrationGone) {
                self.device = None;
                // One immediate re-registration; a second 404 in a row waits like any failure.
                if !reregistered {
                    reregistered = true;
                    continue;
                }
            } else {
                reregistered = false;
            }
            let delay = backoff.next_delay();
            if !wait_to_reconnect(&self.context, delay, &self.reconnects).await {
                break;
            }
        }
        self.context.status.set_state(ConnectionState::Stopped);
    }

    async fn session(&mut self, gap: &mut Option<(jiff::Timestamp, String)>) -> Ended {
        let mut healthy_until = jiff::Timestamp::now();
        let mut socket = match self.connect().await {
            Ok(socket) => socket,
            Err(error) => {
                return Ended {
                    error,
                    was_live: false,
                    healthy_until,
                };
            }
        };
        let status = self.context.status.clone();
        status.update(|status| {
            status.state = ConnectionState::Connected;
            status.connects += 1;
            status.connected_since = Some(jiff::Timestamp::now());
        });
        tracing::info!(source = %self.context.name, "webex events socket ready");
        self.ready_once = true;
        if let Some((since, reason)) = gap.take() {
            let until = jiff::Timestamp::now();
            let duration_ms = until.duration_since(since).as_millis().max(0) as u64;
            self.emit(protocol::gap_event(
                &self.context.name,
                since,
                until,
                &reason,
            ))
            .await;
            status.update(|status| {
                status.gaps += 1;
                status.last_gap_ms = Some(duration_ms);
            });
        }
        let error = self.live(&mut socket, &mut healthy_until).await;
        Ended {
            error,
            was_live: true,
            healthy_until,
        }
    }

    /// Registration, socket, authorization, and the wait for `mercury.buffer_state`.
    async fn connect(&mut self) -> Result<Socket, SessionError> {
        self.context.status.set_state(ConnectionState::Connecting);
        if self.config.ignore_own_messages && self.own_id.is_none() {
            self.own_id = Some(self.client.me().await?);
        }
        let device = match &self.device {
            Some(device) => device.clone(),
            None => {
                let device = self.client.register().await?;
                tracing::info!(source = %self.context.name, device = %device.url, "using device registration");
                self.device = Some(device.clone());
                device
            }
        };
        let mut socket = self.client.open_socket(&device).await?;
        self.context.status.set_state(ConnectionState::Subscribing);
        let id = uuid::Uuid::now_v7().to_string();
        send(
            &mut socket,
            protocol::authorization_frame(&id, self.config.token()),
        )
        .await?;
        let deadline = Instant::now() + self.config.ready_timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, socket.next())
                .await
                .map_err(|_| {
                    SessionError::Failed("no mercury.buffer_state after authorization".into())
                })?;
            let text = read_text(frame)?;
            let Some(text) = text else { continue };
            let frame = protocol::parse_frame(&text).map_err(SessionError::Failed)?;
            if let Some(ack) = &frame.ack_id {
                send(&mut socket, protocol::ack_frame(ack)).await?;
            }
            if frame.incoming == Incoming::Ready {
                return Ok(socket);
            }
        }
    }

    /// The live socket: frames, acks, pings. Returns why it ended.
    async fn live(
        &mut self,
        socket: &mut Socket,
        healthy_until: &mut jiff::Timestamp,
    ) -> SessionError {
        let mut next_ping = Instant::now() + self.config.ping_interval;
        let mut pending_pong: Option<String> = None;
        loop {
            let frame = tokio::select! {
                frame = socket.next() => frame,
                _ = tokio::time::sleep_until(next_ping) => {
                    if pending_pong.is_some() {
                        return SessionError::Failed(format!("pong not received within {:?}", self.config.pong_timeout));
                    }
                    let id = uuid::Uuid::now_v7().to_string();
                    if let Err(error) = send(socket, protocol::ping_frame(&id)).await {
                        return error;
                    }
                    pending_pong = Some(id);
                    next_ping = Instant::now() + self.config.pong_timeout;
                    continue;
                }
            };
            let text = match read_text(frame) {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                Err(error) => return error,
            };
            *healthy_until = jiff::Timestamp::now();
            let frame = match protocol::parse_frame(&text) {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::warn!(source = %self.context.name, error = %error, "unreadable frame ignored");
                    continue;
                }
            };
            match frame.incoming {
                Incoming::Pong { id } => {
                    if pending_pong.take().as_deref() != Some(id.as_str()) {
                        return SessionError::Failed("pong mismatch".into());
                    }
                    next_ping = Instant::now() + self.config.ping_interval;
                }
                Incoming::Activity { activity, .. } => self.on_activity(&activity).await,
                Incoming::Ready | Incoming::Other { .. } => {}
            }
            // Acknowledged once handled, so an event is in the gateway's channel before Webex
            // hears it was received.
            if let Some(ack) = &frame.ack_id
                && let Err(error) = send(socket, protocol::ack_frame(ack)).await
            {
                return error;
            }
        }
    }

    /// `post` (and `share`, which the SDK also reports as created) → the message event;
    /// `cardAction` → the attachment action event; other verbs (acknowledge, delete, add, leave...)
    /// are logged at debug level and not emitted.
    async fn on_activity(&mut self, activity: &Value) {
        let Some((verb, id)) = protocol::verb_and_id(activity) else {
            return;
        };
        let cluster = self.config.hydra_cluster.clone();
        let name = self.context.name.clone();
        match verb {
            "post" | "share" => {
                let hydra = protocol::hydra_id(&cluster, "MESSAGE", id);
                let message = match self.client.fetch("messages", &hydra).await {
                    Ok(Some(message)) => message,
                    Ok(None) => {
                        tracing::info!(source = %name, message = %hydra, "message gone before it could be fetched");
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(source = %name, message = %hydra, error = %format!("{error:#}"), "cannot fetch the message: emitting the activity alone");
                        serde_json::json!({"id": hydra, "fetch_error": format!("{error:#}")})
                    }
                };
                let own = self.own_id.as_deref();
                if own.is_some() && message["personId"].as_str() == own {
                    return;
                }
                let event = protocol::message_event(&name, &cluster, activity, &message);
                self.emit(event).await;
            }
            "cardAction" => {
                let hydra = protocol::hydra_id(&cluster, "ATTACHMENT_ACTION", id);
                let action = match self.client.fetch("attachment/actions", &hydra).await {
                    Ok(action) => action,
                    Err(error) => {
                        tracing::warn!(source = %name, error = %format!("{error:#}"), "cannot fetch the attachment action");
                        None
                    }
                };
                let event = protocol::card_action_event(&name, &cluster, activity, action.as_ref());
                self.emit(event).await;
            }
            other => tracing::debug!(source = %name, verb = other, "activity ignored"),
        }
    }

    /// Awaits the gateway's bounded channel: backpressure, never a dropped event.
    async fn emit(&self, event: Event) {
        if self.context.events.send(event).await.is_ok() {
            self.context.status.update(|status| {
                status.events += 1;
                status.last_event_at = Some(jiff::Timestamp::now());
            });
        }
    }
}

async fn send(socket: &mut Socket, text: String) -> Result<(), SessionError> {
    socket
        .send(Message::text(text))
        .await
        .map_err(|err| SessionError::Failed(format!("cannot write to the socket: {err}")))
}

/// A text frame, `None` for frames to skip, or why the socket ended.
fn read_text(
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<String>, SessionError> {
    match frame {
        Some(Ok(Message::Text(text))) => Ok(Some(text.as_str().to_owned())),
        Some(Ok(Message::Close(Some(close)))) => Err(SessionError::Closed {
            code: close.code.into(),
            reason: close.reason.as_str().to_owned(),
        }),
        Some(Ok(Message::Close(None))) => Err(SessionError::Closed {
            code: 1005,
            reason: String::new(),
        }),
        Some(Ok(_)) => Ok(None),
        Some(Err(err)) => Err(SessionError::Failed(format!("socket: {err}"))),
        None => Err(SessionError::Failed(
            "socket ended without a close frame".into(),
        )),
    }
}
