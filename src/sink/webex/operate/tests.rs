use super::*;
use crate::config::EventMatcher;
use crate::operator::Via;
use crate::sink::webex::actions::tests::FakeOperator;

fn bob() -> Actor {
    Actor {
        name: "bob@example.com".into(),
        via: Via::Webex {
            sink: "noc".into(),
            room: "room-1".into(),
            message: Some("m-7".into()),
        },
    }
}

fn now() -> jiff::Timestamp {
    "2026-12-08T00:00:00Z".parse().unwrap()
}

#[test]
fn ack_finds_an_alarm_by_its_key_or_the_start_of_one_key() {
    let active = vec![
        "vmanage:edge-1:bfd".to_owned(),
        "vmanage:edge-10:bfd".to_owned(),
        "dc1:sys/phys-[eth1/1]".to_owned(),
    ];
    assert_eq!(
        resolve_alarm("vmanage:edge-1:bfd", &active),
        Ok(active[0].clone())
    );
    assert_eq!(resolve_alarm("dc1:sys", &active), Ok(active[2].clone()));
    let ambiguous = resolve_alarm("vmanage:edge-1", &active).unwrap_err();
    assert!(
        ambiguous.starts_with("2 active alarms start with"),
        "{ambiguous}"
    );
    assert_eq!(
        resolve_alarm("gone:key", &active),
        Ok("gone:key".to_owned())
    );
}

#[tokio::test]
async fn ack_answers_who_did_it_then_that_it_was_already_done() {
    let operator = FakeOperator {
        known: vec!["vmanage:edge-1:bfd".into()],
        ..FakeOperator::default()
    };
    let ack = Command::Ack("vmanage:edge-1".into());
    let active = operator.known.clone();
    let first = run(&operator, &ack, &bob(), Some("m-7"), &active, now())
        .await
        .unwrap();
    assert_eq!(
        first,
        "✅ Acknowledged vmanage:edge-1:bfd by bob@example.com"
    );
    let second = run(&operator, &ack, &bob(), Some("m-8"), &active, now())
        .await
        .unwrap();
    assert!(
        second.starts_with("vmanage:edge-1:bfd was already acknowledged by bob@example.com"),
        "{second}"
    );
    let unknown = run(
        &operator,
        &Command::Ack("nope".into()),
        &bob(),
        None,
        &active,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(unknown, "❔ no alarm nope");
}

#[tokio::test]
async fn silence_from_the_room_is_listed_and_ended_and_a_redelivered_command_makes_one() {
    let operator = FakeOperator::default();
    let Some(command) =
        crate::sink::webex::commands::command_of("silence device=edge-004 2h change CHG0042")
    else {
        panic!("not a command");
    };
    let answer = run(&operator, &command, &bob(), Some("m-7"), &[], now())
        .await
        .unwrap();
    let id = crate::sink::webex::actions::command_silence_id("m-7");
    assert_eq!(
        answer,
        format!(
            "🔕 Silenced for 2 h by bob@example.com (until 2026-12-08 02:00 UTC, id {id}): device=edge-004 · change CHG0042"
        )
    );
    let again = run(&operator, &command, &bob(), Some("m-7"), &[], now())
        .await
        .unwrap();
    assert!(again.starts_with("Already silenced"), "{again}");
    let mutes = operator.silences().await.unwrap();
    assert_eq!(mutes.len(), 1);
    assert_eq!(
        mutes[0].matcher,
        EventMatcher {
            device: vec!["edge-004".into()],
            ..EventMatcher::default()
        }
    );
    assert_eq!(mutes[0].created_by, "bob@example.com");

    let listed = run(&operator, &Command::Silences, &bob(), None, &[], now())
        .await
        .unwrap();
    assert_eq!(
        listed,
        format!(
            "🔕 **Silences: 1**\n- **{id}** · device=edge-004 · until 2026-12-08 02:00 UTC · by bob@example.com · change CHG0042"
        )
    );
    let ended = run(
        &operator,
        &Command::Unsilence(id.clone()),
        &bob(),
        None,
        &[],
        now(),
    )
    .await
    .unwrap();
    assert_eq!(ended, format!("🔔 Silence {id} ended by bob@example.com"));
    let listed = run(&operator, &Command::Silences, &bob(), None, &[], now())
        .await
        .unwrap();
    assert_eq!(listed, "🔔 No active silence.");
    let unknown = run(
        &operator,
        &Command::Unsilence("x".into()),
        &bob(),
        None,
        &[],
        now(),
    )
    .await
    .unwrap();
    assert_eq!(unknown, "❔ no silence x");
}
