//! The live feed over Server-Sent Events (`GET /api/v1/events/stream`) and WebSocket
//! (`GET /api/v1/stream`). Both take the filters of `GET /api/v1/events`; both resume after a seq
//! (`Last-Event-ID`, which EventSource sends by itself on reconnect, or `?after=`) with what was
//! missed read from the store, then the live events, with no gap and no duplicate.
//!
//! Events go out as their CloudEvents JSON with `seq`. Anything else is a notice,
//! `{"notice": "<code>", "message": "..."}`: `retention` or `ahead` (the feed goes on), `lagging`
//! (the client fell more than `api.feed.client_buffer` events behind: the feed ends and the client
//! resumes after the last seq it saw) and `shutdown`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{ApiError, ApiState, params};
use crate::config::FeedConfig;
use crate::feed::{Cursor, FeedItem};
use crate::http::server::CloseConnection;

/// Per-connection WebSocket buffers (see [`websocket`]).
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 16 * 1024;
/// WebSocket close code for a client that fell behind: "try again later".
const CLOSE_LAGGING: u16 = 1013;
/// WebSocket close code at shutdown: "going away".
const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code when the store could not be read: "internal error".
const CLOSE_ERROR: u16 = 1011;
/// WebSocket close code for a client message over the limits: "message too big".
const CLOSE_TOO_BIG: u16 = 1009;
/// Feed clients send nothing but pings, pongs and a close; these bounds keep a client that sends
/// more (or a message in endless unfinished fragments, which tungstenite would otherwise buffer
/// up to 64 MiB per connection) from holding the gateway's memory. A message over either is
/// refused and the connection closed with 1009.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
const MAX_CLIENT_FRAME: usize = 16 * 1024;

async fn open(
    state: &ApiState,
    query: Option<&str>,
    last_event_id: Option<&str>,
) -> Result<Cursor, ApiError> {
    let (filter, mut after) = params::feed_query(query.unwrap_or(""))?;
    if let Some(id) = last_event_id {
        // A reconnecting EventSource sends the id of the last event it received.
        after = Some(id.trim().parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Last-Event-ID {id:?} is not an event seq (a non-negative integer)"
            ))
        })?);
    }
    Cursor::open(&state.hub, &state.pool, filter, after)
        .await
        .map_err(|error| ApiError::store(&error))
}

fn notice(code: &str, message: &str) -> String {
    json!({ "notice": code, "message": message }).to_string()
}

/// `GET /api/v1/events/stream`.
pub(super) async fn sse(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    close: Option<Extension<CloseConnection>>,
) -> Result<Response, ApiError> {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    let cursor = open(&state, query.as_deref(), last_event_id).await?;
    let feed = &state.config.feed;
    metrics::counter!("netpulse_feed_connections_total", "transport" => "sse").increment(1);
    let keep_alive = KeepAlive::new().interval(feed.heartbeat).text("keep-alive");
    let events = sse_events(cursor);
    let Some(Extension(close)) = close else {
        return Ok(Sse::new(events).keep_alive(keep_alive).into_response());
    };
    // An idle stream is polled at least every heartbeat (for the keep-alive); a stream not polled
    // for longer than that plus send_timeout has a client that stopped reading.
    let watched = Watched::new(Box::pin(events), feed.heartbeat + feed.send_timeout, close);
    Ok(Sse::new(watched).keep_alive(keep_alive).into_response())
}

/// An SSE stream with a watchdog: hyper polls the response body only while the client takes
/// data, so a stream left unpolled for `limit` has a client that stopped reading, and its
/// connection is closed (its queued events are dropped; the client resumes with Last-Event-ID).
/// Without this, such a client would hold its connection for as long as TCP lets it.
struct Watched<S> {
    inner: S,
    /// When the stream was last polled, in milliseconds since `since`.
    polled: Arc<AtomicU64>,
    since: Instant,
    /// Stops the watchdog when the stream ends or its connection closes.
    _ended: tokio_util::sync::DropGuard,
}

impl<S> Watched<S> {
    fn new(inner: S, limit: Duration, close: CloseConnection) -> Watched<S> {
        let polled = Arc::new(AtomicU64::new(0));
        let since = Instant::now();
        let ended = CancellationToken::new();
        let watchdog = {
            let polled = polled.clone();
            let ended = ended.clone();
            async move {
                let check = (limit / 4).max(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        () = ended.cancelled() => return,
                        () = tokio::time::sleep(check) => {}
                    }
                    let last = Duration::from_millis(polled.load(Ordering::Relaxed));
                    if since.elapsed().saturating_sub(last) > limit {
                        metrics::counter!("netpulse_feed_clients_dropped_total", "reason" => "send_timeout")
                            .increment(1);
                        tracing::info!(
                            transport = "sse",
                            "feed client took no data within api.feed.heartbeat + send_timeout: disconnected"
                        );
                        close.close();
                        return;
                    }
                }
            }
        };
        tokio::spawn(watchdog);
        Watched {
            inner,
            polled,
            since,
            _ended: ended.drop_guard(),
        }
    }
}

impl<S: Stream + Unpin> Stream for Watched<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        let now = self.since.elapsed().as_millis() as u64;
        self.polled.store(now, Ordering::Relaxed);
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

