//! A click on a card's button (a Webex attachment action), from the click to what it does.
//!
//! The click arrives as an event of the log: `com.cisco.webex.attachmentActions.created` from a
//! `provider: webex` webhook (the notification, with the action fetched into `data.action`) or
//! `com.cisco.webex.attachment_action.created` from a `webex_events` source (`data.action`).
//! The sink that posted the card acts on it only after every check holds, each refusal logged and
//! counted in `netpulse_webex_actions_total{sink,outcome}`:
//! the action is there (else it is fetched again, and a failure retries the delivery), its
//! message is a card this sink posted (`webex_cards`; else it is another bot's card: ignored), the
//! click is in the card's room, the button is one the card has, and the person is allowed
//! (`GET /v1/people/{personId}` → their email, checked against `actions.allow`).
//!
//! What a button acts on comes from the card's recorded event, never from the click's `inputs`
//! (which only choose the button): the alarms of the notification's lines (or of the event), and
//! for a silence the group's labels (or the event's device and type). The silence's id is made
//! from the card and the button, so a second click on the same button creates nothing.
//!
//! The pure parts are here; the worker (`worker/clicks.rs`) does the IO around them. [`Act`] is
//! the seam to [`Operator`]: the tests give a fake.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use sha2::Digest as _;

use super::card::{DATA_KEY, duration_code, duration_words, is_actionable};
use super::markdown::escape;
use crate::config::{ActionAllow, DataMatcher, EventMatcher};
use crate::event::{AlarmUpdate, Event};
use crate::operator::{Actor, Applied, Operator, OperatorError, OperatorState};
use crate::route::{Mute, MuteKind, Notification};

/// A card's button, as the click's `inputs` choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Acknowledge,
    Silence(Duration),
}

impl Button {
    /// `ack`, `silence-1h`: in logs and in a silence's id.
    pub fn code(self) -> String {
        match self {
            Button::Acknowledge => "ack".to_owned(),
            Button::Silence(duration) => format!("silence-{}", duration_code(duration)),
        }
    }
}

/// The attachment action of a click: who pressed which button of which message, where.
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    pub id: String,
    pub message_id: String,
    pub room_id: String,
    pub person_id: String,
    pub inputs: Value,
}

/// Why a click is not acted on: the `outcome` label of `netpulse_webex_actions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The action could not be fetched and names nothing to fetch it with.
    Missing,
    /// Its message is not a card this sink posted (another bot's, or retention deleted it).
    NotOurCard,
    /// Clicked in another room than the card's.
    WrongRoom,
    /// The inputs name no button the card has.
    UnknownButton,
    /// Webex does not know the person, or lists no email for them.
    UnknownPerson,
    /// The person is not in `actions.allow`.
    NotAllowed,
    /// The card's event names no alarm to act on (or nothing to silence by).
    NothingToActOn,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::NotOurCard => "not_our_card",
            Refusal::WrongRoom => "wrong_room",
            Refusal::UnknownButton => "unknown_button",
            Refusal::UnknownPerson => "unknown_person",
            Refusal::NotAllowed => "not_allowed",
            Refusal::NothingToActOn => "nothing_to_act_on",
        }
    }
}

/// Whether `event` is a click on a card (either source's type).
pub fn is_click(event: &Event) -> bool {
    event.kind.starts_with("com.cisco.webex.attachment")
}

