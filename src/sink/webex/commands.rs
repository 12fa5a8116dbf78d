//! Commands a NOC posts to the bot in a Webex room: `alarms?` lists the active alarms from the
//! store, `help` says what the bot understands. Anything else is not a command and gets no answer
//! (so the bot never answers itself).
//!
//! Anyone who can reach the bot can ask it, so a [`Gate`] decides first: the answer goes only to
//! the sink's room and the rooms its `commands:` lists, to a direct (1:1) room only when
//! `commands.direct` is set, and at most `commands.per_minute` times per room.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::markdown::escape_into;
use crate::config::{CommandsConfig, EventMatcher};
use crate::event::Event;
use crate::store::{AlarmFilter, AlarmView, Store};

/// Active alarms listed in one answer at most.
const MAX_LISTED: usize = 25;
/// Rooms whose answer rate is remembered; beyond it, rooms back at their full allowance are
/// forgotten (they would start there anyway).
const MAX_TRACKED_ROOMS: usize = 1024;

/// What a message asks of the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Alarms,
    Help,
    /// `silences?`: the active silences.
    Silences,
    /// `ack <alarm>`: the alarm key, or the start of one active alarm's key.
    Ack(String),
    /// `silence device=edge-004 2h change CHG0042`.
    Silence(SilenceRequest),
    /// `unsilence <id>`.
    Unsilence(String),
    /// A write command the bot cannot read: the answer says why.
    Invalid(String),
}

impl Command {
    /// Whether it changes something (and so needs `actions:` and an allowed person).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Command::Ack(_) | Command::Silence(_) | Command::Unsilence(_)
        )
    }

    /// Its name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Alarms => "alarms",
            Command::Help => "help",
            Command::Silences => "silences",
            Command::Ack(_) => "ack",
            Command::Silence(_) => "silence",
            Command::Unsilence(_) => "unsilence",
            Command::Invalid(_) => "invalid",
        }
    }
}

/// What `silence` asks for: a matcher, for how long, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRequest {
    pub matcher: EventMatcher,
    pub duration: Duration,
    pub comment: String,
}

/// A command and where it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub room: String,
    /// The room is a direct (1:1) room with the bot, as Webex's `roomType` says.
    pub direct: bool,
    pub command: Command,
    /// Who asked (the message's `personEmail`), when Webex says.
    pub person: Option<String>,
    /// The person's id (to recognize the bot's own messages).
    pub person_id: Option<String>,
    /// The message's id (a silence made by a command takes its id from it).
    pub message: Option<String>,
}

/// The verbs that take arguments; one must come first, after at most [`MAX_MENTION_WORDS`]
/// words naming the bot (in a group room the bot is addressed by a mention before the command).
const VERBS: [&str; 3] = ["ack", "silence", "unsilence"];
const MAX_MENTION_WORDS: usize = 3;

/// The longest silence, as the API allows (`http::api::silences::MAX_SPAN`): a mute forgotten
/// for months hides real outages.
const MAX_SILENCE: Duration = Duration::from_secs(90 * 24 * 3600);

/// The matcher attributes `silence` takes, as `key=value` (several values: `a,b`).
const SILENCE_KEYS: &str = "source, device, type, type_prefix, subject_prefix, severity";

/// The room and the command of a Webex message event, if it is one. A question (`alarms?`,
/// `silences?`, `help`) is its last word; a verb with arguments (`ack`, `silence`, `unsilence`)
/// comes first, after the mention of the bot. The words before a verb must be a name (start
/// with a letter or digit): the bot's own answers start with a marker and are never commands.
pub fn parse(event: &Event) -> Option<Request> {
    // Only a message posted: an edit (`messages.updated`) of an answered command is no new one.
    if !event.kind.starts_with("com.cisco.webex.message") || !event.kind.ends_with(".created") {
        return None;
    }
    let message = &event.data["message"];
    let notified = &event.data["data"];
    let room = message["roomId"].as_str()?.to_owned();
    // The fetched message says the room's type; a webhook's notification says it too.
    let room_type = message["roomType"]
        .as_str()
        .or_else(|| notified["roomType"].as_str());
    let text = message["text"].as_str()?.trim();
    let command = command_of(text)?;
    let field = |name: &str| {
        message[name]
            .as_str()
            .or_else(|| notified[name].as_str())
            .map(str::to_owned)
    };
    Some(Request {
        room,
        direct: room_type == Some("direct"),
        command,
        person: field("personEmail"),
        person_id: field("personId"),
        message: message["id"].as_str().map(str::to_owned),
    })
}

