//! API sessions, their tokens and WebSocket, and the subscriptions they own, with the device's
//! lifetimes: a session lives `refresh_timeout` after login or its last `aaaRefresh`, a
//! subscription `subscription_ttl` after creation or its last refresh. Expiry is checked lazily on
//! every access and by a periodic sweep; every operation takes `now` so tests drive time
//! explicitly.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::api::{SessionView, SimStats};
use super::query::Query;

/// Subscription ids are unsigned 64-bit numbers above `i64::MAX`, like the NX-OS guide's
/// `18374686685813276673`, so clients that parse them as `i64` fail in tests, not in production.
const SUBSCRIPTION_ID_BASE: u64 = 0xFF00_0000_0000_0000;

/// Whether a session's subscriptions outlive the loss of its WebSocket (closed by the client,
/// dropped, or replaced by a newer one) and go on to the session's next socket. UNKNOWN on the
/// devices ("whether old subscription ids survive a socket reopen within the same session");
/// `true` suits clients such as acitoolkit that reopen the socket and keep refreshing the same
/// ids, and clients that resubscribe anyway are unaffected. Pushes sent while a session has no
/// socket are lost either way (the devices have no replay).
pub const SUBSCRIPTIONS_SURVIVE_SOCKET_LOSS: bool = true;

/// Why the device closes a WebSocket; the socket task turns it into a close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    SessionEnded,
    Replaced,
    Dropped,
    SlowConsumer,
    Shutdown,
}

/// The device side of an open WebSocket: its outgoing frame queue and a way to close it.
/// Dropping the handle closes the socket as if the session ended.
#[derive(Debug)]
pub struct SocketHandle {
    pub generation: u64,
    pub frames: mpsc::Sender<String>,
    pub closer: oneshot::Sender<CloseReason>,
}

impl SocketHandle {
    pub fn close(self, reason: CloseReason) {
        // The socket task may already be gone; then there is nothing left to close.
        let _ = self.closer.send(reason);
    }
}

#[derive(Debug)]
pub struct Session {
    pub session_id: String,
    pub token: String,
    pub user: String,
    pub created_unix: i64,
    pub expires_at: Instant,
    pub socket: Option<SocketHandle>,
    /// When the client last used the session (login or any authenticated request).
    pub last_request: Instant,
}

#[derive(Debug)]
pub struct Subscription {
    pub session: u64,
    pub query: Query,
    pub ttl: Duration,
    pub refreshed_at: Instant,
}

impl Subscription {
    fn lapsed(&self, now: Instant) -> bool {
        now >= self.refreshed_at + self.ttl
    }
}

/// Every session and subscription of one device, plus the counters they drive.
#[derive(Debug, Default)]
pub struct SessionTable {
    pub sessions: HashMap<u64, Session>,
    by_token: HashMap<String, u64>,
    pub subscriptions: BTreeMap<u64, Subscription>,
    next_session: u64,
    next_subscription: u64,
    next_socket: u64,
    pub counters: SimStats,
}

impl SessionTable {
    /// Opens a session and returns its key.
    pub fn login(
        &mut self,
        user: &str,
        token: String,
        session_id: String,
        created_unix: i64,
        expires_at: Instant,
    ) -> u64 {
        self.next_session += 1;
        let key = self.next_session;
        self.by_token.insert(token.clone(), key);
        let session = Session {
            session_id,
            token,
            user: user.to_owned(),
            created_unix,
            expires_at,
            socket: None,
            last_request: Instant::now(),
        };
        self.sessions.insert(key, session);
        self.counters.logins_ok += 1;
        key
    }

    /// The live session holding `token`. An expired one is ended on the spot.
    pub fn authenticate(&mut self, token: &str, now: Instant) -> Option<u64> {
        let key = *self.by_token.get(token)?;
        if self
            .sessions
            .get(&key)
            .is_none_or(|session| now >= session.expires_at)
        {
            self.end_session(key, CloseReason::SessionEnded);
            return None;
        }
        if let Some(session) = self.sessions.get_mut(&key) {
            session.last_request = now;
        }
        Some(key)
    }

    /// Extends a session; with `new_token` the old token stops working at once while the
    /// session (and its socket and subscriptions) carries on.
    pub fn refresh_session(
        &mut self,
        key: u64,
        expires_at: Instant,
        new_token: Option<String>,
    ) -> Option<&Session> {
        let session = self.sessions.get_mut(&key)?;
        session.expires_at = expires_at;
        if let Some(token) = new_token {
            self.by_token.remove(&session.token);
            self.by_token.insert(token.clone(), key);
            session.token = token;
        }
        self.counters.session_refreshes += 1;
        Some(session)
    }

