//! The people of the Webex simulator: who a token belongs to, which rooms they are members of,
//! and the People API a bot uses to learn who clicked (`GET /v1/people/{id}`, `GET /v1/people`
//! by email, `GET /v1/people/me`), plus the room memberships (`GET /v1/memberships`).

use std::str::FromStr;

use anyhow::{Context, bail};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::Caller;
use super::api::{admit, error, ok};
use super::{Inner, Room, WebexSim, webex_id};

type Shared = std::sync::Arc<Inner>;

/// The organization every simulated person belongs to (one org: the simulator does not model
/// several).
pub(super) const ORG_UUID: &str = "6e7a7d2c-7d9b-4f53-9f6e-6e6574707573";

/// Someone who can call the API: the bot (any configured token) or a person.
#[derive(Debug, Clone)]
pub(super) struct Person {
    pub(super) token: String,
    pub(super) uuid: String,
    pub(super) email: String,
    pub(super) display_name: String,
    /// Webex's `actor.type`: `PERSON` or `ROBOT`.
    pub(super) kind: &'static str,
    /// The ids of the rooms this person is a member of; `None`: every room (the bot, and people
    /// added with [`WebexSim::add_person`]).
    pub(super) rooms: Option<Vec<String>>,
}

impl Person {
    pub(super) fn hydra_id(&self) -> String {
        webex_id("PEOPLE", &self.uuid)
    }

    /// Whether this person is a member of the room with id `room_id`: Webex only lets members
    /// post in a room, read its messages, or act on its cards.
    pub(super) fn is_member(&self, room_id: &str) -> bool {
        self.rooms
            .as_ref()
            .is_none_or(|rooms| rooms.iter().any(|room| room == room_id))
    }

    /// The person resource, as `GET /v1/people/{id}` shows it.
    pub(super) fn json(&self) -> Value {
        let (first, last) = self
            .display_name
            .split_once(' ')
            .unwrap_or((self.display_name.as_str(), ""));
        json!({
            "id": self.hydra_id(),
            "emails": [self.email],
            "phoneNumbers": [],
            "displayName": self.display_name,
            "nickName": first,
            "firstName": first,
            "lastName": last,
            "orgId": webex_id("ORGANIZATION", ORG_UUID),
            "type": if self.kind == "ROBOT" { "bot" } else { "person" },
        })
    }
}

/// A person to create at start: `EMAIL:TOKEN[:DISPLAY NAME[:ROOM,ROOM…]]` on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonSpec {
    pub email: String,
    pub token: String,
    /// Defaults to the part of the email before `@`.
    pub display_name: Option<String>,
    /// Titles of the rooms this person is a member of; empty: every room.
    pub rooms: Vec<String>,
}

