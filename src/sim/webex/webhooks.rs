//! Webhooks of the Webex simulator (`protocols-webhooks.md` §5): `POST/GET/DELETE
//! /v1/webhooks` per token, and the notifications: when a message is created or updated, or a
//! card is clicked, every webhook whose owner can see it and whose resource, event and filter
//! match gets a `POST` to its `targetUrl`, signed `X-Spark-Signature: hex(HMAC-SHA1(secret,
//! body))` when it has a secret. One task sends them in the order they happened, once each
//! (Webex's retry policy is UNKNOWN), and records each outcome ([`Delivery`]).

use std::sync::Weak;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api::Caller;
use super::api::{can_see, error, ok, timestamp};
use super::people::{ORG_UUID, Person};
use super::{Inner, SimMessage, WebexSim, mentions, webex_id};

type Shared = std::sync::Arc<Inner>;

/// The application every simulated webhook is created by (one app: not modelled further).
const APP_UUID: &str = "6e657470-756c-7365-2d73-696d2d617070";
/// How long a target has to answer a notification (Webex's own timeout is UNKNOWN).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The filter keys Webex documents per resource ("Filtering Webhooks"), as far as the
/// simulator models them: `hasFiles` is documented but not modelled, so it is refused rather
/// than silently never matching. `mentionedPeople` takes `me` or a person id.
fn filter_keys(resource: &str) -> &'static [&'static str] {
    match resource {
        "messages" => &[
            "roomId",
            "roomType",
            "personId",
            "personEmail",
            "mentionedPeople",
        ],
        "attachmentActions" => &["roomId", "personId", "personEmail", "messageId"],
        _ => &[],
    }
}

/// The events each modelled resource has: attachment actions are only ever created.
fn events(resource: &str) -> &'static [&'static str] {
    match resource {
        "messages" => &["created", "updated", "deleted", "all"],
        "attachmentActions" => &["created", "all"],
        _ => &[],
    }
}

#[derive(Debug, Clone)]
pub(super) struct Webhook {
    id: String,
    name: String,
    target_url: String,
    resource: String,
    event: String,
    filter: Option<String>,
    secret: Option<String>,
    /// The token of its owner: only that token lists or deletes it.
    owner_token: String,
    owner: Person,
    created: jiff::Timestamp,
}

impl Webhook {
    fn json(&self) -> Value {
        let mut object = json!({
            "id": self.id,
            "name": self.name,
            "targetUrl": self.target_url,
            "resource": self.resource,
            "event": self.event,
            "orgId": webex_id("ORGANIZATION", ORG_UUID),
            "createdBy": self.owner.hydra_id(),
            "appId": webex_id("APPLICATION", APP_UUID),
            "ownedBy": "creator",
            "status": "active",
            "created": timestamp(self.created),
        });
        if let Some(filter) = &self.filter {
            object["filter"] = filter.as_str().into();
        }
        if let Some(secret) = &self.secret {
            object["secret"] = secret.as_str().into();
        }
        object
    }

    /// Whether every `key=value` of the filter holds for the notification's `data`.
    fn filter_matches(&self, data: &Value) -> bool {
        let Some(filter) = &self.filter else {
            return true;
        };
        filter.split('&').all(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == "mentionedPeople" {
                let owner = self.owner.hydra_id();
                let wanted = if value == "me" { owner.as_str() } else { value };
                return data[key]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|id| id == wanted));
            }
            data[key].as_str() == Some(value)
        })
    }
}

/// One notification sent (or attempted).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub webhook_id: String,
    pub target_url: String,
    pub resource: String,
    pub event: String,
    /// The exact bytes sent.
    pub body: String,
    /// The `X-Spark-Signature` sent, when the webhook has a secret.
    pub signature: Option<String>,
    /// The target's status, or `None` when it could not be reached.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A notification waiting for the delivery task.
pub(super) struct Outgoing {
    webhook_id: String,
    target_url: String,
    resource: String,
    event: String,
    body: String,
    signature: Option<String>,
}

