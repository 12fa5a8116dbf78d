use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::config::AllowKeyword;
use crate::operator::{OperatorStateKind, Via};

/// An operator that keeps acknowledgements and mutes in memory, idempotent like the real one.
#[derive(Default)]
pub struct FakeOperator {
    pub acknowledged: Mutex<HashMap<String, String>>,
    pub mutes: Mutex<Vec<Mute>>,
    pub known: Vec<String>,
    pub fail: bool,
}

impl Act for FakeOperator {
    async fn acknowledge(
        &self,
        key: &str,
        actor: &Actor,
        note: &str,
    ) -> Result<Applied<OperatorState>, OperatorError> {
        if self.fail {
            return Err(OperatorError::Store(anyhow::anyhow!("disk full")));
        }
        if !self.known.iter().any(|known| known == key) {
            return Err(OperatorError::NotFound(format!("no alarm {key}")));
        }
        let state = OperatorState {
            state: OperatorStateKind::Acknowledged,
            by: actor.name.clone(),
            at: jiff::Timestamp::UNIX_EPOCH,
            note: note.to_owned(),
            via: actor.via.clone(),
        };
        let mut acknowledged = self.acknowledged.lock().unwrap();
        if acknowledged.contains_key(key) {
            return Ok(Applied::AlreadySo(state));
        }
        acknowledged.insert(key.to_owned(), actor.name.clone());
        Ok(Applied::Done {
            seq: 1,
            routed: true,
            value: state,
        })
    }

    async fn create_mute(
        &self,
        mute: Mute,
        _actor: &Actor,
    ) -> Result<Applied<Mute>, OperatorError> {
        let mut mutes = self.mutes.lock().unwrap();
        if let Some(existing) = mutes.iter().find(|existing| existing.id == mute.id) {
            return Ok(Applied::AlreadySo(existing.clone()));
        }
        mutes.push(mute.clone());
        Ok(Applied::Done {
            seq: 2,
            routed: true,
            value: mute,
        })
    }

    async fn end_mute(&self, id: &str, actor: &Actor) -> Result<Applied<Mute>, OperatorError> {
        let mut mutes = self.mutes.lock().unwrap();
        let Some(mute) = mutes.iter_mut().find(|mute| mute.id == id) else {
            return Err(OperatorError::NotFound(format!("no silence {id}")));
        };
        if mute.expired_by.is_some() {
            return Ok(Applied::AlreadySo(mute.clone()));
        }
        mute.expired_by = Some(actor.name.clone());
        Ok(Applied::Done {
            seq: 3,
            routed: true,
            value: mute.clone(),
        })
    }

    async fn silences(&self) -> Result<Vec<Mute>, OperatorError> {
        Ok(self
            .mutes
            .lock()
            .unwrap()
            .iter()
            .filter(|mute| mute.expired_by.is_none())
            .cloned()
            .collect())
    }
}

fn alice() -> Actor {
    Actor {
        name: "alice@example.com".into(),
        via: Via::Webex {
            sink: "noc".into(),
            room: "room-1".into(),
            message: Some("card-1".into()),
        },
    }
}