/// The click an event carries; without the fetched action, `Err` with the action's id when the
/// event names it (a webhook notification: `data.data.id`), to fetch it again.
pub fn click_of(event: &Event) -> Result<Click, Option<String>> {
    let action = &event.data["action"];
    let text = |field: &str| action[field].as_str().map(str::to_owned);
    match (
        text("id"),
        text("messageId"),
        text("roomId"),
        text("personId"),
    ) {
        (Some(id), Some(message_id), Some(room_id), Some(person_id)) => Ok(Click {
            id,
            message_id,
            room_id,
            person_id,
            inputs: action["inputs"].clone(),
        }),
        _ => Err(event.data["data"]["id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| activity_action_id(event))),
    }
}

/// A `webex_events` click whose fetch failed names the action by its activity (`cardAction`,
/// `id`: a UUID); its Hydra id takes the cluster of the room's id (the event's `device`), as
/// the source builds it.
fn activity_action_id(event: &Event) -> Option<String> {
    use base64::Engine as _;
    let activity = &event.data["activity"];
    if activity["verb"].as_str() != Some("cardAction") {
        return None;
    }
    let uuid = activity["id"].as_str()?;
    let room = crate::webex_api::hydra::check(&event.device).ok()?;
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(room.trim_end_matches('='))
        .ok()?;
    let uri = String::from_utf8(decoded).ok()?;
    let cluster = uri.strip_prefix("ciscospark://")?.split('/').next()?;
    Some(
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(format!("ciscospark://{cluster}/ATTACHMENT_ACTION/{uuid}")),
    )
}

/// Reads a fetched attachment action (`GET /v1/attachment/actions/{id}`) as a click.
pub fn click_of_action(action: Value) -> Option<Click> {
    let mut event = Event::new("", "", jiff::Timestamp::UNIX_EPOCH, Value::Null);
    event.data = serde_json::json!({"action": action});
    click_of(&event).ok()
}

/// The button `inputs` choose, if the card has it: `{"netpulse": "ack"}`, or
/// `{"netpulse": "silence", "for": "1h"}` with a duration among the configured buttons.
pub fn button(inputs: &Value, silence_buttons: &[Duration]) -> Option<Button> {
    match inputs[DATA_KEY].as_str()? {
        "ack" => Some(Button::Acknowledge),
        "silence" => {
            let duration = crate::duration::parse_duration(inputs["for"].as_str()?).ok()?;
            silence_buttons
                .contains(&duration)
                .then_some(Button::Silence(duration))
        }
        _ => None,
    }
}

/// Whether the person with this email may act: `allow: room` lets anyone who could click (Webex
/// only lets a room's members act on its cards); a list lets the emails and domains it names,
/// compared without case.
pub fn permits(allow: &ActionAllow, email: &str) -> bool {
    match allow {
        ActionAllow::Keyword(_) => true,
        ActionAllow::People { emails, domains } => {
            let email = email.trim().to_lowercase();
            let domain = email.rsplit_once('@').map(|(_, domain)| domain);
            emails
                .iter()
                .any(|allowed| allowed.trim().to_lowercase() == email)
                || domains.iter().any(|allowed| {
                    let allowed = allowed.trim().trim_start_matches('@').to_lowercase();
                    domain == Some(allowed.as_str())
                })
        }
    }
}

/// What a card's buttons act on, from its recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// The alarms Acknowledge acknowledges.
    pub keys: Vec<String>,
    /// What a Silence mutes; `None` when the event gives nothing to match on.
    pub matcher: Option<EventMatcher>,
}

/// The targets of a card whose event is `event`, which raised or cleared `alarms` (the store's
/// `events.alarms` of the event; empty for a notification).
pub fn targets(event: &Event, alarms: &[AlarmUpdate]) -> Targets {
    if let Some(Ok(notification)) = super::group::notification_of(event) {
        return notification_targets(&notification);
    }
    let keys = alarms
        .iter()
        .filter(|alarm| alarm.raised)
        .map(|alarm| alarm.key.clone())
        .collect();
    let matcher = (!event.device.is_empty()).then(|| EventMatcher {
        device: vec![event.device.clone()],
        kind: vec![event.kind.clone()],
        ..EventMatcher::default()
    });
    Targets { keys, matcher }
}

/// A notification's actionable lines, and the silence matcher of its group's labels: `source`,
/// `device`, `type`, `subject` (as a prefix: INFER, the matcher has no exact subject) and data
/// pointers. Labels it cannot express (`severity`, `alarmstate`, `objectclass`) are left out;
/// when none is left, the devices of the lines are silenced instead.
pub fn notification_targets(notification: &Notification) -> Targets {
    let lines: Vec<_> = notification
        .alarms
        .iter()
        .filter(|line| is_actionable(line))
        .collect();
    let keys = lines.iter().map(|line| line.key.clone()).collect();
    let mut matcher = EventMatcher::default();
    for (label, value) in &notification.labels {
        match label.as_str() {
            "source" => matcher.source.push(value.clone()),
            "device" => matcher.device.push(value.clone()),
            "type" => matcher.kind.push(value.clone()),
            "subject" => matcher.subject_prefix.push(value.clone()),
            pointer if pointer.starts_with('/') => matcher.data.push(DataMatcher {
                pointer: pointer.to_owned(),
                equals: Some(Value::String(value.clone())),
                regex: None,
            }),
            _ => {}
        }
    }
    let only_source = matcher.device.is_empty()
        && matcher.kind.is_empty()
        && matcher.subject_prefix.is_empty()
        && matcher.data.is_empty();
    if only_source {
        let mut devices: Vec<String> = lines
            .iter()
            .map(|line| line.device.clone())
            .filter(|device| !device.is_empty())
            .collect();
        devices.sort();
        devices.dedup();
        matcher.device = devices;
    }
    let matcher = (matcher != EventMatcher::default()).then_some(matcher);
    Targets { keys, matcher }
}

/// The id of the silence a card's button makes: the same for every click on that button of that
/// card, so a second click finds it made.
pub fn silence_id(message_id: &str, button: Button) -> String {
    short_id(&format!("{message_id}\n{}", button.code()))
}

/// The id of the silence a `silence` command makes: the same for the same message, so a
/// message delivered twice makes one silence.
pub fn command_silence_id(message_id: &str) -> String {
    short_id(&format!("{message_id}\ncommand"))
}

fn short_id(seed: &str) -> String {
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let hex: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("webex-{hex}")
}

/// `device=edge-1, type=…`: a matcher in the words of the `silence` command.
pub fn describe(matcher: &EventMatcher) -> String {
    let mut parts = Vec::new();
    let mut add = |name: &str, values: &[String]| {
        if !values.is_empty() {
            parts.push(format!("{name}={}", values.join("|")));
        }
    };
    add("source", &matcher.source);
    add("device", &matcher.device);
    add("type", &matcher.kind);
    add("type_prefix", &matcher.type_prefix);
    add("subject_prefix", &matcher.subject_prefix);
    for condition in &matcher.data {
        let value = match &condition.equals {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => format!("~{}", condition.regex.as_deref().unwrap_or("")),
        };
        parts.push(format!("{}={value}", condition.pointer));
    }
    if let Some(severity) = matcher.min_severity {
        parts.push(format!("severity>={}", severity.as_str()));
    }
    parts.join(", ")
}

/// The seam to the [`Operator`]: what the room may do to alarms and mutes.
pub trait Act {
    fn acknowledge(
        &self,
        key: &str,
        actor: &Actor,
        note: &str,
    ) -> impl Future<Output = Result<Applied<OperatorState>, OperatorError>> + Send;
    fn create_mute(
        &self,
        mute: Mute,
        actor: &Actor,
    ) -> impl Future<Output = Result<Applied<Mute>, OperatorError>> + Send;
    fn end_mute(
        &self,
        id: &str,
        actor: &Actor,
    ) -> impl Future<Output = Result<Applied<Mute>, OperatorError>> + Send;
    fn silences(&self) -> impl Future<Output = Result<Vec<Mute>, OperatorError>> + Send;
}

impl Act for Operator {
    async fn acknowledge(
        &self,
        key: &str,
        actor: &Actor,
        note: &str,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        Operator::acknowledge(self, key, actor, note).await
    }

    async fn create_mute(&self, mute: Mute, actor: &Actor) -> Result<Applied<Mute>, OperatorError> {
        Operator::create_mute(self, mute, actor).await
    }

    async fn end_mute(&self, id: &str, actor: &Actor) -> Result<Applied<Mute>, OperatorError> {
        Operator::end_mute(self, MuteKind::Silence, id, actor).await
    }

    async fn silences(&self) -> Result<Vec<Mute>, OperatorError> {
        Operator::mutes(self, MuteKind::Silence).await
    }
}

/// What the worker acts through: the [`Operator`], or in tests a fake.
#[derive(Clone)]
pub enum Acting {
    Operator(Operator),
    #[cfg(test)]
    Fake(std::sync::Arc<tests::FakeOperator>),
}

impl Act for Acting {
    async fn acknowledge(
        &self,
        key: &str,
        actor: &Actor,
        note: &str,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        match self {
            Acting::Operator(operator) => Act::acknowledge(operator, key, actor, note).await,
            #[cfg(test)]
            Acting::Fake(fake) => fake.acknowledge(key, actor, note).await,
        }
    }

    async fn create_mute(&self, mute: Mute, actor: &Actor) -> Result<Applied<Mute>, OperatorError> {
        match self {
            Acting::Operator(operator) => Act::create_mute(operator, mute, actor).await,
            #[cfg(test)]
            Acting::Fake(fake) => fake.create_mute(mute, actor).await,
        }
    }

    async fn end_mute(&self, id: &str, actor: &Actor) -> Result<Applied<Mute>, OperatorError> {
        match self {
            Acting::Operator(operator) => Act::end_mute(operator, id, actor).await,
            #[cfg(test)]
            Acting::Fake(fake) => fake.end_mute(id, actor).await,
        }
    }

    async fn silences(&self) -> Result<Vec<Mute>, OperatorError> {
        match self {
            Acting::Operator(operator) => Act::silences(operator).await,
            #[cfg(test)]
            Acting::Fake(fake) => fake.silences().await,
        }
    }
}

/// What applying a button did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Something changed: this Markdown goes in the card's thread.
    Changed(String),
    /// It was all so already (a second click): nothing is posted.
    Unchanged,
}

