//! The Mercury WebSocket of the Webex simulator: the upgrade, the authorization deadline, and
//! the loop that answers pings, records acks and pushes the commands of the control side.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::wdm::not_found;
use super::{Attached, Command, Mercury, Shared};

/// The close code for a failed or late authorization: the SDK maps the late-authorization reason
/// to 1008, so 1008 is used for both (INFER: the real codes are UNKNOWN).
const AUTH_FAILED_CODE: u16 = 1008;

/// The upgrade: 404 for an unknown registration, before any WebSocket handshake.
pub(super) async fn connect(
    State(inner): State<Shared>,
    Path(uuid): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let owner = {
        let mut state = inner.mercury.lock();
        let owner = state
            .registrations
            .iter()
            .find(|registration| registration.uuid == uuid)
            .map(|registration| registration.owner.clone());
        if owner.is_none() {
            state.stats.unknown_registrations += 1;
        }
        owner
    };
    let Some(owner) = owner else {
        return not_found();
    };
    upgrade.on_upgrade(move |socket| serve_socket(inner, uuid, owner, socket))
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Waits for the authorization frame; answers whether it carried the owner's token.
async fn authorize(socket: &mut WebSocket, owner: &str) -> bool {
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            return false;
        };
        if frame["type"] != "authorization" {
            return false;
        }
        let token = frame["data"]["token"].as_str().unwrap_or_default();
        return token.strip_prefix("Bearer ").unwrap_or(token) == owner;
    }
    false
}

async fn serve_socket(inner: Shared, uuid: String, owner: String, mut socket: WebSocket) {
    let mercury = &inner.mercury;
    let deadline = *mercury.auth_deadline.lock().expect("deadline");
    match tokio::time::timeout(deadline, authorize(&mut socket, &owner)).await {
        Ok(true) => {}
        Ok(false) => {
            let _ = socket
                .send(close(AUTH_FAILED_CODE, "authentication failed"))
                .await;
            return;
        }
        Err(_) => {
            // The SDK's special-cased wording, "seconds" over a millisecond count included.
            let reason = format!(
                "authentication did not happen within the timeout window of {} seconds.",
                deadline.as_millis()
            );
            let _ = socket.send(close(AUTH_FAILED_CODE, &reason)).await;
            return;
        }
    }
    let (commands, mut received) = mpsc::unbounded_channel();
    let generation = {
        let mut state = mercury.lock();
        state.next_generation += 1;
        let generation = state.next_generation;
        let attached = Attached {
            generation,
            commands,
            sequence: 0,
        };
        if let Some(previous) = state.sockets.insert(uuid.clone(), attached) {
            let _ = previous
                .commands
                .send(Command::Close(4000, "replaced".to_owned()));
        }
        state.stats.connections += 1;
        generation
    };
    let ready = json!({"id": uuid::Uuid::now_v7().to_string(), "data": {"eventType": "mercury.buffer_state"}});
    if socket
        .send(Message::Text(ready.to_string().into()))
        .await
        .is_ok()
    {
        run_socket(mercury, &mut socket, &mut received).await;
    }
    let mut state = mercury.lock();
    if state
        .sockets
        .get(&uuid)
        .is_some_and(|attached| attached.generation == generation)
    {
        state.sockets.remove(&uuid);
    }
}

/// Serves an authorized socket until it closes, is closed by a command, or the simulator stops.
async fn run_socket(
    mercury: &Mercury,
    socket: &mut WebSocket,
    received: &mut mpsc::UnboundedReceiver<Command>,
) {
    loop {
        tokio::select! {
            _ = mercury.shutdown.cancelled() => {
                let _ = socket.send(close(1001, "going away")).await;
                return;
            }
            command = received.recv() => match command {
                Some(Command::Send(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(Command::Close(code, reason)) => {
                    let _ = socket.send(close(code, &reason)).await;
                    return;
                }
                Some(Command::Drop) | None => return,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = answer(mercury, text.as_str())
                        && socket.send(Message::Text(reply.into())).await.is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A client frame: pings are answered, acks recorded, anything else ignored.
fn answer(mercury: &Mercury, text: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let mut state = mercury.lock();
    match frame["type"].as_str() {
        Some("ping") => {
            state.stats.pings += 1;
            if state.ignore_pings {
                return None;
            }
            Some(json!({"type": "pong", "id": frame["id"]}).to_string())
        }
        Some("ack") => {
            let id = frame["messageId"].as_str().unwrap_or_default().to_owned();
            state.stats.acks.push(id);
            None
        }
        _ => None,
    }
}