fn notification_event() -> Event {
    let notification = crate::sink::webex::card::tests::notification(3, false);
    notification.to_event(jiff::Timestamp::UNIX_EPOCH)
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

#[test]
fn a_click_is_read_from_either_source_and_a_missing_action_names_what_to_fetch() {
    let action = json!({"id": "a1", "type": "submit", "messageId": "m1", "roomId": "r1",
                        "personId": "p1", "inputs": {"netpulse": "ack"}, "created": "x"});
    let mut event = Event::new(
        "webex",
        "com.cisco.webex.attachment_action.created",
        jiff::Timestamp::UNIX_EPOCH,
        json!({"activity": {}, "action": action}),
    );
    assert!(is_click(&event));
    let click = click_of(&event).unwrap();
    assert_eq!(
        (
            click.id.as_str(),
            click.message_id.as_str(),
            click.room_id.as_str()
        ),
        ("a1", "m1", "r1")
    );
    assert_eq!(click.person_id, "p1");
    // A webhook notification whose fetch failed: the action's id, to fetch it again.
    event.kind = "com.cisco.webex.attachmentActions.created".into();
    event.data = json!({"resource": "attachmentActions", "data": {"id": "a2"},
                        "fetch_error": "the Webex API answered 502"});
    assert_eq!(click_of(&event), Err(Some("a2".to_owned())));
    event.data = json!({"activity": {}});
    assert_eq!(click_of(&event), Err(None));
    // A real-time click whose fetch failed: the action's id from the activity and the room's
    // cluster.
    use base64::Engine as _;
    let encode = |text: &str| base64::engine::general_purpose::STANDARD_NO_PAD.encode(text);
    event.kind = "com.cisco.webex.attachment_action.created".into();
    event.device = encode("ciscospark://eu/ROOM/7c2e-room");
    event.data = json!({"activity": {"verb": "cardAction", "id": "5f1d-action"}});
    assert_eq!(
        click_of(&event),
        Err(Some(encode(
            "ciscospark://eu/ATTACHMENT_ACTION/5f1d-action"
        )))
    );
}

#[test]
fn only_the_buttons_a_card_has_are_taken_from_the_inputs() {
    let buttons = [hour(), Duration::from_secs(86_400)];
    assert_eq!(
        button(&json!({"netpulse": "ack"}), &buttons),
        Some(Button::Acknowledge)
    );
    assert_eq!(
        button(&json!({"netpulse": "silence", "for": "24h"}), &buttons),
        Some(Button::Silence(Duration::from_secs(86_400)))
    );
    // A forged click asking for a year of silence is no button of the card.
    assert_eq!(
        button(&json!({"netpulse": "silence", "for": "365d"}), &buttons),
        None
    );
    assert_eq!(button(&json!({"netpulse": "silence"}), &buttons), None);
    assert_eq!(button(&json!({"netpulse": "delete"}), &buttons), None);
    assert_eq!(button(&json!({}), &buttons), None);
    assert_eq!(button(&Value::Null, &buttons), None);
}

#[test]
fn allow_lets_the_room_or_the_listed_emails_and_domains_without_case() {
    assert!(permits(
        &ActionAllow::Keyword(AllowKeyword::Room),
        "anyone@else.org"
    ));
    let listed = ActionAllow::People {
        emails: vec!["Alice@Example.com".into()],
        domains: vec!["noc.example.net".into()],
    };
    assert!(permits(&listed, "alice@example.com"));
    assert!(permits(&listed, "BOB@noc.example.net"));
    assert!(!permits(&listed, "bob@example.com"));
    assert!(!permits(&listed, "mallory@evil-noc.example.net"));
    assert!(!permits(&listed, "noc.example.net@evil.org"));
    assert!(!permits(&listed, ""));
}

#[test]
fn a_notification_card_acts_on_its_raised_lines_and_silences_by_its_labels() {
    let targets = targets(&notification_event(), &[]);
    assert_eq!(
        targets.keys,
        [
            "vmanage:edge-0:bfd",
            "vmanage:edge-1:bfd",
            "vmanage:edge-2:bfd"
        ]
    );
    let matcher = targets.matcher.unwrap();
    assert_eq!(matcher.source, ["vmanage"]);
    // Only a source label: the silence is narrowed to the lines' devices.
    assert_eq!(matcher.device, ["edge-0", "edge-1", "edge-2"]);
    assert_eq!(
        describe(&matcher),
        "source=vmanage, device=edge-0|edge-1|edge-2"
    );

    let mut by_device = crate::sink::webex::card::tests::notification(2, false);
    by_device.labels = [
        ("device".to_owned(), "edge-9".to_owned()),
        ("/siteId".to_owned(), "7".to_owned()),
    ]
    .into_iter()
    .collect();
    by_device.alarms[1].state = crate::route::LineState::Cleared;
    let targets = notification_targets(&by_device);
    assert_eq!(
        targets.keys,
        ["vmanage:edge-0:bfd"],
        "a cleared line is not acknowledged"
    );
    let matcher = targets.matcher.unwrap();
    assert_eq!(matcher.device, ["edge-9"]);
    assert_eq!(matcher.data[0].pointer, "/siteId");
    assert_eq!(matcher.data[0].equals, Some(json!("7")));
}

#[test]
fn an_event_card_acts_on_the_alarms_the_event_raised_and_silences_its_device_and_type() {
    let mut event = Event::new(
        "dc1",
        "com.cisco.dme.modified",
        jiff::Timestamp::UNIX_EPOCH,
        json!({}),
    );
    event.device = "leaf-1".into();
    let alarms = [
        AlarmUpdate {
            key: "dc1:sys/phys-[eth1/1]".into(),
            raised: true,
        },
        AlarmUpdate {
            key: "dc1:other".into(),
            raised: false,
        },
    ];
    let targets = targets(&event, &alarms);
    assert_eq!(targets.keys, ["dc1:sys/phys-[eth1/1]"]);
    let matcher = targets.matcher.unwrap();
    assert_eq!(matcher.device, ["leaf-1"]);
    assert_eq!(matcher.kind, ["com.cisco.dme.modified"]);
}

#[test]
fn silence_ids_are_the_same_for_the_same_card_and_button_only() {
    let one = silence_id("card-1", Button::Silence(hour()));
    assert_eq!(one, silence_id("card-1", Button::Silence(hour())));
    assert_ne!(one, silence_id("card-2", Button::Silence(hour())));
    assert_ne!(one, silence_id("card-1", Button::Silence(hour() * 24)));
    assert!(one.starts_with("webex-") && one.len() == 6 + 16, "{one}");
}

#[tokio::test]
async fn acknowledge_says_who_once_and_a_second_click_changes_nothing() {
    let operator = FakeOperator {
        known: vec!["vmanage:edge-0:bfd".into(), "vmanage:edge-1:bfd".into()],
        ..FakeOperator::default()
    };
    let targets = targets(&notification_event(), &[]);
    let now = jiff::Timestamp::UNIX_EPOCH;
    let first = apply(
        &operator,
        Button::Acknowledge,
        &targets,
        &alice(),
        "card-1",
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        first,
        Ok(Outcome::Changed(
            "✅ Acknowledged by alice@example.com (2 alarms)".into()
        )),
        "the third alarm is unknown (pruned): skipped"
    );
    let second = apply(
        &operator,
        Button::Acknowledge,
        &targets,
        &alice(),
        "card-1",
        now,
    )
    .await
    .unwrap();
    assert_eq!(second, Ok(Outcome::Unchanged));
    let nothing = Targets {
        keys: vec![],
        matcher: None,
    };
    assert_eq!(
        apply(
            &operator,
            Button::Acknowledge,
            &nothing,
            &alice(),
            "card-1",
            now
        )
        .await
        .unwrap(),
        Err(Refusal::NothingToActOn)
    );
    let failing = FakeOperator {
        fail: true,
        known: operator.known.clone(),
        ..FakeOperator::default()
    };
    assert!(matches!(
        apply(
            &failing,
            Button::Acknowledge,
            &targets,
            &alice(),
            "card-1",
            now
        )
        .await,
        Err(OperatorError::Store(_))
    ));
}

#[tokio::test]
async fn silence_creates_one_silence_per_card_and_button_for_the_button_duration() {
    let operator = FakeOperator::default();
    let targets = targets(&notification_event(), &[]);
    let now: jiff::Timestamp = "2026-12-08T00:00:00Z".parse().unwrap();
    let first = apply(
        &operator,
        Button::Silence(hour()),
        &targets,
        &alice(),
        "card-1",
        now,
    )
    .await
    .unwrap()
    .unwrap();
    let id = silence_id("card-1", Button::Silence(hour()));
    assert_eq!(
        first,
        Outcome::Changed(format!(
            "🔕 Silenced for 1 h by alice@example.com (until 2026-12-08 01:00 UTC, id {id}): source=vmanage, device=edge-0\\|edge-1\\|edge-2"
        ))
    );
    let mutes = operator.silences().await.unwrap();
    assert_eq!(mutes.len(), 1);
    assert_eq!(mutes[0].ends_at, "2026-12-08T01:00:00Z".parse().unwrap());
    assert_eq!(mutes[0].created_by, "alice@example.com");
    let again = apply(
        &operator,
        Button::Silence(hour()),
        &targets,
        &alice(),
        "card-1",
        now,
    )
    .await
    .unwrap();
    assert_eq!(again, Ok(Outcome::Unchanged));
    assert_eq!(operator.silences().await.unwrap().len(), 1);
    // The 24 h button of the same card is another silence.
    apply(
        &operator,
        Button::Silence(hour() * 24),
        &targets,
        &alice(),
        "card-1",
        now,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(operator.silences().await.unwrap().len(), 2);
}