    /// Ends a session: its token, its socket and its subscriptions go with it.
    pub fn end_session(&mut self, key: u64, reason: CloseReason) {
        let Some(session) = self.sessions.remove(&key) else {
            return;
        };
        self.by_token.remove(&session.token);
        if let Some(socket) = session.socket {
            socket.close(reason);
        }
        self.subscriptions
            .retain(|_, subscription| subscription.session != key);
    }

    /// Ends every session (faults, restart, shutdown).
    pub fn end_all(&mut self, reason: CloseReason) {
        let keys: Vec<u64> = self.sessions.keys().copied().collect();
        for key in keys {
            self.end_session(key, reason);
        }
    }

    /// Binds a new socket to the session, closing the one it replaces. Returns its generation.
    pub fn attach_socket(
        &mut self,
        key: u64,
        frames: mpsc::Sender<String>,
        closer: oneshot::Sender<CloseReason>,
    ) -> Option<u64> {
        let generation = self.next_socket + 1;
        let session = self.sessions.get_mut(&key)?;
        let handle = SocketHandle {
            generation,
            frames,
            closer,
        };
        let previous = session.socket.replace(handle);
        self.next_socket = generation;
        self.counters.sockets_opened_total += 1;
        if let Some(previous) = previous {
            previous.close(CloseReason::Replaced);
            self.socket_lost(key);
        }
        Some(generation)
    }

    /// Forgets a socket that ended on its own, unless a newer one already replaced it.
    pub fn detach_socket(&mut self, key: u64, generation: u64) {
        if let Some(session) = self.sessions.get_mut(&key)
            && session
                .socket
                .as_ref()
                .is_some_and(|socket| socket.generation == generation)
        {
            session.socket = None;
            self.socket_lost(key);
        }
    }

    /// Closes every socket; sessions and subscriptions stay.
    pub fn drop_sockets(&mut self, reason: CloseReason) {
        let mut lost = Vec::new();
        for (key, session) in &mut self.sessions {
            if let Some(socket) = session.socket.take() {
                socket.close(reason);
                lost.push(*key);
            }
        }
        for key in lost {
            self.socket_lost(key);
        }
    }

    /// Applies [`SUBSCRIPTIONS_SURVIVE_SOCKET_LOSS`] after a session lost its socket.
    fn socket_lost(&mut self, key: u64) {
        if !SUBSCRIPTIONS_SURVIVE_SOCKET_LOSS {
            self.subscriptions
                .retain(|_, subscription| subscription.session != key);
        }
    }

    pub fn has_socket(&self, key: u64) -> bool {
        self.sessions
            .get(&key)
            .is_some_and(|session| session.socket.is_some())
    }

    /// Registers a subscription for the session and returns its id.
    pub fn subscribe(&mut self, key: u64, query: Query, ttl: Duration, now: Instant) -> u64 {
        self.next_subscription += 1;
        let id = SUBSCRIPTION_ID_BASE | self.next_subscription;
        self.subscriptions.insert(
            id,
            Subscription {
                session: key,
                query,
                ttl,
                refreshed_at: now,
            },
        );
        self.counters.subscriptions_created_total += 1;
        id
    }

    /// Removes the session's subscriptions with the same query identity (`subscription=no`).
    pub fn unsubscribe(&mut self, key: u64, identity: &str) -> usize {
        let before = self.subscriptions.len();
        self.subscriptions.retain(|_, subscription| {
            subscription.session != key || subscription.query.identity != identity
        });
        before - self.subscriptions.len()
    }

