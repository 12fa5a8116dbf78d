//! The real-time side of the Webex simulator (`protocols-websocket.md` §4): WDM device
//! registrations under `/wdm/api/v1/devices` and the Mercury WebSocket each registration's
//! `webSocketUrl` points to.
//!
//! A socket must send `{"id","type":"authorization","data":{"token":"Bearer <token>"}}` (the bare
//! token is accepted too: the SDK's exact string is UNKNOWN) within the authorization deadline;
//! the simulator then sends `{"id","data":{"eventType":"mercury.buffer_state"}}`, answers every
//! `{"type":"ping","id":X}` with `{"type":"pong","id":X}`, records acks, and pushes a
//! `conversation.activity` envelope for every message created in a room. A second socket for the
//! same registration closes the first with 4000 "replaced"; a forgotten registration answers the
//! upgrade with 404, as Webex does for a stale one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api::admit;
use super::{Inner, Person};

type Shared = std::sync::Arc<Inner>;

/// The SDK's close reason for a socket that never authorized is "… within the timeout window of
/// 30000 seconds", which suggests a 30 s deadline (INFER); it is settable.
const DEFAULT_AUTH_DEADLINE: Duration = Duration::from_secs(30);
/// The close code for a failed or late authorization: the SDK maps the late-authorization reason
/// to 1008, so 1008 is used for both (INFER: the real codes are UNKNOWN).
const AUTH_FAILED_CODE: u16 = 1008;

/// What the Mercury side has seen, for tests and `/_sim/mercury`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MercuryStats {
    pub registrations: usize,
    /// Sockets that authorized, over the simulator's life.
    pub connections: u64,
    /// Sockets connected now.
    pub connected: usize,
    pub pings: u64,
    /// The `messageId` of every ack received, oldest first.
    pub acks: Vec<String>,
    /// Upgrades refused with 404 because the registration was unknown.
    pub unknown_registrations: u64,
}

/// One WDM device registration.
struct Registration {
    uuid: String,
    /// The token that registered it; only that token may list, refresh or delete it, or
    /// authorize a socket on it.
    owner: String,
    body: Value,
}

/// What a connection task is told to do.
enum Command {
    Send(String),
    Close(u16, String),
    /// End without a close frame: the client sees the connection reset.
    Drop,
}

struct Attached {
    generation: u64,
    commands: mpsc::UnboundedSender<Command>,
    sequence: u64,
}

#[derive(Default)]
struct MercuryState {
    registrations: Vec<Registration>,
    sockets: HashMap<String, Attached>,
    next_generation: u64,
    ignore_pings: bool,
    stats: MercuryStats,
}

pub(super) struct Mercury {
    /// `http(s)://addr`: device URLs and `ws(s)://` socket URLs are built from it.
    public_base: String,
    auth_deadline: Mutex<Duration>,
    shutdown: CancellationToken,
    state: Mutex<MercuryState>,
}

impl Mercury {
    pub(super) fn new(public_base: String, shutdown: CancellationToken) -> Mercury {
        Mercury {
            public_base,
            auth_deadline: Mutex::new(DEFAULT_AUTH_DEADLINE),
            shutdown,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MercuryState> {
        self.state.lock().expect("mercury state")
    }

    pub(super) fn stats(&self) -> MercuryStats {
        let state = self.lock();
        MercuryStats {
            registrations: state.registrations.len(),
            connected: state.sockets.len(),
            ..state.stats.clone()
        }
    }

    pub(super) fn set_auth_deadline(&self, deadline: Duration) {
        *self.auth_deadline.lock().expect("deadline") = deadline;
    }

    fn command_all(&self, command: impl Fn() -> Command) {
        for socket in self.lock().sockets.values() {
            let _ = socket.commands.send(command());
        }
    }

    pub(super) fn drop_sockets(&self) {
        self.command_all(|| Command::Drop);
    }

    pub(super) fn close_sockets(&self, code: u16, reason: &str) {
        self.command_all(|| Command::Close(code, reason.to_owned()));
    }

    pub(super) fn forget_registrations(&self) {
        self.lock().registrations.clear();
    }

    pub(super) fn ignore_pings(&self, ignore: bool) {
        self.lock().ignore_pings = ignore;
    }

    fn device_url(&self, uuid: &str) -> String {
        format!("{}/wdm/api/v1/devices/{uuid}", self.public_base)
    }

    /// The device DTO: the fields a client uses (`url`, `webSocketUrl`, `name`) and a few of the
    /// others WDM returns (`services`, `features`: their real content is not modelled).
    fn device_json(&self, registration: &Registration) -> Value {
        let socket_base = self
            .public_base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let mut device = registration.body.clone();
        if !device.is_object() {
            device = json!({});
        }
        device["url"] = self.device_url(&registration.uuid).into();
        device["webSocketUrl"] = format!(
            "{socket_base}/mercury/registrations/{}/messages",
            registration.uuid
        )
        .into();
        device["services"] = json!({});
        device["serviceHostMap"] = json!({});
        device["features"] = json!({"developer": [], "entitlement": [], "user": []});
        device
    }

    /// Announces a message posted in a room to every connected socket.
    pub(super) fn publish_post(&self, activity_uuid: &str, author: &Person, room_uuid: &str) {
        let activity = json!({
            "id": activity_uuid,
            "objectType": "activity",
            "verb": "post",
            "published": jiff::Timestamp::now().to_string(),
            "actor": {
                "id": author.uuid,
                "objectType": "person",
                "emailAddress": author.email,
                "displayName": author.display_name,
                "entryUUID": author.uuid,
                "type": author.kind,
            },
            // Real content is KMS-encrypted; clients fetch the cleartext over REST, so the
            // simulator leaves it out.
            "object": {"objectType": "comment"},
            "target": {
                "id": room_uuid,
                "objectType": "conversation",
                "url": format!("{}/conversation/api/v1/conversations/{room_uuid}", self.public_base),
                "tags": [],
            },
        });
        let mut state = self.lock();
        for socket in state.sockets.values_mut() {
            socket.sequence += 1;
            let envelope = json!({
                "id": uuid::Uuid::now_v7().to_string(),
                "sequenceNumber": socket.sequence,
                "timestamp": jiff::Timestamp::now().as_millisecond(),
                "wsWriteTimestamp": jiff::Timestamp::now().as_millisecond(),
                "trackingId": format!("NETPULSE_SIM_{}", uuid::Uuid::now_v7().simple()),
                "data": {"eventType": "conversation.activity", "activity": activity},
            });
            let _ = socket.commands.send(Command::Send(envelope.to_string()));
        }
    }
}

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/wdm/api/v1/devices", get(list_devices).post(register))
        .route(
            "/wdm/api/v1/devices/{uuid}",
            get(get_device).put(refresh).delete(unregister),
        )
        .route("/mercury/registrations/{uuid}/messages", get(connect))
        .route("/_sim/mercury", get(control_stats))
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            json!({"message": "Device not found", "errors": [{"description": "Device not found"}]}),
        ),
    )
        .into_response()
}

