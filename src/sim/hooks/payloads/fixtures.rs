//! The real payloads each provider's notifications start from, embedded in the binary from
//! `tests/data/`, and the generic alarms of the senders without a vendor format.

use serde_json::Value;

use super::{Pair, Provider};

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("embedded fixture is JSON")
}

const MERAKI_PAIRS: &[(&str, &str)] = &[
    (
        include_str!("../../../../tests/data/meraki/official-example-stopped-reporting.json"),
        include_str!("../../../../tests/data/meraki/official-example-started-reporting.json"),
    ),
    (
        include_str!("../../../../tests/data/meraki/official-example-port-disconnected.json"),
        include_str!("../../../../tests/data/meraki/official-example-port-connected.json"),
    ),
];

const MERAKI_SINGLES: &[&str] = &[
    include_str!("../../../../tests/data/meraki/official-example-amp-malware-blocked.json"),
    include_str!("../../../../tests/data/meraki/official-example-client-connectivity.json"),
    include_str!("../../../../tests/data/meraki/official-example-failover-event.json"),
    include_str!("../../../../tests/data/meraki/official-example-motion-alert.json"),
    include_str!("../../../../tests/data/meraki/official-example-node-hardware-failure.json"),
    include_str!("../../../../tests/data/meraki/official-example-power-supply-down.json"),
    include_str!("../../../../tests/data/meraki/official-example-settings-changed.json"),
    include_str!("../../../../tests/data/meraki/official-example-usage-alert.json"),
    include_str!("../../../../tests/data/meraki/official-example-vpn-connectivity-change.json"),
];

/// Catalyst Center issues: the active notification and, when one was captured, the resolved one
/// (otherwise the active one with `Assurance Issue Status: resolved`, which is how the platform
/// re-sends an issue: same `instanceId`, new status, `protocols-webhooks.md` §0 rule 4).
const CATALYST_CENTER_PAIRS: &[(&str, Option<&str>)] = &[
    (
        include_str!(
            "../../../../tests/data/catalyst-center/dnac-2019-interface-down-p1-active.json"
        ),
        Some(include_str!(
            "../../../../tests/data/catalyst-center/dnac-2019-interface-down-p1-resolved.json"
        )),
    ),
    (
        include_str!("../../../../tests/data/catalyst-center/catc-2024-bgp-down-p1-active.json"),
        None,
    ),
    (
        include_str!(
            "../../../../tests/data/catalyst-center/dnac-2019-interface-flapping-p3-warn-nulls.json"
        ),
        None,
    ),
];

/// ThousandEyes classic webhooks: triggers; the clear is the trigger re-sent as
/// `ALERT_NOTIFICATION_CLEAR` with `active: 2` (the 2021 platform's value, §4.1).
const THOUSANDEYES_TRIGGERS: &[&str] = &[
    include_str!("../../../../tests/data/thousandeyes/classic-http-server-trigger-2021.json"),
    include_str!(
        "../../../../tests/data/thousandeyes/classic-http-server-trigger-custom-payload-text-2022.json"
    ),
];

const INTERSIGHT_ALARM: &str = include_str!(
    "../../../../tests/data/intersight/webhookresult-cond-alarm-modified-trimmed.json"
);

/// Standard Webhooks and CloudEvents senders carry no vendor format: these are the alarms the
/// simulator raises and clears with them, (name, severity, resource).
pub(super) const GENERIC_ALARMS: &[(&str, &str, &str)] = &[
    ("link-down", "major", "eth1/"),
    ("bgp-peer-down", "critical", "bgp/10.0.0."),
    ("high-cpu", "minor", "cpu/"),
    ("fan-failure", "warning", "fan/"),
];

/// The raise/clear pairs and the alerts without a clear that `provider` draws from.
pub(super) fn load(provider: Provider) -> (Vec<Pair>, Vec<Value>) {
    match provider {
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
    }
}
