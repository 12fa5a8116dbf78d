//! The stream of alarm documents: real captures, re-dated, re-identified and spread over devices,
//! with raises followed (later, interleaved with others) by the clears that name them.

use std::collections::VecDeque;

use serde_json::Value;

/// A raise and the document that clears it, as captured from real managers.
const PAIRS: &[(&str, &str)] = &[
    (
        include_str!("../../../tests/data/sdwan/webhook-interface-state-change-down-2019.json"),
        include_str!(
            "../../../tests/data/sdwan/webhook-interface-state-change-up-clears-previous-2019.json"
        ),
    ),
    (
        include_str!("../../../tests/data/sdwan/rest-alarm-cpu-usage-active-20.x.json"),
        include_str!("../../../tests/data/sdwan/rest-alarm-cpu-usage-clearing-record-20.x.json"),
    ),
    (
        include_str!("../../../tests/data/sdwan/rest-alarm-omp-state-change-active-20.x.json"),
        include_str!(
            "../../../tests/data/sdwan/rest-alarm-omp-state-change-clearing-record-20.x.json"
        ),
    ),
];

/// Raises with no clear among the captures.
const SINGLES: &[&str] = &[
    include_str!("../../../tests/data/sdwan/webhook-control-vbond-state-change-down-2023.json"),
    include_str!("../../../tests/data/sdwan/rest-alarm-bfd-tloc-down-active-20.x.json"),
    include_str!(
        "../../../tests/data/sdwan/rest-alarm-interface-admin-state-change-active-20.x.json"
    ),
];

/// How many raises may wait for their clear before the oldest is cleared anyway.
const MAX_OPEN: usize = 64;

/// An endless, reproducible stream of alarm bodies.
pub struct Alarms {
    rng: fastrand::Rng,
    devices: usize,
    pairs: Vec<(Value, Value)>,
    singles: Vec<Value>,
    /// Raised alarms waiting for their clear: (uuid, pair index, device).
    open: VecDeque<(String, usize, usize)>,
}

/// The generator: `seed` makes the sequence of kinds and devices reproducible (uuids and times
/// are always new).
pub fn alarms(seed: u64, devices: usize) -> Alarms {
    let parse = |text: &str| serde_json::from_str::<Value>(text).expect("embedded fixture is JSON");
    Alarms {
        rng: fastrand::Rng::with_seed(seed),
        devices: devices.max(1),
        pairs: PAIRS
            .iter()
            .map(|(raise, clear)| (parse(raise), parse(clear)))
            .collect(),
        singles: SINGLES.iter().map(|text| parse(text)).collect(),
        open: VecDeque::new(),
    }
}

impl Alarms {
    /// The next document, with its uuid.
    pub fn next_alarm(&mut self) -> (String, Vec<u8>) {
        let clear_now = !self.open.is_empty() && (self.open.len() >= MAX_OPEN || self.rng.bool());
        let uuid = uuid::Uuid::now_v7().to_string();
        let document = if clear_now {
            let (raised, pair, device) = self.open.pop_front().expect("an open alarm");
            let mut clear = self.pairs[pair].1.clone();
            clear["cleared_events"] = Value::from(vec![raised]);
            self.stamp(&mut clear, &uuid, device);
            clear
        } else {
            let device = self.rng.usize(..self.devices);
            let pick = self.rng.usize(..self.pairs.len() + self.singles.len());
            let mut raise = if pick < self.pairs.len() {
                self.open.push_back((uuid.clone(), pick, device));
                self.pairs[pick].0.clone()
            } else {
                self.singles[pick - self.pairs.len()].clone()
            };
            self.stamp(&mut raise, &uuid, device);
            raise
        };
        (
            uuid,
            serde_json::to_vec(&document).expect("a JSON value serializes"),
        )
    }

    /// New identity, time and device.
    fn stamp(&self, document: &mut Value, uuid: &str, device: usize) {
        let now = jiff::Timestamp::now().as_millisecond();
        document["uuid"] = uuid.into();
        for key in ["entry_time", "receive_time", "statcycletime"] {
            if document.get(key).is_some() {
                document[key] = now.into();
            }
        }
        let host = format!("edge-{:03}", device + 1);
        let system_ip = format!(
            "10.{}.{}.{}",
            100 + device / 65_536,
            (device / 256) % 256,
            device % 256
        );
        for list in ["values", "values_short_display", "devices"] {
            if let Some(entries) = document[list].as_array_mut() {
                for entry in entries {
                    if entry.get("host-name").is_some() {
                        entry["host-name"] = host.as_str().into();
                    }
                    if entry.get("system-ip").is_some() {
                        entry["system-ip"] = system_ip.as_str().into();
                    }
                }
            }
        }
        for (key, value) in [("host_name", &host), ("system_ip", &system_ip)] {
            if document.get(key).is_some() {
                document[key] = value.as_str().into();
            }
        }
    }
}

impl Iterator for Alarms {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        Some(self.next_alarm().1)
    }
}
