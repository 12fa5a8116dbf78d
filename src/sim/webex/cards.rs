//! Adaptive Cards in the Webex simulator: the validation of a message's `attachments`, and the
//! Attachment Actions resource a click creates (`POST /v1/attachment/actions` with the clicking
//! person's token, `GET /v1/attachment/actions/{id}`), with its `attachmentActions created`
//! webhook and its `cardAction` activity on the Mercury socket. `POST /_sim/click` clicks as a
//! person named by email, for a test or a human driving the simulator with curl.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::api::Caller;
use super::api::{can_see, error, ok, timestamp};
use super::people::Person;
use super::{Inner, WebexSim, webex_id, webhooks};

type Shared = std::sync::Arc<Inner>;

/// The only content type Webex accepts in `attachments` (the Messages API reference).
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";
/// "Cards may include up to five buttons (actions)" (Buttons and Cards guide). Whether the API
/// refuses a sixth or the clients leave it out is UNKNOWN: the simulator refuses it, so that a
/// client cannot exceed the limit unnoticed.
pub const MAX_CARD_ACTIONS: usize = 5;

/// Checks `attachments` as Webex does: an array of exactly one card ("Only one card per
/// message"), `contentType` the Adaptive Card type, `content` an `AdaptiveCard` object with a
/// `version`, its `body` and `actions` (when present) arrays of typed elements. Webex's wording
/// of these errors is not in the public material (INFER); the status, 400, is. A size limit for
/// cards is not published (UNKNOWN): none is applied beyond the request's.
pub(super) fn validate_attachments(attachments: &Value) -> Result<Vec<Value>, String> {
    let Some(items) = attachments.as_array() else {
        return Err("attachments must be an array.".to_owned());
    };
    match items.len() {
        0 => return Err("attachments must contain a card.".to_owned()),
        1 => {}
        _ => return Err("Only one card per message is supported.".to_owned()),
    }
    let card = &items[0];
    let content_type = card["contentType"].as_str().unwrap_or_default();
    if content_type != ADAPTIVE_CARD {
        return Err(format!(
            "Unsupported attachment contentType {content_type:?}: it must be {ADAPTIVE_CARD}."
        ));
    }
    let content = &card["content"];
    if !content.is_object() {
        return Err("The attachment has no content object.".to_owned());
    }
    if content["type"] != "AdaptiveCard" {
        return Err("The attachment content type must be AdaptiveCard.".to_owned());
    }
    let version_ok = content["version"]
        .as_str()
        .and_then(|version| version.split_once('.'))
        .is_some_and(|(major, minor)| major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok());
    if !version_ok {
        return Err("The AdaptiveCard must have a version such as \"1.3\".".to_owned());
    }
    for key in ["body", "actions"] {
        match &content[key] {
            Value::Null => {}
            Value::Array(elements)
                if elements.iter().all(|element| element["type"].is_string()) => {}
            _ => {
                return Err(format!(
                    "AdaptiveCard {key} must be an array of typed elements."
                ));
            }
        }
    }
    let n_actions = content["actions"].as_array().map_or(0, Vec::len);
    if n_actions > MAX_CARD_ACTIONS {
        return Err(format!(
            "A card may include up to {MAX_CARD_ACTIONS} actions, not {n_actions}."
        ));
    }
    Ok(items.clone())
}

/// An attachment action: one click on a card's `Action.Submit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimAction {
    /// `base64("ciscospark://us/ATTACHMENT_ACTION/<activity uuid>")`.
    pub id: String,
    /// Always `submit`, the only type Webex documents.
    #[serde(rename = "type")]
    pub kind: String,
    pub message_id: String,
    pub inputs: Value,
    pub person_id: String,
    /// Who clicked, for tests (not a field of the resource).
    #[serde(skip)]
    pub person_email: String,
    pub room_id: Option<String>,
    pub created: jiff::Timestamp,
}

impl SimAction {
    /// The resource, as `GET /v1/attachment/actions/{id}` shows it.
    fn json(&self) -> Value {
        let mut object = json!({
            "id": self.id,
            "type": self.kind,
            "messageId": self.message_id,
            "inputs": self.inputs,
            "personId": self.person_id,
            "created": timestamp(self.created),
        });
        if let Some(room) = &self.room_id {
            object["roomId"] = room.as_str().into();
        }
        object
    }
}

/// A refusal: the status and Webex's message.
type Refusal = (StatusCode, String);

fn refuse(status: StatusCode, message: &str) -> Refusal {
    (status, message.to_owned())
}

