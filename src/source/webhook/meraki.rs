//! Cisco Meraki alert webhooks (default "Meraki" payload template, version `"0.1"`): turns one
//! verified webhook body into a normalized [`Event`] plus the alarm-store updates it implies.
//! Pure, no IO. The body's `sharedSecret` is checked before, by the verifier, and dropped here.
//!
//! See `protocols-webhooks.md` §2. Meraki has no clear documents: a clear is an alert of another
//! type (`stopped_reporting` "APs went down" / `started_reporting` "APs came up", ...). netpulse
//! pairs such types on one alarm key, `<source>:meraki:<networkId>:<deviceSerial or "network">:<pair>`
//! (see [`transition`]).
//!
//! Parsing is lenient on purpose: older payloads (2018–2019) lack `alertTypeId`, `alertLevel`,
//! tags and `deviceModel`; network-level alerts carry empty device fields; `null`s and mistyped
//! optional fields are read as absent. Only what identifies and times an alert is required:
//! `alertId`, `alertTypeId` or `alertType`, `occurredAt` or `sentAt`, and `networkId`.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fields::value_kind;
use super::lenient::{lenient_object, lenient_text};
use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::event::{AlarmState, AlarmUpdate, Event, Severity};

/// The CloudEvents `type` of a Meraki alert is this prefix followed by the alert type id, e.g.
/// `com.cisco.meraki.alert.stopped_reporting`.
pub const EVENT_TYPE_PREFIX: &str = "com.cisco.meraki.alert.";

/// The fields of one Meraki alert that netpulse reads. Every field is optional here (`null`, an
/// empty string or a value of another type reads as absent); [`normalize`] says which ones are
/// required. Strings borrow from the parsed document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Alert<'a> {
    /// A string of digits (a number is taken too); `"0000000000000000"` in every official
    /// example, so not unique alone.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub alert_id: Option<Cow<'a, str>>,
    /// Human name, e.g. `APs went down`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub alert_type: Option<Cow<'a, str>>,
    /// Machine name, e.g. `stopped_reporting`; absent from older payloads.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub alert_type_id: Option<Cow<'a, str>>,
    /// `informational`, `warning` or `critical`; absent from older payloads.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub alert_level: Option<Cow<'a, str>>,
    /// When the alert happened, RFC 3339 UTC with microseconds.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub occurred_at: Option<Cow<'a, str>>,
    /// When this request was sent.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub sent_at: Option<Cow<'a, str>>,
    /// `N_…` or `L_…`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub network_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub network_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub network_url: Option<Cow<'a, str>>,
    /// Empty for network-level alerts (`settings_changed`, `usage_alert`).
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub device_serial: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub device_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub device_url: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub device_model: Option<Cow<'a, str>>,
    /// Alert-specific details, often `{}`.
    #[serde(borrow, deserialize_with = "lenient_object")]
    pub alert_data: Option<AlertData<'a>>,
}

/// The scalar `alertData` entries netpulse uses, in the order the summary shows them. Numbers and
/// booleans read as their JSON text (`portNum: 3` is `"3"`, `connectivity: "true"` is `"true"`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlertData<'a> {
    /// `port_connected` / `port_disconnected`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub port_num: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub port_desc: Option<Cow<'a, str>>,
    /// `port_*`: the new link state, e.g. `down` or `10 Gbps`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub status: Option<Cow<'a, str>>,
    /// `failover_event`: the uplink index.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub uplink: Option<Cow<'a, str>>,
    /// `power_supply_down`: the power supply number.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub num: Option<Cow<'a, str>>,
    /// `vpn_connectivity_change`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub peer_network_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub peer_network_id: Option<Cow<'a, str>>,
    /// `vpn_connectivity_change`: `"true"` / `"false"` (a string in the official example).
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub connectivity: Option<Cow<'a, str>>,
    /// `client_connectivity`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub client_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub ip: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub connected: Option<Cow<'a, str>>,
    /// `settings_changed`: the settings page, e.g. `Routing and DHCP`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub name: Option<Cow<'a, str>>,
    /// `usage_alert`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub kb_total: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub usage_threshold: Option<Cow<'a, str>>,
}

impl AlertData<'_> {
    /// `(key as sent, value)` of the entries shown in a summary, in a fixed order.
    fn summary_entries(&self) -> [(&'static str, Option<&str>); 13] {
        [
            ("portNum", self.port_num.as_deref()),
            ("portDesc", self.port_desc.as_deref()),
            ("status", self.status.as_deref()),
            ("uplink", self.uplink.as_deref()),
            ("num", self.num.as_deref()),
            ("peerNetworkName", self.peer_network_name.as_deref()),
            ("connectivity", self.connectivity.as_deref()),
            ("clientName", self.client_name.as_deref()),
            ("ip", self.ip.as_deref()),
            ("connected", self.connected.as_deref()),
            ("name", self.name.as_deref()),
            ("kbTotal", self.kb_total.as_deref()),
            ("usageThreshold", self.usage_threshold.as_deref()),
        ]
    }
}

