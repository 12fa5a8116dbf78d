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
//! what was posted in between is not recovered. The reconnects, the gap and the stop are the
//! shared lifecycle's ([`crate::source::lifecycle`]); this module is the Mercury session.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::config::WebexEventsSourceConfig;
use crate::source::ConnectionState;
use crate::source::lifecycle::{Ended, Link, Next, Protocol, Sync, unless_stopped};

mod client;
pub mod protocol;

use client::{Device, EventsClient, SessionError, Socket};
use protocol::{AfterClose, Incoming};

/// Makes the source's protocol half; the lifecycle runs it.
pub(crate) fn bot(config: &WebexEventsSourceConfig) -> anyhow::Result<Bot> {
    Ok(Bot {
        client: EventsClient::new(config)?,
        config: config.clone(),
        device: None,
        own_id: None,
        reregistered: false,
    })
}

/// One bot's events: its client, and the registration that outlives sessions.
pub(crate) struct Bot {
    config: WebexEventsSourceConfig,
    client: EventsClient,
    device: Option<Device>,
    /// The bot's person id, to skip its own messages.
    own_id: Option<String>,
    /// Whether the last failure already re-registered at once: a second 404 in a row waits.
    reregistered: bool,
}

impl Protocol for Bot {
    type Error = SessionError;

    async fn session(&mut self, link: &mut Link) -> Ended<SessionError> {
        // The whole session may end at a stop: Mercury has nothing to log out of.
        let stop = link.stop.clone();
        unless_stopped(stop, self.run_session(link))
            .await
            .unwrap_or(Ended::Stopped)
    }

    fn record_failure(&self, link: &Link, error: &SessionError) {
        tracing::warn!(source = %link.name, error = %error, "webex events session ended");
    }

    fn after_failure(&mut self, error: &SessionError) -> Next {
        if let SessionError::Closed { code, reason } = error
            && protocol::after_close(*code) == AfterClose::Stop
        {
            return Next::Stop(format!(
                "stopped: Webex closed the socket with {code} {reason:?}: another connection took over this device registration; not reconnecting (restart the source to take it back)"
            ));
        }
        if matches!(error, SessionError::RegistrationGone) {
            self.device = None;
            // One immediate re-registration; a second 404 in a row waits like any failure.
            if !std::mem::replace(&mut self.reregistered, true) {
                return Next::Now;
            }
        } else {
            self.reregistered = false;
        }
        Next::Backoff
    }
}

impl Bot {
    async fn run_session(&mut self, link: &mut Link) -> Ended<SessionError> {
        let mut healthy_until = jiff::Timestamp::now();
        let mut socket = match self.connect(link).await {
            Ok(socket) => socket,
            Err(error) => {
                return Ended::Failed {
                    error,
                    was_live: false,
                    healthy_until: Some(healthy_until),
                };
            }
        };
        link.connected(None);
        tracing::info!(source = %link.name, "webex events socket ready");
        if let Sync::AfterGap(gap) = link.in_sync() {
            let mut data = serde_json::Map::new();
            data.insert("replay".into(), false.into());
            data.insert(
                "note".into(),
                "Webex Mercury offers no replay: activities during the gap are not recovered"
                    .into(),
            );
            let outcome = "Webex offers no replay, messages posted meanwhile are missed";
            link.report_gap(&gap, jiff::Timestamp::now(), outcome, data)
                .await;
        }
        let error = self.live(link, &mut socket, &mut healthy_until).await;
        Ended::Failed {
            error,
            was_live: true,
            healthy_until: Some(healthy_until),
        }
    }

    /// Registration, socket, authorization, and the wait for `mercury.buffer_state`.
    async fn connect(&mut self, link: &Link) -> Result<Socket, SessionError> {
        link.status.set_state(ConnectionState::Connecting);
        if self.config.ignore_own_messages && self.own_id.is_none() {
            self.own_id = Some(self.client.me().await?);
        }
        let device = match &self.device {
            Some(device) => device.clone(),
            None => {
                let device = self.client.register().await?;
                tracing::info!(source = %link.name, device = %device.url, "using device registration");
                self.device = Some(device.clone());
                device
            }
        };
        let mut socket = self.client.open_socket(&device).await?;
        link.status.set_state(ConnectionState::Subscribing);
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
        link: &Link,
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
                    tracing::warn!(source = %link.name, error = %error, "unreadable frame ignored");
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
                Incoming::Activity { activity, .. } => self.on_activity(link, &activity).await,
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
    async fn on_activity(&mut self, link: &Link, activity: &Value) {
        let Some((verb, id)) = protocol::verb_and_id(activity) else {
            return;
        };
        let cluster = self.config.hydra_cluster.clone();
        let name = link.name.clone();
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
                link.emit(event).await;
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
                link.emit(event).await;
            }
            other => tracing::debug!(source = %name, verb = other, "activity ignored"),
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
