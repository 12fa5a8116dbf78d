//! The bot's write commands in the room, and the card's Silence button, end to end.

use std::str::FromStr as _;

use serde_json::json;

use super::{ALICE, Console, Path, api, futures_lite_block, outcome, start};
use crate::support::wait_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_from_the_room_through_the_webhook_is_listed_and_ended_never_answered_elsewhere()
{
    silence_from_the_room(Path::Webhook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_from_the_room_through_the_realtime_source_is_listed_and_ended() {
    silence_from_the_room(Path::Realtime).await;
}

/// `silence …`, `silences?` and `unsilence <id>` from an allowed person in the sink's room; the
/// same command in another room the bot is in is neither answered nor applied.
async fn silence_from_the_room(path: Path) {
    let console = start(path).await;
    let room = console.room.clone();

    let before = console.bot_messages_in(&room);
    console
        .say(
            "alice-token",
            &room,
            "netpulse silence device=edge-004 2h change CHG0042",
        )
        .await;
    let answer = console.answer_after(before, &room).await;
    let silences = api(&console.running, "/api/v1/silences").await;
    let list = silences["silences"]
        .as_array()
        .or_else(|| silences.as_array())
        .unwrap_or_else(|| panic!("{silences}"))
        .clone();
    assert_eq!(list.len(), 1, "{silences}");
    let silence = &list[0];
    assert_eq!(silence["created_by"], ALICE, "{silence}");
    assert!(
        silence["comment"]
            .as_str()
            .unwrap_or_default()
            .contains("CHG0042"),
        "{silence}"
    );
    let id = silence["id"].as_str().unwrap().to_owned();
    assert!(
        answer.contains(&id),
        "the answer names the silence: {answer}"
    );

    let before = console.bot_messages_in(&room);
    console
        .say("alice-token", &room, "netpulse silences?")
        .await;
    let listed = console.answer_after(before, &room).await;
    assert!(
        listed.contains(&id) && listed.contains("edge-004"),
        "{listed}"
    );

    // The same command in another room the bot is in: never answered there.
    let lobby = console.other_room.clone();
    console
        .say("alice-token", &lobby, "netpulse silence device=edge-009 1h")
        .await;

    let before = console.bot_messages_in(&room);
    console
        .say("alice-token", &room, &format!("netpulse unsilence {id}"))
        .await;
    let ended = console.answer_after(before, &room).await;
    assert!(ended.contains(&id), "{ended}");
    wait_until("the silence has ended", || {
        let silences = futures_lite_block(api(&console.running, "/api/v1/silences"));
        let list = silences["silences"]
            .as_array()
            .or_else(|| silences.as_array())
            .cloned()
            .unwrap_or_default();
        list.iter()
            .all(|silence| silence["id"] != id.as_str() || !silence["expired_by"].is_null())
    })
    .await;
    // The lobby's message reached netpulse and the sink is done with every row it got.
    wait_until("the lobby's message is stored and handled", || {
        let reader = console.running.reader();
        let stored = (1..=reader.seq_range().unwrap().1)
            .filter_map(|seq| reader.event(seq).unwrap())
            .any(|event| event.data["message"]["roomId"] == lobby.as_str());
        stored && reader.outbox_counts("noc").unwrap().pending == 0
    })
    .await;
    assert_eq!(
        console.bot_messages_in(&lobby),
        0,
        "never answered in another room"
    );
    let silences = api(&console.running, "/api/v1/silences").await;
    assert!(
        !silences.to_string().contains("edge-009"),
        "no silence from the other room: {silences}"
    );
    console.stop().await;
}

fn silences(console: &Console) -> Vec<serde_json::Value> {
    let body = futures_lite_block(api(&console.running, "/api/v1/silences"));
    body["silences"].as_array().cloned().unwrap_or_default()
}

/// Silence 1 h on a card: a silence of the alarm's device and type made by the person, said in
/// the card's thread; the same button again makes nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_silence_button_of_a_card_silences_for_its_duration_once() {
    let console = start(Path::Webhook).await;
    let card = console.alarm_card("s1", "edge-007").await;
    let button = json!({"netpulse": "silence", "for": "1h"});
    console.sim.click(&card.id, ALICE, button.clone()).unwrap();
    wait_until("the silence exists", || silences(&console).len() == 1).await;
    let silence = silences(&console).remove(0);
    assert_eq!(silence["created_by"], ALICE, "{silence}");
    assert_eq!(
        silence["matcher"]["device"],
        json!(["edge-007"]),
        "{silence}"
    );
    let starts = jiff::Timestamp::from_str(silence["starts_at"].as_str().unwrap()).unwrap();
    let ends = jiff::Timestamp::from_str(silence["ends_at"].as_str().unwrap()).unwrap();
    assert_eq!(ends.duration_since(starts).as_secs(), 3600, "{silence}");
    wait_until("the thread says so", || {
        !console.replies_to(&card.id).is_empty()
    })
    .await;
    let reply = console.replies_to(&card.id)[0]
        .markdown
        .clone()
        .unwrap_or_default();
    assert!(
        reply.contains("Silenced for 1 h")
            && reply.contains(ALICE)
            && reply.contains(silence["id"].as_str().unwrap()),
        "{reply}"
    );

    console.sim.click(&card.id, ALICE, button).unwrap();
    wait_until("the second click is done with", || {
        outcome(&futures_lite_block(console.running.metrics()), "unchanged") >= 1
    })
    .await;
    assert_eq!(silences(&console).len(), 1);
    assert_eq!(console.replies_to(&card.id).len(), 1, "no second reply");
    console.stop().await;
}

/// `ack <start of a key>` from the room acknowledges that alarm as the person; from someone not
/// allowed it is refused with the reason and acknowledges nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_command_from_the_room_acknowledges_as_the_person_and_refuses_others() {
    let console = start(Path::Webhook).await;
    let room = console.room.clone();
    console.alarm_card("k1", "edge-021").await;
    let key = console.alarm_of("edge-021").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = &key[..key.len() - 6];

    let before = console.bot_messages_in(&room);
    console
        .say("mallory-token", &room, &format!("netpulse ack {prefix}"))
        .await;
    let refused = console.answer_after(before, &room).await;
    assert!(refused.contains("may not"), "{refused}");
    assert!(console.alarm_of("edge-021").await["operator"].is_null());

    let before = console.bot_messages_in(&room);
    console
        .say("alice-token", &room, &format!("netpulse ack {prefix}"))
        .await;
    let answer = console.answer_after(before, &room).await;
    assert!(
        answer.contains(ALICE) || answer.contains("cknowledged"),
        "{answer}"
    );
    let alarm = console.alarm_of("edge-021").await;
    assert_eq!(alarm["operator"]["state"], "acknowledged", "{alarm}");
    assert_eq!(alarm["operator"]["by"], ALICE, "{alarm}");
    assert_eq!(alarm["operator"]["via"]["channel"], "webex", "{alarm}");
    console.stop().await;
}
