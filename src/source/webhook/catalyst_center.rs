//! Cisco Catalyst Center (DNA Center) event notifications sent to a REST/webhook destination:
//! turns one body into a normalized [`Event`] plus the alarm-store updates it implies. Pure, no IO.
//!
//! See `protocols-webhooks.md` §3. An Assurance issue is notified when it becomes `active` and
//! again, with the same `instanceId`, when it is `resolved` (`details."Assurance Issue Status"`);
//! both map to the alarm `catc:<instanceId>`. Other notifications (no or another status, e.g.
//! `ignore`, or non-Assurance platform events whose shape is UNKNOWN) are information.
//!
//! Parsing is lenient: 2019 notifications carry `null` for `version`, `name`, `description`,
//! `tags`, `context`...; optional fields that are `null`, empty or of an unexpected type read as
//! absent. Required: `instanceId`, `eventId` and `timestamp` (epoch milliseconds).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::fields::value_kind;
use super::lenient::{lenient_integer, lenient_object, lenient_text};
use super::verify::Verified;
use super::{Invalid, Normalized};
use crate::event::{AlarmState, AlarmUpdate, Event, Severity};

/// The CloudEvents `type` of an Assurance issue that became active.
pub const RAISED_EVENT_TYPE: &str = "com.cisco.catalystcenter.issue.raised";
/// The CloudEvents `type` of an Assurance issue that was resolved.
pub const CLEARED_EVENT_TYPE: &str = "com.cisco.catalystcenter.issue.cleared";
/// The CloudEvents `type` of any other notification.
pub const EVENT_TYPE: &str = "com.cisco.catalystcenter.event";

/// The device name used when a notification names none.
const DEFAULT_DEVICE: &str = "catalyst-center";

/// The fields of one Catalyst Center notification that netpulse reads; all optional here,
/// [`normalize`] says which are required. Strings borrow from the parsed document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Notification<'a> {
    /// The Assurance issue id: the same on the active and the resolved notification.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub instance_id: Option<Cow<'a, str>>,
    /// 2.3.x: the event-framework instance id, INFER new per notification.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub ef_instance_id: Option<Cow<'a, str>>,
    /// The event type, e.g. `NETWORK-NON-FABRIC_WIRED-1-251`.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub event_id: Option<Cow<'a, str>>,
    /// Mostly empty or `null` for Assurance events.
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub description: Option<Cow<'a, str>>,
    /// 1 is the most severe; the samples have 1 to 3.
    #[serde(deserialize_with = "lenient_integer")]
    pub severity: Option<i64>,
    /// Epoch milliseconds.
    #[serde(deserialize_with = "lenient_integer")]
    pub timestamp: Option<i64>,
    #[serde(borrow, deserialize_with = "lenient_object")]
    pub details: Option<Details<'a>>,
    /// 2.3.x: `{siteId, deviceId}`.
    #[serde(borrow, deserialize_with = "lenient_object")]
    pub network: Option<Network<'a>>,
    /// An absolute URL, a relative path, or a URL with an HTML-escaped placeholder host: see
    /// [`event_link`].
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub cisco_dna_event_link: Option<Cow<'a, str>>,
}

/// `details`, whose keys contain spaces.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Details<'a> {
    /// `active` or `resolved` (any case); consumers also see `ignore`.
    #[serde(
        rename = "Assurance Issue Status",
        borrow,
        deserialize_with = "lenient_text"
    )]
    pub status: Option<Cow<'a, str>>,
    /// `P1` to `P4`.
    #[serde(
        rename = "Assurance Issue Priority",
        borrow,
        deserialize_with = "lenient_text"
    )]
    pub priority: Option<Cow<'a, str>>,
    #[serde(
        rename = "Assurance Issue Name",
        borrow,
        deserialize_with = "lenient_text"
    )]
    pub issue_name: Option<Cow<'a, str>>,
    /// The device's IP address or FQDN.
    #[serde(rename = "Device", borrow, deserialize_with = "lenient_text")]
    pub device: Option<Cow<'a, str>>,
}

/// `network` (2.3.x).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Network<'a> {
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub device_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_text")]
    pub site_id: Option<Cow<'a, str>>,
}

/// Where an Assurance issue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStatus {
    Active,
    Resolved,
    /// No status, or another word (e.g. `ignore`).
    Other,
}