    /// Refreshes subscription `id` for session `key`. Unknown, foreign or lapsed ids fail (a
    /// lapsed one is removed and counted as expired).
    pub fn refresh_subscription(&mut self, key: u64, id: u64, now: Instant) -> bool {
        let lapsed = match self.subscriptions.get(&id) {
            Some(subscription) if subscription.session == key => subscription.lapsed(now),
            _ => {
                self.counters.subscription_refresh_failures += 1;
                return false;
            }
        };
        if lapsed {
            self.subscriptions.remove(&id);
            self.counters.subscriptions_expired_total += 1;
            self.counters.subscription_refresh_failures += 1;
            return false;
        }
        let subscription = self.subscriptions.get_mut(&id).expect("checked above");
        let elapsed = now.saturating_duration_since(subscription.refreshed_at);
        let margin_ms = subscription.ttl.as_millis() as i64 - elapsed.as_millis() as i64;
        subscription.refreshed_at = now;
        let worst = &mut self.counters.worst_refresh_margin_ms;
        *worst = Some(worst.map_or(margin_ms, |previous| previous.min(margin_ms)));
        self.counters.subscription_refreshes += 1;
        true
    }

    /// Fails a refresh on purpose (the `FailRefresh` fault): the subscription is dropped.
    pub fn fail_refresh(&mut self, id: u64) {
        self.subscriptions.remove(&id);
        self.counters.subscription_refresh_failures += 1;
    }

    /// Ends expired sessions and removes lapsed subscriptions.
    pub fn sweep(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, session)| now >= session.expires_at)
            .map(|(key, _)| *key)
            .collect();
        for key in expired {
            self.end_session(key, CloseReason::SessionEnded);
        }
        let before = self.subscriptions.len();
        self.subscriptions
            .retain(|_, subscription| !subscription.lapsed(now));
        self.counters.subscriptions_expired_total += (before - self.subscriptions.len()) as u64;
    }

    /// Live subscriptions whose session has an open socket, grouped by session.
    pub fn deliverable(&self, now: Instant) -> impl Iterator<Item = (u64, &Subscription)> {
        self.subscriptions
            .iter()
            .filter(move |(_, subscription)| {
                !subscription.lapsed(now) && self.has_socket(subscription.session)
            })
            .map(|(id, subscription)| (*id, subscription))
    }

    /// Every session as a client would be seen from the device: whether its socket is open, how
    /// many of its subscriptions are live, how long since it last made a request. A session with
    /// an open socket and a live subscription receives pushes: it is *active*.
    pub fn sessions_seen(&self, now: Instant) -> Vec<SessionView> {
        let mut views: Vec<SessionView> = self
            .sessions
            .iter()
            .map(|(key, session)| SessionView {
                key: *key,
                session_id: session.session_id.clone(),
                user: session.user.clone(),
                socket_open: session.socket.is_some(),
                live_subscriptions: self
                    .subscriptions
                    .values()
                    .filter(|subscription| {
                        subscription.session == *key && !subscription.lapsed(now)
                    })
                    .count() as u64,
                idle_ms: now
                    .saturating_duration_since(session.last_request)
                    .as_millis() as u64,
            })
            .collect();
        views.sort_by_key(|view| view.key);
        views
    }

    /// Counters plus the current gauges.
    pub fn snapshot(&self) -> SimStats {
        let mut stats = self.counters.clone();
        stats.sessions_active = self.sessions.len() as u64;
        stats.sockets_open = self
            .sessions
            .values()
            .filter(|session| session.socket.is_some())
            .count() as u64;
        stats.subscriptions_active = self.subscriptions.len() as u64;
        stats
    }
}

/// A fresh API token: base64 of 128 random bytes (172 characters ending in `=`, the length of
/// the NX-OS sandbox capture). Tokens without both `/` and `+` are drawn again, so every token
/// exercises a client's handling of `/socket<token>` (real tokens lack one of them only rarely).
pub fn new_token() -> String {
    loop {
        let token = base64(&random_bytes::<128>());
        if token.contains('/') && token.contains('+') {
            return token;
        }
    }
}

/// A session id like the device's `sessionId` attribute (base64 of 16 random bytes).
pub fn new_session_id() -> String {
    base64(&random_bytes::<16>())
}

/// The first characters of a token or session id, safe to log.
pub fn log_prefix(secret: &str) -> &str {
    secret.get(..8).unwrap_or(secret)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let random = rustls::crypto::aws_lc_rs::default_provider().secure_random;
    if random.fill(&mut bytes).is_err() {
        // Tokens of a lab simulator need not be secret-grade; never fail a login for it.
        bytes.iter_mut().for_each(|byte| *byte = fastrand::u8(..));
    }
    bytes
}

/// Standard base64 with padding. (The `base64` crate is not a dependency of netpulse.)
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let triple = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let bits = u32::from_be_bytes([0, triple[0], triple[1], triple[2]]);
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(bits >> (18 - 6 * index) & 0x3F) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