fn sse_events(cursor: Cursor) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(Some(cursor), |cursor| async move {
        let mut cursor = cursor?;
        let (event, next) = match cursor.next().await {
            Ok(FeedItem::Event { seq, json }) => {
                metrics::counter!("netpulse_feed_events_sent_total").increment(1);
                (
                    SseEvent::default().id(seq.to_string()).data(&*json),
                    Some(cursor),
                )
            }
            Ok(FeedItem::Notice { code, message }) => (
                SseEvent::default()
                    .event("notice")
                    .data(notice(code, &message)),
                Some(cursor),
            ),
            Ok(FeedItem::Lagged { message, .. }) => {
                metrics::counter!("netpulse_feed_clients_dropped_total", "reason" => "lagging")
                    .increment(1);
                tracing::info!(
                    transport = "sse",
                    last_seq = cursor.last_seq(),
                    "feed client too slow: disconnected"
                );
                let event = SseEvent::default().event("notice");
                (event.data(notice("lagging", &message)), None)
            }
            Ok(FeedItem::Shutdown { .. }) => (
                SseEvent::default().event("notice").data(notice(
                    "shutdown",
                    "netpulse is stopping; reconnect to resume",
                )),
                None,
            ),
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "feed: the store could not be read");
                let message = "the store could not be read; reconnect to resume";
                (
                    SseEvent::default()
                        .event("notice")
                        .data(notice("error", message)),
                    None,
                )
            }
        };
        Some((Ok(event), next))
    })
}

/// `GET /api/v1/stream`.
pub(super) async fn websocket(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let cursor = open(&state, query.as_deref(), None).await?;
    let feed = state.config.feed.clone();
    metrics::counter!("netpulse_feed_connections_total", "transport" => "websocket").increment(1);
    // Clients send nothing but pings and a close, so a small read buffer will do; a thousand
    // clients with the default 128 KiB each would hold hundreds of MiB for nothing.
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve_socket(socket, cursor, feed)))
}

/// Sends the feed to one WebSocket client until it leaves, falls behind, or netpulse stops.
async fn serve_socket(mut socket: WebSocket, mut cursor: Cursor, feed: FeedConfig) {
    let mut heartbeat = tokio::time::interval(feed.heartbeat);
    heartbeat.tick().await;
    loop {
        let message = tokio::select! {
            item = cursor.next() => match item {
                Ok(FeedItem::Event { json, .. }) => {
                    // Whatever else is already queued goes out in the same write.
                    let mut batch = vec![Message::Text((&*json).into())];
                    while batch.len() < WRITE_BATCH {
                        match cursor.try_next() {
                            Some(FeedItem::Event { json, .. }) => batch.push(Message::Text((&*json).into())),
                            _ => break,
                        }
                    }
                    metrics::counter!("netpulse_feed_events_sent_total").increment(batch.len() as u64);
                    if !send_all(&mut socket, batch, feed.send_timeout).await {
                        return;
                    }
                    continue;
                }
                Ok(FeedItem::Notice { code, message }) => Message::Text(notice(code, &message).into()),
                Ok(FeedItem::Lagged { last_seq, message }) => {
                    metrics::counter!("netpulse_feed_clients_dropped_total", "reason" => "lagging").increment(1);
                    tracing::info!(transport = "websocket", last_seq, "feed client too slow: disconnected");
                    let _ = send(&mut socket, Message::Text(notice("lagging", &message).into()), feed.send_timeout).await;
                    let reason = format!("too slow: resume with ?after={last_seq}");
                    close(&mut socket, CLOSE_LAGGING, &reason, feed.send_timeout).await;
                    return;
                }
                Ok(FeedItem::Shutdown { .. }) => {
                    close(&mut socket, CLOSE_GOING_AWAY, "netpulse is stopping", feed.send_timeout).await;
                    return;
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "feed: the store could not be read");
                    close(&mut socket, CLOSE_ERROR, "the store could not be read", feed.send_timeout).await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the WebSocket layer; text from the client is ignored.
                Some(Ok(Message::Close(_))) | None => return,
                Some(Err(error)) => {
                    if is_too_big(error) {
                        metrics::counter!("netpulse_feed_clients_dropped_total", "reason" => "message_too_big").increment(1);
                        tracing::info!(transport = "websocket", max_message = MAX_CLIENT_MESSAGE, max_frame = MAX_CLIENT_FRAME, "feed client sent a message over the limits: disconnected");
                        close(&mut socket, CLOSE_TOO_BIG, "feed clients send only control frames", feed.send_timeout).await;
                    }
                    return;
                }
                Some(Ok(_)) => continue,
            },
            _ = heartbeat.tick() => Message::Ping(Default::default()),
        };
        if !send(&mut socket, message, feed.send_timeout).await {
            return;
        }
    }
}

/// Whether a read failed because the client's message or frame was over the limits.
fn is_too_big(error: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        error.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(_))
    )
}

/// Queued events written to a WebSocket at once at most.
const WRITE_BATCH: usize = 64;

/// Sends several messages with one flush; false when the client is gone or took no data for
/// `timeout`.
async fn send_all(socket: &mut WebSocket, messages: Vec<Message>, timeout: Duration) -> bool {
    use futures_util::SinkExt as _;
    let write = async {
        for message in messages {
            socket.feed(message).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            metrics::counter!("netpulse_feed_clients_dropped_total", "reason" => "send_timeout")
                .increment(1);
            tracing::info!(
                timeout_ms = timeout.as_millis() as u64,
                "feed client took no data within api.feed.send_timeout: disconnected"
            );
            false
        }
    }
}

/// Sends one message; false when the client is gone or took no data for `timeout`.
async fn send(socket: &mut WebSocket, message: Message, timeout: Duration) -> bool {
    match tokio::time::timeout(timeout, socket.send(message)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            metrics::counter!("netpulse_feed_clients_dropped_total", "reason" => "send_timeout")
                .increment(1);
            tracing::info!(
                timeout_ms = timeout.as_millis() as u64,
                "feed client took no data within api.feed.send_timeout: disconnected"
            );
            false
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str, timeout: Duration) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = send(socket, Message::Close(Some(frame)), timeout).await;
}