/// Applies `button` to `targets` as `actor`: acknowledges each alarm, or creates the silence
/// (id from the card `message_id` and the button, from `now` for the button's duration). A store
/// error is returned (the delivery is retried; what was applied is then already so).
pub async fn apply<A: Act>(
    act: &A,
    button: Button,
    targets: &Targets,
    actor: &Actor,
    message_id: &str,
    now: jiff::Timestamp,
) -> Result<Result<Outcome, Refusal>, OperatorError> {
    match button {
        Button::Acknowledge => {
            if targets.keys.is_empty() {
                return Ok(Err(Refusal::NothingToActOn));
            }
            let mut changed = 0;
            for key in &targets.keys {
                match act.acknowledge(key, actor, "").await {
                    Ok(Applied::Done { .. }) => changed += 1,
                    Ok(Applied::AlreadySo(_)) | Err(OperatorError::NotFound(_)) => {}
                    Err(OperatorError::Conflict(why)) => {
                        tracing::info!(%key, %why, "an alarm of a card cannot be acknowledged");
                    }
                    Err(error) => return Err(error),
                }
            }
            if changed == 0 {
                return Ok(Ok(Outcome::Unchanged));
            }
            let count = if targets.keys.len() > 1 {
                format!(" ({changed} alarms)")
            } else {
                String::new()
            };
            Ok(Ok(Outcome::Changed(format!(
                "✅ Acknowledged by {}{count}",
                escape(&actor.name)
            ))))
        }
        Button::Silence(duration) => {
            let Some(matcher) = targets.matcher.clone() else {
                return Ok(Err(Refusal::NothingToActOn));
            };
            let span = jiff::SignedDuration::try_from(duration).unwrap_or_default();
            let mute = Mute {
                id: silence_id(message_id, button),
                kind: MuteKind::Silence,
                matcher,
                starts_at: now,
                ends_at: now.saturating_add(span).unwrap_or(now),
                comment: format!("from a Webex card, by {}", actor.name),
                created_by: actor.name.clone(),
                created_at: now,
                expired_by: None,
            };
            match act.create_mute(mute, actor).await? {
                Applied::Done { value, .. } => {
                    Ok(Ok(Outcome::Changed(silenced_text(&value, duration, actor))))
                }
                Applied::AlreadySo(_) => Ok(Ok(Outcome::Unchanged)),
            }
        }
    }
}

/// `🔕 Silenced for 1 h by alice@example.com (until 2026-12-08 01:00 UTC, id webex-…): device=…`
pub fn silenced_text(mute: &Mute, duration: Duration, actor: &Actor) -> String {
    format!(
        "🔕 Silenced for {} by {} (until {}, id {}): {}",
        duration_words(duration),
        escape(&actor.name),
        mute.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
        escape(&mute.id),
        escape(&describe(&mute.matcher))
    )
}

#[cfg(test)]
pub(crate) mod tests;
