//! The plain-data vocabulary of the DME simulator's control plane: changes to the object tree,
//! injected faults, dumped objects and counters. These types are also the JSON bodies of the
//! `/_sim/` control API, so their serde shape is part of the product.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A change to a simulated device's object tree. Every change emits the WebSocket pushes a real
/// device would send for it.
///
/// JSON examples: `{"op":"set","dn":"sys/intf/phys-[eth1/1]","attrs":{"descr":"uplink"}}`,
/// `{"op":"create","class":"l2BD","dn":"sys/bd/bd-[vlan-300]","attrs":{"fabEncap":"vlan-300"}}`,
/// `{"op":"delete","dn":"sys/bd/bd-[vlan-300]"}`, `{"op":"random","count":5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Sets attributes of an existing object (a `modified` push with only what changed).
    Set {
        dn: String,
        attrs: BTreeMap<String, String>,
    },
    /// Creates an object under an existing parent (a `created` push with every attribute).
    Create {
        class: String,
        dn: String,
        #[serde(default)]
        attrs: BTreeMap<String, String>,
    },
    /// Deletes an object and its whole subtree (one `deleted` push per object).
    Delete { dn: String },
    /// Applies `count` steps of the device's seeded random change generator right away.
    Random { count: usize },
}

/// A failure injected into a simulated device, to exercise a client's recovery paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Closes every WebSocket; sessions (and their subscriptions) stay valid.
    DropSockets,
    /// Ends every session now: tokens answer 403, sockets close, subscriptions are gone.
    ExpireSessions,
    /// Silently forgets every subscription: no more pushes, refreshes answer the 400 error.
    LoseSubscriptions,
    /// Drops all sessions, subscriptions and sockets, then answers 503 to every request (and
    /// refuses WebSocket upgrades) for `down_for_ms`. The object tree is kept.
    Restart { down_for_ms: u64 },
    /// Delays the next `count` answers to `subscriptionRefresh` and `aaaRefresh` by `delay_ms`.
    DelayRefresh { delay_ms: u64, count: u32 },
    /// The next `count` `subscriptionRefresh` calls answer the expired-subscription 400 error and
    /// drop that subscription.
    FailRefresh { count: u32 },
    /// Answers every login with a 503 error envelope for `for_ms`.
    RefuseLogins { for_ms: u64 },
    /// Answers every `subscriptionRefresh` with a 503 error envelope for `for_ms` (a device too
    /// loaded to answer) without touching the subscriptions: they still expire when their TTL
    /// passes unrefreshed. `for_ms: 0` ends it.
    RefreshUnavailable { for_ms: u64 },
}

/// Whether a link or a switch of a simulated fabric is up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Up,
    Down,
}

/// Takes a link of a simulated fabric down or brings it up (`POST /_sim/link`), named by one of
/// its ends: `{"device":"leaf1","port":"eth1/49","state":"down"}`, or by its two switches:
/// `{"device":"leaf1","neighbor":"spine1","state":"down"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkAction {
    pub device: String,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub neighbor: Option<String>,
    pub state: LinkState,
}

/// Powers a switch of a simulated fabric off or on (`POST /_sim/device`):
/// `{"device":"spine1","state":"down"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAction {
    pub device: String,
    pub state: LinkState,
}

/// One object of a device's tree as stored: includes `dn`, `rn` and `modTs`, never `status` or
/// `childAction` (those exist only in responses and pushes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpedMo {
    pub class: String,
    pub attributes: BTreeMap<String, String>,
}

/// One API session as the device sees it (`GET /_sim/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The device's own number for the session (grows with each login).
    pub key: u64,
    pub session_id: String,
    pub user: String,
    pub socket_open: bool,
    /// Subscriptions of the session that have not lapsed.
    pub live_subscriptions: u64,
    /// Milliseconds since the client's login or last authenticated request.
    pub idle_ms: u64,
}

impl SessionView {
    /// Receives pushes: an open socket and at least one live subscription.
    pub fn active(&self) -> bool {
        self.socket_open && self.live_subscriptions > 0
    }
}

/// Counters of one simulated device (or their sum over devices, see [`SimStats::add`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    pub logins_ok: u64,
    pub logins_failed: u64,
    pub session_refreshes: u64,
    pub sessions_active: u64,
    pub sockets_open: u64,
    pub sockets_opened_total: u64,
    pub subscriptions_active: u64,
    pub subscriptions_created_total: u64,
    /// Subscriptions whose TTL lapsed without a refresh (not those removed by faults or by the end
    /// of their session).
    pub subscriptions_expired_total: u64,
    pub subscription_refreshes: u64,
    pub subscription_refresh_failures: u64,
    /// The smallest `ttl - time since creation or previous refresh` over successful subscription
    /// refreshes, in milliseconds: how close clients cut it.
    pub worst_refresh_margin_ms: Option<i64>,
    /// WebSocket frames handed to sockets.
    pub pushes_sent_total: u64,
    pub changes_applied_total: u64,
}

impl SimStats {
    /// Adds `other` into `self`; the worst margin is the minimum of both.
    pub fn add(&mut self, other: &SimStats) {
        self.logins_ok += other.logins_ok;
        self.logins_failed += other.logins_failed;
        self.session_refreshes += other.session_refreshes;
        self.sessions_active += other.sessions_active;
        self.sockets_open += other.sockets_open;
        self.sockets_opened_total += other.sockets_opened_total;
        self.subscriptions_active += other.subscriptions_active;
        self.subscriptions_created_total += other.subscriptions_created_total;
        self.subscriptions_expired_total += other.subscriptions_expired_total;
        self.subscription_refreshes += other.subscription_refreshes;
        self.subscription_refresh_failures += other.subscription_refresh_failures;
        self.worst_refresh_margin_ms =
            match (self.worst_refresh_margin_ms, other.worst_refresh_margin_ms) {
                (Some(mine), Some(theirs)) => Some(mine.min(theirs)),
                (mine, theirs) => mine.or(theirs),
            };
        self.pushes_sent_total += other.pushes_sent_total;
        self.changes_applied_total += other.changes_applied_total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_and_fault_json_shapes() {
        let change: Change = serde_json::from_str(
            r#"{"op":"set","dn":"sys/intf/phys-[eth1/1]","attrs":{"descr":"x"}}"#,
        )
        .unwrap();
        assert!(matches!(change, Change::Set { ref dn, .. } if dn == "sys/intf/phys-[eth1/1]"));
        let change: Change = serde_json::from_str(r#"{"op":"random","count":3}"#).unwrap();
        assert_eq!(change, Change::Random { count: 3 });
        let fault: Fault =
            serde_json::from_str(r#"{"fault":"restart","down_for_ms":500}"#).unwrap();
        assert_eq!(fault, Fault::Restart { down_for_ms: 500 });
        let fault: Fault = serde_json::from_str(r#"{"fault":"drop_sockets"}"#).unwrap();
        assert_eq!(fault, Fault::DropSockets);
    }

    #[test]
    fn stats_add_takes_the_worst_margin() {
        let mut total = SimStats {
            worst_refresh_margin_ms: Some(500),
            logins_ok: 1,
            ..SimStats::default()
        };
        total.add(&SimStats {
            worst_refresh_margin_ms: Some(-20),
            logins_ok: 2,
            ..SimStats::default()
        });
        total.add(&SimStats::default());
        assert_eq!(total.worst_refresh_margin_ms, Some(-20));
        assert_eq!(total.logins_ok, 3);
    }
}