/// Creates the action `fields` describes, as `person`: checks, stores, announces.
fn act(inner: &Inner, person: &Person, fields: &Map<String, Value>) -> Result<SimAction, Refusal> {
    if fields.get("type").and_then(Value::as_str) != Some("submit") {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "type must be submit (the only attachment action type).",
        ));
    }
    let Some(message_id) = fields.get("messageId").and_then(Value::as_str) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "messageId is required."));
    };
    let inputs = match fields.get("inputs") {
        Some(inputs @ Value::Object(_)) => inputs.clone(),
        _ => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "inputs is required and must be an object.",
            ));
        }
    };
    let mut state = inner.state.lock().expect("sim state");
    // A message the person cannot see (another room) is answered as an unknown one (INFER).
    let Some(message) = state
        .messages
        .iter()
        .find(|message| message.id == message_id && can_see(person, message))
    else {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "Could not find a message with provided ID.",
        ));
    };
    if message.attachments.is_empty() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "The message has no card to act on.",
        ));
    }
    let room_id = message.room_id.clone();
    let message_uuid = hydra_uuid(&message.id);
    let room_uuid = room_id.as_ref().and_then(|room| {
        state
            .rooms
            .iter()
            .find(|known| &known.id == room)
            .map(|known| known.uuid.clone())
    });
    let activity_uuid = uuid::Uuid::now_v7().to_string();
    let action = SimAction {
        id: webex_id("ATTACHMENT_ACTION", &activity_uuid),
        kind: "submit".to_owned(),
        message_id: message_id.to_owned(),
        inputs,
        person_id: person.hydra_id(),
        person_email: person.email.clone(),
        room_id,
        created: jiff::Timestamp::now(),
    };
    state.actions.push(action.clone());
    drop(state);
    if inner.print {
        println!(
            "--- card action by {} on {}: {}\n",
            person.email, action.message_id, action.inputs
        );
    }
    let mut data = action.json();
    if let Value::Object(object) = &mut data {
        // The notification is thin: the inputs are read with GET /v1/attachment/actions/{id}.
        object.remove("inputs");
    }
    webhooks::fire(inner, "attachmentActions", "created", person, data);
    if let Some(room_uuid) = room_uuid {
        inner.mercury.publish_card_action(
            &activity_uuid,
            person,
            &room_uuid,
            &message_uuid,
            &action.inputs,
        );
    }
    Ok(action)
}

/// The uuid inside a Hydra id (`ciscospark://us/KIND/<uuid>`), or the id itself.
fn hydra_uuid(id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(id.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|uri| uri.rsplit('/').next().map(str::to_owned))
        .unwrap_or_else(|| id.to_owned())
}

fn answer(result: Result<SimAction, Refusal>) -> Response {
    match result {
        Ok(action) => ok(action.json()),
        Err((status, message)) => error(status, &message),
    }
}

fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

/// `POST /v1/attachment/actions`, as the person whose token calls.
pub(super) async fn create_action(
    State(inner): State<Shared>,
    Caller(person): Caller,
    body: Bytes,
) -> Response {
    let Some(fields) = object(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Required request body is missing or is not a JSON object.",
        );
    };
    answer(act(&inner, &person, &fields))
}

/// `GET /v1/attachment/actions/{id}`: for whoever can see the card's message (INFER: the
/// reference does not say who may read an action; the card's room is the natural scope).
pub(super) async fn get_action(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    let state = inner.state.lock().expect("sim state");
    let visible = state.actions.iter().find(|action| {
        action.id == id
            && state
                .messages
                .iter()
                .any(|message| message.id == action.message_id && can_see(&caller, message))
    });
    match visible {
        Some(action) => ok(action.json()),
        None => error(
            StatusCode::NOT_FOUND,
            "Could not find an attachment action with provided ID.",
        ),
    }
}

/// `POST /_sim/click {"messageId", "person": "<email>", "inputs": {…}}`: the same as the
/// person's own `POST /v1/attachment/actions` (`inputs` defaults to `{}`), without its token.
pub(super) async fn control_click(State(inner): State<Shared>, body: Bytes) -> Response {
    let Some(mut fields) = object(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    let email = fields
        .get("person")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(person) = inner
        .everyone()
        .into_iter()
        .find(|person| person.email.eq_ignore_ascii_case(&email))
    else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no person with email {email:?} in the simulator"),
        );
    };
    fields.insert("type".to_owned(), "submit".into());
    fields.entry("inputs").or_insert_with(|| json!({}));
    answer(act(&inner, &person, &fields))
}

pub(super) async fn control_actions(State(inner): State<Shared>) -> Response {
    let state = inner.state.lock().expect("sim state");
    let actions: Vec<Value> = state.actions.iter().map(SimAction::json).collect();
    axum::Json(actions).into_response()
}

impl WebexSim {
    /// Every attachment action created, oldest first.
    pub fn actions(&self) -> Vec<SimAction> {
        self.inner.state.lock().expect("sim state").actions.clone()
    }

    /// Clicks a card's submit button as the person (or bot) with this email: the same checks,
    /// webhook and Mercury activity as `POST /v1/attachment/actions` with their token.
    pub fn click(&self, message_id: &str, email: &str, inputs: Value) -> anyhow::Result<SimAction> {
        let person = self
            .inner
            .everyone()
            .into_iter()
            .find(|person| person.email.eq_ignore_ascii_case(email))
            .ok_or_else(|| anyhow::anyhow!("no person with email {email:?}"))?;
        let mut fields = Map::new();
        fields.insert("type".to_owned(), "submit".into());
        fields.insert("messageId".to_owned(), message_id.into());
        fields.insert("inputs".to_owned(), inputs);
        act(&self.inner, &person, &fields)
            .map_err(|(status, message)| anyhow::anyhow!("{status}: {message}"))
    }
}