/// `hex(HMAC-SHA1(secret, body))`, the `X-Spark-Signature` of a notification.
pub(super) fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The thin `data` of a `messages` notification: ids, never the text.
pub(super) fn message_data(message: &SimMessage) -> Value {
    let mut data = json!({
        "id": message.id,
        "roomType": if message.room_id.is_some() { "group" } else { "direct" },
        "personId": message.person_id,
        "personEmail": message.person_email,
        "created": timestamp(message.created),
    });
    if let Some(room) = &message.room_id {
        data["roomId"] = room.as_str().into();
    }
    if let Some(updated) = message.updated {
        data["updated"] = timestamp(updated).into();
    }
    if !message.mentioned_people.is_empty() {
        data["mentionedPeople"] = message.mentioned_people.clone().into();
    }
    data
}

/// Queues a notification for every webhook that matches `resource`/`event`, whose owner can
/// see the object (a member of its room) and whose filter holds. `actor` caused it.
pub(super) fn fire(inner: &Inner, resource: &str, event: &str, actor: &Person, data: Value) {
    let state = inner.state.lock().expect("sim state");
    let room = data["roomId"].as_str();
    let message_id = data["messageId"]
        .as_str()
        .unwrap_or(data["id"].as_str().unwrap_or(""));
    let mut filterable = data.clone();
    // `personEmail` is a filter of attachment actions though not a field of their data.
    filterable["personEmail"] = actor.email.as_str().into();
    for webhook in &state.webhooks {
        let event_matches = webhook.event == event || webhook.event == "all";
        let visible = match room {
            Some(room) => webhook.owner.is_member(room),
            None => state
                .messages
                .iter()
                .any(|message| message.id == message_id && can_see(&webhook.owner, message)),
        };
        // The bot rule applies to messages (a card's clicks reach the card's bot).
        let visible = visible
            && (resource != "messages"
                || state.messages.iter().all(|message| {
                    message.id != message_id || mentions::bot_sees(inner, &webhook.owner, message)
                }));
        if webhook.resource != resource
            || !event_matches
            || !visible
            || !webhook.filter_matches(&filterable)
        {
            continue;
        }
        let mut notification = webhook.json();
        if let Value::Object(object) = &mut notification {
            object.remove("secret");
            object.remove("created");
        }
        notification["event"] = event.into();
        notification["actorId"] = actor.hydra_id().into();
        notification["data"] = data.clone();
        let body = notification.to_string();
        let signature = webhook
            .secret
            .as_ref()
            .map(|secret| sign(secret, body.as_bytes()));
        let _ = inner.outgoing.send(Outgoing {
            webhook_id: webhook.id.clone(),
            target_url: webhook.target_url.clone(),
            resource: resource.to_owned(),
            event: event.to_owned(),
            body,
            signature,
        });
    }
}

/// The delivery task: sends each queued notification in turn until the simulator stops.
pub(super) async fn deliver(
    inner: Weak<Inner>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    shutdown: CancellationToken,
) {
    let client = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .unwrap_or_default();
    loop {
        let outgoing = tokio::select! {
            _ = shutdown.cancelled() => return,
            outgoing = queue.recv() => match outgoing {
                Some(outgoing) => outgoing,
                None => return,
            },
        };
        let mut request = client
            .post(&outgoing.target_url)
            .header("content-type", "application/json")
            .body(outgoing.body.clone());
        if let Some(signature) = &outgoing.signature {
            request = request.header("x-spark-signature", signature);
        }
        let (status, error) = match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(err) => (None, Some(err.to_string())),
        };
        tracing::debug!(target_url = %outgoing.target_url, ?status, "sim webex: webhook sent");
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner
            .state
            .lock()
            .expect("sim state")
            .deliveries
            .push(Delivery {
                webhook_id: outgoing.webhook_id,
                target_url: outgoing.target_url,
                resource: outgoing.resource,
                event: outgoing.event,
                body: outgoing.body,
                signature: outgoing.signature,
                status,
                error,
            });
    }
}

