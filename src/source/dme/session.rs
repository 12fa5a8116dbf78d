//! One device session, from login to failure: subscribe while buffering early pushes, reconcile
//! the view (emitting the gap and what changed in it), then the live loop of pushes and refreshes.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_tungstenite::tungstenite::Message;

use super::client::{SessionError, Socket};
use super::normalize::to_event;
use super::protocol::{self, Login, Mo};
use super::view::{Status, ViewChange};
use super::{Device, Ended};
use crate::event::{AlarmState, Event, GAP_EVENT_TYPE, Severity};
use crate::source::ConnectionState;
use crate::source::Gap;

/// A session that is logged in, has its socket and its subscriptions.
struct Live {
    token: String,
    socket: Socket,
    subscription_ids: Vec<String>,
    refresh_timeout_secs: u64,
    /// When the first subscription was requested: the device's subscription timeout runs from
    /// there, so the refresh schedule does too (subscribing thousands of devices can take seconds).
    subscribed_at: Instant,
    /// When the session began: its idle lifetime runs from there.
    logged_in_at: Instant,
}

impl Device {
    /// Runs one session to its end. `gap` is taken (and reported) once the resync succeeds.
    pub(super) async fn session(&mut self, gap: &mut Option<Gap>) -> Ended {
        let shutdown = self.context.shutdown.clone();
        let live = tokio::select! {
            _ = shutdown.cancelled() => return Ended::Shutdown,
            // Boxed: the login and TLS handshake futures are large, and a task's memory is sized
            // for its largest state; unboxed, every idle device would carry them.
            live = Box::pin(self.connect_when_allowed(gap)) => live,
        };
        match live {
            Ok(mut live) => {
                let ended = self.live(&mut live).await;
                // A session that broke may still be open on the device (a dropped socket, a lost
                // subscription): end it rather than leave it to time out, since the next attempt
                // logs in afresh. On shutdown `live` has already logged out.
                if let Ended::Failed { error, .. } = &ended
                    && !matches!(error, SessionError::TokenInvalid(_))
                {
                    Box::pin(self.client.logout(&live.token)).await;
                }
                ended
            }
            Err(error) => Ended::Failed {
                error,
                healthy_until: None,
                was_live: false,
            },
        }
    }

    /// Waits for a place among the devices connecting at once, then connects.
    async fn connect_when_allowed(&mut self, gap: &mut Option<Gap>) -> Result<Live, SessionError> {
        let _permit = self
            .connects
            .clone()
            .acquire_owned()
            .await
            .expect("the connect semaphore is never closed");
        self.connect(gap).await
    }

    async fn connect(&mut self, gap: &mut Option<Gap>) -> Result<Live, SessionError> {
        self.context.status.set_state(ConnectionState::Connecting);
        let logged_in_at = Instant::now();
        let Login {
            token,
            refresh_timeout_secs,
        } = self.client.login().await?;
        match self
            .subscribe_all(token, refresh_timeout_secs, logged_in_at, gap)
            .await
        {
            Ok(live) => Ok(live),
            Err((error, token)) => {
                self.client.logout(&token).await;
                Err(error)
            }
        }
    }

