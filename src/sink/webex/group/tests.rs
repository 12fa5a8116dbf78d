use std::collections::BTreeMap;

use super::*;
use crate::route::{Counts, NotificationReason};
use crate::sink::webex::markdown::escape;

fn at(second: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_000 + second).unwrap()
}

fn alarm(device: &str, index: usize, severity: Severity, state: LineState) -> AlarmLine {
    AlarmLine {
        key: format!("sdwan:{device}:{index}"),
        seq: index as u64 + 1,
        state,
        severity,
        device: device.to_owned(),
        summary: format!("BFD session {index} down"),
        link: Some(format!(
            "https://vmanage.example.com/#/app/monitor/alarms/details/{device}-{index}"
        )),
        time: at(index as i64),
    }
}

fn notification(alarms: Vec<AlarmLine>) -> Notification {
    let mut counts = Counts::default();
    for line in &alarms {
        match line.state {
            LineState::New => counts.new.add(line.severity),
            LineState::StillRaised => counts.still_raised.add(line.severity),
            LineState::Cleared => counts.cleared.add(line.severity),
            LineState::Flapping => counts.flapping += 1,
            LineState::Stable | LineState::Info => {}
        }
    }
    Notification {
        route: "noc".to_owned(),
        sink: "webex".to_owned(),
        group: "noc/webex/00c0ffee00c0ffee".to_owned(),
        labels: BTreeMap::from([("source".to_owned(), "vmanage".to_owned())]),
        number: 1,
        reason: NotificationReason::First,
        counts,
        all_cleared: false,
        members: alarms.iter().map(|line| line.seq).collect(),
        root_causes: Vec::new(),
        alarms,
    }
}

/// The storm of the issue: 50 edges raising 12 alarms each (3 critical, 9 major).
fn storm() -> Notification {
    let mut alarms = Vec::new();
    for device in 0..50 {
        for index in 0..12 {
            let severity = if index < 3 {
                Severity::Critical
            } else {
                Severity::Major
            };
            alarms.push(alarm(
                &format!("edge-{device:02}"),
                device * 12 + index,
                severity,
                LineState::New,
            ));
        }
    }
    // Most severe first, as the engine orders them.
    alarms.sort_by_key(|line| std::cmp::Reverse(line.severity));
    notification(alarms)
}

fn templates() -> GroupTemplates {
    GroupTemplates::new(Some("https://netpulse.example.com/")).unwrap()
}

#[test]
fn a_storm_of_600_alarms_is_one_short_message_with_the_counts_and_the_first_lines() {
    let message = templates().render(&storm()).unwrap();
    let markdown = &message.markdown;
    assert!(
        markdown.len() < 3000,
        "{} bytes:\n{markdown}",
        markdown.len()
    );
    let lines: Vec<&str> = markdown.lines().collect();
    assert_eq!(lines[0], "🔴 **noc** · source: **vmanage**", "{markdown}");
    assert_eq!(
        lines[1], "🔴 600 new (150 critical, 450 major)",
        "{markdown}"
    );
    let alarm_lines: Vec<&&str> = lines
        .iter()
        .filter(|line| line.starts_with("- 🔴 **edge"))
        .collect();
    assert_eq!(alarm_lines.len(), MAX_LINES, "{markdown}");
    assert!(
        alarm_lines[0].contains(
            "· [details](https://vmanage.example.com/#/app/monitor/alarms/details/edge-00-0)"
        ),
        "{markdown}"
    );
    assert!(lines.contains(&"- … and 590 more"), "{markdown}");
    assert_eq!(
        lines.last().unwrap(),
        &"[Open in netpulse](https://netpulse.example.com/?source=vmanage)",
        "{markdown}"
    );
    assert!(!markdown.contains("cleared"), "{markdown}");

    let text = &message.text;
    assert!(text.len() < 3000, "{text}");
    assert!(
        text.starts_with("🔴 noc · source: vmanage\n🔴 600 new (150 critical, 450 major)\n"),
        "{text}"
    );
    assert!(!text.contains("**"), "plain text has no Markdown: {text}");
    assert!(text.contains("- … and 590 more"), "{text}");
    assert!(
        text.ends_with("Open in netpulse: https://netpulse.example.com/?source=vmanage"),
        "{text}"
    );
}