/// The registration's fields, checked; the message of a 400 otherwise.
fn registration(fields: &Map<String, Value>) -> Result<[Option<String>; 6], String> {
    let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
    for key in ["name", "targetUrl", "resource", "event"] {
        if text(key).is_none_or(|value| value.is_empty()) {
            return Err(format!("{key} is required."));
        }
    }
    let resource = text("resource").unwrap_or_default();
    let event = text("event").unwrap_or_default();
    if events(&resource).is_empty() {
        return Err(format!(
            "resource {resource:?} is not modelled by the simulator (messages, attachmentActions)."
        ));
    }
    if !events(&resource).contains(&event.as_str()) {
        return Err(format!("Invalid event {event:?} for resource {resource}."));
    }
    let target = text("targetUrl").unwrap_or_default();
    if reqwest::Url::parse(&target).is_err() {
        return Err("targetUrl must be a valid URL.".to_owned());
    }
    let filter = text("filter").filter(|filter| !filter.is_empty());
    if let Some(filter) = &filter {
        for pair in filter.split('&') {
            let key = pair.split_once('=').map(|(key, _)| key).unwrap_or(pair);
            if !filter_keys(&resource).contains(&key) {
                return Err(format!("invalid value for filter: {key}"));
            }
        }
    }
    Ok([
        text("name"),
        Some(target),
        Some(resource),
        Some(event),
        filter,
        text("secret").filter(|secret| !secret.is_empty()),
    ])
}

/// `POST /v1/webhooks`.
pub(super) async fn create(
    State(inner): State<Shared>,
    Caller(owner): Caller,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Required request body is missing");
    };
    let [name, target_url, resource, event, filter, secret] = match registration(&fields) {
        Ok(fields) => fields,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let webhook = Webhook {
        id: webex_id("WEBHOOK", &uuid::Uuid::now_v7().to_string()),
        name: name.unwrap_or_default(),
        target_url: target_url.unwrap_or_default(),
        resource: resource.unwrap_or_default(),
        event: event.unwrap_or_default(),
        filter,
        secret,
        owner_token: owner.token.clone(),
        owner,
        created: jiff::Timestamp::now(),
    };
    let body = webhook.json();
    inner
        .state
        .lock()
        .expect("sim state")
        .webhooks
        .push(webhook);
    ok(body)
}

/// `GET /v1/webhooks`: the caller's webhooks.
pub(super) async fn list(State(inner): State<Shared>, Caller(caller): Caller) -> Response {
    let state = inner.state.lock().expect("sim state");
    let items: Vec<Value> = state
        .webhooks
        .iter()
        .filter(|webhook| webhook.owner_token == caller.token)
        .map(Webhook::json)
        .collect();
    ok(json!({ "items": items }))
}

const NO_WEBHOOK: &str = "Could not find a webhook with provided ID.";

pub(super) async fn get_one(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    let state = inner.state.lock().expect("sim state");
    match state
        .webhooks
        .iter()
        .find(|webhook| webhook.id == id && webhook.owner_token == caller.token)
    {
        Some(webhook) => ok(webhook.json()),
        None => error(StatusCode::NOT_FOUND, NO_WEBHOOK),
    }
}

/// `DELETE /v1/webhooks/{id}`: 204, or 404 for another token's or an unknown webhook.
pub(super) async fn delete(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    let mut state = inner.state.lock().expect("sim state");
    let before = state.webhooks.len();
    state
        .webhooks
        .retain(|webhook| !(webhook.id == id && webhook.owner_token == caller.token));
    if state.webhooks.len() == before {
        return error(StatusCode::NOT_FOUND, NO_WEBHOOK);
    }
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn control_deliveries(State(inner): State<Shared>) -> Response {
    axum::Json(inner.state.lock().expect("sim state").deliveries.clone()).into_response()
}

impl WebexSim {
    /// Every webhook notification sent, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner
            .state
            .lock()
            .expect("sim state")
            .deliveries
            .clone()
    }
}