    /// Opens the socket, subscribes and resynchronises; on failure gives the token back so the
    /// half-made session can be ended.
    async fn subscribe_all(
        &mut self,
        token: String,
        refresh_timeout_secs: u64,
        logged_in_at: Instant,
        gap: &mut Option<Gap>,
    ) -> Result<Live, (SessionError, String)> {
        let mut socket = match self.client.open_socket(&token).await {
            Ok(socket) => socket,
            Err(error) => return Err((error, token)),
        };
        let status = self.context.status.clone();
        status.set_state(ConnectionState::Subscribing);
        let mut early = Vec::new();
        let subscribed_at = Instant::now();
        let mut subscription_ids = Vec::with_capacity(self.config.subscriptions.len());
        let mut snapshot = Vec::new();
        for query in &self.config.subscriptions {
            let subscribed = while_reading(
                self.client.subscribe(&token, query),
                &mut socket,
                &mut early,
            )
            .await
            .and_then(|subscribed| subscribed);
            let (id, objects) = match subscribed {
                Ok(subscribed) => subscribed,
                Err(error) => return Err((error, token)),
            };
            tracing::debug!(source = %self.context.name, query = %query, subscription = %id, objects = objects.len(), "subscribed");
            subscription_ids.push(id);
            snapshot.extend(objects);
        }
        self.resynchronise(&snapshot, gap.take()).await;
        for frame in early {
            self.handle_frame(frame.as_bytes()).await;
        }
        status.update(|status| {
            status.state = ConnectionState::Connected;
            status.subscriptions = subscription_ids.len();
            status.connected_since = Some(jiff::Timestamp::now());
            status.connects += 1;
        });
        tracing::info!(source = %self.context.name, subscriptions = subscription_ids.len(), objects = snapshot.len(), "subscribed and in sync");
        Ok(Live {
            token,
            socket,
            subscription_ids,
            refresh_timeout_secs,
            logged_in_at,
            subscribed_at,
        })
    }

    /// Compares the device's objects with the view. The first time it is the baseline; after a gap
    /// the gap event and every change found are emitted.
    async fn resynchronise(&mut self, snapshot: &[Mo], gap: Option<Gap>) {
        let changes = self.view.lock().expect("view lock").reconcile(snapshot);
        if !self.synced_once {
            self.synced_once = true;
            return;
        }
        let until = jiff::Timestamp::now();
        let gap = gap.unwrap_or(Gap {
            since: until,
            reason: "resubscribed".into(),
        });
        self.emit(gap_event(&self.context.name, &gap, until, &changes))
            .await;
        self.counters.gaps.increment(1);
        let duration_ms = until.duration_since(gap.since).as_millis().max(0) as u64;
        self.context.status.update(|status| {
            status.gaps += 1;
            status.last_gap_ms = Some(duration_ms);
        });
        tracing::info!(source = %self.context.name, gap_ms = duration_ms, changes = changes.len(), reason = %gap.reason, "resynchronised after a gap");
        for change in &changes {
            self.emit(to_event(&self.context.name, change, true, until))
                .await;
        }
    }

    async fn live(&mut self, live: &mut Live) -> Ended {
        let refresh = self.config.subscription_refresh;
        let session_period = self
            .config
            .session_refresh
            .unwrap_or_else(|| Duration::from_secs(live.refresh_timeout_secs.max(2) / 2));
        let mut subscription_tick = interval_at(live.subscribed_at + refresh, refresh);
        subscription_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut session_tick = interval_at(live.logged_in_at + session_period, session_period);
        session_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut healthy_until = jiff::Timestamp::now();
        let shutdown = self.context.shutdown.clone();
        let failed = |error, healthy_until| Ended::Failed {
            error,
            healthy_until: Some(healthy_until),
            was_live: true,
        };
        loop {
            let mut buffered = Vec::new();
            tokio::select! {
                _ = shutdown.cancelled() => {
                    Box::pin(self.client.logout(&live.token)).await;
                    return Ended::Shutdown;
                }
                frame = live.socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => Box::pin(self.handle_frame(text.as_bytes())).await,
                    Some(Ok(Message::Close(close))) => {
                        let reason = close.map(|frame| format!(" (code {}, {:?})", u16::from(frame.code), frame.reason.as_str())).unwrap_or_default();
                        return failed(SessionError::SocketClosed(reason), jiff::Timestamp::now());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return failed(SessionError::Socket(err.to_string()), jiff::Timestamp::now()),
                    None => return failed(SessionError::SocketClosed(String::new()), jiff::Timestamp::now()),
                },
                _ = subscription_tick.tick() => {
                    // One after the other on purpose: concurrent calls would each hold a pooled TLS
                    // connection per device, and thousands of devices make that the gateway's
                    // largest memory cost; on a healthy device each call takes about a millisecond.
                    let refreshes = async {
                        for id in &live.subscription_ids {
                            self.client.refresh_subscription(&live.token, id).await?;
                        }
                        Ok(())
                    };
                    match while_reading(Box::pin(refreshes), &mut live.socket, &mut buffered).await {
                        Ok(Ok(_)) => {
                            healthy_until = jiff::Timestamp::now();
                            self.context.status.update(|status| status.last_refresh_at = Some(healthy_until));
                        }
                        // A lost subscription may have stopped pushing at any time since the last
                        // good refresh: the gap starts there.
                        Ok(Err(error)) | Err(error) => return failed(error, healthy_until),
                    }
                }
                _ = session_tick.tick() => {
                    match while_reading(Box::pin(self.client.refresh_session(&live.token)), &mut live.socket, &mut buffered).await {
                        Ok(Ok(login)) => live.token = login.token,
                        Ok(Err(error)) | Err(error) => return failed(error, jiff::Timestamp::now()),
                    }
                }
            }
            for frame in buffered {
                Box::pin(self.handle_frame(frame.as_bytes())).await;
            }
        }
    }

