//! The seeded random change generator of one simulated switch: link flaps (~70%), admin changes
//! on ports (~15%) and VLANs created or deleted (~15%). The content of the sequence depends only
//! on the seed, the device index and the tree, so the same seed replays the same changes; the
//! timing of the automatic generator uses a separate random stream (see `device.rs`).

use std::collections::BTreeMap;

use super::api::Change;
use super::mit::{Mit, format_mod_ts};
use super::tree::{FIRST_VLAN, vlan_attrs, vlan_dn};

const LINK_FLAP_PERCENT: u32 = 70;
const ADMIN_CHANGE_PERCENT: u32 = 15;

/// Produces one concrete [`Change`] per step from the current tree.
#[derive(Debug)]
pub struct Generator {
    rng: fastrand::Rng,
    /// The configured VLAN count: the generator keeps between 1 and twice this many VLANs.
    vlans: usize,
    /// Set for a simulated APIC: faults and records instead of switch changes.
    apic: Option<super::apic::ApicGenerator>,
    /// Ports cabled to another simulated switch (`l1PhysIf` dns): left to the fabric's link
    /// actions, which change both ends together.
    cabled: std::collections::BTreeSet<String>,
}

impl Generator {
    pub fn new(seed: u64, device_index: usize, vlans: usize) -> Generator {
        let mixed =
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (device_index as u64).wrapping_add(1);
        Generator {
            rng: fastrand::Rng::with_seed(mixed),
            vlans,
            apic: None,
            cabled: std::collections::BTreeSet::new(),
        }
    }

    /// Leaves these ports (`l1PhysIf` dns) alone: they are cabled into a simulated fabric.
    pub fn leave_alone(&mut self, ports: impl IntoIterator<Item = String>) {
        self.cabled.extend(ports);
    }

    /// The generator of a simulated APIC.
    pub fn apic(seed: u64, device_index: usize) -> Generator {
        Generator {
            apic: Some(super::apic::ApicGenerator::default()),
            ..Generator::new(seed, device_index, 0)
        }
    }

    /// The next change for this tree, or `None` when the tree has nothing left to change (every
    /// port and VLAN deleted by hand).
    pub fn next_change(&mut self, mit: &Mit, now_millis: i64) -> Option<Change> {
        if let Some(apic) = &mut self.apic {
            // A step that finds nothing to do (a fault already there) tries again a few times.
            return (0..8).find_map(|_| apic.next_change(&mut self.rng, mit, now_millis));
        }
        let roll = self.rng.u32(..100);
        if roll < LINK_FLAP_PERCENT {
            self.link_flap(mit, now_millis)
        } else if roll < LINK_FLAP_PERCENT + ADMIN_CHANGE_PERCENT {
            self.admin_change(mit)
                .or_else(|| self.link_flap(mit, now_millis))
        } else {
            self.vlan_change(mit)
                .or_else(|| self.link_flap(mit, now_millis))
        }
    }

    /// Toggles a port's link. A shut port cannot come up, so flapping one enables it instead.
    fn link_flap(&mut self, mit: &Mit, now_millis: i64) -> Option<Change> {
        let port_dn = self.pick(mit, "l1PhysIf")?;
        if mit.get(&port_dn)?.attrs.get("adminSt") == Some("down") {
            return Some(set(&port_dn, &[("adminSt", "up")]));
        }
        let oper_dn = format!("{port_dn}/phys");
        let oper = mit.get(&oper_dn)?;
        let (oper_st, qualifier) = if oper.attrs.get("operSt") == Some("up") {
            ("down", "link-failure")
        } else {
            ("up", "none")
        };
        let changed_at = format_mod_ts(now_millis);
        Some(set(
            &oper_dn,
            &[
                ("operSt", oper_st),
                ("operStQual", qualifier),
                ("lastLinkStChg", &changed_at),
            ],
        ))
    }