/// The command a message's text says, if any.
pub fn command_of(text: &str) -> Option<Command> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let verb = words
        .iter()
        .take(MAX_MENTION_WORDS + 1)
        .position(|word| VERBS.contains(&word.to_lowercase().as_str()));
    if let Some(at) = verb
        && words[..at]
            .iter()
            .all(|word| word.starts_with(|c: char| c.is_alphanumeric()) && !is_marker(word))
    {
        let arguments = &words[at + 1..];
        return Some(match words[at].to_lowercase().as_str() {
            "ack" => match arguments {
                [alarm] => Command::Ack((*alarm).to_owned()),
                [] => Command::Invalid("ack needs an alarm: **ack** *alarm key*".to_owned()),
                _ => Command::Invalid(
                    "ack takes one alarm key (copy it from **alarms?** or the dashboard)"
                        .to_owned(),
                ),
            },
            "unsilence" => match arguments {
                [id] => Command::Unsilence((*id).to_owned()),
                _ => Command::Invalid(
                    "unsilence takes one silence id (see **silences?**)".to_owned(),
                ),
            },
            _ => silence_of(arguments),
        });
    }
    let word = words.last()?.to_lowercase();
    match word.trim_end_matches(['?', '!', '.']) {
        "alarms" | "alarm" => Some(Command::Alarms),
        "silences" => Some(Command::Silences),
        "help" => Some(Command::Help),
        _ => None,
    }
}

/// Emoji and symbols start the bot's own messages; a name does not.
fn is_marker(word: &str) -> bool {
    !word.chars().next().is_some_and(char::is_alphanumeric)
}

/// `device=edge-004 2h change CHG0042`: `key=value` pairs, a duration, the rest is the comment.
fn silence_of(arguments: &[&str]) -> Command {
    let usage = format!(
        "write **silence** device=edge-004 2h *comment* (attributes: {SILENCE_KEYS}; a duration such as 30m, 2h, 1d)"
    );
    let mut matcher = EventMatcher::default();
    let mut rest = arguments.iter();
    let mut duration = None;
    for word in rest.by_ref() {
        if let Some((key, value)) = word.split_once('=') {
            let values: Vec<String> = value
                .split(',')
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .collect();
            if values.is_empty() {
                return Command::Invalid(format!("{key}= has no value: {usage}"));
            }
            match key.to_lowercase().as_str() {
                "source" => matcher.source.extend(values),
                "device" => matcher.device.extend(values),
                "type" => matcher.kind.extend(values),
                "type_prefix" => matcher.type_prefix.extend(values),
                "subject_prefix" | "subject" => matcher.subject_prefix.extend(values),
                "severity" | "min_severity" => {
                    match serde_json::from_value(serde_json::Value::String(values[0].clone())) {
                        Ok(severity) => matcher.min_severity = Some(severity),
                        Err(_) => {
                            return Command::Invalid(format!(
                                "{:?} is not a severity (info, warning, minor, major, critical)",
                                values[0]
                            ));
                        }
                    }
                }
                other => {
                    return Command::Invalid(format!(
                        "{other:?} is not an attribute to silence by: {usage}"
                    ));
                }
            }
            continue;
        }
        match crate::duration::parse_duration(word) {
            Ok(parsed) if !parsed.is_zero() => duration = Some(parsed),
            _ => {
                return Command::Invalid(format!("{word:?} is not a duration: {usage}"));
            }
        }
        break;
    }
    let Some(duration) = duration else {
        return Command::Invalid(format!("how long? {usage}"));
    };
    if matcher.source.is_empty()
        && matcher.device.is_empty()
        && matcher.kind.is_empty()
        && matcher.type_prefix.is_empty()
        && matcher.subject_prefix.is_empty()
    {
        return Command::Invalid(format!(
            "say what to silence, or it would be everything: {usage}"
        ));
    }
    let max = MAX_SILENCE;
    if duration > max {
        return Command::Invalid(format!(
            "a silence lasts at most {} days: longer quiet hours belong in the configuration",
            max.as_secs() / 86_400
        ));
    }
    Command::Silence(SilenceRequest {
        matcher,
        duration,
        comment: rest.copied().collect::<Vec<_>>().join(" "),
    })
}

/// Why a command is left unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Asked in a group room that is neither the sink's nor listed.
    Room,
    /// Asked in a direct room, and `commands.direct` is off.
    Direct,
    /// The room asked more than `per_minute` times in a minute.
    Rate,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Room => "room",
            Refusal::Direct => "direct",
            Refusal::Rate => "rate",
        }
    }
}

