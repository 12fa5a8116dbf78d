//! The webhook senders: their signers against published vectors and the gateway's verifiers,
//! their payloads, and end-to-end posts to a recording server.

pub(super) use std::collections::{HashMap, HashSet};
pub(super) use std::sync::{Arc, Mutex};
pub(super) use std::time::Duration;

pub(super) use axum::http::{HeaderMap, Method, Uri};
pub(super) use base64::Engine as _;
pub(super) use serde_json::Value;
pub(super) use tokio_util::sync::CancellationToken;

pub(super) use super::*;
pub(super) use crate::config::{BasicAuth, HeaderToken, SecretValue, StandardWebhooksAuth};
pub(super) use crate::config::{Secret, WebhookAuth};
pub(super) use crate::source::webhook::verify::{Signed, Verifier};

pub(super) const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub(super) const OTHER_WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(super) fn options() -> PayloadOptions {
    PayloadOptions {
        meraki_shared_secret: "body-secret".to_owned(),
        cloudevents_mode: CloudEventsMode::Binary,
        cloudevents_source: "/netpulse-sim/test".to_owned(),
    }
}

pub(super) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

// ---- signers -------------------------------------------------------------------------------

mod e2e;
mod payloads;
mod signers;

use signers::{check_intersight_request, header_map, standard_webhooks_verifier};
