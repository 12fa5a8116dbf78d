//! Message edits and deletions in the Webex simulator: `PUT /v1/messages/{id}` with `{roomId, text |
//! markdown}` (the Messages API "Edit a Message"): only the author edits, in the message's own
//! room, at most 10 times ("Update a message you have posted not more than 10 times"); the
//! answer is the edited message with `updated`; `messages updated` webhooks fire. A card
//! (`attachments`) is kept as it was: whether Webex lets an edit change it is UNKNOWN. The
//! Mercury side of an edit is not announced (its activity shape is UNKNOWN).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::Caller;
use super::api::{MAX_MESSAGE_BYTES, TOO_LONG, can_see, error, message_json, ok};
use super::{Inner, webhooks};

type Shared = std::sync::Arc<Inner>;

/// "not more than 10 times" (the Messages API reference).
pub const MAX_EDITS: u32 = 10;

pub(super) async fn edit(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Required request body is missing");
    };
    let text_field = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
    let Some(room_id) = text_field("roomId") else {
        return error(StatusCode::BAD_REQUEST, "roomId is required.");
    };
    let (text, markdown) = (text_field("text"), text_field("markdown"));
    if text.is_none() && markdown.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "One of text or markdown must be specified.",
        );
    }
    if [&text, &markdown].iter().any(|value| {
        value
            .as_ref()
            .is_some_and(|value| value.len() > MAX_MESSAGE_BYTES)
    }) {
        return error(StatusCode::BAD_REQUEST, TOO_LONG);
    }
    let mut state = inner.state.lock().expect("sim state");
    let Some(message) = state
        .messages
        .iter_mut()
        .find(|message| message.id == id && message.room_id.as_deref() == Some(room_id.as_str()))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "Could not find a message with provided ID.",
        );
    };
    if !can_see(&caller, message) {
        return error(
            StatusCode::NOT_FOUND,
            "Could not find a message with provided ID.",
        );
    }
    // Webex's wording for these two refusals is not in the public material (INFER).
    if message.person_id != caller.hydra_id() {
        return error(
            StatusCode::FORBIDDEN,
            "Only the author of a message can edit it.",
        );
    }
    if message.edits >= MAX_EDITS {
        return error(
            StatusCode::BAD_REQUEST,
            "A message cannot be edited more than 10 times.",
        );
    }
    message.edits += 1;
    // An edit replaces the content: a field left out is gone (INFER from "text | markdown").
    message.text = text;
    message.markdown = markdown;
    message.updated = Some(jiff::Timestamp::now());
    let body = message_json(message);
    let data = webhooks::message_data(message);
    drop(state);
    webhooks::fire(&inner, "messages", "updated", &caller, data);
    ok(body)
}

/// `DELETE /v1/messages/{id}`: the author deletes their message (204); `messages deleted`
/// webhooks fire. Webex also lets a room's moderators delete others' messages: moderators are
/// not modelled, so anyone else gets 403 (INFER: the wording). Not announced on Mercury.
pub(super) async fn delete(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    let state = inner.state.lock().expect("sim state");
    let Some(index) = state
        .messages
        .iter()
        .position(|message| message.id == id && can_see(&caller, message))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "Could not find a message with provided ID.",
        );
    };
    if state.messages[index].person_id != caller.hydra_id() {
        return error(
            StatusCode::FORBIDDEN,
            "Only the author of a message can delete it.",
        );
    }
    let data = webhooks::message_data(&state.messages[index]);
    drop(state);
    // Fired while the message still exists, so that who may see it is still known.
    webhooks::fire(&inner, "messages", "deleted", &caller, data);
    let mut state = inner.state.lock().expect("sim state");
    state.messages.retain(|message| message.id != id);
    StatusCode::NO_CONTENT.into_response()
}
