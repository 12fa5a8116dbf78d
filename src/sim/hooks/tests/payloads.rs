//! Generated payloads: JSON, raise/clear pairs, fresh notification ids.

use super::*;
use crate::source::webhook::verify::open_body;

/// Every provider: bodies are JSON, notification ids are fresh, and every clear follows a raise
/// of the same alarm that is still open (and each raise is cleared at most once).
#[test]
fn every_provider_sends_json_in_raise_clear_pairs_with_fresh_notification_ids() {
    for provider in [
        Provider::Meraki,
        Provider::CatalystCenter,
        Provider::Thousandeyes,
        Provider::Intersight,
        Provider::StandardWebhooks,
        Provider::Cloudevents,
    ] {
        let mut open = HashSet::new();
        let mut notifications = HashSet::new();
        let (mut raises, mut clears) = (0, 0);
        for payload in payloads(provider, options(), 11, 7).take(400) {
            let document: Value = serde_json::from_slice(&payload.body)
                .unwrap_or_else(|error| panic!("{provider:?}: not JSON: {error}"));
            assert!(document.is_object());
            assert!(
                notifications.insert(payload.notification.clone()),
                "{provider:?}: notification id {} repeated",
                payload.notification
            );
            if payload.raised {
                raises += 1;
                // Meraki's single alerts may repeat on a device; paired alarms are fresh.
                let fresh = open.insert(payload.alarm.clone());
                assert!(
                    fresh || provider == Provider::Meraki,
                    "{provider:?}: {}",
                    payload.alarm
                );
            } else {
                clears += 1;
                assert!(
                    open.remove(&payload.alarm),
                    "{provider:?}: a clear of {} that is not open",
                    payload.alarm
                );
            }
        }
        // Meraki also sends alerts that nothing clears (9 kinds beside the 2 pairs).
        let least = if provider == Provider::Meraki { 30 } else { 80 };
        assert!(
            clears > least && raises >= clears,
            "{provider:?}: {raises} raises, {clears} clears"
        );
    }
}

#[test]
fn meraki_alerts_are_fresh_spread_over_devices_and_pair_down_with_up() {
    let mut pending: HashMap<String, Value> = HashMap::new();
    let mut devices = HashSet::new();
    let mut pairs = HashSet::new();
    let now = jiff::Timestamp::now();
    for payload in payloads(Provider::Meraki, options(), 5, 4).take(300) {
        let alert: Value = serde_json::from_slice(&payload.body).unwrap();
        let alert_id = alert["alertId"].as_str().unwrap();
        assert_eq!(alert_id.len(), 16, "{alert_id}");
        assert!(alert_id.bytes().all(|byte| byte.is_ascii_digit()));
        assert_eq!(alert["sharedSecret"], "body-secret");
        for key in ["occurredAt", "sentAt"] {
            let text = alert[key].as_str().unwrap();
            let (_, fraction) = text.trim_end_matches('Z').split_once('.').unwrap();
            assert_eq!(fraction.len(), 6, "{text}: microseconds");
            let time: jiff::Timestamp = text.parse().unwrap();
            assert!((time - now).as_secs().abs() < 60, "{text}");
        }
        let name = alert["deviceName"].as_str().unwrap();
        if !name.is_empty() {
            devices.insert(name.to_owned());
        }
        let kind = alert["alertTypeId"].as_str().unwrap().to_owned();
        match kind.as_str() {
            "stopped_reporting" | "port_disconnected" => {
                pending.insert(payload.alarm.clone(), alert);
            }
            "started_reporting" | "port_connected" => {
                let raise = pending
                    .remove(&payload.alarm)
                    .expect("a raise before its clear");
                let expected = if kind == "started_reporting" {
                    "stopped_reporting"
                } else {
                    "port_disconnected"
                };
                assert_eq!(raise["alertTypeId"], expected);
                for key in ["deviceSerial", "deviceName", "deviceMac"] {
                    assert_eq!(raise[key], alert[key], "{key}");
                }
                assert_eq!(raise["alertData"]["portNum"], alert["alertData"]["portNum"]);
                assert_ne!(raise["alertId"], alert["alertId"]);
                pairs.insert(kind);
            }
            _ => {}
        }
    }
    assert_eq!(pairs.len(), 2, "both pairs were cleared: {pairs:?}");
    assert!(devices.len() > 4, "{devices:?}");
    assert!(devices.iter().all(|name| name.ends_with("-001")
        || name.ends_with("-002")
        || name.ends_with("-003")
        || name.ends_with("-004")));
}

