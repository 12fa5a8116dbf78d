//! The notifications each platform sends: real payloads (the fixtures, embedded in the binary),
//! re-dated, re-identified and spread over N simulated devices, with every raise followed later
//! (interleaved with others) by the notification that clears the same alarm, as the platform does.
//!
//! `seed` makes the sequence of kinds, devices and raise/clear order reproducible; identifiers and
//! times are always new.

use std::collections::VecDeque;

use serde_json::Value;

/// How many raised alarms may wait for their clear before the oldest is cleared anyway.
const MAX_OPEN: usize = 64;

/// Which platform's notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Meraki,
    CatalystCenter,
    Thousandeyes,
    Intersight,
    StandardWebhooks,
    Cloudevents,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Meraki => "meraki",
            Provider::CatalystCenter => "catalyst-center",
            Provider::Thousandeyes => "thousandeyes",
            Provider::Intersight => "intersight",
            Provider::StandardWebhooks => "standard-webhooks",
            Provider::Cloudevents => "cloudevents",
        }
    }
}

/// CloudEvents HTTP binding mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CloudEventsMode {
    /// Attributes in `ce-*` headers, the data as the JSON body.
    #[default]
    Binary,
    /// The whole event as one `application/cloudevents+json` body.
    Structured,
}

/// What varies the payloads beyond the provider.
#[derive(Debug, Clone, Default)]
pub struct PayloadOptions {
    /// Meraki: the value of the body's `sharedSecret` (empty when the secret travels in a header
    /// or none is configured).
    pub meraki_shared_secret: String,
    pub cloudevents_mode: CloudEventsMode,
    /// CloudEvents `source`, e.g. `/netpulse-sim/<host>`.
    pub cloudevents_source: String,
}

/// One notification, ready to send.
#[derive(Debug, Clone)]
pub struct Payload {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    /// Provider headers besides authentication (CloudEvents binary mode's `ce-*`).
    pub headers: Vec<(String, String)>,
    /// The alarm this notification raises or clears (the same on both).
    pub alarm: String,
    /// This notification's own id, fresh on every notification.
    pub notification: String,
    pub raised: bool,
    /// The simulated device.
    pub device: String,
}

/// A fixture that raises an alarm and the one that clears it (`None`: derived from the raise).
struct Pair {
    raise: Value,
    clear: Option<Value>,
}

/// An open alarm waiting for its clear.
struct Open {
    pair: usize,
    device: usize,
    alarm: String,
    /// What the clear must repeat (the raise's id, creation time, port...).
    raised_at: jiff::Timestamp,
}

/// An endless, reproducible stream of one provider's notifications.
pub struct Payloads {
    provider: Provider,
    options: PayloadOptions,
    rng: fastrand::Rng,
    devices: usize,
    pairs: Vec<Pair>,
    singles: Vec<Value>,
    open: VecDeque<Open>,
    /// ThousandEyes: the `<n>` of `eventId`, increasing like the platform's.
    event_counter: u64,
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("embedded fixture is JSON")
}

const MERAKI_PAIRS: &[(&str, &str)] = &[
    (
        include_str!("../../../tests/data/meraki/official-example-stopped-reporting.json"),
        include_str!("../../../tests/data/meraki/official-example-started-reporting.json"),
    ),
    (
        include_str!("../../../tests/data/meraki/official-example-port-disconnected.json"),
        include_str!("../../../tests/data/meraki/official-example-port-connected.json"),
    ),
];

const MERAKI_SINGLES: &[&str] = &[
    include_str!("../../../tests/data/meraki/official-example-amp-malware-blocked.json"),
    include_str!("../../../tests/data/meraki/official-example-client-connectivity.json"),
    include_str!("../../../tests/data/meraki/official-example-failover-event.json"),
    include_str!("../../../tests/data/meraki/official-example-motion-alert.json"),
    include_str!("../../../tests/data/meraki/official-example-node-hardware-failure.json"),
    include_str!("../../../tests/data/meraki/official-example-power-supply-down.json"),
    include_str!("../../../tests/data/meraki/official-example-settings-changed.json"),
    include_str!("../../../tests/data/meraki/official-example-usage-alert.json"),
    include_str!("../../../tests/data/meraki/official-example-vpn-connectivity-change.json"),
];

