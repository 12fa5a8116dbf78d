//! Commands a NOC posts to the bot in a Webex room: `alarms?` lists the active alarms from the
//! store, `help` says what the bot understands. Anything else is not a command and gets no answer
//! (so the bot never answers itself).
//!
//! Anyone who can reach the bot can ask it, so a [`Gate`] decides first: the answer goes only to
//! the sink's room and the rooms its `commands:` lists, to a direct (1:1) room only when
//! `commands.direct` is set, and at most `commands.per_minute` times per room.

use std::collections::{HashMap, HashSet};

use tokio::time::Instant;

use super::markdown::escape_into;
use crate::config::CommandsConfig;
use crate::event::Event;
use crate::store::{AlarmFilter, AlarmView, Store};

/// Active alarms listed in one answer at most.
const MAX_LISTED: usize = 25;
/// Rooms whose answer rate is remembered; beyond it, rooms back at their full allowance are
/// forgotten (they would start there anyway).
const MAX_TRACKED_ROOMS: usize = 1024;

/// What a message asks of the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Alarms,
    Help,
}

/// A command and where it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub room: String,
    /// The room is a direct (1:1) room with the bot, as Webex's `roomType` says.
    pub direct: bool,
    pub command: Command,
}

/// The room and the command of a Webex message event, if it is one. In a group room the bot is
/// addressed by a mention before the command (`netpulse alarms?`), so the last word decides.
pub fn parse(event: &Event) -> Option<Request> {
    if !event.kind.starts_with("com.cisco.webex.message") {
        return None;
    }
    let message = &event.data["message"];
    let room = message["roomId"].as_str()?.to_owned();
    // The fetched message says the room's type; a webhook's notification says it too.
    let room_type = message["roomType"]
        .as_str()
        .or_else(|| event.data["data"]["roomType"].as_str());
    let text = message["text"].as_str()?.trim().to_lowercase();
    let word = text.split_whitespace().last()?;
    let command = match word.trim_end_matches(['?', '!', '.']) {
        "alarms" | "alarm" => Command::Alarms,
        "help" => Command::Help,
        _ => return None,
    };
    Some(Request {
        room,
        direct: room_type == Some("direct"),
        command,
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

/// The answer, in Markdown; untrusted text (devices, summaries) escaped.
pub async fn answer(command: Command, store: &Store) -> anyhow::Result<String> {
    match command {
        Command::Help => Ok("I answer **alarms?** with the alarms that are active now.".to_owned()),
        Command::Alarms => {
            let path = store.path().to_owned();
            let alarms = tokio::task::spawn_blocking(move || {
                crate::store::Reader::open(&path)?.alarms(AlarmFilter::Active, MAX_LISTED + 1)
            })
            .await??;
            Ok(render(&alarms))
        }
    }
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
mod tests {
    use super::*;
    use crate::event::Severity;
    use crate::store::AlarmRow;

    fn message(text: &str) -> Event {
        Event::new(
            "bot",
            "com.cisco.webex.messages.created",
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"message": {"roomId": "room-1", "text": text}}),
        )
    }

    fn asked(room: &str, command: Command) -> Option<Request> {
        Some(Request {
            room: room.into(),
            direct: false,
            command,
        })
    }

    #[test]
    fn commands_are_recognized_after_a_mention_and_nothing_else_is_one() {
        assert_eq!(parse(&message("alarms?")), asked("room-1", Command::Alarms));
        assert_eq!(
            parse(&message("netpulse Alarms ?")),
            None,
            "the last word decides"
        );
        assert_eq!(
            parse(&message("netpulse ALARMS?")),
            asked("room-1", Command::Alarms)
        );
        assert_eq!(parse(&message("help")), asked("room-1", Command::Help));
        assert_eq!(parse(&message("🔴 Active alarms: 2")), None);
        assert_eq!(parse(&message("")), None);
        let mut other = message("alarms?");
        other.kind = "com.cisco.sdwan.alarm.raised".into();
        assert_eq!(parse(&other), None);
    }

    fn direct_message(text: &str) -> Event {
        let mut event = message(text);
        event.data["message"]["roomId"] = "dm-with-eve".into();
        event.data["message"]["roomType"] = "direct".into();
        event
    }

    #[test]
    fn only_the_sink_room_and_listed_rooms_are_answered_and_direct_rooms_only_when_configured() {
        let now = Instant::now();
        let config = CommandsConfig {
            rooms: vec!["listed".into()],
            ..CommandsConfig::default()
        };
        let mut gate = Gate::new(Some("room-1"), &config);
        let from_sink_room = parse(&message("alarms?")).unwrap();
        assert_eq!(gate.admit(&from_sink_room, now), Ok(()));
        let mut elsewhere = from_sink_room.clone();
        elsewhere.room = "some-other-room".into();
        assert_eq!(gate.admit(&elsewhere, now), Err(Refusal::Room));
        elsewhere.room = "listed".into();
        assert_eq!(gate.admit(&elsewhere, now), Ok(()));

        let direct = parse(&direct_message("alarms?")).unwrap();
        assert!(direct.direct);
        assert_eq!(gate.admit(&direct, now), Err(Refusal::Direct));
        let open = CommandsConfig {
            direct: true,
            ..CommandsConfig::default()
        };
        assert_eq!(Gate::new(Some("room-1"), &open).admit(&direct, now), Ok(()));
        // A webhook notification says the room type too, when the fetched message does not.
        let mut notified = direct_message("alarms?");
        notified.data["message"]["roomType"] = serde_json::Value::Null;
        notified.data["data"] = serde_json::json!({"roomType": "direct"});
        assert!(parse(&notified).unwrap().direct);
    }

    #[test]
    fn a_room_gets_per_minute_answers_then_one_every_60_over_n_seconds() {
        let start = Instant::now();
        let config = CommandsConfig {
            per_minute: 3,
            ..CommandsConfig::default()
        };
        let mut gate = Gate::new(Some("room-1"), &config);
        let request = parse(&message("help")).unwrap();
        for _ in 0..3 {
            assert_eq!(gate.admit(&request, start), Ok(()));
        }
        assert_eq!(gate.admit(&request, start), Err(Refusal::Rate));
        let mut other = request.clone();
        other.room = "listed".into();
        let mut gate_with_two_rooms = Gate::new(
            Some("room-1"),
            &CommandsConfig {
                rooms: vec!["listed".into()],
                per_minute: 1,
                ..CommandsConfig::default()
            },
        );
        assert_eq!(gate_with_two_rooms.admit(&request, start), Ok(()));
        assert_eq!(gate_with_two_rooms.admit(&other, start), Ok(()), "per room");
        let later = start + std::time::Duration::from_secs(19);
        assert_eq!(gate.admit(&request, later), Err(Refusal::Rate));
        let later = start + std::time::Duration::from_secs(20);
        assert_eq!(gate.admit(&request, later), Ok(()));
        assert_eq!(gate.admit(&request, later), Err(Refusal::Rate));
    }

    #[test]
    fn the_answer_lists_alarms_with_untrusted_text_escaped() {
        let alarm = AlarmView {
            row: AlarmRow {
                key: "k".into(),
                raised: true,
                first_seq: 1,
                last_seq: 1,
                updated: jiff::Timestamp::UNIX_EPOCH,
            },
            events: 1,
            first_seen: Some(jiff::Timestamp::UNIX_EPOCH),
            last_seen: None,
            source: None,
            device: Some("edge[1](http://x)".into()),
            severity: Some(Severity::Critical),
            kind: None,
            summary: Some("link *down*".into()),
            operator: None,
        };
        let text = render(&[alarm]);
        assert!(text.starts_with("🔴 **Active alarms: 1**"), "{text}");
        assert!(
            text.contains("- **CRITICAL** · edge\\[1\\](http://x): link \\*down\\*"),
            "{text}"
        );
        assert_eq!(render(&[]), "✅ No active alarm.");
    }
}