impl Alert<'_> {
    /// The machine id of the alert type: `alertTypeId`, else `alertType` in snake case ("APs went
    /// down" → `aps_went_down`), else `unknown`.
    pub fn type_id(&self) -> Cow<'_, str> {
        if let Some(id) = self.alert_type_id.as_deref() {
            return if is_snake_case(id) {
                Cow::Borrowed(id)
            } else {
                Cow::Owned(snake_case(id))
            };
        }
        match self.alert_type.as_deref().map(snake_case) {
            Some(id) if !id.is_empty() => Cow::Owned(id),
            _ => Cow::Borrowed("unknown"),
        }
    }

    /// The id that decides alarm pairing: `alertTypeId`, else the current id of an older
    /// payload's `alertType` when netpulse knows it, else [`Alert::type_id`].
    fn pairing_id(&self) -> Cow<'_, str> {
        if self.alert_type_id.is_none()
            && let Some(name) = self.alert_type.as_deref()
            && let Some((_, id)) = LEGACY_ALERT_TYPES
                .iter()
                .find(|(legacy, _)| legacy.eq_ignore_ascii_case(name.trim()))
        {
            return Cow::Borrowed(id);
        }
        self.type_id()
    }

    /// `deviceName`, else `deviceSerial`, else `networkName`: network-level alerts have empty
    /// device fields.
    pub fn device(&self) -> Option<&str> {
        self.device_name
            .as_deref()
            .or(self.device_serial.as_deref())
            .or(self.network_name.as_deref())
    }
}

/// Older payloads have no `alertTypeId`; these are the `alertType` names of the official
/// examples whose type takes part in an alarm pair. INFER: that 2019 payloads used the same names.
const LEGACY_ALERT_TYPES: &[(&str, &str)] = &[
    ("APs went down", "stopped_reporting"),
    ("APs came up", "started_reporting"),
    ("Switch port disconnected", "port_disconnected"),
    ("Switch port connected", "port_connected"),
    ("Power supply went down", "power_supply_down"),
    ("VPN connectivity changed", "vpn_connectivity_change"),
    ("Uplink status changed", "failover_event"),
];

/// Parses and normalizes one webhook body.
///
/// - not JSON: [`Invalid::malformed`];
/// - JSON but not an object, a Meraki callback (`callbackId`), or an object lacking `alertId`,
///   `alertTypeId`/`alertType`, a parseable `occurredAt`/`sentAt` or `networkId`:
///   [`Invalid::unrecognized`] naming what is wrong.
///
/// `sharedSecret` is taken out of the document before anything else (the verifier has checked
/// it): it never reaches the event's `data`.
pub fn normalize(source_name: &str, request: &Verified) -> Result<Normalized, Invalid> {
    let mut document: Value = serde_json::from_slice(request.body())
        .map_err(|error| Invalid::malformed(format!("malformed JSON: {error}")))?;
    let Some(object) = document.as_object_mut() else {
        return Err(unrecognized(format!(
            "the body is a JSON {}, expected an object",
            value_kind(&document)
        )));
    };
    // Checked by the verifier already; never part of the event.
    object.remove("sharedSecret");
    if object.contains_key("callbackId") && !object.contains_key("alertId") {
        return Err(unrecognized(
            "the body is a Meraki callback (`callbackId`, no `alertId`): callbacks are not alerts",
        ));
    }
    let mut normalized = {
        // The &Value deserializer hands out borrowed strings, so `alert` borrows `document`.
        let alert =
            Alert::deserialize(&document).map_err(|error| unrecognized(error.to_string()))?;
        build(source_name, &alert)?
    };
    normalized.event.data = document;
    Ok(normalized)
}