/// Catalyst Center issues: the active notification and, when one was captured, the resolved one
/// (otherwise the active one with `Assurance Issue Status: resolved`, which is how the platform
/// re-sends an issue: same `instanceId`, new status, `protocols-webhooks.md` §0 rule 4).
const CATALYST_CENTER_PAIRS: &[(&str, Option<&str>)] = &[
    (
        include_str!("../../../tests/data/catalyst-center/dnac-2019-interface-down-p1-active.json"),
        Some(include_str!(
            "../../../tests/data/catalyst-center/dnac-2019-interface-down-p1-resolved.json"
        )),
    ),
    (
        include_str!("../../../tests/data/catalyst-center/catc-2024-bgp-down-p1-active.json"),
        None,
    ),
    (
        include_str!(
            "../../../tests/data/catalyst-center/dnac-2019-interface-flapping-p3-warn-nulls.json"
        ),
        None,
    ),
];

/// ThousandEyes classic webhooks: triggers; the clear is the trigger re-sent as
/// `ALERT_NOTIFICATION_CLEAR` with `active: 2` (the 2021 platform's value, §4.1).
const THOUSANDEYES_TRIGGERS: &[&str] = &[
    include_str!("../../../tests/data/thousandeyes/classic-http-server-trigger-2021.json"),
    include_str!(
        "../../../tests/data/thousandeyes/classic-http-server-trigger-custom-payload-text-2022.json"
    ),
];

/// ThousandEyes: the cleared `active` value sent (2021 platform; the 2025 platform sends 0).
pub const THOUSANDEYES_CLEARED_ACTIVE: i64 = 2;

const INTERSIGHT_ALARM: &str =
    include_str!("../../../tests/data/intersight/webhookresult-cond-alarm-modified-trimmed.json");

/// Standard Webhooks and CloudEvents senders carry no vendor format: these are the alarms the
/// simulator raises and clears with them, (name, severity, resource).
const GENERIC_ALARMS: &[(&str, &str, &str)] = &[
    ("link-down", "major", "eth1/"),
    ("bgp-peer-down", "critical", "bgp/10.0.0."),
    ("high-cpu", "minor", "cpu/"),
    ("fan-failure", "warning", "fan/"),
];

/// The generator for one provider.
pub fn payloads(
    provider: Provider,
    options: PayloadOptions,
    seed: u64,
    devices: usize,
) -> Payloads {
    let (pairs, singles) = match provider {
        Provider::Meraki => (
            MERAKI_PAIRS
                .iter()
                .map(|(raise, clear)| Pair {
                    raise: parse(raise),
                    clear: Some(parse(clear)),
                })
                .collect(),
            MERAKI_SINGLES.iter().map(|text| parse(text)).collect(),
        ),
        Provider::CatalystCenter => (
            CATALYST_CENTER_PAIRS
                .iter()
                .map(|(raise, clear)| Pair {
                    raise: parse(raise),
                    clear: clear.map(parse),
                })
                .collect(),
            Vec::new(),
        ),
        Provider::Thousandeyes => (
            THOUSANDEYES_TRIGGERS
                .iter()
                .map(|raise| Pair {
                    raise: parse(raise),
                    clear: None,
                })
                .collect(),
            Vec::new(),
        ),
        Provider::Intersight => (
            vec![Pair {
                raise: parse(INTERSIGHT_ALARM),
                clear: None,
            }],
            Vec::new(),
        ),
        Provider::StandardWebhooks | Provider::Cloudevents => (
            GENERIC_ALARMS
                .iter()
                .map(|_| Pair {
                    raise: Value::Null,
                    clear: None,
                })
                .collect(),
            Vec::new(),
        ),
    };
    Payloads {
        provider,
        options,
        rng: fastrand::Rng::with_seed(seed),
        devices: devices.max(1),
        pairs,
        singles,
        open: VecDeque::new(),
        event_counter: 200_000_000 + fastrand::u64(..100_000_000),
    }
}

/// A fresh random UUID (version 4 layout) from the process's random generator, not the seeded one.
pub fn fresh_uuid() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_be_bytes())
        .into_uuid()
        .to_string()
}

/// RFC 3339 in UTC with microseconds, as Meraki writes `sentAt`: `2021-10-01T09:27:29.615483Z`.
pub fn rfc3339_micros(time: jiff::Timestamp) -> String {
    format!("{time:.6}")
}