impl FromStr for PersonSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<PersonSpec> {
        let mut parts = text.splitn(4, ':');
        let email = parts.next().unwrap_or_default().trim();
        let token = parts.next().unwrap_or_default().trim();
        if !email.contains('@') || token.is_empty() {
            bail!("a person is EMAIL:TOKEN[:DISPLAY NAME[:ROOM,ROOM...]], not {text:?}");
        }
        let display_name = parts
            .next()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        let rooms = parts
            .next()
            .map(|rooms| {
                rooms
                    .split(',')
                    .map(str::trim)
                    .filter(|room| !room.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(PersonSpec {
            email: email.to_owned(),
            token: token.to_owned(),
            display_name,
            rooms,
        })
    }
}

/// The people of the configuration, their room titles resolved to room ids.
pub(super) fn from_specs(specs: &[PersonSpec], rooms: &[Room]) -> anyhow::Result<Vec<Person>> {
    specs
        .iter()
        .map(|spec| {
            let member_of = if spec.rooms.is_empty() {
                None
            } else {
                let ids = spec
                    .rooms
                    .iter()
                    .map(|title| {
                        rooms
                            .iter()
                            .find(|room| &room.title == title)
                            .map(|room| room.id.clone())
                            .with_context(|| {
                                format!("person {}: no room titled {title:?}", spec.email)
                            })
                    })
                    .collect::<anyhow::Result<Vec<String>>>()?;
                Some(ids)
            };
            let display_name = spec
                .display_name
                .clone()
                .unwrap_or_else(|| spec.email.split('@').next().unwrap_or_default().to_owned());
            Ok(Person {
                token: spec.token.clone(),
                uuid: uuid::Uuid::now_v7().to_string(),
                email: spec.email.clone(),
                display_name,
                kind: "PERSON",
                rooms: member_of,
            })
        })
        .collect()
}

impl Inner {
    /// The bot's own person record.
    pub(super) fn bot(&self) -> Person {
        Person {
            token: self.tokens.first().cloned().unwrap_or_default(),
            uuid: self.bot_uuid.clone(),
            email: super::api::BOT_EMAIL.to_owned(),
            display_name: "netpulse sim bot".to_owned(),
            kind: "ROBOT",
            rooms: None,
        }
    }

    /// Everyone: the bot first, then the people.
    pub(super) fn everyone(&self) -> Vec<Person> {
        let mut everyone = vec![self.bot()];
        everyone.extend(self.state.lock().expect("sim state").people.iter().cloned());
        everyone
    }
}

impl WebexSim {
    /// Adds a person who can call the API with `token`, a member of the rooms titled `rooms`
    /// only; returns the person's Hydra id.
    pub fn add_member(
        &self,
        token: &str,
        email: &str,
        display_name: &str,
        rooms: &[&str],
    ) -> anyhow::Result<String> {
        let spec = PersonSpec {
            email: email.to_owned(),
            token: token.to_owned(),
            display_name: Some(display_name.to_owned()),
            rooms: rooms.iter().map(|room| (*room).to_owned()).collect(),
        };
        let mut state = self.inner.state.lock().expect("sim state");
        let mut people = from_specs(&[spec], &state.rooms)?;
        let person = people.remove(0);
        let id = person.hydra_id();
        state.people.push(person);
        Ok(id)
    }

    /// The Hydra id of the person (or the bot) with this email.
    pub fn person_id(&self, email: &str) -> Option<String> {
        self.inner
            .everyone()
            .into_iter()
            .find(|person| person.email.eq_ignore_ascii_case(email))
            .map(|person| person.hydra_id())
    }
}

/// The caller's own person record.
pub(super) async fn me(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    match admit(&inner, &headers).await {
        Ok(person) => ok(person.json()),
        Err(response) => response,
    }
}

/// `GET /v1/people/{id}`: any person of the organization, by Hydra id.
pub(super) async fn get_person(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = admit(&inner, &headers).await {
        return response;
    }
    match inner
        .everyone()
        .into_iter()
        .find(|person| person.hydra_id() == id)
    {
        Some(person) => ok(person.json()),
        // Webex's wording is not in the public material (INFER); the status is.
        None => error(
            StatusCode::NOT_FOUND,
            "Could not find a person with provided ID.",
        ),
    }
}

#[derive(Deserialize)]
pub(super) struct PeopleQuery {
    email: Option<String>,
}

/// `GET /v1/people?email=…`: the people with this email (zero or one); Webex requires a filter
/// to list people (`email`, `displayName` or `id`; only `email` is modelled).
pub(super) async fn list_people(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<PeopleQuery>,
) -> Response {
    if let Err(response) = admit(&inner, &headers).await {
        return response;
    }
    let Some(email) = query.email else {
        return error(
            StatusCode::BAD_REQUEST,
            "email, displayName, or id list should be specified.",
        );
    };
    let items: Vec<Value> = inner
        .everyone()
        .into_iter()
        .filter(|person| person.email.eq_ignore_ascii_case(&email))
        .map(|person| person.json())
        .collect();
    ok(json!({ "items": items }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MembershipQuery {
    room_id: Option<String>,
}

/// `GET /v1/memberships?roomId=…`: who is in a room the caller is a member of.
pub(super) async fn memberships(
    State(inner): State<Shared>,
    Caller(caller): Caller,
    Query(query): Query<MembershipQuery>,
) -> Response {
    let Some(room_id) = query.room_id else {
        return error(StatusCode::BAD_REQUEST, "roomId is required.");
    };
    let known = inner
        .state
        .lock()
        .expect("sim state")
        .rooms
        .iter()
        .any(|room| room.id == room_id);
    if !known || !caller.is_member(&room_id) {
        return error(
            StatusCode::NOT_FOUND,
            "Could not find a room with provided ID.",
        );
    }
    let items: Vec<Value> = inner
        .everyone()
        .into_iter()
        .filter(|person| person.is_member(&room_id))
        .map(|person| {
            json!({
                "id": webex_id("MEMBERSHIP", &format!("{}:{}", person.uuid, room_id)),
                "roomId": room_id,
                "personId": person.hydra_id(),
                "personEmail": person.email,
                "personDisplayName": person.display_name,
                "personOrgId": webex_id("ORGANIZATION", ORG_UUID),
                "isModerator": false,
                "isMonitor": false,
                "roomType": "group",
            })
        })
        .collect();
    ok(json!({ "items": items }))
}