impl Notification<'_> {
    pub fn status(&self) -> IssueStatus {
        let status = self.details.as_ref().and_then(|d| d.status.as_deref());
        match status.map(str::trim) {
            Some(status) if status.eq_ignore_ascii_case("active") => IssueStatus::Active,
            Some(status) if status.eq_ignore_ascii_case("resolved") => IssueStatus::Resolved,
            _ => IssueStatus::Other,
        }
    }

    /// `details.Device`, else `network.deviceId`.
    pub fn device(&self) -> Option<&str> {
        self.details
            .as_ref()
            .and_then(|details| details.device.as_deref())
            .or_else(|| self.device_id())
    }

    fn device_id(&self) -> Option<&str> {
        self.network.as_ref()?.device_id.as_deref()
    }
}

/// Parses and normalizes one notification body.
///
/// - not JSON: [`Invalid::malformed`];
/// - JSON but not an object, or an object without `instanceId`, `eventId` or an epoch-millisecond
///   `timestamp`: [`Invalid::unrecognized`] naming the field.
///
/// The event's `link` is `ciscoDnaEventLink` when it is an absolute URL (HTML entities
/// unescaped), and `None` when it is a relative path or has a placeholder host: making those
/// absolute needs the Catalyst Center address, which the receiver's configuration knows and this
/// pure function does not. The raw link stays in `data.ciscoDnaEventLink`; the caller can pass it
/// to [`event_link`] with its configured base URL.
pub fn normalize(
    source_name: &str,
    request: &Verified,
    base_url: Option<&str>,
) -> Result<Normalized, Invalid> {
    let document: Value = serde_json::from_slice(request.body())
        .map_err(|error| Invalid::malformed(format!("malformed JSON: {error}")))?;
    if !document.is_object() {
        return Err(unrecognized(format!(
            "the body is a JSON {}, expected an object",
            value_kind(&document)
        )));
    }
    let mut normalized = {
        // The &Value deserializer hands out borrowed strings, so `notification` borrows `document`.
        let notification = Notification::deserialize(&document)
            .map_err(|error| unrecognized(error.to_string()))?;
        build(source_name, &notification, base_url)?
    };
    normalized.event.data = document;
    Ok(normalized)
}

/// The event (with `data` left `null`), its idempotency key and its alarm updates.
fn build(
    source_name: &str,
    notification: &Notification,
    base_url: Option<&str>,
) -> Result<Normalized, Invalid> {
    let instance_id = notification
        .instance_id
        .as_deref()
        .ok_or_else(|| unrecognized("missing or empty field `instanceId`"))?;
    let event_id = notification
        .event_id
        .as_deref()
        .ok_or_else(|| unrecognized("missing or empty field `eventId`"))?;
    let millis = notification.timestamp.ok_or_else(|| {
        unrecognized("missing field `timestamp` (an integer of epoch milliseconds)")
    })?;
    let time = jiff::Timestamp::from_millisecond(millis)
        .map_err(|_| unrecognized(format!("field `timestamp` is out of range: {millis}")))?;

    let status = notification.status();
    let kind = match status {
        IssueStatus::Active => RAISED_EVENT_TYPE,
        IssueStatus::Resolved => CLEARED_EVENT_TYPE,
        IssueStatus::Other => EVENT_TYPE,
    };
    let mut event = Event::new(source_name, kind, time, Value::Null);
    let device = notification.device().unwrap_or(DEFAULT_DEVICE);
    event.device = device.to_owned();
    event.subject = notification.device_id().map(str::to_owned);
    event.objectclass = Some(event_id.to_owned());
    event.severity = severity(notification, status);
    event.summary = summary(notification, event_id, device);
    event.link = notification
        .cisco_dna_event_link
        .as_deref()
        .and_then(|raw| event_link(raw, base_url));
    let alarm = alarm_key(source_name, instance_id);
    let (alarmstate, alarms) = match status {
        IssueStatus::Active => (AlarmState::Raised, vec![update(alarm, true)]),
        IssueStatus::Resolved => (AlarmState::Cleared, vec![update(alarm, false)]),
        IssueStatus::Other => (AlarmState::Info, Vec::new()),
    };
    event.alarmstate = alarmstate;

    let idempotency_key = match notification.ef_instance_id.as_deref() {
        Some(ef_instance_id) => format!("{source_name}:catc:{ef_instance_id}"),
        None => {
            let status = notification
                .details
                .as_ref()
                .and_then(|details| details.status.as_deref())
                .map(|status| status.trim().to_ascii_lowercase())
                .unwrap_or_default();
            format!("{source_name}:catc:{instance_id}:{status}:{millis}")
        }
    };
    Ok(Normalized {
        raw_data: None,
        event,
        idempotency_key: Some(idempotency_key),
        alarms,
    })
}

/// The alarm-store key of an Assurance issue: `<source>:catc:<instanceId>`.
pub fn alarm_key(source_name: &str, instance_id: &str) -> String {
    format!("{source_name}:catc:{instance_id}")
}

