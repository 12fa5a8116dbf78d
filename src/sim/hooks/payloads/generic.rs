//! The senders without a vendor format (Standard Webhooks and CloudEvents, binary or
//! structured): the same simulated alarms, raised and cleared in each envelope.

use serde_json::Value;

use super::fixtures::GENERIC_ALARMS;
use super::{CloudEventsMode, Draw, Payload, Payloads, fresh_uuid, rfc3339_micros, to_vec};

impl Payloads {
    /// The alarm of a generic sender: its subject (`<device>/<resource>`), `raised` or
    /// `cleared`, and the data both envelopes carry.
    fn generic_alarm(&self, draw: Draw<'_>) -> (String, &'static str, Value) {
        let (name, severity, resource) = GENERIC_ALARMS[draw.pair];
        let device = draw.device;
        let device_name = format!("device-{:03}", device + 1);
        let resource = format!("{resource}{}", device % 48 + 1);
        let state = if draw.clearing.is_some() {
            "cleared"
        } else {
            "raised"
        };
        let subject = format!("{device_name}/{resource}");
        let data = serde_json::json!({
            "alarm": name,
            "state": state,
            "severity": severity,
            "device": device_name,
            "resource": resource,
            "summary": format!("{name} {state} on {device_name} {resource}"),
        });
        (subject, state, data)
    }

    pub(super) fn standard_webhook(&mut self, draw: Draw<'_>) -> Payload {
        let (subject, state, data) = self.generic_alarm(draw);
        let kind = format!("network.alarm.{state}");
        let body = serde_json::json!({
            "type": kind,
            "timestamp": rfc3339_micros(draw.now),
            "data": data,
        });
        let message_id = format!("msg_{}", random_base62(27));
        Payload {
            body: to_vec(&body),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: subject,
            notification: message_id,
            raised: draw.clearing.is_none(),
            device: data["device"].as_str().unwrap_or("").to_owned(),
        }
    }

    pub(super) fn cloudevent(&mut self, draw: Draw<'_>) -> Payload {
        let (subject, state, data) = self.generic_alarm(draw);
        let name = data["alarm"].as_str().unwrap_or("alarm");
        let kind = format!("io.netpulse.sim.{name}.{state}");
        let id = fresh_uuid();
        let device_name = data["device"].as_str().unwrap_or("").to_owned();
        let severity = data["severity"].as_str().unwrap_or("info").to_owned();
        let source = self.options.cloudevents_source.clone();
        let attributes = [
            ("specversion", "1.0".to_owned()),
            ("id", id.clone()),
            ("source", source),
            ("type", kind),
            ("time", rfc3339_micros(draw.now)),
            ("subject", subject.clone()),
            ("device", device_name.clone()),
            ("severity", severity),
            ("alarmstate", state.to_owned()),
        ];
        let (body, content_type, headers) = match self.options.cloudevents_mode {
            CloudEventsMode::Binary => (
                to_vec(&data),
                "application/json",
                attributes
                    .iter()
                    .map(|(name, value)| (format!("ce-{name}"), percent_encode(value)))
                    .collect(),
            ),
            CloudEventsMode::Structured => {
                let mut event = serde_json::Map::new();
                for (name, value) in attributes {
                    event.insert(name.to_owned(), value.into());
                }
                event.insert("datacontenttype".into(), "application/json".into());
                event.insert("data".into(), data);
                (
                    to_vec(&Value::Object(event)),
                    "application/cloudevents+json; charset=utf-8",
                    Vec::new(),
                )
            }
        };
        Payload {
            body,
            content_type,
            headers,
            alarm: subject,
            notification: id,
            raised: draw.clearing.is_none(),
            device: device_name,
        }
    }
}

fn random_base62(length: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..length)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// CloudEvents HTTP binding §3.1.3.2: header values percent-encode space, `"`, `%` and anything
/// outside printable ASCII.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if (0x21..=0x7e).contains(&byte) && byte != b'"' && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
