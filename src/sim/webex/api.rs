//! The simulator's HTTP surface: the Messages and Rooms API under `/v1/`, and the `/_sim/`
//! control API (no authentication: it is for the person or test running the simulator).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::people::{self, Person};
use super::{Inner, RequestRecord, SimMessage, cards, control, mentions, webex_id, webhooks};

/// "The maximum message length is 7439 bytes" (the Messages API reference).
pub const MAX_MESSAGE_BYTES: usize = 7439;
/// The wording of Webex's error for a message over the limit is not in the public material
/// (INFER); the status, 400, and the error shape are.
pub(super) const TOO_LONG: &str =
    "Message length exceeds the maximum allowed length of 7439 bytes.";
/// Webex's answer to a request without a valid token.
const UNAUTHORIZED: &str =
    "The request requires a valid access token set in the Authorization request header.";
/// What the bot is called in the messages it creates.
pub(super) const BOT_EMAIL: &str = "netpulse-sim@webex.bot";
/// `GET /v1/messages` returns at most this many items when `max` is not given (Webex: 50).
const DEFAULT_MAX: usize = 50;
/// Webex's wording for a `parentId` it cannot use is not in the public material (INFER); the
/// rule is: the parent is a message of the same room (or direct conversation) that is not itself
/// a reply, since Webex threads are one level deep.
const NO_PARENT: &str = "Could not find the parent message in this room.";
const REPLY_TO_REPLY: &str = "Cannot reply to a reply: the parent is itself a reply in a thread.";

type Shared = Arc<Inner>;

pub fn router(inner: Shared) -> Router {
    Router::new()
        .route("/v1/messages", post(create).get(list))
        .route("/v1/messages/direct", get(list_direct))
        .route(
            "/v1/messages/{id}",
            get(get_one)
                .put(super::edit::edit)
                .delete(super::edit::delete),
        )
        .route("/v1/rooms", get(rooms))
        .route("/v1/people/me", get(people::me))
        .route("/v1/people", get(people::list_people))
        .route("/v1/people/{id}", get(people::get_person))
        .route("/v1/memberships", get(people::memberships))
        .route("/v1/attachment/actions", post(cards::create_action))
        .route("/v1/attachment/actions/{id}", get(cards::get_action))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get_one).delete(webhooks::delete),
        )
        .merge(super::mercury::routes())
        .route("/_sim/click", post(cards::control_click))
        .route("/_sim/actions", get(cards::control_actions))
        .route("/_sim/deliveries", get(webhooks::control_deliveries))
        .route("/_sim/fault", post(control::fault))
        .route("/_sim/messages", get(control::messages))
        .route("/_sim/requests", get(control::requests))
        .route("/_sim/stats", get(control::stats))
        .route("/_sim/reset", post(control::reset))
        .with_state(inner)
}

/// An error in Webex's shape, with the tracking id also as a header.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    tracked(status, |tracking| {
        json!({
            "message": message,
            "errors": [{"description": message}],
            "trackingId": tracking,
        })
    })
}

pub(super) fn ok(body: Value) -> Response {
    tracked(StatusCode::OK, |_| body)
}

/// A JSON answer carrying a fresh `trackingid` header, as every Webex answer does; `body` gets the
/// tracking id too, for error bodies.
fn tracked(status: StatusCode, body: impl FnOnce(&str) -> Value) -> Response {
    let tracking = format!("NETPULSE_SIM_{}", uuid::Uuid::now_v7().simple());
    let mut response = (status, axum::Json(body(&tracking))).into_response();
    if let Ok(value) = HeaderValue::from_str(&tracking) {
        response.headers_mut().insert("trackingid", value);
    }
    response
}

/// The configured latency, then the bearer check; answers who is calling.
/// The person a request's bearer token names, as a handler's argument (after the latency fault);
/// a request without a known token is answered 401.
pub(super) struct Caller(pub(super) Person);

impl axum::extract::FromRequestParts<Shared> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        inner: &Shared,
    ) -> Result<Caller, Response> {
        admit(inner, &parts.headers).await.map(Caller)
    }
}

pub(super) async fn admit(inner: &Inner, headers: &HeaderMap) -> Result<Person, Response> {
    let latency = inner.state.lock().expect("sim state").faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match token.and_then(|token| inner.caller(token)) {
        Some(person) => Ok(person),
        None => Err(error(StatusCode::UNAUTHORIZED, UNAUTHORIZED)),
    }
}