/// The event (with `data` left `null`), its idempotency key and its alarm updates.
fn build(source_name: &str, alert: &Alert) -> Result<Normalized, Invalid> {
    let alert_id = alert
        .alert_id
        .as_deref()
        .ok_or_else(|| unrecognized("missing or empty field `alertId`"))?;
    if alert.alert_type_id.is_none() && alert.alert_type.is_none() {
        return Err(unrecognized(
            "missing or empty fields `alertTypeId` and `alertType`",
        ));
    }
    let network_id = alert
        .network_id
        .as_deref()
        .ok_or_else(|| unrecognized("missing or empty field `networkId`"))?;
    let time = alert_time(alert)?;
    let type_id = alert.type_id();
    let serial = alert.device_serial.as_deref();

    let mut event = Event::new(
        source_name,
        format!("{EVENT_TYPE_PREFIX}{type_id}"),
        time,
        Value::Null,
    );
    let device = alert.device().unwrap_or(source_name);
    event.device = device.to_owned();
    event.subject = serial.map(str::to_owned);
    event.objectclass = Some(type_id.clone().into_owned());
    event.severity = severity(alert.alert_level.as_deref());
    event.summary = summary(alert, device, &type_id);
    event.link = alert
        .device_url
        .as_deref()
        .filter(|url| is_web_url(url))
        .or(alert.network_url.as_deref().filter(|url| is_web_url(url)))
        .map(str::to_owned);

    let scope = format!(
        "{source_name}:meraki:{network_id}:{}",
        serial.unwrap_or("network")
    );
    let pairing_id = alert.pairing_id();
    let alarms = match transition(&pairing_id, alert.alert_data.as_ref()) {
        Transition::Raise(pair) => vec![update(format!("{scope}:{pair}"), true)],
        Transition::Clear(pair) => vec![update(format!("{scope}:{pair}"), false)],
        Transition::Undecided => Vec::new(),
        // A critical alert of a type with no clearing counterpart still raises an alarm, keyed
        // by its type; it stays raised until cleared by hand.
        Transition::Unpaired if event.severity == Severity::Critical => {
            vec![update(format!("{scope}:{type_id}"), true)]
        }
        Transition::Unpaired => Vec::new(),
    };
    event.alarmstate = match alarms.first() {
        Some(AlarmUpdate { raised: true, .. }) => AlarmState::Raised,
        Some(AlarmUpdate { raised: false, .. }) => AlarmState::Cleared,
        None => AlarmState::Info,
    };

    let occurred = alert
        .occurred_at
        .as_deref()
        .or(alert.sent_at.as_deref())
        .unwrap_or_default();
    let idempotency_key = idempotency_key(
        source_name,
        [
            alert_id,
            &type_id,
            occurred,
            network_id,
            serial.unwrap_or_default(),
        ],
    );
    Ok(Normalized {
        raw_data: None,
        event,
        idempotency_key: Some(idempotency_key),
        alarms,
    })
}

