//! The vendor formats: Meraki alerts, Catalyst Center issues, ThousandEyes classic webhooks and
//! Intersight alarms, each re-dated and re-identified for one simulated device.

use serde_json::Value;

use super::{Draw, Payload, Payloads, fresh_uuid, rfc3339_micros, to_vec};

/// ThousandEyes: the cleared `active` value sent (2021 platform; the 2025 platform sends 0).
pub const THOUSANDEYES_CLEARED_ACTIVE: i64 = 2;

/// RFC 3339 in UTC with milliseconds, as Intersight writes times.
fn rfc3339_millis(time: jiff::Timestamp) -> String {
    format!("{time:.3}")
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as ThousandEyes writes dates.
fn te_date(time: jiff::Timestamp) -> String {
    time.strftime("%Y-%m-%d %H:%M:%S").to_string()
}
impl Payloads {
    pub(super) fn single(&mut self, index: usize, device: usize, now: jiff::Timestamp) -> Payload {
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

    pub(super) fn meraki(&mut self, draw: Draw<'_>) -> Payload {
        let template = &self.pairs[draw.pair];
        let mut document = match draw.clearing {
            None => template.raise.clone(),
            Some(_) => template.clear.clone().expect("Meraki pairs have a clear"),
        };
        let (alert_id, device_name) = self.stamp_meraki(&mut document, draw.device, draw.now);
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
            raised: draw.clearing.is_none(),
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

    pub(super) fn catalyst_center(&mut self, draw: Draw<'_>) -> Payload {
        let template = &self.pairs[draw.pair];
        let mut document = match (draw.clearing, &template.clear) {
            (None, _) => template.raise.clone(),
            (Some(_), Some(resolved)) => resolved.clone(),
            (Some(_), None) => {
                let mut resolved = template.raise.clone();
                resolved["details"]["Assurance Issue Status"] = "resolved".into();
                resolved
            }
        };
        let issue = match draw.clearing {
            Some(open) => open.alarm.clone(),
            None => fresh_uuid(),
        };
        let old_issue = document["instanceId"].as_str().unwrap_or("").to_owned();
        document["instanceId"] = issue.as_str().into();
        document["timestamp"] = draw.now.as_millisecond().into();
        let notification = if document.get("efInstanceId").is_some() {
            let id = fresh_uuid();
            document["efInstanceId"] = id.as_str().into();
            id
        } else {
            // No id of its own (2019 platform): the issue and its status identify it.
            let status = if draw.clearing.is_some() {
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
            100 + draw.device / 65_536,
            (draw.device / 256) % 256,
            draw.device % 256
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
            raised: draw.clearing.is_none(),
            device: address,
        }
    }

    pub(super) fn thousandeyes(&mut self, draw: Draw<'_>) -> Payload {
        let mut document = self.pairs[draw.pair].raise.clone();
        let old_id = match &document["alert"]["alertId"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let alert_id = match draw.clearing {
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
        let target = format!("https://app-{:03}.example.net", draw.device + 1);
        alert["testName"] = format!("{target} - HTTP Server").into();
        alert["testTargetsDescription"] = Value::from(vec![target]);
        let started = draw.clearing.map_or(draw.now, |open| open.raised_at);
        alert["dateStart"] = te_date(started).into();
        if alert.get("dateStartZoned").is_some() {
            alert["dateStartZoned"] = format!("{} UTC", te_date(started)).into();
        }
        let active = if draw.clearing.is_some() {
            THOUSANDEYES_CLEARED_ACTIVE
        } else {
            1
        };
        alert["active"] = active.into();
        if draw.clearing.is_some() {
            alert["dateEnd"] = te_date(draw.now).into();
            alert["dateEndZoned"] = format!("{} UTC", te_date(draw.now)).into();
        }
        if let Some(agents) = alert["agents"].as_array_mut() {
            for agent in agents {
                agent["active"] = active.into();
                agent["dateStart"] = te_date(started).into();
                if let Some(link) = agent["permalink"].as_str() {
                    agent["permalink"] = link.replace(&old_id, &alert_id).into();
                }
                if draw.clearing.is_some() {
                    agent["dateEnd"] = te_date(draw.now).into();
                    agent["metricsAtEnd"] = "Response Code: 200".into();
                }
            }
        }
        document["eventType"] = if draw.clearing.is_some() {
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
            raised: draw.clearing.is_none(),
            device: format!("app-{:03}", draw.device + 1),
        }
    }

    pub(super) fn intersight(&mut self, draw: Draw<'_>) -> Payload {
        let mut document = self.pairs[0].raise.clone();
        let moid = match draw.clearing {
            Some(open) => open.alarm.clone(),
            // A MOID is 24 hex digits (a MongoDB ObjectId): 4 bytes of seconds, 8 random.
            None => format!(
                "{:08x}{:016x}",
                draw.now.as_second() as u32,
                fastrand::u64(..)
            ),
        };
        let created = draw.clearing.map_or(draw.now, |open| open.raised_at);
        let domain = format!("ucs-domain-{:03}", draw.device + 1);
        document["Operation"] = if draw.clearing.is_some() {
            "Modified"
        } else {
            "Created"
        }
        .into();
        let event = &mut document["Event"];
        event["Moid"] = moid.as_str().into();
        event["Severity"] = if draw.clearing.is_some() {
            "Cleared"
        } else {
            "Critical"
        }
        .into();
        event["OrigSeverity"] = "Critical".into();
        event["CreateTime"] = rfc3339_millis(created).into();
        event["CreationTime"] = rfc3339_millis(created).into();
        event["ModTime"] = rfc3339_millis(draw.now).into();
        event["LastTransitionTime"] = rfc3339_millis(draw.now).into();
        if let Some(name) = event["AffectedMoDisplayName"].as_str() {
            let rest = name.split_once('/').map_or("", |(_, rest)| rest);
            event["AffectedMoDisplayName"] = format!("{domain}/{rest}").into();
        }
        // Intersight's notification has no id: the object, the operation and the time identify it.
        let operation = document["Operation"].as_str().unwrap_or("");
        let notification = format!("{moid}:{operation}:{}", rfc3339_millis(draw.now));
        Payload {
            body: to_vec(&document),
            content_type: "application/json",
            headers: Vec::new(),
            alarm: moid,
            notification,
            raised: draw.clearing.is_none(),
            device: domain,
        }
    }
}
