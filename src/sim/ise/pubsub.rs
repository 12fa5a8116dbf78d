//! The pubsub WebSocket (`/pxgrid/ise/pubsub`): STOMP 1.2 frames in binary messages.
//!
//! CONNECT (or STOMP) is answered with CONNECTED and the negotiated heart-beat; a missing
//! CONNECT is tolerated, since Cisco's Go sample sends none; any `host` is accepted. SUBSCRIBE
//! needs `destination` and `id`; MESSAGE frames carry `destination`, `message-id`,
//! `subscription` (Cisco's Java sample looks its handler up by it) and `content-length`.
//! DISCONNECT with `receipt` gets a RECEIPT, then the socket closes; a bad frame gets an ERROR
//! and the socket closes, as STOMP says.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::stomp::{self, Frame, HeartBeat, Received};
use super::{Connection, Inner, Outbound};

/// Messages queued for one socket before the client counts as too slow and is dropped.
const QUEUE_MESSAGES: usize = 1024;
/// A client that promised heart-beats is dropped after this many silent intervals.
const CLIENT_SILENCE_FACTOR: u32 = 3;

pub(super) fn upgrade(inner: Arc<Inner>, upgrade: WebSocketUpgrade, node: String) -> Response {
    let (outbound, receiver) = mpsc::channel(QUEUE_MESSAGES);
    let kill = CancellationToken::new();
    let stall = CancellationToken::new();
    let id = {
        let mut state = inner.lock();
        state.next_connection += 1;
        let id = state.next_connection;
        let connection = Connection {
            outbound,
            kill: kill.clone(),
            stall: stall.clone(),
        };
        state.connections.insert(id, connection);
        id
    };
    inner.connections_total.fetch_add(1, Ordering::Relaxed);
    let tracked = inner.tracker.token();
    let on_failure = inner.clone();
    upgrade
        .on_failed_upgrade(move |_| {
            on_failure.lock().connections.remove(&id);
        })
        .on_upgrade(move |socket| async move {
            let _tracked = tracked;
            tracing::info!(node = %node, connection = id, "ise sim: pubsub socket opened");
            let mut session = Session {
                inner: inner.clone(),
                socket,
                receiver,
                subscriptions: Vec::new(),
                send_every: None,
                expect_every: None,
                last_sent: Instant::now(),
                last_received: Instant::now(),
            };
            session.run(&kill, &stall).await;
            inner.lock().connections.remove(&id);
            tracing::info!(node = %node, connection = id, "ise sim: pubsub socket closed");
        })
}

struct Session {
    inner: Arc<Inner>,
    socket: WebSocket,
    receiver: mpsc::Receiver<Outbound>,
    /// (id, destination) of each SUBSCRIBE.
    subscriptions: Vec<(String, String)>,
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
    last_sent: Instant,
    last_received: Instant,
}

/// What to do after a client frame.
enum Next {
    Continue,
    Close,
}