async fn list_devices(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let caller = match admit(&inner, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let state = inner.mercury.lock();
    let devices: Vec<Value> = state
        .registrations
        .iter()
        .filter(|registration| registration.owner == caller.token)
        .map(|registration| inner.mercury.device_json(registration))
        .collect();
    axum::Json(json!({ "devices": devices })).into_response()
}

async fn register(
    State(inner): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let caller = match admit(&inner, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let registration = Registration {
        uuid: uuid::Uuid::now_v7().to_string(),
        owner: caller.token,
        body,
    };
    let device = inner.mercury.device_json(&registration);
    inner.mercury.lock().registrations.push(registration);
    axum::Json(device).into_response()
}

/// Runs `action` on the caller's registration `uuid`, or answers 404.
async fn with_registration(
    inner: &Inner,
    headers: &HeaderMap,
    uuid: &str,
    action: impl FnOnce(&mut MercuryState, usize) -> Response,
) -> Response {
    let caller = match admit(inner, headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let mut state = inner.mercury.lock();
    match state
        .registrations
        .iter()
        .position(|registration| registration.uuid == uuid && registration.owner == caller.token)
    {
        Some(index) => action(&mut state, index),
        None => not_found(),
    }
}

async fn get_device(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let mercury = &inner.mercury;
    with_registration(&inner, &headers, &uuid, |state, index| {
        axum::Json(mercury.device_json(&state.registrations[index])).into_response()
    })
    .await
}

async fn refresh(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mercury = &inner.mercury;
    with_registration(&inner, &headers, &uuid, |state, index| {
        state.registrations[index].body = body;
        axum::Json(mercury.device_json(&state.registrations[index])).into_response()
    })
    .await
}

async fn unregister(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    with_registration(&inner, &headers, &uuid, |state, index| {
        state.registrations.remove(index);
        StatusCode::NO_CONTENT.into_response()
    })
    .await
}

async fn control_stats(State(inner): State<Shared>) -> Response {
    axum::Json(inner.mercury.stats()).into_response()
}

/// The upgrade: 404 for an unknown registration, before any WebSocket handshake.
async fn connect(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_util::sync::CancellationToken;

    use crate::sim::webex::{WebexSim, WebexSimConfig};

    type Client = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    async fn start() -> (WebexSim, CancellationToken) {
        let shutdown = CancellationToken::new();
        let sim = WebexSim::start(WebexSimConfig::default(), shutdown.clone())
            .await
            .unwrap();
        (sim, shutdown)
    }

    /// Registers with the body the webex_bot Python client sends (`tests/data/webex/`), renamed.
    async fn register(sim: &WebexSim, name: &str) -> Value {
        let fixture = std::fs::read(format!(
            "{}/tests/data/webex/wdm-device-registration-request-webex_bot.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut body: Value = serde_json::from_slice(&fixture).unwrap();
        body["name"] = name.into();
        let response = reqwest::Client::new()
            .post(format!("{}/devices", sim.wdm_url()))
            .bearer_auth("sim-bot-token")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.json().await.unwrap()
    }

    async fn next_json(socket: &mut Client) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    async fn connect(device: &Value) -> Client {
        let url = device["webSocketUrl"].as_str().unwrap();
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let auth =
            json!({"id": "a1", "type": "authorization", "data": {"token": "Bearer sim-bot-token"}});
        socket.send(Message::text(auth.to_string())).await.unwrap();
        let ready = next_json(&mut socket).await;
        assert_eq!(ready["data"]["eventType"], "mercury.buffer_state");
        assert!(ready.get("type").is_none());
        socket
    }

    #[tokio::test]
    async fn devices_are_registered_listed_refreshed_and_deleted_with_the_owner_token() {
        let (sim, _shutdown) = start().await;
        let http = reqwest::Client::new();
        let unauthorized = http
            .get(format!("{}/devices", sim.wdm_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(unauthorized.status(), 401);
        let device = register(&sim, "bot-a").await;
        let url = device["url"].as_str().unwrap();
        assert!(
            device["webSocketUrl"]
                .as_str()
                .unwrap()
                .starts_with("ws://")
        );
        let listed: Value = http
            .get(format!("{}/devices", sim.wdm_url()))
            .bearer_auth("sim-bot-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["devices"][0]["name"], "bot-a");
        assert_eq!(listed["devices"][0]["deviceType"], "DESKTOP");
        let refreshed = http
            .put(url)
            .bearer_auth("sim-bot-token")
            .json(&json!({"name": "bot-a"}))
            .send()
            .await
            .unwrap();
        assert!(refreshed.status().is_success());
        let deleted = http
            .delete(url)
            .bearer_auth("sim-bot-token")
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let gone = http
            .put(url)
            .bearer_auth("sim-bot-token")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 404);
        let refused = tokio_tungstenite::connect_async(device["webSocketUrl"].as_str().unwrap())
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("404"), "{refused}");
    }

    #[tokio::test]
    async fn a_post_reaches_the_socket_as_an_activity_whose_hydra_id_is_the_message() {
        let (sim, _shutdown) = start().await;
        sim.add_person("ann-token", "ann@example.com", "Ann");
        let device = register(&sim, "bot").await;
        let mut socket = connect(&device).await;
        socket
            .send(Message::text(r#"{"id":"p1","type":"ping"}"#))
            .await
            .unwrap();
        assert_eq!(
            next_json(&mut socket).await,
            json!({"type": "pong", "id": "p1"})
        );
        let http = reqwest::Client::new();
        let created: Value = http
            .post(format!("{}/v1/messages", sim.base_url()))
            .bearer_auth("ann-token")
            .json(&json!({"roomId": sim.room_id("NOC").unwrap(), "text": "hello"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let envelope = next_json(&mut socket).await;
        assert_eq!(envelope["sequenceNumber"], 1);
        assert_eq!(envelope["data"]["eventType"], "conversation.activity");
        let activity = &envelope["data"]["activity"];
        assert_eq!(activity["verb"], "post");
        assert_eq!(activity["actor"]["emailAddress"], "ann@example.com");
        assert_eq!(activity["object"]["objectType"], "comment");
        assert_eq!(activity["target"]["objectType"], "conversation");
        let hydra = base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!(
            "ciscospark://us/MESSAGE/{}",
            activity["id"].as_str().unwrap()
        ));
        assert_eq!(created["id"], hydra.as_str());
        let fetched: Value = http
            .get(format!("{}/v1/messages/{hydra}", sim.base_url()))
            .bearer_auth("sim-bot-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(fetched["text"], "hello");
        assert_eq!(fetched["personEmail"], "ann@example.com");
        let ack = json!({"messageId": envelope["id"], "type": "ack"});
        socket.send(Message::text(ack.to_string())).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while sim.mercury_stats().acks.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the ack is recorded"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            sim.mercury_stats().acks[0],
            envelope["id"].as_str().unwrap()
        );
    }

    #[tokio::test]
    async fn a_second_connection_replaces_the_first_and_late_authorization_is_refused() {
        let (sim, _shutdown) = start().await;
        let device = register(&sim, "bot").await;
        let mut first = connect(&device).await;
        let _second = connect(&device).await;
        let closed = tokio::time::timeout(Duration::from_secs(10), first.next())
            .await
            .unwrap();
        let Some(Ok(Message::Close(Some(frame)))) = closed else {
            panic!("expected a close frame, got {closed:?}");
        };
        assert_eq!(u16::from(frame.code), 4000);
        assert_eq!(frame.reason.as_str(), "replaced");

        sim.set_auth_deadline(Duration::from_millis(100));
        let url = device["webSocketUrl"].as_str().unwrap();
        let (mut silent, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(10), silent.next())
            .await
            .unwrap();
        let Some(Ok(Message::Close(Some(frame)))) = closed else {
            panic!("expected a close frame, got {closed:?}");
        };
        assert_eq!(u16::from(frame.code), 1008);
    }
}