pub(super) fn message_json(message: &SimMessage) -> Value {
    let mut object = json!({
        "id": message.id,
        "roomType": if message.room_id.is_some() { "group" } else { "direct" },
        "personId": message.person_id,
        "personEmail": message.person_email,
        "created": timestamp(message.created),
    });
    let fields = [
        ("roomId", &message.room_id),
        ("toPersonEmail", &message.to_person_email),
        ("text", &message.text),
        ("markdown", &message.markdown),
        ("parentId", &message.parent_id),
    ];
    if !message.mentioned_people.is_empty() {
        object["mentionedPeople"] = Value::from(message.mentioned_people.clone());
    }
    for (key, value) in fields {
        if let Some(value) = value {
            object[key] = Value::from(value.as_str());
        }
    }
    if !message.attachments.is_empty() {
        object["attachments"] = Value::from(message.attachments.clone());
    }
    if let Some(updated) = message.updated {
        object["updated"] = timestamp(updated).into();
    }
    object
}

/// Webex's timestamp format: UTC, milliseconds, `Z`.
pub(super) fn timestamp(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

async fn create(State(inner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let response = create_message(&inner, &headers, &body).await;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    tracing::debug!(status, "sim webex: POST /v1/messages");
    inner
        .state
        .lock()
        .expect("sim state")
        .requests
        .push(RequestRecord {
            at: jiff::Timestamp::now(),
            instant: std::time::Instant::now(),
            status,
            retry_after,
        });
    response
}

async fn create_message(inner: &Inner, headers: &HeaderMap, body: &[u8]) -> Response {
    let arrived = std::time::Instant::now();
    let author = match admit(inner, headers).await {
        Ok(author) => author,
        Err(response) => return response,
    };
    if let Some(response) = injected_failure(inner) {
        return response;
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_type {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content type must be application/json.",
        );
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Required request body is missing or is not a JSON object.",
        );
    };
    let text_field = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
    let (room_id, person_id, email) = (
        text_field("roomId"),
        text_field("toPersonId"),
        text_field("toPersonEmail"),
    );
    let targets = [&room_id, &person_id, &email]
        .iter()
        .filter(|target| target.is_some())
        .count();
    if targets != 1 {
        return error(
            StatusCode::BAD_REQUEST,
            "Exactly one of roomId, toPersonId or toPersonEmail must be specified.",
        );
    }
    let (text, markdown) = (text_field("text"), text_field("markdown"));
    let has_content = text.is_some()
        || markdown.is_some()
        || fields.contains_key("files")
        || fields.contains_key("attachments");
    if !has_content {
        return error(
            StatusCode::BAD_REQUEST,
            "One of text, markdown, files or attachments must be specified.",
        );
    }
    if [&text, &markdown].iter().any(|value| {
        value
            .as_ref()
            .is_some_and(|value| value.len() > MAX_MESSAGE_BYTES)
    }) {
        return error(StatusCode::BAD_REQUEST, TOO_LONG);
    }
    let attachments = match fields.get("attachments").map(cards::validate_attachments) {
        None => Vec::new(),
        Some(Ok(attachments)) => attachments,
        Some(Err(reason)) => return error(StatusCode::BAD_REQUEST, &reason),
    };
    let parent_id = text_field("parentId");
    let mentioned_people = markdown
        .as_deref()
        .map(|markdown| mentions::mentioned(markdown, &inner.everyone()))
        .unwrap_or_default();
    let mut state = inner.state.lock().expect("sim state");
    if let Some(parent_id) = &parent_id {
        let to_person = email.as_ref().or(person_id.as_ref());
        let parent = state.messages.iter().find(|message| {
            &message.id == parent_id
                && message.room_id == room_id
                && message.to_person_email.as_ref() == to_person
        });
        match parent {
            None => return error(StatusCode::BAD_REQUEST, NO_PARENT),
            Some(parent) if parent.parent_id.is_some() => {
                return error(StatusCode::BAD_REQUEST, REPLY_TO_REPLY);
            }
            Some(_) => {}
        }
    }
    let room_uuid = match &room_id {
        // Webex answers a room its caller is not a member of as it answers an unknown one
        // (INFER: "you must be a member of the room in order to target it").
        Some(room) => match state
            .rooms
            .iter()
            .find(|known| &known.id == room && author.is_member(room))
        {
            Some(known) => Some(known.uuid.clone()),
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "Could not find a room with provided ID.",
                );
            }
        },
        None => None,
    };
    // The message's Hydra id wraps the uuid of the activity Mercury announces.
    let activity_uuid = uuid::Uuid::now_v7().to_string();
    let message = SimMessage {
        id: webex_id("MESSAGE", &activity_uuid),
        person_id: author.hydra_id(),
        person_email: author.email.clone(),
        room_id,
        to_person_email: email.or(person_id),
        text,
        markdown,
        parent_id,
        attachments,
        mentioned_people,
        created: jiff::Timestamp::now(),
        updated: None,
        edits: 0,
    };
    if inner.print {
        let shown = message
            .markdown
            .as_deref()
            .or(message.text.as_deref())
            .unwrap_or("");
        println!(
            "--- message {} ({:?} after arrival)\n{shown}\n",
            state.messages.len() + 1,
            arrived.elapsed()
        );
    }
    let body = message_json(&message);
    let notification = webhooks::message_data(&message);
    state.messages.push(message);
    drop(state);
    webhooks::fire(inner, "messages", "created", &author, notification);
    // Only room messages are announced: a direct message's conversation uuid is not modelled.
    if let Some(room_uuid) = room_uuid {
        inner
            .mercury
            .publish_post(&activity_uuid, &author, &room_uuid);
    }
    ok(body)
}