#[test]
fn catalyst_center_issues_go_active_then_resolved_with_the_same_instance_id() {
    let mut active: HashMap<String, Value> = HashMap::new();
    let mut ef_ids = HashSet::new();
    let mut resolved = 0;
    let now = jiff::Timestamp::now().as_millisecond();
    for payload in payloads(Provider::CatalystCenter, options(), 9, 3).take(200) {
        let issue: Value = serde_json::from_slice(&payload.body).unwrap();
        let instance = issue["instanceId"].as_str().unwrap().to_owned();
        assert_eq!(instance, payload.alarm);
        assert!((issue["timestamp"].as_i64().unwrap() - now).abs() < 60_000);
        if let Some(ef) = issue.get("efInstanceId") {
            assert!(
                ef_ids.insert(ef.as_str().unwrap().to_owned()),
                "efInstanceId is fresh"
            );
            assert_ne!(ef.as_str().unwrap(), instance);
        }
        let link = issue["ciscoDnaEventLink"].as_str().unwrap();
        assert!(link.ends_with(&format!("issueId={instance}")), "{link}");
        match issue["details"]["Assurance Issue Status"].as_str().unwrap() {
            "active" => {
                assert!(
                    active.insert(instance, issue).is_none(),
                    "a fresh instanceId per issue"
                );
            }
            "resolved" => {
                let raised = active.remove(&instance).expect("resolved after active");
                assert_eq!(raised["eventId"], issue["eventId"]);
                assert_eq!(raised["details"]["Device"], issue["details"]["Device"]);
                resolved += 1;
            }
            other => panic!("status {other}"),
        }
    }
    assert!(resolved > 40);
    assert!(ef_ids.len() > 20);
}

#[test]
fn thousandeyes_alerts_trigger_then_clear_with_the_same_alert_id_and_new_event_ids() {
    let mut triggered: HashSet<String> = HashSet::new();
    let mut cleared = 0;
    for payload in payloads(Provider::Thousandeyes, options(), 2, 3).take(200) {
        let notification: Value = serde_json::from_slice(&payload.body).unwrap();
        let alert_id = notification["alert"]["alertId"].to_string();
        let event_id = notification["eventId"].as_str().unwrap();
        assert!(event_id.ends_with(&format!("-{alert_id}")), "{event_id}");
        let normalized = crate::source::webhook::thousandeyes::normalize(
            "te",
            &open_body(&payload.body.clone().into()),
        )
        .expect("the gateway reads the notification");
        match notification["eventType"].as_str().unwrap() {
            "ALERT_NOTIFICATION_TRIGGER" => {
                assert_eq!(notification["alert"]["active"], 1);
                assert!(triggered.insert(alert_id));
                assert!(normalized.alarms.iter().all(|update| update.raised));
            }
            "ALERT_NOTIFICATION_CLEAR" => {
                assert_eq!(notification["alert"]["active"], 2);
                assert!(triggered.remove(&alert_id), "a clear of a triggered alert");
                assert!(notification["alert"]["dateEnd"].is_string());
                assert!(!normalized.alarms.is_empty());
                assert!(normalized.alarms.iter().all(|update| !update.raised));
                cleared += 1;
            }
            other => panic!("eventType {other}"),
        }
    }
    assert!(cleared > 40);
}

