//! What the topics other than the session topic say, in words: each message ISE documents for its
//! pxGrid 2.0 services becomes a summary and a subject that name what happened (the ANC policy,
//! the endpoint it was applied to and how that went; the profile, security group or SXP binding
//! created, changed or deleted; the RADIUS failure and its reason). The shapes are the ones the
//! `pxgrid-rest-ws` wiki documents per service (ANC configuration, Profiler configuration,
//! TrustSec configuration, SXP, RADIUS failure), checked against pxShell captures where one
//! exists. A message of another topic, or one without the documented fields, keeps the generic
//! summary `<topic> message`.

use serde_json::Value;

use crate::event::Severity;

/// ANC operation status (`com.cisco.ise.config.anc`, `statusTopic`).
pub const ANC_STATUS: &str = "com.cisco.ise.config.anc.status";
/// Profiler configuration (`com.cisco.ise.config.profiler`, `topic`).
pub const PROFILER: &str = "com.cisco.ise.config.profiler";
/// TrustSec configuration (`com.cisco.ise.config.trustsec`, `securityGroupTopic`).
pub const SECURITY_GROUP: &str = "com.cisco.ise.config.trustsec.security.group";
/// SXP (`com.cisco.ise.sxp`, `bindingTopic`).
pub const SXP_BINDING: &str = "com.cisco.ise.sxp.binding";
/// RADIUS failures (`com.cisco.ise.radius`, `failureTopic`).
pub const RADIUS_FAILURE: &str = "com.cisco.ise.radius.failure";

/// What a topic message is about, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub summary: String,
    /// The endpoint or object the message is about (a MAC address, a group's name).
    pub subject: Option<String>,
    pub objectclass: &'static str,
    pub severity: Severity,
    /// The network device concerned, when the message names one (its IP address).
    pub device: Option<String>,
}

/// The description of a message of `topic` (the destination without `/topic/`), when the topic is
/// one ISE documents and the body has its shape.
pub fn describe(topic: &str, body: &Value) -> Option<Described> {
    match topic {
        ANC_STATUS => anc_status(body),
        PROFILER => change(body, "profile", "endpoint profile", "profile"),
        SECURITY_GROUP => change(body, "securityGroup", "security group", "securityGroup"),
        SXP_BINDING => sxp_binding(body),
        RADIUS_FAILURE => radius_failures(body),
        _ => None,
    }
}

/// A field as text: a non-empty string, or a number (ISE documents some numbers as strings and
/// sends them as numbers, e.g. an SXP binding's `tag`).
fn field(object: &Value, name: &str) -> Option<String> {
    match object.get(name)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// `{"operationId", "macAddress" | "ipAddress", "status": RUNNING | SUCCESS | FAILURE,
/// "failureReason", "policyName"}`: the state of an asynchronous apply or clear of an ANC policy.
fn anc_status(body: &Value) -> Option<Described> {
    let status = field(body, "status")?;
    let mac = field(body, "macAddress");
    let ip = field(body, "ipAddress");
    let endpoint = match (&mac, &ip) {
        (Some(mac), Some(ip)) => format!("{mac} ({ip})"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => "an unnamed endpoint".to_owned(),
    };
    let what = match (field(body, "policyName"), field(body, "operationId")) {
        (Some(policy), _) => format!("ANC policy {policy}"),
        (None, Some(operation)) => format!("ANC operation {operation}"),
        (None, None) => "ANC operation".to_owned(),
    };
    let mut severity = Severity::Info;
    let outcome = match status.to_ascii_uppercase().as_str() {
        "SUCCESS" => "succeeded".to_owned(),
        "RUNNING" => "is running".to_owned(),
        "FAILURE" => {
            severity = Severity::Warning;
            match field(body, "failureReason") {
                Some(reason) => format!("failed: {reason}"),
                None => "failed".to_owned(),
            }
        }
        _ => format!("status {status}"),
    };
    Some(Described {
        summary: format!("{what} on {endpoint} {outcome}"),
        subject: mac.or(ip),
        objectclass: "ancStatus",
        severity,
        device: field(body, "nasIpAddress"),
    })
}

/// What `CREATE`, `UPDATE` and `DELETE` did, in words.
fn operation_done(operation: &str) -> String {
    match operation.to_ascii_uppercase().as_str() {
        "CREATE" => "created".to_owned(),
        "UPDATE" => "changed".to_owned(),
        "DELETE" => "deleted".to_owned(),
        _ => format!("{operation} (operation)"),
    }
}

/// `{"operation": CREATE | UPDATE | DELETE, "<object>": {"id", "name", ...}}`: a configuration
/// object of ISE created, changed or deleted; a security group's `tag` is named with it.
fn change(body: &Value, object: &str, noun: &str, objectclass: &'static str) -> Option<Described> {
    let operation = field(body, "operation")?;
    let item = body.get(object).filter(|item| item.is_object())?;
    let name = field(item, "name")
        .or_else(|| field(item, "fullName"))
        .or_else(|| field(item, "id"));
    let mut summary = format!("{noun} {}", name.as_deref().unwrap_or("(unnamed)"));
    if let Some(tag) = field(item, "tag") {
        summary.push_str(&format!(" (tag {tag})"));
    }
    summary.push(' ');
    summary.push_str(&operation_done(&operation));
    Some(Described {
        summary,
        subject: name,
        objectclass,
        severity: Severity::Info,
        device: None,
    })
}

/// `{"operation", "binding": {"ipPrefix", "tag", "source", "peerSequence"}}`.
fn sxp_binding(body: &Value) -> Option<Described> {
    let operation = field(body, "operation")?;
    let binding = body.get("binding").filter(|binding| binding.is_object())?;
    let prefix = field(binding, "ipPrefix");
    let mut summary = format!("SXP binding {}", prefix.as_deref().unwrap_or("(no prefix)"));
    if let Some(tag) = field(binding, "tag") {
        summary.push_str(&format!(" → tag {tag}"));
    }
    summary.push(' ');
    summary.push_str(&operation_done(&operation));
    if let Some(source) = field(binding, "source") {
        summary.push_str(&format!(" (from {source})"));
    }
    Some(Described {
        summary,
        subject: prefix,
        objectclass: "sxpBinding",
        severity: Severity::Info,
        device: None,
    })
}

/// `{"failures": [failure, ...]}`: the first failure in words, and how many more came with it.
fn radius_failures(body: &Value) -> Option<Described> {
    let failures = body.get("failures")?.as_array()?;
    let first = failures.first()?;
    let user = field(first, "userName").unwrap_or_else(|| "unknown user".to_owned());
    let endpoint = field(first, "callingStationId").or_else(|| field(first, "macAddress"));
    let nas = field(first, "nasIpAddress");
    let reason = field(first, "failureReason").unwrap_or_else(|| "no reason given".to_owned());
    let mut summary = format!("RADIUS failure: {user}");
    if let Some(endpoint) = &endpoint {
        summary.push_str(&format!(" ({endpoint})"));
    }
    if let Some(nas) = &nas {
        summary.push_str(&format!(" on {nas}"));
    }
    summary.push_str(&format!(": {reason}"));
    if failures.len() > 1 {
        summary.push_str(&format!(" (and {} more)", failures.len() - 1));
    }
    Some(Described {
        summary,
        subject: endpoint,
        objectclass: "radiusFailure",
        severity: Severity::Info,
        device: nas,
    })
}