#[test]
fn an_update_counts_new_cleared_and_still_raised_and_marks_each_line() {
    let mut alarms = vec![alarm("edge-01", 1, Severity::Minor, LineState::New)];
    alarms.extend((2..4).map(|index| alarm("edge-02", index, Severity::Major, LineState::Cleared)));
    alarms.extend(
        (4..9).map(|index| alarm("edge-03", index, Severity::Critical, LineState::StillRaised)),
    );
    alarms.push(alarm("edge-04", 9, Severity::Major, LineState::Flapping));
    let mut update = notification(alarms);
    update.number = 3;
    update.reason = NotificationReason::Update;
    let markdown = templates().render(&update).unwrap().markdown;
    let lines: Vec<&str> = markdown.lines().collect();
    assert_eq!(
        lines[0], "🟡 **noc** · source: **vmanage** · update 3",
        "{markdown}"
    );
    assert_eq!(
        lines[1], "🟡 1 new (1 minor) · ✅ 2 cleared · 5 still raised · 🔁 1 flapping",
        "{markdown}"
    );
    let starts = |line: &str, marker: &str, device: &str, rest: &str| {
        line.starts_with(&format!("- {marker} **{}** {rest}", escape(device)))
    };
    assert!(
        starts(lines[3], "🟡", "edge-01", "BFD session 1 down · [details]"),
        "{markdown}"
    );
    assert!(
        starts(
            lines[4],
            "✅",
            "edge-02",
            "BFD session 2 down · *cleared* · [details]"
        ),
        "{markdown}"
    );
    assert!(
        starts(
            lines[6],
            "🔴",
            "edge-03",
            "BFD session 4 down · *still raised*"
        ),
        "{markdown}"
    );
    assert!(
        starts(lines[11], "🔁", "edge-04", "BFD session 9 down · *flapping"),
        "{markdown}"
    );
    assert!(!markdown.contains("more"), "{markdown}");
    assert!(!markdown.contains("All alarms"), "{markdown}");
}

#[test]
fn the_last_notification_of_a_group_says_that_every_alarm_has_cleared() {
    let mut last = notification(vec![alarm(
        "edge-01",
        1,
        Severity::Critical,
        LineState::Cleared,
    )]);
    last.number = 2;
    last.all_cleared = true;
    let message = templates().render(&last).unwrap();
    assert!(
        message.markdown.starts_with("✅ **noc**"),
        "{}",
        message.markdown
    );
    assert!(
        message
            .markdown
            .contains("\n\n✅ **All alarms of this group have cleared.**\n\n[Open in netpulse]"),
        "{}",
        message.markdown
    );
    assert!(
        message
            .text
            .contains("\n✅ All alarms of this group have cleared.\n"),
        "{}",
        message.text
    );
}

#[test]
fn untrusted_values_are_escaped_and_links_are_kept_only_when_safe() {
    let mut line = alarm(
        "edge1](https://evil.example)",
        1,
        Severity::Info,
        LineState::Info,
    );
    line.summary = "**urgent** <@all>\n# heading".to_owned();
    line.link = Some("javascript:alert(1)".to_owned());
    let mut info = notification(vec![line]);
    info.labels = BTreeMap::from([("device".to_owned(), "x](y)".to_owned())]);
    let message = GroupTemplates::new(None).unwrap().render(&info).unwrap();
    let markdown = &message.markdown;
    // Escaped as every message escapes values (`markdown::escape`); a line break becomes a space.
    let shown = format!(
        "- ⚪ **{}** {}",
        escape("edge1](https://evil.example)"),
        escape("**urgent** <@all> # heading")
    );
    assert!(markdown.contains(&shown), "{markdown}");
    assert!(
        markdown.contains(&format!("device: **{}**", escape("x](y)"))),
        "{markdown}"
    );
    assert!(!markdown.contains("javascript"), "{markdown}");
    assert!(!markdown.contains("[details]"), "{markdown}");
    assert!(
        !markdown.contains("Open in netpulse"),
        "no public_url, no dashboard link"
    );
    assert!(
        markdown.contains("⚪ **edge1"),
        "an info line has the info marker: {markdown}"
    );
    assert!(markdown.contains("1 informational"), "{markdown}");
    // The plain text shows the value as it is, on one line.
    assert!(
        message
            .text
            .contains("- ⚪ edge1](https://evil.example) **urgent** <@all> # heading"),
        "{}",
        message.text
    );
}