#[test]
fn intersight_alarms_are_raised_critical_then_cleared_with_the_same_moid() {
    let mut raised: HashMap<String, Value> = HashMap::new();
    let mut cleared = 0;
    for payload in payloads(Provider::Intersight, options(), 4, 3).take(200) {
        let result: Value = serde_json::from_slice(&payload.body).unwrap();
        assert_eq!(result["EventObjectType"], "cond.Alarm");
        let event = &result["Event"];
        let moid = event["Moid"].as_str().unwrap().to_owned();
        assert_eq!(moid.len(), 24);
        assert!(moid.bytes().all(|byte| byte.is_ascii_hexdigit()));
        let modified: jiff::Timestamp = event["ModTime"].as_str().unwrap().parse().unwrap();
        assert!((jiff::Timestamp::now() - modified).as_secs().abs() < 60);
        assert_eq!(event["LastTransitionTime"], event["ModTime"]);
        let normalized = crate::source::webhook::intersight::normalize(
            "is",
            &open_body(&payload.body.clone().into()),
        )
        .expect("the gateway reads the alarm");
        match event["Severity"].as_str().unwrap() {
            "Critical" => {
                assert!(raised.insert(moid, result.clone()).is_none());
                assert!(normalized.alarms.iter().all(|update| update.raised));
            }
            "Cleared" => {
                let raise = raised.remove(&moid).expect("cleared after raised");
                assert_eq!(raise["Event"]["CreationTime"], event["CreationTime"]);
                assert_eq!(event["OrigSeverity"], "Critical");
                assert!(!normalized.alarms.is_empty());
                assert!(normalized.alarms.iter().all(|update| !update.raised));
                cleared += 1;
            }
            other => panic!("Severity {other}"),
        }
    }
    assert!(cleared > 40);
}

#[test]
fn cloudevents_in_both_modes_are_read_by_the_gateway_as_raise_then_clear_of_one_alarm() {
    for mode in [CloudEventsMode::Binary, CloudEventsMode::Structured] {
        let options = PayloadOptions {
            cloudevents_mode: mode,
            ..options()
        };
        let mut open = HashSet::new();
        let mut cleared = 0;
        for payload in payloads(Provider::Cloudevents, options, 8, 3).take(100) {
            let mut headers = payload.headers.clone();
            headers.push(("content-type".into(), payload.content_type.into()));
            if mode == CloudEventsMode::Binary {
                for name in [
                    "specversion",
                    "id",
                    "source",
                    "type",
                    "time",
                    "subject",
                    "device",
                    "severity",
                    "alarmstate",
                ] {
                    assert!(
                        header(&headers, &format!("ce-{name}")).is_some(),
                        "ce-{name}"
                    );
                }
                assert_eq!(header(&headers, "ce-specversion"), Some("1.0"));
                assert_eq!(header(&headers, "ce-source"), Some("/netpulse-sim/test"));
            } else {
                assert!(payload.headers.is_empty());
                assert!(
                    payload
                        .content_type
                        .starts_with("application/cloudevents+json")
                );
            }
            let headers = header_map(&headers);
            let body = payload.body.clone().into();
            let normalized = crate::source::webhook::generic::cloudevent(
                "ce",
                &crate::source::webhook::verify::open(&headers, &body, jiff::Timestamp::now()),
            )
            .expect("the gateway reads the event");
            assert_eq!(normalized.event.device, payload.device);
            let [update] = normalized.alarms.as_slice() else {
                panic!("one alarm update: {:?}", normalized.alarms);
            };
            assert_eq!(update.raised, payload.raised);
            if update.raised {
                assert!(open.insert(update.key.clone()));
            } else {
                assert!(open.remove(&update.key), "cleared the alarm it raised");
                cleared += 1;
            }
        }
        assert!(cleared > 20, "{mode:?}");
    }
}

// ---- end to end ----------------------------------------------------------------------------
