use serde_json::json;

use super::*;

/// A notification built from its JSON (as the router stores it), so that fields added later
/// with defaults do not break the test.
pub(crate) fn notification(lines: usize, all_cleared: bool) -> Notification {
    let alarms: Vec<Value> = (0..lines)
        .map(|index| {
            json!({
                "key": format!("vmanage:edge-{index}:bfd"), "seq": index + 10, "state": "new",
                "severity": if index == 0 { "critical" } else { "major" },
                "device": format!("edge-{index}"),
                "summary": format!("BFD session {index} down [x](http://evil)"),
                "time": "2026-12-08T00:00:00Z",
            })
        })
        .collect();
    serde_json::from_value(json!({
        "route": "noc", "sink": "webex", "group": "noc/webex/1",
        "labels": {"source": "vmanage"}, "number": 1, "reason": "first",
        "counts": {"new": {"critical": 1, "major": lines.saturating_sub(1)},
                   "still_raised": {}, "cleared": {}, "flapping": 0},
        "alarms": alarms, "all_cleared": all_cleared, "members": [10],
    }))
    .unwrap()
}

fn buttons() -> Buttons {
    Buttons {
        silences: vec![Duration::from_secs(3600), Duration::from_secs(86_400)],
        open: Some("https://netpulse.example.com/?source=vmanage".to_owned()),
    }
}

#[test]
fn a_notification_card_is_an_adaptive_card_1_3_with_acknowledge_silence_and_open_buttons() {
    let card = notification_card(&notification(3, false), &buttons());
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.3");
    let body = card["body"].as_array().unwrap();
    assert_eq!(body[0]["type"], "TextBlock");
    assert_eq!(body[0]["text"], "🔴 **noc** · source: **vmanage**");
    assert_eq!(body[1]["type"], "FactSet");
    assert_eq!(
        body[1]["facts"][0],
        json!({"title": "New", "value": "3 (1 critical, 2 major)"})
    );
    assert_eq!(body.len(), 2 + 3);
    // Untrusted text cannot make a link.
    let line = body[2]["text"].as_str().unwrap();
    assert!(line.contains("\\[x\\](http://evil)"), "{line}");
    let actions = card["actions"].as_array().unwrap();
    assert_eq!(
        actions[0],
        json!({"type": "Action.Submit", "title": "Acknowledge", "data": {"netpulse": "ack"}})
    );
    assert_eq!(
        actions[1],
        json!({"type": "Action.Submit", "title": "Silence 1 h",
               "data": {"netpulse": "silence", "for": "1h"}})
    );
    assert_eq!(actions[2]["title"], "Silence 24 h");
    assert_eq!(actions[2]["data"]["for"], "24h");
    assert_eq!(actions[3]["type"], "Action.OpenUrl");
    assert_eq!(
        actions[3]["url"],
        "https://netpulse.example.com/?source=vmanage"
    );
    assert!(actions.len() <= 5, "Webex shows five buttons at most");
    let attached = attachment(card.clone());
    assert_eq!(attached["contentType"], CONTENT_TYPE);
    assert_eq!(attached["content"], card);
}

#[test]
fn a_storm_shows_ten_lines_then_the_rest_counted_and_stays_under_the_size_limit() {
    let card = notification_card(&notification(600, false), &buttons());
    let body = card["body"].as_array().unwrap();
    assert_eq!(body.len(), 2 + MAX_LINES + 1);
    assert_eq!(body.last().unwrap()["text"], "… and 590 more");
    assert!(card.to_string().len() <= MAX_CARD_BYTES);
}

#[test]
fn a_card_too_big_drops_lines_until_it_fits() {
    let line = json!({"type": "TextBlock", "text": "x".repeat(3000)});
    let card = fit(
        "headline".into(),
        Vec::new(),
        &[],
        vec![line; 10],
        &buttons(),
    );
    assert!(card.to_string().len() <= MAX_CARD_BYTES);
    let body = card["body"].as_array().unwrap();
    assert_eq!(body.len(), 1 + 5 + 1, "five lines of 3 KB fit in 16 KB");
    assert_eq!(body.last().unwrap()["text"], "… and 5 more");
}

#[test]
fn only_notifications_with_alarms_to_act_on_get_a_card() {
    assert!(wants_card(&notification(2, false)));
    assert!(!wants_card(&notification(2, true)), "all cleared");
    let mut cleared = notification(2, false);
    for line in &mut cleared.alarms {
        line.state = LineState::Cleared;
    }
    assert!(!wants_card(&cleared));
}

#[test]
fn durations_read_back_as_they_are_written() {
    for (seconds, code, words) in [
        (3600, "1h", "1 h"),
        (86_400, "24h", "24 h"),
        (1800, "30m", "30 min"),
        (2 * 86_400, "2d", "2 d"),
        (90, "90s", "90 s"),
    ] {
        let duration = Duration::from_secs(seconds);
        assert_eq!(duration_code(duration), code);
        assert_eq!(duration_words(duration), words);
        assert_eq!(crate::duration::parse_duration(code), Ok(duration));
    }
}

#[test]
fn an_alarm_event_card_names_the_device_and_has_the_buttons() {
    let mut event = Event::new(
        "dc1",
        "com.cisco.dme.modified",
        jiff::Timestamp::UNIX_EPOCH,
        json!({}),
    );
    event.device = "leaf-1".into();
    event.summary = "eth1/1 down".into();
    event.alarmstate = AlarmState::Raised;
    assert!(event_wants_card(&event));
    let card = event_card(
        &event,
        &Buttons {
            silences: vec![],
            open: None,
        },
    );
    assert!(
        card["body"][0]["text"]
            .as_str()
            .unwrap()
            .contains("**leaf-1** eth1/1 down")
    );
    assert_eq!(card["actions"].as_array().unwrap().len(), 1);
    event.alarmstate = AlarmState::Cleared;
    assert!(!event_wants_card(&event));
}

#[test]
fn a_root_cause_heads_the_card_with_ten_held_lines_then_a_count() {
    let mut notification = notification(1, false);
    let held: Vec<crate::route::AlarmLine> = (0..40)
        .map(|index| {
            serde_json::from_value(json!({
                "key": format!("leaf1:eth1/{index}"), "seq": index + 100, "state": "new",
                "severity": "major", "device": "leaf1",
                "summary": format!("eth1/{index} down"), "time": "2026-12-08T00:00:00Z",
            }))
            .unwrap()
        })
        .collect();
    notification.root_causes = vec![crate::route::RootCause {
        key: "spine1:eth1/1".to_owned(),
        device: "spine1".to_owned(),
        port: Some("eth1/1".to_owned()),
        summary: "eth1/1 down".to_owned(),
        cleared: false,
        held,
        holding: 40,
        held_cleared: 0,
        released: Vec::new(),
    }];
    let card = notification_card(&notification, &buttons());
    let texts: Vec<&str> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|block| block["text"].as_str())
        .collect();
    assert!(
        texts.contains(&"Root cause: spine1 eth1/1 down — holding 40 alarms behind it"),
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|text| text.contains("leaf1")).count(),
        10
    );
    assert!(texts.contains(&"… and 30 more held"), "{texts:?}");
}
