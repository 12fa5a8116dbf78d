//! The device's WebSocket (`GET /socket<token>`): one per session, server-to-client text frames
//! only, closed when the session ends.
//!
//! The socket is bound to its session before the 101 answer leaves, so a client that subscribes
//! right after the handshake never meets the "no opened web socket" 405.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::{debug, info};

use super::auth::forbidden;
use super::device::DeviceInner;
use super::query::decode;
use super::session::{CloseReason, log_prefix};

/// Frames queued for one socket before the client counts as too slow and is disconnected,
/// rather than buffering without bound.
pub const SOCKET_QUEUE_FRAMES: usize = 4096;
/// Small per-connection buffers: benchmarks hold thousands of sockets in one process.
const READ_BUFFER_BYTES: usize = 4 * 1024;
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// How long a close frame may take to leave before the connection is simply dropped.
const CLOSE_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// Clients send nothing but control frames; anything larger is refused.
const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;

/// Close code and reason per cause. What a device sends when a session ends is UNKNOWN (no
/// capture); clients must treat any close as "reconnect", so these are just informative.
fn close_frame(reason: CloseReason) -> CloseFrame {
    let (code, text) = match reason {
        CloseReason::SessionEnded => (1000, "session ended"),
        CloseReason::Replaced => (1000, "replaced by a newer WebSocket of the same session"),
        CloseReason::Dropped => (1001, "going away"),
        CloseReason::SlowConsumer => (1008, "client too slow: outgoing queue full"),
        CloseReason::Shutdown => (1001, "simulator shutting down"),
    };
    CloseFrame {
        code,
        reason: text.into(),
    }
}

/// Answers `GET /socket<token>`: 403 without upgrading for an unknown token.
pub fn upgrade(
    device: &Arc<DeviceInner>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    raw_token: &str,
) -> Response {
    let now = Instant::now();
    let key = {
        let mut state = device.lock();
        // Tokens travel unencoded; a client that percent-encodes them is tolerated.
        state
            .table
            .authenticate(raw_token, now)
            .or_else(|| state.table.authenticate(&decode(raw_token), now))
    };
    let Some(key) = key else {
        return forbidden();
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let (frames_sender, frames) = mpsc::channel(SOCKET_QUEUE_FRAMES);
    let (closer, close_requests) = oneshot::channel();
    let attached = {
        let mut state = device.lock();
        let generation = state.table.attach_socket(key, frames_sender, closer);
        let session = state
            .table
            .sessions
            .get(&key)
            .map(|session| log_prefix(&session.session_id).to_owned());
        generation.zip(session)
    };
    let Some((generation, session)) = attached else {
        return forbidden();
    };
    info!(device = %device.name, %session, generation, "websocket opened");
    let tracked = device.tracker.token();
    let on_failure = Arc::clone(device);
    let on_success = Arc::clone(device);
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_failed_upgrade(move |error| {
            debug!(device = %on_failure.name, %error, "websocket upgrade failed");
            on_failure.lock().table.detach_socket(key, generation);
        })
        .on_upgrade(move |socket| {
            let connection = Connection {
                device: on_success,
                key,
                generation,
                session,
                frames,
                close_requests,
            };
            connection.run(socket, tracked)
        })
}

struct Connection {
    device: Arc<DeviceInner>,
    key: u64,
    generation: u64,
    /// The start of the session id, for logs.
    session: String,
    frames: mpsc::Receiver<String>,
    close_requests: oneshot::Receiver<CloseReason>,
}

impl Connection {
    /// Pushes queued frames until the device closes the socket, the client goes away, or the
    /// simulator shuts down. `_tracked` keeps the simulator's task tracker waiting for us.
    async fn run(mut self, mut socket: WebSocket, _tracked: TaskTrackerToken) {
        let shutdown = self.device.shutdown.clone();
        let close = loop {
            tokio::select! {
                biased;
                reason = &mut self.close_requests => break Some(reason.unwrap_or(CloseReason::SessionEnded)),
                () = shutdown.cancelled() => break Some(CloseReason::Shutdown),
                frame = self.frames.recv() => {
                    let Some(frame) = frame else { break Some(CloseReason::SessionEnded) };
                    self.device.pushes_sent.fetch_add(1, Ordering::Relaxed);
                    // A client that stops reading blocks the send; a close request or shutdown
                    // then drops the connection without a close frame.
                    tokio::select! {
                        biased;
                        _ = &mut self.close_requests => break None,
                        () = shutdown.cancelled() => break None,
                        sent = socket.send(Message::Text(frame.into())) => if sent.is_err() { break None },
                    }
                }
                incoming = socket.recv() => match incoming {
                    // Pings are answered by the WebSocket layer; other client frames are ignored.
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
                    Some(Ok(_)) => {}
                },
            }
        };
        if let Some(reason) = close {
            debug!(device = %self.device.name, session = %self.session, ?reason, "closing websocket");
            // The client may already be gone; the socket is dropped either way.
            let _ = tokio::time::timeout(
                CLOSE_SEND_TIMEOUT,
                socket.send(Message::Close(Some(close_frame(reason)))),
            )
            .await;
        }
        self.device
            .lock()
            .table
            .detach_socket(self.key, self.generation);
        info!(device = %self.device.name, session = %self.session, "websocket closed");
    }
}
