//! One device session, from login to failure: subscribe while buffering early pushes, reconcile
//! the view (emitting the gap and what changed in it), then the live loop of pushes and refreshes.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use super::client::{SessionError, Socket};
use super::health::Tracked;
use super::normalize::to_event;
use super::protocol::{self, Login, Mo};
use super::view::{Status, ViewChange};
use super::{Device, SessionError as Error};
use crate::source::ConnectionState;
use crate::source::lifecycle::{Link, Sync, unless_stopped};
use crate::source::socket;

type Ended = crate::source::lifecycle::Ended<Error>;

/// A session that is logged in, has its socket and its subscriptions.
pub(super) struct Live {
    pub(super) token: String,
    pub(super) socket: Socket,
    /// Each subscription with its own refresh deadline: the device's timeout runs from when each
    /// was requested (subscribing thousands of devices can take seconds), see [`Tracked`].
    pub(super) subscriptions: Vec<Tracked>,
    refresh_timeout_secs: u64,
    /// When the session began: its idle lifetime runs from there.
    logged_in_at: Instant,
}

impl Device {
    /// Runs one session to its end; the link's gap is reported once the resync succeeds.
    pub(super) async fn run_session(&mut self, link: &mut Link) -> Ended {
        // Boxed: the login and TLS handshake futures are large, and a task's memory is sized for
        // its largest state; unboxed, every idle device would carry them.
        let stop = link.stop.clone();
        let connect = Box::pin(self.connect_when_allowed(link));
        let Some(live) = unless_stopped(stop, connect).await else {
            return Ended::Stopped;
        };
        match live {
            Ok(mut live) => {
                let ended = self.live(link, &mut live).await;
                self.closed(link);
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
    async fn connect_when_allowed(&mut self, link: &mut Link) -> Result<Live, SessionError> {
        let _permit = self
            .connects
            .clone()
            .acquire_owned()
            .await
            .expect("the connect semaphore is never closed");
        self.connect(link).await
    }

    async fn connect(&mut self, link: &mut Link) -> Result<Live, SessionError> {
        link.status.set_state(ConnectionState::Connecting);
        let logged_in_at = Instant::now();
        let Login {
            token,
            refresh_timeout_secs,
        } = self.client.login().await?;
        self.logged_in(link);
        match self
            .subscribe_all(link, token, refresh_timeout_secs, logged_in_at)
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
        link: &mut Link,
        token: String,
        refresh_timeout_secs: u64,
        logged_in_at: Instant,
    ) -> Result<Live, (SessionError, String)> {
        let mut socket = match self.client.open_socket(&token).await {
            Ok(socket) => socket,
            Err(error) => return Err((error, token)),
        };
        link.status.set_state(ConnectionState::Subscribing);
        let mut early = Vec::new();
        let mut subscriptions = Vec::with_capacity(self.config.subscriptions.len());
        let mut snapshot = Vec::new();
        for query in &self.config.subscriptions {
            let (sent, sent_wall) = (Instant::now(), jiff::Timestamp::now());
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
            tracing::debug!(source = %link.name, query = %query, subscription = %id, objects = objects.len(), "subscribed");
            let plan = self.config.subscription_plan(query);
            subscriptions.push(Tracked::new(&link.name, id, query, plan, sent, sent_wall));
            snapshot.extend(objects);
        }
        self.resynchronise(link, &snapshot).await;
        for frame in early {
            self.handle_frame(link, frame.as_bytes()).await;
        }
        link.connected(Some(subscriptions.len()));
        tracing::info!(source = %link.name, subscriptions = subscriptions.len(), objects = snapshot.len(), "subscribed and in sync");
        let live = Live {
            token,
            socket,
            subscriptions,
            refresh_timeout_secs,
            logged_in_at,
        };
        self.subscribed(link, &live).await;
        Ok(live)
    }

    /// Compares the device's objects with the view, which at a run's start is the stored one if
    /// the store has it (see `Link::restore_view`). Without one, it is the baseline: saved, and
    /// only its adjacencies are published (see `adjacency::baseline`); after a gap the gap event
    /// and every change found are emitted.
    async fn resynchronise(&mut self, link: &mut Link, snapshot: &[Mo]) {
        if let Some(stored) = link.restore_view().await {
            self.view
                .lock()
                .expect("view lock")
                .restore(&stored.objects);
        }
        let changes = self.view.lock().expect("view lock").reconcile(snapshot);
        let Sync::AfterGap(gap) = link.in_sync() else {
            // Saved before anything is emitted: the events that follow fold into it.
            let objects = self.view.lock().expect("view lock").view_objects();
            link.save_baseline(objects).await;
            let found = jiff::Timestamp::now();
            for change in super::adjacency::baseline(&changes) {
                link.emit(to_event(&link.name, change, true, found)).await;
            }
            return;
        };
        let until = jiff::Timestamp::now();
        let (outcome, data) = gap_outcome(&changes);
        let duration_ms = link.report_gap(&gap, until, &outcome, data).await;
        tracing::info!(source = %link.name, gap_ms = duration_ms, changes = changes.len(), reason = %gap.reason, "resynchronised after a gap");
        for change in &changes {
            link.emit(to_event(&link.name, change, true, until)).await;
        }
    }

    async fn live(&mut self, link: &Link, live: &mut Live) -> Ended {
        let session_period = self
            .config
            .session_refresh
            .unwrap_or_else(|| Duration::from_secs(live.refresh_timeout_secs.max(2) / 2));
        // One timer for every subscription: it wakes at the earliest of their refreshes, alarm
        // margins and expiries.
        let next_wake = |live: &Live| {
            live.subscriptions
                .iter()
                .map(Tracked::next_wake)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
        };
        let subscription_timer = sleep_until(next_wake(live));
        tokio::pin!(subscription_timer);
        let mut session_tick = interval_at(live.logged_in_at + session_period, session_period);
        session_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let stop = link.stop.clone();
        let failed = |error, healthy_until| Ended::Failed {
            error,
            healthy_until: Some(healthy_until),
            was_live: true,
        };
        loop {
            let mut buffered = Vec::new();
            tokio::select! {
                _ = stop.cancelled() => {
                    Box::pin(self.client.logout(&live.token)).await;
                    return Ended::Stopped;
                }
                frame = live.socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => Box::pin(self.handle_frame(link, text.as_bytes())).await,
                    Some(Ok(Message::Close(close))) => {
                        let reason = close.map(|frame| format!(" (code {}, {:?})", u16::from(frame.code), frame.reason.as_str())).unwrap_or_default();
                        return failed(SessionError::SocketClosed(reason), jiff::Timestamp::now());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return failed(SessionError::Socket(err.to_string()), jiff::Timestamp::now()),
                    None => return failed(SessionError::SocketClosed(String::new()), jiff::Timestamp::now()),
                },
                () = &mut subscription_timer => {
                    // A lost subscription may have stopped pushing at any time since its last
                    // good refresh: the gap starts there.
                    if let Err((error, healthy_until)) = Box::pin(self.attend(link, live, &mut buffered)).await {
                        return failed(error, healthy_until);
                    }
                    subscription_timer.as_mut().reset(next_wake(live));
                }
                _ = session_tick.tick() => {
                    match while_reading(Box::pin(self.client.refresh_session(&live.token)), &mut live.socket, &mut buffered).await {
                        Ok(Ok(login)) => live.token = login.token,
                        Ok(Err(error)) | Err(error) => return failed(error, jiff::Timestamp::now()),
                    }
                }
            }
            for frame in buffered {
                Box::pin(self.handle_frame(link, frame.as_bytes())).await;
            }
        }
    }

    /// Applies one pushed frame to the view and emits an event per real change.
    async fn handle_frame(&mut self, link: &Link, frame: &[u8]) {
        let objects = match protocol::parse_reply(frame) {
            Ok(Ok(reply)) => reply.objects,
            Ok(Err(error)) => {
                tracing::warn!(source = %link.name, code = %error.code, text = %error.text, "device pushed an error");
                return;
            }
            Err(err) => {
                tracing::warn!(source = %link.name, error = %err, bytes = frame.len(), "ignoring a push that is not DME JSON");
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
        link.duplicates((objects.len() - changes.len()) as u64);
        let received = jiff::Timestamp::now();
        for change in &changes {
            link.emit(to_event(&link.name, change, false, received))
                .await;
        }
    }
}

/// Awaits a REST call while still reading the socket, so pushes that arrive meanwhile are kept
/// (in order) instead of piling up; a socket failure ends the wait.
pub(super) async fn while_reading<F: Future>(
    call: F,
    socket: &mut Socket,
    buffer: &mut Vec<String>,
) -> Result<F::Output, SessionError> {
    let text = |message| match message {
        Message::Text(text) => Some(text.as_str().to_owned()),
        _ => None,
    };
    socket::while_reading(call, socket, buffer, text)
        .await
        .map_err(|interrupted| {
            interrupted.into_error(SessionError::SocketClosed, SessionError::Socket)
        })
}

/// What a resync found, for the gap event: how many objects were created, modified, deleted.
fn gap_outcome(changes: &[ViewChange]) -> (String, serde_json::Map<String, serde_json::Value>) {
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
    let mut data = serde_json::Map::new();
    data.insert("created".into(), created.into());
    data.insert("modified".into(), modified.into());
    data.insert("deleted".into(), deleted.into());
    let outcome =
        format!("resynchronised: {created} created, {modified} modified, {deleted} deleted");
    (outcome, data)
}