    /// Shuts or enables a port (which also moves its link, see `Mit`), or edits its description.
    fn admin_change(&mut self, mit: &Mit) -> Option<Change> {
        let port_dn = self.pick(mit, "l1PhysIf")?;
        if self.rng.bool() {
            let admin_up = mit.get(&port_dn)?.attrs.get("adminSt") == Some("up");
            Some(set(
                &port_dn,
                &[("adminSt", if admin_up { "down" } else { "up" })],
            ))
        } else {
            let descr = format!("sim change {}", self.rng.u32(..10_000));
            Some(set(&port_dn, &[("descr", &descr)]))
        }
    }

    fn vlan_change(&mut self, mit: &Mit) -> Option<Change> {
        mit.get("sys/bd")?;
        let existing = mit
            .children("sys/bd")
            .filter(|(_, mo)| &*mo.class == "l2BD")
            .count();
        let most = (self.vlans * 2).max(2);
        let create = match existing {
            0 | 1 => true,
            count if count >= most => false,
            _ => self.rng.bool(),
        };
        if !create {
            let dn = self.pick(mit, "l2BD")?;
            return Some(Change::Delete { dn });
        }
        let span = (most as u32) * 2;
        let vlan = (0..32)
            .map(|_| FIRST_VLAN + self.rng.u32(..span))
            .find(|vlan| mit.get(&vlan_dn(*vlan)).is_none())?;
        let attrs = vlan_attrs(vlan, "")
            .iter()
            .filter(|(name, _)| *name != "modTs")
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Some(Change::Create {
            class: "l2BD".to_owned(),
            dn: vlan_dn(vlan),
            attrs,
        })
    }

    /// A random object of `class`, by dn.
    fn pick(&mut self, mit: &Mit, class: &str) -> Option<String> {
        let candidates: Vec<&str> = mit
            .iter()
            .filter(|(dn, mo)| &*mo.class == class && !self.cabled.contains(*dn))
            .map(|(dn, _)| dn)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.usize(..candidates.len())].to_owned())
    }
}

fn set(dn: &str, pairs: &[(&str, &str)]) -> Change {
    let attrs: BTreeMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Change::Set {
        dn: dn.to_owned(),
        attrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::dme::tree::{LeafProfile, build_leaf, test_profile};

    fn run(seed: u64, index: usize, steps: usize) -> (Vec<Change>, Mit) {
        let profile = LeafProfile {
            index,
            ..test_profile(8, 3, seed)
        };
        let mut mit = build_leaf(&profile, 0);
        let mut generator = Generator::new(seed, index, 3);
        let mut changes = Vec::new();
        for step in 0..steps {
            let change = generator
                .next_change(&mit, 1_000 * step as i64)
                .expect("the leaf always has ports");
            mit.apply(&change, 1_000 * step as i64).unwrap();
            changes.push(change);
        }
        (changes, mit)
    }

    #[test]
    fn same_seed_same_sequence() {
        let (first, _) = run(42, 3, 300);
        let (second, _) = run(42, 3, 300);
        assert_eq!(first, second);
        assert_ne!(
            first,
            run(43, 3, 300).0,
            "another seed gives another sequence"
        );
        assert_ne!(
            first,
            run(42, 4, 300).0,
            "another device gives another sequence"
        );
    }

    #[test]
    fn mix_of_changes_and_vlan_bounds() {
        let (changes, mit) = run(7, 0, 2_000);
        let flaps = changes
            .iter()
            .filter(|change| matches!(change, Change::Set { dn, .. } if dn.ends_with("/phys")))
            .count();
        let vlan_changes = changes
            .iter()
            .filter(|change| matches!(change, Change::Create { .. } | Change::Delete { .. }))
            .count();
        assert!((1_200..1_600).contains(&flaps), "{flaps} link flaps");
        assert!(
            (200..400).contains(&vlan_changes),
            "{vlan_changes} VLAN changes"
        );
        let vlans = mit.children("sys/bd").count();
        assert!((1..=6).contains(&vlans), "{vlans} VLANs");
    }
}