/// `Assurance Issue Priority` P1 → critical, P2 → major, P3 → minor, P4 → warning; else the
/// numeric `severity` 1 → critical, 2 → major, 3 → minor, 4 → warning, 5 → info (INFER: the
/// samples only show 1 to 3, the upper bound is not documented). With neither, an issue is a
/// warning (an alarm netpulse cannot rank is still an alarm) and any other event is info.
fn severity(notification: &Notification, status: IssueStatus) -> Severity {
    let priority = notification
        .details
        .as_ref()
        .and_then(|details| details.priority.as_deref())
        .map(|priority| priority.trim().to_ascii_uppercase());
    let ranked = match priority.as_deref() {
        Some("P1") => Some(Severity::Critical),
        Some("P2") => Some(Severity::Major),
        Some("P3") => Some(Severity::Minor),
        Some("P4") => Some(Severity::Warning),
        _ => match notification.severity {
            Some(1) => Some(Severity::Critical),
            Some(2) => Some(Severity::Major),
            Some(3) => Some(Severity::Minor),
            Some(4) => Some(Severity::Warning),
            Some(5) => Some(Severity::Info),
            _ => None,
        },
    };
    ranked.unwrap_or(match status {
        IssueStatus::Active | IssueStatus::Resolved => Severity::Warning,
        IssueStatus::Other => Severity::Info,
    })
}

/// `<Assurance Issue Name> on <device>` (the issue name alone when it already names the device);
/// without an issue name, `name`, `description`, then the `eventId`. Carried verbatim: escaping
/// is the sink's job.
fn summary(notification: &Notification, event_id: &str, device: &str) -> String {
    let title = notification
        .details
        .as_ref()
        .and_then(|details| details.issue_name.as_deref())
        .or(notification.name.as_deref())
        .or(notification.description.as_deref())
        .unwrap_or(event_id);
    if title.contains(device) {
        title.to_owned()
    } else {
        format!("{title} on {device}")
    }
}

/// An absolute URL to the event from `ciscoDnaEventLink`, which comes in three forms:
///
/// - an absolute URL (`https://10.93.141.35/dna/assurance/issueDetails?issueId=…`): returned as
///   is, HTML entities unescaped;
/// - a URL whose host is an HTML-escaped placeholder (`https://&lt;DNAC_IP_ADDRESS&gt;/dna/…`,
///   seen in a 2026 capture): unescaped, and its scheme and host replaced by `base_url`;
/// - a relative path (`dna/assurance/issueDetails?issueId=…`): joined to `base_url` with one `/`.
///
/// `base_url` is the configured Catalyst Center address, e.g. `https://dnac.example.com`; it must
/// be an `http(s)://` URL (a trailing `/` or path is fine). Returns `None` when the link is empty,
/// contains whitespace or control characters, or needs a base that is absent or not absolute.
pub fn event_link(raw: &str, base_url: Option<&str>) -> Option<String> {
    let link = unescape_html(raw.trim());
    if link.is_empty() || link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let base = || {
        base_url
            .map(str::trim)
            .filter(|base| scheme_length(base).is_some_and(|length| base.len() > length))
            .map(|base| base.trim_end_matches('/'))
    };
    match scheme_length(&link) {
        Some(length) => {
            let rest = link.get(length..).unwrap_or_default();
            let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
            if authority.is_empty() || authority.contains(['<', '>']) {
                // A placeholder host such as `<DNAC_IP_ADDRESS>` (or `<ip-address>`).
                let path = path.trim_start_matches('/');
                Some(format!("{}/{path}", base()?))
            } else {
                Some(link.into_owned())
            }
        }
        None => {
            let path = link.trim_start_matches('/');
            Some(format!("{}/{path}", base()?))
        }
    }
}

/// The length of `https://` or `http://` (any case) when `text` starts with one.
fn scheme_length(text: &str) -> Option<usize> {
    ["https://", "http://"].into_iter().find_map(|scheme| {
        text.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| scheme.len())
    })
}

/// Unescapes the five entities HTML escaping produces (`&lt;`, `&gt;`, `&quot;`, `&#39;`/`&#x27;`
/// and, last so that `&amp;lt;` stays `&lt;`, `&amp;`).
fn unescape_html(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&"),
    )
}

fn update(key: String, raised: bool) -> AlarmUpdate {
    AlarmUpdate { key, raised }
}

fn unrecognized(reason: impl fmt::Display) -> Invalid {
    Invalid::unrecognized(format!("not a Catalyst Center notification: {reason}"))
}

#[cfg(test)]
mod tests;
