//! The notifications each platform sends: real payloads (the fixtures, embedded in the binary),
//! re-dated, re-identified and spread over N simulated devices, with every raise followed later
//! (interleaved with others) by the notification that clears the same alarm, as the platform does.
//!
//! `seed` makes the sequence of kinds, devices and raise/clear order reproducible; identifiers and
//! times are always new.

use std::collections::VecDeque;

use serde_json::Value;

mod fixtures;
mod generic;
mod vendors;

pub use vendors::THOUSANDEYES_CLEARED_ACTIVE;

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

/// What one notification is built from: which pair, for which device, raising (`clearing:
/// None`) or clearing an open alarm, at what time.
#[derive(Clone, Copy)]
struct Draw<'a> {
    pair: usize,
    device: usize,
    clearing: Option<&'a Open>,
    now: jiff::Timestamp,
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

/// The generator for one provider.
pub fn payloads(
    provider: Provider,
    options: PayloadOptions,
    seed: u64,
    devices: usize,
) -> Payloads {
    let (pairs, singles) = fixtures::load(provider);
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
        let draw = Draw {
            pair,
            device,
            clearing,
            now,
        };
        match self.provider {
            Provider::Meraki => self.meraki(draw),
            Provider::CatalystCenter => self.catalyst_center(draw),
            Provider::Thousandeyes => self.thousandeyes(draw),
            Provider::Intersight => self.intersight(draw),
            Provider::StandardWebhooks => self.standard_webhook(draw),
            Provider::Cloudevents => self.cloudevent(draw),
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