/// Which commands are answered: the rooms, and a token bucket per room.
#[derive(Debug)]
pub struct Gate {
    rooms: HashSet<String>,
    direct: bool,
    per_minute: f64,
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Gate {
    /// `sink_room`: the sink's own `room_id`, always allowed.
    pub fn new(sink_room: Option<&str>, config: &CommandsConfig) -> Gate {
        let rooms = sink_room
            .into_iter()
            .chain(config.rooms.iter().map(String::as_str))
            .map(str::to_owned)
            .collect();
        Gate {
            rooms,
            direct: config.direct,
            per_minute: f64::from(config.per_minute.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Whether `request` is answered now; an answer takes one of the room's allowance.
    pub fn admit(&mut self, request: &Request, now: Instant) -> Result<(), Refusal> {
        if !self.rooms.contains(&request.room) {
            match (request.direct, self.direct) {
                (true, true) => {}
                (true, false) => return Err(Refusal::Direct),
                (false, _) => return Err(Refusal::Room),
            }
        }
        let per_minute = self.per_minute;
        let refill = |bucket: &Bucket| {
            let seconds = now.saturating_duration_since(bucket.at).as_secs_f64();
            (bucket.tokens + seconds * per_minute / 60.0).min(per_minute)
        };
        if self.buckets.len() >= MAX_TRACKED_ROOMS && !self.buckets.contains_key(&request.room) {
            self.buckets.retain(|_, bucket| refill(bucket) < per_minute);
        }
        let bucket = self.buckets.entry(request.room.clone()).or_insert(Bucket {
            tokens: per_minute,
            at: now,
        });
        let tokens = refill(bucket);
        if tokens < 1.0 {
            return Err(Refusal::Rate);
        }
        *bucket = Bucket {
            tokens: tokens - 1.0,
            at: now,
        };
        Ok(())
    }
}

/// What the bot answers `help` with. Its first words are no verb and its last word no question,
/// so the bot never takes its own answer for a command.
pub const HELP: &str = "ℹ️ I understand:
- **alarms?** — the alarms active now
- **ack** *alarm key* — acknowledge an alarm (its key, or the start of one active alarm's key)
- **silence** device=edge-004 2h *comment* — silence new alarms that match (attributes: source, device, type, type_prefix, subject_prefix, severity)
- **silences?** — the active silences
- **unsilence** *id* — end a silence
- **help** — this list

Acknowledging and silencing need `actions:` on this sink, and a person it allows.";

/// The answer to a question (`help`, `alarms?`) or to a command the bot could not read, in
/// Markdown; untrusted text (devices, summaries) escaped. `None` for the commands the Operator
/// answers (`operate.rs`).
pub async fn answer(command: &Command, store: &Store) -> anyhow::Result<Option<String>> {
    match command {
        Command::Help => Ok(Some(HELP.to_owned())),
        Command::Invalid(why) => Ok(Some(format!("❔ {why}. Say **help** for the commands."))),
        Command::Alarms => {
            let alarms = active_alarms(store, MAX_LISTED + 1).await?;
            Ok(Some(render(&alarms)))
        }
        Command::Silences | Command::Ack(_) | Command::Silence(_) | Command::Unsilence(_) => {
            Ok(None)
        }
    }
}

/// The active alarms, at most `limit`, read off the async runtime.
pub async fn active_alarms(store: &Store, limit: usize) -> anyhow::Result<Vec<AlarmView>> {
    let path = store.path().to_owned();
    tokio::task::spawn_blocking(move || {
        crate::store::Reader::open(&path)?.alarms(AlarmFilter::Active, limit)
    })
    .await?
}

fn render(alarms: &[AlarmView]) -> String {
    if alarms.is_empty() {
        return "✅ No active alarm.".to_owned();
    }
    let shown = alarms.len().min(MAX_LISTED);
    let more = if alarms.len() > MAX_LISTED { "+" } else { "" };
    let mut out = format!("🔴 **Active alarms: {shown}{more}**");
    for alarm in &alarms[..shown] {
        out.push_str("\n- **");
        let severity = alarm.severity.map_or("unknown", |s| s.as_str());
        out.push_str(&severity.to_uppercase());
        out.push_str("** · ");
        escape_into(&mut out, alarm.device.as_deref().unwrap_or("?"));
        out.push_str(": ");
        escape_into(&mut out, alarm.summary.as_deref().unwrap_or(&alarm.row.key));
        if let Some(since) = alarm.first_seen {
            out.push_str(&format!(
                " (since {})",
                since.strftime("%Y-%m-%d %H:%M UTC")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