    /// Applies one pushed frame to the view and emits an event per real change.
    async fn handle_frame(&mut self, frame: &[u8]) {
        let objects = match protocol::parse_reply(frame) {
            Ok(Ok(reply)) => reply.objects,
            Ok(Err(error)) => {
                tracing::warn!(source = %self.context.name, code = %error.code, text = %error.text, "device pushed an error");
                return;
            }
            Err(err) => {
                tracing::warn!(source = %self.context.name, error = %err, bytes = frame.len(), "ignoring a push that is not DME JSON");
                return;
            }
        };
        let changes: Vec<ViewChange> = {
            let mut view = self.view.lock().expect("view lock");
            objects
                .iter()
                .filter_map(|mo| view.apply_push(mo))
                .collect()
        };
        let duplicates = objects.len() - changes.len();
        if duplicates > 0 {
            self.counters.duplicates.increment(duplicates as u64);
            self.context
                .status
                .update(|status| status.duplicates_suppressed += duplicates as u64);
        }
        let received = jiff::Timestamp::now();
        for change in &changes {
            self.emit(to_event(&self.context.name, change, false, received))
                .await;
        }
    }

    async fn emit(&self, event: Event) {
        self.counters.events.increment(1);
        let time = event.time;
        self.context.status.update(|status| {
            status.events += 1;
            status.last_event_at = Some(time);
        });
        // A closed channel means the gateway is shutting down; nothing is left to deliver to.
        let _ = self.context.events.send(event).await;
    }
}

/// Awaits a REST call while still reading the socket, so pushes that arrive meanwhile are kept
/// (in order) instead of piling up; a socket failure ends the wait.
async fn while_reading<F: Future>(
    call: F,
    socket: &mut Socket,
    buffer: &mut Vec<String>,
) -> Result<F::Output, SessionError> {
    tokio::pin!(call);
    loop {
        tokio::select! {
            output = &mut call => return Ok(output),
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => buffer.push(text.as_str().to_owned()),
                Some(Ok(Message::Close(_))) | None => return Err(SessionError::SocketClosed(String::new())),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(SessionError::Socket(err.to_string())),
            },
        }
    }
}

fn gap_event(
    source_name: &str,
    gap: &Gap,
    until: jiff::Timestamp,
    changes: &[ViewChange],
) -> Event {
    let count = |status: Status| {
        changes
            .iter()
            .filter(|change| change.status == status)
            .count()
    };
    let (created, modified, deleted) = (
        count(Status::Created),
        count(Status::Modified),
        count(Status::Deleted),
    );
    let duration_ms = until.duration_since(gap.since).as_millis().max(0) as u64;
    let data = json!({
        "since": gap.since, "until": until, "duration_ms": duration_ms, "reason": gap.reason,
        "created": created, "modified": modified, "deleted": deleted,
    });
    let mut event = Event::new(source_name, GAP_EVENT_TYPE, until, data);
    event.severity = Severity::Warning;
    event.alarmstate = AlarmState::Info;
    event.summary = format!(
        "gap of {:.1} s ({}); resynchronised: {created} created, {modified} modified, {deleted} deleted",
        duration_ms as f64 / 1000.0,
        gap.reason
    );
    event
}