impl Session {
    async fn run(&mut self, kill: &CancellationToken, stall: &CancellationToken) {
        let shutdown = self.inner.shutdown.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                // Dropped without a close frame: the TCP connection just ends.
                () = kill.cancelled() => return,
                () = stall.cancelled() => {
                    // A dead peer: nothing is sent or read until the socket is dropped.
                    tokio::select! {
                        () = kill.cancelled() => return,
                        () = shutdown.cancelled() => return,
                    }
                }
                () = shutdown.cancelled() => {
                    let _ = self.socket.send(Message::Close(None)).await;
                    return;
                }
                outbound = self.receiver.recv() => {
                    let Some(Outbound::Message { destination, body }) = outbound else { return };
                    if !self.deliver(&destination, &body).await {
                        return;
                    }
                }
                incoming = self.socket.recv() => {
                    let bytes = match incoming {
                        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                        Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                        // Pings are answered by the WebSocket layer; they still show the client lives.
                        Some(Ok(_)) => Vec::new(),
                    };
                    self.last_received = Instant::now();
                    if let Next::Close = self.handle(&bytes).await {
                        return;
                    }
                }
                _ = tick.tick() => {
                    if !self.keep_alive().await {
                        return;
                    }
                }
            }
        }
    }

    async fn send(&mut self, frame: &Frame) -> bool {
        self.send_bytes(frame.to_bytes()).await
    }

    async fn send_bytes(&mut self, bytes: Vec<u8>) -> bool {
        self.last_sent = Instant::now();
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .is_ok()
    }

    async fn error(&mut self, message: &str) -> Next {
        let frame = Frame::new("ERROR")
            .with("message", message)
            .with("content-type", "text/plain")
            .with_body(message.as_bytes());
        self.send(&frame).await;
        Next::Close
    }

    /// A MESSAGE per subscription to `destination`.
    async fn deliver(&mut self, destination: &str, body: &[u8]) -> bool {
        let ids: Vec<String> = self
            .subscriptions
            .iter()
            .filter(|(_, subscribed)| subscribed == destination)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let message_id = self.inner.next_message_id.fetch_add(1, Ordering::Relaxed);
            let frame = Frame::new("MESSAGE")
                .with("destination", destination)
                .with("message-id", message_id)
                .with("subscription", id)
                .with_body(body);
            if !self.send(&frame).await {
                return false;
            }
            self.inner.messages_sent.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    async fn handle(&mut self, bytes: &[u8]) -> Next {
        let items = match stomp::parse_message(bytes) {
            Ok(items) => items,
            Err(err) => return self.error(&err.to_string()).await,
        };
        for item in items {
            let Received::Frame(frame) = item else {
                continue;
            };
            if let Next::Close = self.handle_frame(frame).await {
                return Next::Close;
            }
        }
        Next::Continue
    }

    async fn handle_frame(&mut self, frame: Frame) -> Next {
        match frame.command.as_str() {
            "CONNECT" | "STOMP" => self.connected(&frame).await,
            "SUBSCRIBE" => {
                let (Some(destination), Some(id)) = (frame.first("destination"), frame.first("id"))
                else {
                    return self.error("SUBSCRIBE needs destination and id").await;
                };
                self.subscriptions
                    .push((id.to_owned(), destination.to_owned()));
                self.receipt(&frame).await
            }
            "UNSUBSCRIBE" => {
                let id = frame.first("id").unwrap_or_default().to_owned();
                self.subscriptions
                    .retain(|(subscribed, _)| *subscribed != id);
                self.receipt(&frame).await
            }
            "DISCONNECT" => {
                self.receipt(&frame).await;
                Next::Close
            }
            other => self.error(&format!("unsupported command {other}")).await,
        }
    }

    async fn receipt(&mut self, frame: &Frame) -> Next {
        if let Some(receipt) = frame.first("receipt") {
            let reply = Frame::new("RECEIPT").with("receipt-id", receipt);
            if !self.send(&reply).await {
                return Next::Close;
            }
        }
        Next::Continue
    }

    async fn connected(&mut self, frame: &Frame) -> Next {
        if let Some(versions) = frame.first("accept-version")
            && !versions.split(',').any(|version| version.trim() == "1.2")
        {
            return self.error("only STOMP 1.2 is supported").await;
        }
        let client = match HeartBeat::from_header(frame.first("heart-beat")) {
            Ok(heart_beat) => heart_beat,
            Err(err) => return self.error(&err.to_string()).await,
        };
        let (can_send, wants) = self.inner.config.heartbeat;
        let server = HeartBeat { can_send, wants };
        self.send_every = server.sending_to(&client);
        self.expect_every = client.sending_to(&server);
        let reply = Frame::new("CONNECTED")
            .with("version", "1.2")
            .with("heart-beat", server.header_value());
        if self.send(&reply).await {
            Next::Continue
        } else {
            Next::Close
        }
    }

    /// Sends a heart-beat when due; false when the client has gone silent or the send failed.
    async fn keep_alive(&mut self) -> bool {
        if let Some(every) = self.send_every
            && self.last_sent.elapsed() >= every
            && !self.send_bytes(stomp::HEART_BEAT.to_vec()).await
        {
            return false;
        }
        if let Some(every) = self.expect_every
            && self.inner.config.enforce_client_heartbeat
            && self.last_received.elapsed() > every * CLIENT_SILENCE_FACTOR
        {
            self.error("no heart-beat from the client").await;
            return false;
        }
        true
    }
}