/// Takes one unit of an injected error fault, if any is left.
fn injected_failure(inner: &Inner) -> Option<Response> {
    let mut state = inner.state.lock().expect("sim state");
    let faults = &mut state.faults;
    if let Some((count, retry_after)) = faults.rate_limit.as_mut() {
        let retry_after = *retry_after;
        *count -= 1;
        if *count == 0 {
            faults.rate_limit = None;
        }
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return Some(response);
    }
    if let Some((count, status)) = faults.server_error.as_mut() {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *count -= 1;
        if *count == 0 {
            faults.server_error = None;
        }
        return Some(error(
            status,
            "Internal Server Error (injected by the simulator)",
        ));
    }
    None
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    room_id: Option<String>,
    /// Only the replies to this message (its thread).
    parent_id: Option<String>,
    person_email: Option<String>,
    /// `me` or the caller's own id: only the messages that mention the caller.
    mentioned_people: Option<String>,
    max: Option<usize>,
}

async fn list(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some(room) = query.room_id else {
        return error(StatusCode::BAD_REQUEST, "roomId is required.");
    };
    if !caller.is_member(&room) {
        return error(
            StatusCode::NOT_FOUND,
            "Could not find a room with provided ID.",
        );
    }
    let mentioned_only = match query.mentioned_people.as_deref() {
        None => false,
        Some(id) if id == "me" || id == caller.hydra_id() => true,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Only me or the person ID of the current user may be specified in mentionedPeople.",
            );
        }
    };
    // The wording and the status of this refusal are INFER; the rule is Webex's.
    if inner.bot_mentions_only && caller.kind == "ROBOT" && !mentioned_only {
        return error(
            StatusCode::FORBIDDEN,
            "Bots must include mentionedPeople=me to list messages in group rooms.",
        );
    }
    inner.state.lock().expect("sim state").room_lists += 1;
    listed(&inner, query.max, |message| {
        message.room_id.as_deref() == Some(room.as_str())
            && (query.parent_id.is_none() || message.parent_id == query.parent_id)
            && (!mentioned_only || mentions::mentions(message, &caller))
    })
}

async fn list_direct(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Err(response) = admit(&inner, &headers).await {
        return response;
    }
    let Some(email) = query.person_email else {
        return error(
            StatusCode::BAD_REQUEST,
            "personEmail or personId is required.",
        );
    };
    listed(&inner, query.max, |message| {
        message.to_person_email.as_deref() == Some(email.as_str())
            && (query.parent_id.is_none() || message.parent_id == query.parent_id)
    })
}

/// Matching messages, newest first, as Webex lists them.
fn listed(inner: &Inner, max: Option<usize>, matches: impl Fn(&SimMessage) -> bool) -> Response {
    let state = inner.state.lock().expect("sim state");
    let items: Vec<Value> = state
        .messages
        .iter()
        .rev()
        .filter(|message| matches(message))
        .take(max.unwrap_or(DEFAULT_MAX))
        .map(message_json)
        .collect();
    ok(json!({ "items": items }))
}

async fn get_one(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    let state = inner.state.lock().expect("sim state");
    match state.messages.iter().find(|message| {
        message.id == id
            && can_see(&caller, message)
            && mentions::bot_sees(&inner, &caller, message)
    }) {
        Some(message) => ok(message_json(message)),
        None => error(
            StatusCode::NOT_FOUND,
            "Could not find a message with provided ID.",
        ),
    }
}

/// Whether `person` may read `message`: a member of its room, or a party to a direct message
/// (the bot reads every direct message: the simulator does not model 1:1 rooms).
pub(super) fn can_see(person: &Person, message: &SimMessage) -> bool {
    match &message.room_id {
        Some(room) => person.is_member(room),
        None => {
            person.kind == "ROBOT"
                || message.person_email == person.email
                || message.to_person_email.as_deref() == Some(person.email.as_str())
                || message.to_person_email == Some(person.hydra_id())
        }
    }
}

async fn rooms(State(inner): State<Shared>, Caller(caller): Caller) -> Response {
    let state = inner.state.lock().expect("sim state");
    let items: Vec<Value> = state
        .rooms
        .iter()
        .filter(|room| caller.is_member(&room.id))
        .map(|room| json!({"id": room.id, "title": room.title, "type": "group"}))
        .collect();
    ok(json!({ "items": items }))
}
