//! The initial object tree of a simulated NX-OS leaf switch (reference §1.7): `topSystem` `sys`,
//! `interfaceEntity` `sys/intf` with one `l1PhysIf` (configuration) and `ethpmPhysIf` (link
//! state) per port, and `bdEntity` `sys/bd` with one `l2BD` per VLAN.

use super::attrs::Attrs;
use super::mit::{Mit, format_mod_ts};

/// Share of ports whose link starts down (seeded), so the fleet's state is not uniform.
const INITIAL_LINK_DOWN_PERCENT: u32 = 10;

/// First VLAN id; VLANs are numbered from here (`vlan-101`, `vlan-102`, ...).
pub const FIRST_VLAN: u32 = 101;

/// What distinguishes one simulated leaf from another.
pub struct LeafProfile<'a> {
    pub name: &'a str,
    pub index: usize,
    pub address: &'a str,
    /// `topSystem` role: `leaf` or `spine`.
    pub role: &'a str,
    pub ports: usize,
    pub vlans: usize,
    pub seed: u64,
}

/// Builds the leaf's tree; every object carries `modTs` = `now_millis`.
pub fn build_leaf(profile: &LeafProfile<'_>, now_millis: i64) -> Mit {
    let mut mit = Mit::default();
    let mod_ts = format_mod_ts(now_millis);
    let mut rng = device_rng(profile.seed, profile.index);
    let serial = format_serial(rng.u32(..100_000_000));
    mit.insert(
        "topSystem",
        "sys",
        Attrs::from_pairs([
            ("address", profile.address),
            ("id", &(profile.index + 1).to_string()),
            ("modTs", &mod_ts),
            ("name", profile.name),
            ("role", profile.role),
            ("serial", &serial),
            ("state", "in-service"),
            ("systemUptime", "00:00:00:00.000"),
            ("version", "10.3(4a)"),
        ]),
    );
    mit.insert(
        "interfaceEntity",
        "sys/intf",
        Attrs::from_pairs([("modTs", mod_ts.as_str())]),
    );
    for port in 1..=profile.ports {
        let link_up = rng.u32(..100) >= INITIAL_LINK_DOWN_PERCENT;
        insert_port(&mut mit, port, link_up, &mod_ts);
    }
    mit.insert(
        "bdEntity",
        "sys/bd",
        Attrs::from_pairs([("modTs", mod_ts.as_str())]),
    );
    for offset in 0..profile.vlans as u32 {
        let vlan = FIRST_VLAN + offset;
        mit.insert("l2BD", &vlan_dn(vlan), vlan_attrs(vlan, &mod_ts));
    }
    mit
}

/// The serial number device `index` announces (`topSystem` `serial`, CDP `devId`).
pub fn serial(seed: u64, index: usize) -> String {
    format_serial(device_rng(seed, index).u32(..100_000_000))
}

fn device_rng(seed: u64, index: usize) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed ^ 0x5EED_0000_0000 ^ index as u64)
}

fn format_serial(number: u32) -> String {
    format!("SIM{number:08}")
}

/// The dn of a port's configuration object (`l1PhysIf`).
pub fn port_dn(port: usize) -> String {
    format!("sys/intf/phys-[eth1/{port}]")
}

/// The dn of a VLAN's bridge domain (`l2BD`).
pub fn vlan_dn(vlan: u32) -> String {
    format!("sys/bd/bd-[vlan-{vlan}]")
}

