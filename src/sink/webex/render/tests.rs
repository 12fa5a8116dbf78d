use super::*;
use crate::sink::webex::markdown::tests::acts;
use crate::source::webhook::sdwan;

/// The SD-WAN capture of an interface going down, as an event.
fn interface_down() -> Event {
    sdwan_event("webhook-interface-state-change-down-2019.json")
}

/// `template` for every event, times in UTC.
fn custom(template: &str) -> anyhow::Result<Templates> {
    Templates::new(Some(template), jiff::tz::TimeZone::UTC)
}

fn sdwan_event(fixture: &str) -> Event {
    let path = format!("{}/tests/data/sdwan/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(path).unwrap();
    let alarm = sdwan::parse(&body).unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut event = sdwan::from_alarm("vmanage", &alarm, &raw).event;
    event.link = Some(sdwan::details_link(
        "https://vmanage.example.com",
        &alarm.uuid,
    ));
    event
}

fn templates(timezone: &str) -> Templates {
    Templates::new(None, jiff::tz::TimeZone::get(timezone).unwrap()).unwrap()
}

#[test]
fn the_sdwan_message_says_what_when_where_and_links_to_the_alarm() {
    let event = interface_down();
    let message = templates("America/Los_Angeles").render(&event).unwrap();
    assert_eq!(message, EXPECTED_DOWN);
}

/// Host names, states and addresses need no escaping: they read as they are in any client.
const EXPECTED_DOWN: &str = "🔴 CRITICAL · SD-WAN alarm **Interface_State_Change** on **BR2-CSR1000v**
- **Time:** 2019-05-11 22:26:42 PDT
- **Severity:** Critical
- **Message:** The interface oper-state changed to down
- **host-name:** BR2-CSR1000v
- **if-name:** GigabitEthernet4
- **new-state:** down
- **system-ip:** 1.1.1.6

[Open in SD-WAN Manager](https://vmanage.example.com/#/app/monitor/alarms/details/8459e3a0-5bea-4370-ab57-6f45f8022d66)";

#[test]
fn a_clear_says_cleared_and_times_follow_the_time_zone() {
    let event = sdwan_event("webhook-interface-state-change-up-clears-previous-2019.json");
    let pacific = templates("America/Los_Angeles").render(&event).unwrap();
    let utc = templates("UTC").render(&event).unwrap();
    assert!(pacific.starts_with("✅ Cleared"), "{pacific}");
    let time_line = |message: &str| {
        message
            .lines()
            .find(|line| line.contains("**Time:**"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(time_line(&pacific), time_line(&utc));
    assert!(time_line(&utc).ends_with("UTC"), "{utc}");
}

#[test]
fn untrusted_values_cannot_inject_markdown() {
    let mut event = interface_down();
    event.device = "edge1](https://evil.example/login) **urgent** <@all>\n# Click".to_owned();
    event.data["values_short_display"][0]["host-name"] = "[x](javascript:alert(1))".into();
    event.link = Some("https://vmanage.example.com/#/details/a) [evil](https://x".to_owned());
    let message = templates("UTC").render(&event).unwrap();
    assert!(!acts(&message, "](https://evil"), "{message}");
    assert!(!acts(&message, "**urgent**"), "{message}");
    assert!(!acts(&message, "<@all>"), "{message}");
    assert!(!message.contains("\n# Click"), "{message}");
    assert!(!acts(&message, "[x]("), "{message}");
    assert!(
        message
            .contains(r"on **edge1\](https://evil.example/login) \*\*urgent\*\* \<@all> # Click**"),
        "the text is kept, escaped where it would act: {message}"
    );
    assert!(
        message.contains("(https://vmanage.example.com/#/details/a%29%20%5Bevil%5D%28https://x)"),
        "the link cannot be closed early: {message}"
    );
}

#[test]
fn a_link_that_is_not_http_is_left_out() {
    let mut event = interface_down();
    event.link = Some("javascript:alert(1)".to_owned());
    let message = templates("UTC").render(&event).unwrap();
    assert!(!message.contains("Open in SD-WAN Manager"), "{message}");
}

#[test]
fn other_events_get_the_generic_message() {
    let mut event = Event::new(
        "leaf1",
        "com.cisco.dme.modified",
        jiff::Timestamp::UNIX_EPOCH,
        serde_json::json!({}),
    );
    event.summary = "eth1/1 down".to_owned();
    event.severity = crate::event::Severity::Major;
    let message = templates("UTC").render(&event).unwrap();
    assert_eq!(
        message,
        "🟠 **MAJOR** · leaf1: eth1/1 down\n- **Event:** com.cisco.dme.modified\n- **Time:** 1970-01-01 00:00:00 UTC"
    );
}

/// Found by fuzzing: a provider's type on data without that provider's fields (a CloudEvent
/// claiming `com.thousandeyes.*`, a Catalyst Center body without `details`) failed its built-in
/// template, and the event became a dead letter instead of a message.
#[test]
fn a_provider_type_on_data_of_another_shape_gets_the_generic_message() {
    for (kind, data) in [
        ("com.thousandeyes.alert", serde_json::json!({"x": 1})),
        (
            "com.thousandeyes.alert",
            serde_json::json!({"alert": {"agents": 7}}),
        ),
        ("com.cisco.catalystcenter.issue", serde_json::json!([])),
    ] {
        let mut event = Event::new("s", kind, jiff::Timestamp::UNIX_EPOCH, data);
        event.summary = "odd".to_owned();
        let message = templates("UTC").render(&event).unwrap();
        assert!(message.starts_with("🔵 **INFO** · s: odd"), "{message}");
    }
}

#[test]
fn a_custom_template_is_used_for_every_event_and_escapes_too() {
    let templates = custom(
        "{{ event.device }} at {{ event.data.entry_time | localtime }} {{ '*raw*' | safe }}",
    )
    .unwrap();
    let event = interface_down();
    let message = templates.render(&event).unwrap();
    assert!(
        message.starts_with("BR2-CSR1000v at 2019-05-12 05:26:42 UTC"),
        "{message}"
    );
    assert!(message.ends_with(" *raw*"), "{message}");
}

#[test]
fn filters_that_mark_output_safe_cannot_smuggle_markdown() {
    let mut event = interface_down();
    event.device = "[x](https://evil)".to_owned();
    for template in [
        "{{ event.device | tojson }}",
        "{{ event.device | e }}",
        "{{ event.device | escape }}",
    ] {
        let message = custom(template).unwrap().render(&event).unwrap();
        assert!(!acts(&message, "](https"), "{template}: {message}");
        assert!(message.contains("\\[x\\]"), "{template}: {message}");
    }
}

#[test]
fn template_errors_say_where_and_runaway_templates_stop() {
    let broken = custom("line one\n{% for x in %}\n").err().unwrap();
    assert!(broken.to_string().starts_with("line 2:"), "{broken}");
    let runaway =
        custom("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
            .unwrap();
    let event = interface_down();
    let error = runaway.render(&event).unwrap_err();
    assert!(error.to_string().contains("fuel"), "{error}");
}

#[test]
fn retry_after_takes_seconds_or_an_http_date() {
    let now: jiff::Timestamp = "2015-10-21T07:27:00Z".parse().unwrap();
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-5", now), None);
}

fn fixture(folder: &str, file: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/{folder}/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The event a provider's normalizer makes of `tests/data/<folder>/<file>`.
fn fixture_event(
    folder: &str,
    file: &str,
    normalize: impl FnOnce(
        &crate::source::webhook::verify::Verified<'_>,
    ) -> Result<
        crate::source::webhook::Normalized,
        crate::source::webhook::Invalid,
    >,
) -> Event {
    let body = fixture(folder, file).into();
    normalize(&crate::source::webhook::verify::open_body(&body))
        .unwrap()
        .event
}

/// Each provider's built-in message says what happened, where and when, with the platform's
/// details and a link back; every fixture of every provider renders.
#[test]
fn every_provider_has_its_own_message_and_every_fixture_renders() {
    use crate::source::webhook::verify::open_body;
    use crate::source::webhook::{catalyst_center, intersight, meraki, thousandeyes};
    let templates = templates("Europe/Paris");
    let render = |event: &Event| templates.render(event).unwrap();

    let port = fixture_event(
        "meraki",
        "official-example-port-disconnected.json",
        |request| meraki::normalize("meraki", request),
    );
    let message = render(&port);
    assert!(message.starts_with("⚠️ WARNING · "), "{message}");
    assert!(message.contains("Meraki **"), "{message}");
    assert!(message.contains("- **Network:**"), "{message}");
    assert!(
        message.contains("CET") || message.contains("CEST"),
        "{message}"
    );

    let issue = fixture_event(
        "catalyst-center",
        "dnac-2019-interface-down-p1-resolved.json",
        |request| catalyst_center::normalize("dnac", request, None),
    );
    let message = render(&issue);
    assert!(
        message.starts_with("✅ Cleared · Catalyst Center **Interface GigabitEthernet0/0 is Down"),
        "{message}"
    );
    assert!(message.contains("- **Priority:** P1"), "{message}");
    assert!(message.contains("- **Status:** resolved"), "{message}");

    let alert = fixture_event(
        "thousandeyes",
        "classic-http-server-trigger-2021.json",
        |request| thousandeyes::normalize("te", request),
    );
    let message = render(&alert);
    assert!(message.contains("ThousandEyes **"), "{message}");
    assert!(
        message.contains("[Open in ThousandEyes](https://"),
        "{message}"
    );

    let alarm = fixture_event(
        "intersight",
        "webhookresult-cond-alarm-modified-trimmed.json",
        |request| intersight::normalize("intersight", request),
    );
    let message = render(&alarm);
    assert!(message.contains("Intersight **F"), "{message}");
    assert!(
        message.contains("[Open in Intersight](https://www.intersight.com/"),
        "{message}"
    );

    for folder in ["meraki", "catalyst-center", "thousandeyes", "intersight"] {
        let path = format!("{}/tests/data/{folder}", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(path).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue; // a snapshot beside its fixture
            }
            let body = std::fs::read(path).unwrap().into();
            let request = open_body(&body);
            let event = match folder {
                "meraki" => meraki::normalize("x", &request).map(|n| n.event),
                "catalyst-center" => {
                    catalyst_center::normalize("x", &request, None).map(|n| n.event)
                }
                "thousandeyes" => thousandeyes::normalize("x", &request).map(|n| n.event),
                _ => intersight::normalize("x", &request).map(|n| n.event),
            };
            let message = render(&event.unwrap());
            assert!(!message.is_empty());
            assert!(!message.contains("{{"), "{message}");
        }
    }
}

#[test]
fn a_huge_value_is_cut_with_a_visible_marker() {
    let mut event = interface_down();
    event.data["message"] = "x".repeat(1024 * 1024).into();
    let message = templates("UTC").render(&event).unwrap();
    let line = message
        .lines()
        .find(|line| line.starts_with("- **Message:**"))
        .unwrap();
    assert_eq!(
        line,
        format!("- **Message:** {}…", "x".repeat(MAX_VALUE_CHARS))
    );
    assert!(message.len() < 4000, "{} bytes", message.len());
}

/// A Meraki motion alert is information: its marker is the info one, not the red of a critical
/// alarm, and its values (serials, URLs, names) read as they are.
#[test]
fn a_meraki_motion_alert_reads_as_information() {
    use crate::source::webhook::meraki;
    let motion = fixture_event("meraki", "official-example-motion-alert.json", |request| {
        meraki::normalize("meraki", request)
    });
    let message = templates("UTC").render(&motion).unwrap();
    assert_eq!(message, EXPECTED_MOTION);
}

const EXPECTED_MOTION: &str = "🔵 INFO · Meraki **Motion detected** on **My camera**
- **Time:** 2018-02-11 00:00:00 UTC
- **Network:** Main Office (My organization)
- **Device:** My camera · MV · Q234-ABCD-5678
- **imageEnabled:** True
- **imageUrl:** https://cataas.com/cat
- **isSpyglass:** False
- **motionDetectorAllowsRecap:** True
- **motionRecapEnabled:** True
- **timestamp:** 1563499479.547

[Open in Meraki Dashboard](https://n1.meraki.com//n//manage/nodes/new_list/000000000000)";

#[test]
fn every_severity_has_its_own_marker_in_every_template() {
    use crate::event::{AlarmState, Severity};
    let markers = [
        (Severity::Critical, "🔴"),
        (Severity::Major, "🟠"),
        (Severity::Minor, "🟡"),
        (Severity::Warning, "⚠️"),
        (Severity::Info, "🔵"),
    ];
    let mut event = interface_down();
    let mut generic = Event::new(
        "leaf1",
        "com.example.x",
        jiff::Timestamp::UNIX_EPOCH,
        serde_json::json!({}),
    );
    for (severity, marker) in markers {
        event.severity = severity;
        generic.severity = severity;
        for message in [
            templates("UTC").render(&event).unwrap(),
            templates("UTC").render(&generic).unwrap(),
        ] {
            assert!(
                message.starts_with(&format!("{marker} ")),
                "{severity:?}: {message}"
            );
        }
        let custom =
            custom("{{ event | severity_marker }}|{{ event.severity | severity_marker }}").unwrap();
        assert_eq!(custom.render(&event).unwrap(), format!("{marker}|{marker}"));
    }
    event.alarmstate = AlarmState::Cleared;
    generic.alarmstate = AlarmState::Cleared;
    assert!(
        templates("UTC")
            .render(&event)
            .unwrap()
            .starts_with("✅ Cleared · ")
    );
    assert!(
        templates("UTC")
            .render(&generic)
            .unwrap()
            .starts_with("✅ **CLEARED** · ")
    );
    let custom =
        custom("{{ 'cleared' | severity_marker }}{{ 'bogus' | severity_marker }}").unwrap();
    assert_eq!(custom.render(&event).unwrap(), "✅");
}

/// The plain text sent beside the Markdown of the SD-WAN message: no markup, the link spelled out.
#[test]
fn the_sdwan_message_has_a_plain_text_without_markup() {
    let markdown = templates("America/Los_Angeles")
        .render(&interface_down())
        .unwrap();
    let text = crate::sink::webex::markdown::plain(&markdown);
    assert_eq!(
        text,
        "🔴 CRITICAL · SD-WAN alarm Interface_State_Change on BR2-CSR1000v
- Time: 2019-05-11 22:26:42 PDT
- Severity: Critical
- Message: The interface oper-state changed to down
- host-name: BR2-CSR1000v
- if-name: GigabitEthernet4
- new-state: down
- system-ip: 1.1.1.6

Open in SD-WAN Manager (https://vmanage.example.com/#/app/monitor/alarms/details/8459e3a0-5bea-4370-ab57-6f45f8022d66)"
    );
}

/// A major SD-WAN alarm (a BFD TLOC down, from the REST API's alarm list) gets the major marker,
/// and its rule name, colour and system IP read as they are.
#[test]
fn a_major_sdwan_alarm_gets_the_major_marker() {
    let event = sdwan_event("rest-alarm-bfd-tloc-down-active-20.x.json");
    let message = templates("UTC").render(&event).unwrap();
    assert_eq!(message, EXPECTED_BFD);
}

const EXPECTED_BFD: &str = "🟠 MAJOR · SD-WAN alarm **BFD_TLOC_Down** on **Edge2**
- **Time:** 2025-01-15 13:35:29 UTC
- **Severity:** Major
- **Message:** All BFD sessions for the tloc are down
- **color:** private1
- **host-name:** Edge2
- **system-ip:** 10.0.0.2

[Open in SD-WAN Manager](https://vmanage.example.com/#/app/monitor/alarms/details/849b4483-ca02-4e47-bfc2-42481f501b45)";