#[test]
fn the_dashboard_link_filters_on_the_labels_the_dashboard_knows() {
    let mut group = notification(vec![alarm("edge 01", 1, Severity::Major, LineState::New)]);
    group.labels = BTreeMap::from([
        ("device".to_owned(), "edge 01&x=1".to_owned()),
        ("source".to_owned(), "vmanage".to_owned()),
        ("type".to_owned(), "com.cisco.sdwan.alarm.bfd".to_owned()),
        ("/site".to_owned(), "Paris".to_owned()),
    ]);
    let markdown = GroupTemplates::new(Some("https://noc.example.com/netpulse"))
        .unwrap()
        .render(&group)
        .unwrap()
        .markdown;
    assert!(
        markdown.ends_with(
            "[Open in netpulse](https://noc.example.com/netpulse/?source=vmanage&device=edge+01%26x%3D1&type_prefix=com.cisco.sdwan.alarm.bfd)"
        ),
        "{markdown}"
    );
    group.labels = BTreeMap::from([("/site".to_owned(), "Paris".to_owned())]);
    let markdown = templates().render(&group).unwrap().markdown;
    assert!(
        markdown.ends_with("[Open in netpulse](https://netpulse.example.com/)"),
        "{markdown}"
    );
}

#[test]
fn a_long_summary_is_cut_so_that_ten_lines_stay_one_message() {
    let alarms = (0..30)
        .map(|index| {
            let mut line = alarm("edge-01", index, Severity::Major, LineState::New);
            line.summary = "ü".repeat(5000);
            line
        })
        .collect();
    let markdown = templates().render(&notification(alarms)).unwrap().markdown;
    assert!(
        markdown.len() <= super::super::split::MAX_MESSAGE_BYTES,
        "{} bytes",
        markdown.len()
    );
    assert!(markdown.contains(&format!("{}…", "ü".repeat(MAX_SUMMARY_CHARS))));
    assert!(markdown.contains("- … and 20 more"), "{markdown}");
}

#[test]
fn only_notification_events_are_read_as_notifications() {
    let storm = storm();
    let event = storm.to_event(at(0));
    assert_eq!(notification_of(&event).unwrap().unwrap(), storm);
    let other = Event::new(
        "vmanage",
        "com.cisco.sdwan.alarm.bfd",
        at(0),
        serde_json::json!({}),
    );
    assert!(notification_of(&other).is_none());
    // A notification type from any source but netpulse's own (a webhook sender choosing its
    // CloudEvents type) is an ordinary event: it cannot pose as a group's message.
    let forged = Event {
        source: "/netpulse/hook".to_owned(),
        ..storm.to_event(at(0))
    };
    assert!(notification_of(&forged).is_none());
    let broken = Event::new(
        crate::route::OWN_SOURCE,
        crate::route::NOTIFICATION_TYPE,
        at(0),
        serde_json::json!({"route": 1}),
    );
    assert!(notification_of(&broken).unwrap().is_err());
}

#[test]
fn a_reminder_says_so_and_counts_what_is_still_raised() {
    let alarms = (0..3)
        .map(|index| alarm("edge-05", index, Severity::Warning, LineState::StillRaised))
        .collect();
    let mut reminder = notification(alarms);
    reminder.number = 4;
    reminder.reason = NotificationReason::Repeat;
    let message = templates().render(&reminder).unwrap();
    let lines: Vec<&str> = message.markdown.lines().collect();
    assert_eq!(
        lines[0], "🔵 **noc** · source: **vmanage** · update 4 · reminder",
        "{}",
        message.markdown
    );
    assert_eq!(lines[1], "3 still raised", "{}", message.markdown);
    assert!(
        message
            .text
            .starts_with("🔵 noc · source: vmanage · update 4 · reminder\n3 still raised\n"),
        "{}",
        message.text
    );
}

#[test]
fn a_root_cause_is_named_with_what_it_holds_ten_lines_then_a_count() {
    let root = alarm("spine-1", 0, Severity::Major, LineState::New);
    let mut notification = notification(vec![root.clone()]);
    let held: Vec<AlarmLine> = (1..=40)
        .map(|index| alarm("leaf-*1*", index, Severity::Major, LineState::New))
        .collect();
    notification.root_causes = vec![crate::route::RootCause {
        key: root.key.clone(),
        device: "spine-1".to_owned(),
        port: Some("eth1/49".to_owned()),
        summary: root.summary.clone(),
        cleared: false,
        held,
        holding: 40,
        held_cleared: 0,
        released: Vec::new(),
    }];
    let message = templates().render(&notification).unwrap();
    assert!(
        message
            .markdown
            .contains("**Root cause: spine-1 eth1/49 down — holding 40 alarms behind it**"),
        "{}",
        message.markdown
    );
    assert_eq!(message.markdown.matches("· *held*").count(), 10);
    assert!(message.markdown.contains("- … and 30 more"));
    // A device name is escaped in held lines as anywhere else.
    assert!(
        message.markdown.contains(r"leaf-\*1\*"),
        "{}",
        message.markdown
    );
    assert!(
        message
            .text
            .contains("Root cause: spine-1 eth1/49 down — holding 40 alarms behind it")
    );
}