/// `meraki:` + lowercase hex SHA-256 of `alertId|alertTypeId|occurredAt|networkId|deviceSerial`:
/// Meraki's `alertId` alone is all zeros in the official examples. `alertTypeId` is
/// [`Alert::type_id`]; `occurredAt` is the string as sent (`sentAt` when there is none, which
/// may let a redelivery through but never merges two alerts); a missing serial is empty.
pub fn idempotency_key(
    source_name: &str,
    [alert_id, type_id, occurred_at, network_id, serial]: [&str; 5],
) -> String {
    let preimage = format!("{alert_id}|{type_id}|{occurred_at}|{network_id}|{serial}");
    let digest = Sha256::digest(preimage.as_bytes());
    let mut key = String::with_capacity(source_name.len() + ":meraki:".len() + 64);
    key.push_str(source_name);
    key.push_str(":meraki:");
    for byte in digest {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

/// What an alert type does to its alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transition {
    /// Raises the alarm of this pair name.
    Raise(String),
    /// Clears the alarm of this pair name.
    Clear(String),
    /// A paired type whose data does not say which way it went: information only.
    Undecided,
    /// A type netpulse does not pair.
    Unpaired,
}

/// The alarm pairs, from the official examples (`alertTypes.json`):
///
/// | alert types | pair name |
/// |---|---|
/// | `stopped_reporting` raises, `started_reporting` clears | `reporting` |
/// | `port_disconnected` raises, `port_connected` clears | `port:<alertData.portNum>` (`port` without one) |
/// | `cellular_down` raises, `cellular_up` clears (INFER: `cellular_up` is not in the examples) | `cellular` |
/// | `vpn_connectivity_change`: `connectivity` false/down raises, true/up clears | `vpn:<peerNetworkId or peerNetworkName>` (`vpn` without one) |
/// | `failover_event` ("Uplink status changed"): raises/clears only when `status` or `connectivity` says down/up; the official example (`{"uplink": "0"}`) does not, so it is information | `uplink:<alertData.uplink>` |
/// | `power_supply_down` raises; no clearing type is known | `power_supply` |
fn transition(type_id: &str, data: Option<&AlertData>) -> Transition {
    let empty = AlertData::default();
    let data = data.unwrap_or(&empty);
    let port = || match data.port_num.as_deref() {
        Some(port) => format!("port:{port}"),
        None => "port".to_owned(),
    };
    match type_id {
        "stopped_reporting" => Transition::Raise("reporting".to_owned()),
        "started_reporting" => Transition::Clear("reporting".to_owned()),
        "port_disconnected" => Transition::Raise(port()),
        "port_connected" => Transition::Clear(port()),
        "cellular_down" => Transition::Raise("cellular".to_owned()),
        "cellular_up" => Transition::Clear("cellular".to_owned()),
        "power_supply_down" => Transition::Raise("power_supply".to_owned()),
        "vpn_connectivity_change" => {
            let peer = data
                .peer_network_id
                .as_deref()
                .or(data.peer_network_name.as_deref());
            let pair = match peer {
                Some(peer) => format!("vpn:{peer}"),
                None => "vpn".to_owned(),
            };
            match data.connectivity.as_deref().and_then(up_or_down) {
                Some(true) => Transition::Clear(pair),
                Some(false) => Transition::Raise(pair),
                None => Transition::Undecided,
            }
        }
        "failover_event" => {
            let pair = match data.uplink.as_deref() {
                Some(uplink) => format!("uplink:{uplink}"),
                None => "uplink".to_owned(),
            };
            let state = data
                .status
                .as_deref()
                .or(data.connectivity.as_deref())
                .and_then(up_or_down);
            match state {
                Some(true) => Transition::Clear(pair),
                Some(false) => Transition::Raise(pair),
                None => Transition::Undecided,
            }
        }
        _ => Transition::Unpaired,
    }
}

/// `Some(true)` for up, `Some(false)` for down, `None` when the word says neither.
fn up_or_down(word: &str) -> Option<bool> {
    match word.trim().to_ascii_lowercase().as_str() {
        "true" | "up" | "connected" | "active" => Some(true),
        "false" | "down" | "disconnected" | "failed" | "inactive" => Some(false),
        _ => None,
    }
}

/// `informational` → info, `warning` → warning, `critical` → critical. Older payloads have no
/// `alertLevel`: INFER warning (an alert someone chose to be told about is more than information,
/// and nothing says it is critical); an unknown word also reads as warning.
fn severity(level: Option<&str>) -> Severity {
    match level
        .map(|level| level.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("informational" | "info") => Severity::Info,
        Some("critical") => Severity::Critical,
        _ => Severity::Warning,
    }
}

/// `APs went down on My access point (Main Office)`, then a few simple `alertData` entries:
/// `Switch port disconnected on My switch (Main Office): portNum=3, portDesc=Corp Access,
/// status=down`. The network name is left out when it is the device (network-level alerts).
/// Values are carried verbatim (escaping is the sink's job); long or multi-line values and URLs
/// are not "simple" and are left out, as is everything not listed in [`AlertData`].
fn summary(alert: &Alert, device: &str, type_id: &str) -> String {
    let name = alert.alert_type.as_deref().unwrap_or(type_id);
    let mut summary = format!("{name} on {device}");
    if let Some(network) = alert.network_name.as_deref()
        && network != device
    {
        let _ = write!(summary, " ({network})");
    }
    if let Some(data) = &alert.alert_data {
        let details: Vec<String> = data
            .summary_entries()
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?)))
            .filter(|(_, value)| {
                value.chars().count() <= 64
                    && !value.chars().any(char::is_control)
                    && !is_web_url(value)
            })
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        if !details.is_empty() {
            let _ = write!(summary, ": {}", details.join(", "));
        }
    }
    summary
}

/// `occurredAt`, else `sentAt`; RFC 3339, or (INFER, lenient) a date-time without offset read as
/// UTC, which the documentation says all Meraki times are.
fn alert_time(alert: &Alert) -> Result<jiff::Timestamp, Invalid> {
    [alert.occurred_at.as_deref(), alert.sent_at.as_deref()]
        .into_iter()
        .flatten()
        .find_map(parse_time)
        .ok_or_else(|| {
            unrecognized(match (&alert.occurred_at, &alert.sent_at) {
                (None, None) => "missing or empty fields `occurredAt` and `sentAt`",
                _ => "fields `occurredAt` and `sentAt`: no RFC 3339 time",
            })
        })
}

fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    let text = text.trim();
    text.parse::<jiff::Timestamp>().ok().or_else(|| {
        text.parse::<jiff::civil::DateTime>()
            .ok()?
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|zoned| zoned.timestamp())
    })
}

/// Lowercase ASCII letters, digits and `_` only, not empty.
fn is_snake_case(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// "APs went down" → `aps_went_down`: ASCII letters and digits lowercased, every other run of
/// characters one `_`, none at either end.
pub fn snake_case(text: &str) -> String {
    let mut id = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('_') {
            id.push('_');
        }
    }
    while id.ends_with('_') {
        id.pop();
    }
    id
}

fn is_web_url(text: &str) -> bool {
    let lower = |prefix: &str| {
        text.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    lower("https://") || lower("http://")
}

fn update(key: String, raised: bool) -> AlarmUpdate {
    AlarmUpdate { key, raised }
}

fn unrecognized(reason: impl fmt::Display) -> Invalid {
    Invalid::unrecognized(format!("not a Meraki alert: {reason}"))
}

#[cfg(test)]
mod tests;
