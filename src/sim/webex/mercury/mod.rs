//! The real-time side of the Webex simulator (`protocols-websocket.md` §4): WDM device
//! registrations under `/wdm/api/v1/devices` and the Mercury WebSocket each registration's
//! `webSocketUrl` points to.
//!
//! A socket must send `{"id","type":"authorization","data":{"token":"Bearer <token>"}}` (the bare
//! token is accepted too: the SDK's exact string is UNKNOWN) within the authorization deadline;
//! the simulator then sends `{"id","data":{"eventType":"mercury.buffer_state"}}`, answers every
//! `{"type":"ping","id":X}` with `{"type":"pong","id":X}`, records acks, and pushes a
//! `conversation.activity` envelope for every message created in a room (verb `post`) and every
//! click on a card in a room (verb `cardAction`). A second socket for the
//! same registration closes the first with 4000 "replaced"; a forgotten registration answers the
//! upgrade with 404, as Webex does for a stale one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Inner, Person};

mod socket;
mod wdm;

type Shared = std::sync::Arc<Inner>;

/// The SDK's close reason for a socket that never authorized is "… within the timeout window of
/// 30000 seconds", which suggests a 30 s deadline (INFER); it is settable.
const DEFAULT_AUTH_DEADLINE: Duration = Duration::from_secs(30);
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
        // Real content is KMS-encrypted; clients fetch the cleartext over REST, so the
        // simulator leaves it out.
        let activity = self.activity(
            activity_uuid,
            "post",
            author,
            room_uuid,
            json!({"objectType": "comment"}),
        );
        self.publish(activity);
    }

    /// Announces a click on a card (an attachment action) to every connected socket: verb
    /// `cardAction`, the activity id being the uuid inside the action's Hydra id, `parent` the
    /// card's message activity. The object's exact fields are not in the public material
    /// (INFER: `objectType` "submit" and the inputs; a client reads the action over REST).
    pub(super) fn publish_card_action(
        &self,
        activity_uuid: &str,
        actor: &Person,
        room_uuid: &str,
        message_uuid: &str,
        inputs: &Value,
    ) {
        let mut activity = self.activity(
            activity_uuid,
            "cardAction",
            actor,
            room_uuid,
            json!({"objectType": "submit", "inputs": inputs}),
        );
        activity["parent"] = json!({"id": message_uuid, "type": "cardAction"});
        self.publish(activity);
    }

    fn activity(
        &self,
        activity_uuid: &str,
        verb: &str,
        actor: &Person,
        room_uuid: &str,
        object: Value,
    ) -> Value {
        json!({
            "id": activity_uuid,
            "objectType": "activity",
            "verb": verb,
            "published": jiff::Timestamp::now().to_string(),
            "actor": {
                "id": actor.uuid,
                "objectType": "person",
                "emailAddress": actor.email,
                "displayName": actor.display_name,
                "entryUUID": actor.uuid,
                "type": actor.kind,
            },
            "object": object,
            "target": {
                "id": room_uuid,
                "objectType": "conversation",
                "url": format!("{}/conversation/api/v1/conversations/{room_uuid}", self.public_base),
                "tags": [],
            },
        })
    }

    /// Sends `activity` in a `conversation.activity` envelope to every connected socket.
    fn publish(&self, activity: Value) {
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
        .route(
            "/wdm/api/v1/devices",
            get(wdm::list_devices).post(wdm::register),
        )
        .route(
            "/wdm/api/v1/devices/{uuid}",
            get(wdm::get_device)
                .put(wdm::refresh)
                .delete(wdm::unregister),
        )
        .route(
            "/mercury/registrations/{uuid}/messages",
            get(socket::connect),
        )
        .route("/_sim/mercury", get(wdm::control_stats))
}

#[cfg(test)]
mod tests;
