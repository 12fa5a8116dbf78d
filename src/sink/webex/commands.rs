//! Commands a NOC posts to the bot in a Webex room, answered in that room: `alarms?` lists the
//! active alarms from the store, `help` says what the bot understands. Anything else is not a
//! command and gets no answer (so the bot never answers itself).

use super::markdown::escape_into;
use crate::event::Event;
use crate::store::{AlarmFilter, AlarmView, Store};

/// Active alarms listed in one answer at most.
const MAX_LISTED: usize = 25;

/// What a message asks of the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Alarms,
    Help,
}

/// The room and the command of a Webex message event, if it is one. In a group room the bot is
/// addressed by a mention before the command (`netpulse alarms?`), so the last word decides.
pub fn parse(event: &Event) -> Option<(String, Command)> {
    if !event.kind.starts_with("com.cisco.webex.message") {
        return None;
    }
    let message = &event.data["message"];
    let room = message["roomId"].as_str()?.to_owned();
    let text = message["text"].as_str()?.trim().to_lowercase();
    let word = text.split_whitespace().last()?;
    let command = match word.trim_end_matches(['?', '!', '.']) {
        "alarms" | "alarm" => Command::Alarms,
        "help" => Command::Help,
        _ => return None,
    };
    Some((room, command))
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

    #[test]
    fn commands_are_recognized_after_a_mention_and_nothing_else_is_one() {
        assert_eq!(
            parse(&message("alarms?")),
            Some(("room-1".into(), Command::Alarms))
        );
        assert_eq!(
            parse(&message("netpulse Alarms ?")),
            None,
            "the last word decides"
        );
        assert_eq!(
            parse(&message("netpulse ALARMS?")),
            Some(("room-1".into(), Command::Alarms))
        );
        assert_eq!(
            parse(&message("help")),
            Some(("room-1".into(), Command::Help))
        );
        assert_eq!(parse(&message("🔴 Active alarms: 2")), None);
        assert_eq!(parse(&message("")), None);
        let mut other = message("alarms?");
        other.kind = "com.cisco.sdwan.alarm.raised".into();
        assert_eq!(parse(&other), None);
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
        };
        let text = render(&[alarm]);
        assert!(text.starts_with("🔴 **Active alarms: 1**"), "{text}");
        assert!(
            text.contains("- **CRITICAL** · edge\\[1\\]\\(http\\://x\\): link \\*down\\*"),
            "{text}"
        );
        assert_eq!(render(&[]), "✅ No active alarm.");
    }
}