fn insert_port(mit: &mut Mit, port: usize, link_up: bool, mod_ts: &str) {
    let dn = port_dn(port);
    let id = format!("eth1/{port}");
    mit.insert(
        "l1PhysIf",
        &dn,
        Attrs::from_pairs([
            ("accessVlan", "vlan-1"),
            ("adminSt", "up"),
            ("autoNeg", "on"),
            ("descr", ""),
            ("id", &id),
            ("layer", "Layer2"),
            ("mode", "access"),
            ("modTs", mod_ts),
            ("mtu", "1500"),
            ("nativeVlan", "vlan-1"),
            ("speed", "auto"),
            ("trunkVlans", "1-4094"),
            ("usage", "discovery"),
        ]),
    );
    let (oper_st, qualifier) = if link_up {
        ("up", "none")
    } else {
        ("down", "link-failure")
    };
    mit.insert(
        "ethpmPhysIf",
        &format!("{dn}/phys"),
        Attrs::from_pairs([
            ("allowedVlans", "1"),
            ("bundleIndex", "unspecified"),
            ("lastLinkStChg", mod_ts),
            ("modTs", mod_ts),
            ("operDuplex", "full"),
            ("operSpeed", "10G"),
            ("operSt", oper_st),
            ("operStQual", qualifier),
        ]),
    );
}

/// Attributes of a new VLAN as NX-OS shows one created with defaults (name `VLAN0101`).
pub fn vlan_attrs(vlan: u32, mod_ts: &str) -> Attrs {
    Attrs::from_pairs([
        ("accEncap", "unknown"),
        ("adminSt", "active"),
        ("bridgeMode", "mac"),
        ("fabEncap", &format!("vlan-{vlan}")),
        ("fwdCtrl", "mdst-flood"),
        ("fwdMode", "bridge,route"),
        ("id", &vlan.to_string()),
        ("modTs", mod_ts),
        ("name", &format!("VLAN{vlan:04}")),
    ])
}

/// The profile of the tests' `leaf1` (index 0, on 127.0.0.1).
#[cfg(test)]
pub(crate) fn test_profile(ports: usize, vlans: usize, seed: u64) -> LeafProfile<'static> {
    LeafProfile {
        name: "leaf1",
        index: 0,
        address: "127.0.0.1",
        role: "leaf",
        ports,
        vlans,
        seed,
    }
}

/// The tests' `leaf1` with `ports` ports and `vlans` VLANs (seed 1), built at `now_millis`.
#[cfg(test)]
pub(crate) fn test_leaf(ports: usize, vlans: usize, now_millis: i64) -> Mit {
    build_leaf(&test_profile(ports, vlans, 1), now_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(seed: u64) -> LeafProfile<'static> {
        test_profile(48, 10, seed)
    }

    #[test]
    fn leaf_has_the_documented_objects() {
        let mit = build_leaf(&profile(1), 0);
        assert_eq!(mit.iter().count(), 3 + 48 * 2 + 10);
        let port = mit.get("sys/intf/phys-[eth1/7]").unwrap();
        assert_eq!(&*port.class, "l1PhysIf");
        assert_eq!(port.attrs.get("rn"), Some("phys-[eth1/7]"));
        assert_eq!(port.attrs.get("id"), Some("eth1/7"));
        let oper = mit.get("sys/intf/phys-[eth1/7]/phys").unwrap();
        assert_eq!(&*oper.class, "ethpmPhysIf");
        assert_eq!(oper.attrs.get("rn"), Some("phys"));
        let vlan = mit.get("sys/bd/bd-[vlan-110]").unwrap();
        assert_eq!(vlan.attrs.get("fabEncap"), Some("vlan-110"));
        assert_eq!(
            vlan.attrs.get("modTs"),
            Some("1970-01-01T00:00:00.000+00:00")
        );
        assert_eq!(mit.get("sys").unwrap().attrs.get("name"), Some("leaf1"));
    }

    #[test]
    fn some_links_start_down_reproducibly() {
        let down = |mit: &Mit| -> Vec<String> {
            mit.iter()
                .filter(|(_, mo)| mo.attrs.get("operSt") == Some("down"))
                .map(|(dn, _)| dn.to_owned())
                .collect()
        };
        let first = down(&build_leaf(&profile(7), 0));
        assert_eq!(first, down(&build_leaf(&profile(7), 0)));
        assert!(!first.is_empty() && first.len() < 48, "{first:?}");
    }
}