/// RFC 3339 in UTC with milliseconds, as Intersight writes times.
fn rfc3339_millis(time: jiff::Timestamp) -> String {
    format!("{time:.3}")
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as ThousandEyes writes dates.
fn te_date(time: jiff::Timestamp) -> String {
    time.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

impl Payloads {
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The next notification.
    pub fn next_payload(&mut self) -> Payload {
        let now = jiff::Timestamp::now();
        let clear_now = !self.open.is_empty() && (self.open.len() >= MAX_OPEN || self.rng.bool());
        if clear_now {
            let open = self.open.pop_front().expect("an open alarm");
            return self.build(open.pair, open.device, Some(&open), now);
        }
        let device = self.rng.usize(..self.devices);
        let pick = self.rng.usize(..self.pairs.len() + self.singles.len());
        if pick >= self.pairs.len() {
            return self.single(pick - self.pairs.len(), device, now);
        }
        // A device cannot raise an alarm that is already up: clear it instead.
        if let Some(position) = self
            .open
            .iter()
            .position(|open| open.pair == pick && open.device == device)
        {
            let open = self.open.remove(position).expect("an open alarm");
            return self.build(open.pair, open.device, Some(&open), now);
        }
        let payload = self.build(pick, device, None, now);
        self.open.push_back(Open {
            pair: pick,
            device,
            alarm: payload.alarm.clone(),
            raised_at: now,
        });
        payload
    }

    /// A raise (`clearing: None`) or the clear of `clearing`.
    fn build(
        &mut self,
        pair: usize,
        device: usize,
        clearing: Option<&Open>,
        now: jiff::Timestamp,
    ) -> Payload {
        match self.provider {
            Provider::Meraki => self.meraki(pair, device, clearing, now),
            Provider::CatalystCenter => self.catalyst_center(pair, device, clearing, now),
            Provider::Thousandeyes => self.thousandeyes(pair, device, clearing, now),
            Provider::Intersight => self.intersight(device, clearing, now),
            Provider::StandardWebhooks => self.standard_webhook(pair, device, clearing, now),
            Provider::Cloudevents => self.cloudevent(pair, device, clearing, now),
        }
    }

    fn single(&mut self, index: usize, device: usize, now: jiff::Timestamp) -> Payload {
        // Only Meraki has alerts without a clearing counterpart.
        let mut document = self.singles[index].clone();
        let (alert_id, device_name) = self.stamp_meraki(&mut document, device, now);
        Payload {
            body: to_vec(&document),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: format!(
                "meraki:{}:{}",
                device_name,
                document["alertTypeId"].as_str().unwrap_or("")
            ),
            notification: alert_id,
            raised: true,
            device: device_name,
        }
    }

    fn meraki(
        &mut self,
        pair: usize,
        device: usize,
        clearing: Option<&Open>,
        now: jiff::Timestamp,
    ) -> Payload {
        let template = &self.pairs[pair];
        let mut document = match clearing {
            None => template.raise.clone(),
            Some(_) => template.clear.clone().expect("Meraki pairs have a clear"),
        };
        let (alert_id, device_name) = self.stamp_meraki(&mut document, device, now);
        // The pair's identity: the device and the raising alert type (and the port, which the
        // fixtures of a pair share).
        let raise_type = template.raise["alertTypeId"].as_str().unwrap_or("");
        let port = template.raise["alertData"]["portNum"]
            .as_i64()
            .map(|port| format!(":port{port}"))
            .unwrap_or_default();
        Payload {
            body: to_vec(&document),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: format!("meraki:{device_name}:{raise_type}{port}"),
            notification: alert_id,
            raised: clearing.is_none(),
            device: device_name,
        }
    }

    /// Meraki: fresh `alertId`, `sentAt`, `occurredAt`, the secret, and device `device`'s
    /// identity (network-level alerts, with empty device fields, keep them empty).
    fn stamp_meraki(
        &self,
        document: &mut Value,
        device: usize,
        now: jiff::Timestamp,
    ) -> (String, String) {
        let alert_id = format!(
            "{:016}",
            fastrand::u64(1_000_000_000_000_000..10_000_000_000_000_000)
        );
        document["alertId"] = alert_id.as_str().into();
        document["sentAt"] = rfc3339_micros(now).into();
        document["occurredAt"] = rfc3339_micros(now).into();
        document["sharedSecret"] = self.options.meraki_shared_secret.as_str().into();
        let has_device = document["deviceSerial"]
            .as_str()
            .is_some_and(|serial| !serial.is_empty());
        if !has_device {
            return (alert_id, String::new());
        }
        let model = document["deviceModel"].as_str().unwrap_or("").to_owned();
        let family = model.get(..2).unwrap_or("MX").to_ascii_uppercase();
        let prefix = match family.as_str() {
            "MR" => "ap",
            "MS" => "switch",
            "MX" => "appliance",
            "MV" => "camera",
            "MG" => "gateway",
            "MT" => "sensor",
            _ => "device",
        };
        let name = format!("{prefix}-{:03}", device + 1);
        document["deviceName"] = name.as_str().into();
        document["deviceSerial"] =
            format!("Q2{family}-{:04X}-{:04X}", device / 65_536, device % 65_536).into();
        document["deviceMac"] = format!(
            "e0:55:3d:{:02x}:{:02x}:{:02x}",
            family.as_bytes()[1],
            (device >> 8) & 0xff,
            device & 0xff
        )
        .into();
        (alert_id, name)
    }

    fn catalyst_center(
        &mut self,
        pair: usize,
        device: usize,
        clearing: Option<&Open>,
        now: jiff::Timestamp,
    ) -> Payload {
        let template = &self.pairs[pair];
        let mut document = match (clearing, &template.clear) {
            (None, _) => template.raise.clone(),
            (Some(_), Some(resolved)) => resolved.clone(),
            (Some(_), None) => {
                let mut resolved = template.raise.clone();
                resolved["details"]["Assurance Issue Status"] = "resolved".into();
                resolved
            }
        };
        let issue = match clearing {
            Some(open) => open.alarm.clone(),
            None => fresh_uuid(),
        };
        let old_issue = document["instanceId"].as_str().unwrap_or("").to_owned();
        document["instanceId"] = issue.as_str().into();
        document["timestamp"] = now.as_millisecond().into();
        let notification = if document.get("efInstanceId").is_some() {
            let id = fresh_uuid();
            document["efInstanceId"] = id.as_str().into();
            id
        } else {
            // No id of its own (2019 platform): the issue and its status identify it.
            let status = if clearing.is_some() {
                "resolved"
            } else {
                "active"
            };
            format!("{issue}:{status}")
        };
        if let Some(link) = document["ciscoDnaEventLink"].as_str()
            && !old_issue.is_empty()
        {
            document["ciscoDnaEventLink"] = link.replace(&old_issue, &issue).into();
        }
        // The device: an address per simulated device, also in the texts that name it.
        let address = format!(
            "10.{}.{}.{}",
            100 + device / 65_536,
            (device / 256) % 256,
            device % 256
        );
        let old_address = document["details"]["Device"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if let Some(details) = document["details"].as_object_mut() {
            for value in details.values_mut() {
                if let Some(text) = value.as_str()
                    && !old_address.is_empty()
                {
                    *value = text.replace(&old_address, &address).into();
                }
            }
        }
        Payload {
            body: to_vec(&document),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: issue,
            notification,
            raised: clearing.is_none(),
            device: address,
        }
    }

    fn thousandeyes(
        &mut self,
        pair: usize,
        device: usize,
        clearing: Option<&Open>,
        now: jiff::Timestamp,
    ) -> Payload {
        let mut document = self.pairs[pair].raise.clone();
        let old_id = match &document["alert"]["alertId"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let alert_id = match clearing {
            Some(open) => open.alarm.clone(),
            None => fastrand::u64(100_000_000..1_000_000_000).to_string(),
        };
        self.event_counter += 1 + fastrand::u64(..1000);
        let event_id = format!("{}-{alert_id}", self.event_counter);
        document["eventId"] = event_id.as_str().into();
        let alert = &mut document["alert"];
        alert["alertId"] = alert_id
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| alert_id.as_str().into());
        for key in ["permalink"] {
            if let Some(link) = alert[key].as_str() {
                alert[key] = link.replace(&old_id, &alert_id).into();
            }
        }
        // The device is the test: one per simulated device.
        let target = format!("https://app-{:03}.example.net", device + 1);
        alert["testName"] = format!("{target} - HTTP Server").into();
        alert["testTargetsDescription"] = Value::from(vec![target]);
        let started = clearing.map_or(now, |open| open.raised_at);
        alert["dateStart"] = te_date(started).into();
        if alert.get("dateStartZoned").is_some() {
            alert["dateStartZoned"] = format!("{} UTC", te_date(started)).into();
        }
        let active = if clearing.is_some() {
            THOUSANDEYES_CLEARED_ACTIVE
        } else {
            1
        };
        alert["active"] = active.into();
        if clearing.is_some() {
            alert["dateEnd"] = te_date(now).into();
            alert["dateEndZoned"] = format!("{} UTC", te_date(now)).into();
        }
        if let Some(agents) = alert["agents"].as_array_mut() {
            for agent in agents {
                agent["active"] = active.into();
                agent["dateStart"] = te_date(started).into();
                if let Some(link) = agent["permalink"].as_str() {
                    agent["permalink"] = link.replace(&old_id, &alert_id).into();
                }
                if clearing.is_some() {
                    agent["dateEnd"] = te_date(now).into();
                    agent["metricsAtEnd"] = "Response Code: 200".into();
                }
            }
        }
        document["eventType"] = if clearing.is_some() {
            "ALERT_NOTIFICATION_CLEAR"
        } else {
            "ALERT_NOTIFICATION_TRIGGER"
        }
        .into();
        Payload {
            body: to_vec(&document),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: alert_id,
            notification: event_id,
            raised: clearing.is_none(),
            device: format!("app-{:03}", device + 1),
        }
    }

    fn intersight(
        &mut self,
        device: usize,
        clearing: Option<&Open>,
        now: jiff::Timestamp,
    ) -> Payload {
        let mut document = self.pairs[0].raise.clone();
        let moid = match clearing {
            Some(open) => open.alarm.clone(),
            // A MOID is 24 hex digits (a MongoDB ObjectId): 4 bytes of seconds, 8 random.
            None => format!("{:08x}{:016x}", now.as_second() as u32, fastrand::u64(..)),
        };
        let created = clearing.map_or(now, |open| open.raised_at);
        let domain = format!("ucs-domain-{:03}", device + 1);
        document["Operation"] = if clearing.is_some() {
            "Modified"
        } else {
            "Created"
        }
        .into();
        let event = &mut document["Event"];
        event["Moid"] = moid.as_str().into();
        event["Severity"] = if clearing.is_some() {
            "Cleared"
        } else {
            "Critical"
        }
        .into();
        event["OrigSeverity"] = "Critical".into();
        event["CreateTime"] = rfc3339_millis(created).into();
        event["CreationTime"] = rfc3339_millis(created).into();
        event["ModTime"] = rfc3339_millis(now).into();
        event["LastTransitionTime"] = rfc3339_millis(now).into();
        if let Some(name) = event["AffectedMoDisplayName"].as_str() {
            let rest = name.split_once('/').map_or("", |(_, rest)| rest);
            event["AffectedMoDisplayName"] = format!("{domain}/{rest}").into();
        }
        // Intersight's notification has no id: the object, the operation and the time identify it.
        let operation = document["Operation"].as_str().unwrap_or("");
        let notification = format!("{moid}:{operation}:{}", rfc3339_millis(now));
        Payload {
            body: to_vec(&document),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: moid,
            notification,
            raised: clearing.is_none(),
            device: domain,
        }
    }

    /// The alarm of a generic sender: (type stem, severity, subject, device, data).
    fn generic_alarm(
        &self,
        pair: usize,
        device: usize,
        clearing: Option<&Open>,
    ) -> (String, Value) {
        let (name, severity, resource) = GENERIC_ALARMS[pair];
        let device_name = format!("device-{:03}", device + 1);
        let resource = format!("{resource}{}", device % 48 + 1);
        let state = if clearing.is_some() {
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
        (subject, data)
    }

    fn standard_webhook(
        &mut self,
        pair: usize,
        device: usize,
        clearing: Option<&Open>,
        now: jiff::Timestamp,
    ) -> Payload {
        let (subject, data) = self.generic_alarm(pair, device, clearing);
        let state = if clearing.is_some() {
            "cleared"
        } else {
            "raised"
        };
        let kind = format!("network.alarm.{state}");
        let body = serde_json::json!({
            "type": kind,
            "timestamp": rfc3339_micros(now),
            "data": data,
        });
        let message_id = format!("msg_{}", random_base62(27));
        Payload {
            body: to_vec(&body),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: subject,
            notification: message_id,
            raised: clearing.is_none(),
            device: data["device"].as_str().unwrap_or("").to_owned(),
        }
    }

    fn cloudevent(
        &mut self,
        pair: usize,
        device: usize,
        clearing: Option<&Open>,
        now: jiff::Timestamp,
    ) -> Payload {
        let (subject, data) = self.generic_alarm(pair, device, clearing);
        let state = if clearing.is_some() {
            "cleared"
        } else {
            "raised"
        };
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
            ("time", rfc3339_micros(now)),
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
            raised: clearing.is_none(),
            device: device_name,
        }
    }
}

impl Iterator for Payloads {
    type Item = Payload;

    fn next(&mut self) -> Option<Payload> {
        Some(self.next_payload())
    }
}

fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serializes")
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
