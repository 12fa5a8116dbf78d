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
        person: None,
        person_id: None,
        message: None,
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
    let mut edited = message("alarms?");
    edited.kind = "com.cisco.webex.messages.updated".into();
    assert_eq!(parse(&edited), None, "an edit is no new command");
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

fn command(text: &str) -> Option<Command> {
    command_of(text)
}

fn silence(matcher: serde_json::Value, seconds: u64, comment: &str) -> Option<Command> {
    Some(Command::Silence(SilenceRequest {
        matcher: serde_json::from_value(matcher).unwrap(),
        duration: Duration::from_secs(seconds),
        comment: comment.to_owned(),
    }))
}

#[test]
fn write_commands_come_first_after_the_mention_of_the_bot() {
    assert_eq!(
        command("ack vmanage:edge-1:bfd"),
        Some(Command::Ack("vmanage:edge-1:bfd".into()))
    );
    assert_eq!(
        command("NetPulse Bot ack vmanage:edge-1"),
        Some(Command::Ack("vmanage:edge-1".into()))
    );
    assert_eq!(
        command("unsilence webex-0a1b"),
        Some(Command::Unsilence("webex-0a1b".into()))
    );
    assert_eq!(command("netpulse silences?"), Some(Command::Silences));
    assert!(matches!(command("ack"), Some(Command::Invalid(_))));
    assert!(matches!(command("ack a b"), Some(Command::Invalid(_))));
    // A verb far into a sentence is no command.
    assert_eq!(command("we should really not ack this one"), None);
}

#[test]
fn the_bots_own_answers_are_never_commands() {
    for answer in [
        HELP,
        "✅ Acknowledged by alice@example.com (3 alarms)",
        "🔕 Silenced for 1 h by alice@example.com (until 2026-12-08 01:00 UTC, id webex-1): device=edge-1",
        "🔔 Silence webex-1 ended by alice@example.com",
        "❔ ack needs an alarm: **ack** *alarm key*. Say **help** for the commands.",
        "🔕 **Silences: 1**\n- **webex-1** · device=edge-1 · until 2026-12-08 01:00 UTC · by a",
        "🔔 No active silence.",
    ] {
        let text = crate::sink::webex::markdown::plain(answer);
        assert_eq!(command(&text), None, "{text}");
        assert_eq!(command(answer), None, "{answer}");
    }
}

#[test]
fn silence_takes_attributes_a_duration_and_a_comment() {
    assert_eq!(
        command("silence device=edge-004 2h change CHG0042"),
        silence(
            serde_json::json!({"device": ["edge-004"]}),
            7200,
            "change CHG0042"
        )
    );
    assert_eq!(
        command(
            "netpulse silence device=edge-1,edge-2 type_prefix=com.cisco.sdwan. severity=major 30m"
        ),
        silence(
            serde_json::json!({"device": ["edge-1", "edge-2"], "type_prefix": ["com.cisco.sdwan."],
                               "min_severity": "major"}),
            1800,
            ""
        )
    );
    for (text, why) in [
        ("silence 2h maintenance", "or it would be everything"),
        ("silence device=edge-1", "how long?"),
        ("silence device=edge-1 soon", "is not a duration"),
        ("silence colour=red 2h", "is not an attribute"),
        ("silence device= 2h", "has no value"),
        ("silence severity=huge device=a 2h", "is not a severity"),
        ("silence device=a 100d", "at most 90 days"),
        ("silence device=a 0s", "is not a duration"),
    ] {
        match command(text) {
            Some(Command::Invalid(message)) => assert!(message.contains(why), "{text}: {message}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn a_request_says_who_asked_and_which_message() {
    let mut event = message("ack k");
    event.data["message"]["personEmail"] = "alice@example.com".into();
    event.data["message"]["personId"] = "p-alice".into();
    event.data["message"]["id"] = "m-1".into();
    let request = parse(&event).unwrap();
    assert_eq!(request.person.as_deref(), Some("alice@example.com"));
    assert_eq!(request.person_id.as_deref(), Some("p-alice"));
    assert_eq!(request.message.as_deref(), Some("m-1"));
    assert!(request.command.writes());
    // The webhook's notification says who, when the fetched message does not.
    let mut thin = message("ack k");
    thin.data["data"] = serde_json::json!({"personEmail": "bob@example.com"});
    assert_eq!(
        parse(&thin).unwrap().person.as_deref(),
        Some("bob@example.com")
    );
}
