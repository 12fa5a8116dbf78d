use std::collections::BTreeMap;

use super::*;
use crate::sim::dme::tree::test_leaf;

fn leaf() -> Mit {
    test_leaf(4, 2, 1_000)
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[test]
fn dn_helpers_respect_brackets() {
    assert_eq!(parent_dn("sys/intf/phys-[eth1/1]"), Some("sys/intf"));
    assert_eq!(rn_of("sys/intf/phys-[eth1/1]"), "phys-[eth1/1]");
    assert_eq!(
        parent_dn("sys/intf/phys-[eth1/1]/phys"),
        Some("sys/intf/phys-[eth1/1]")
    );
    assert_eq!(parent_dn("sys"), None);
    assert_eq!(rn_of("sys"), "sys");
    assert!(is_descendant("sys/intf/phys-[eth1/1]/phys", "sys"));
    assert!(is_descendant(
        "sys/intf/phys-[eth1/1]/phys",
        "sys/intf/phys-[eth1/1]"
    ));
    assert!(!is_descendant(
        "sys/intf/phys-[eth1/1]",
        "sys/intf/phys-[eth1"
    ));
    assert!(!is_descendant("sys", "sys"));
}

#[test]
fn children_and_descendants() {
    let mit = leaf();
    let children: Vec<&str> = mit.children("sys/intf").map(|(dn, _)| dn).collect();
    assert_eq!(children.len(), 4);
    assert!(children.iter().all(|dn| !dn.ends_with("/phys")));
    assert_eq!(mit.descendants("sys/intf").count(), 8);
    assert_eq!(mit.descendants("sys/intf/phys-[eth1/1]").count(), 1);
    assert_eq!(mit.descendants("sys/intf/phys-[eth1").count(), 0);
}

#[test]
fn set_reports_old_and_new_and_ignores_no_ops() {
    let mut mit = leaf();
    let change = Change::Set {
        dn: "sys/intf/phys-[eth1/1]".into(),
        attrs: attrs(&[("descr", "uplink")]),
    };
    let records = mit.apply(&change, 2_000).unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.old.as_ref().unwrap().get("descr"), Some(""));
    assert_eq!(record.new.as_ref().unwrap().get("descr"), Some("uplink"));
    assert_eq!(record.mod_ts, "1970-01-01T00:00:02.000+00:00");
    assert!(mit.apply(&change, 3_000).unwrap().is_empty());
    let rename = Change::Set {
        dn: "sys/intf/phys-[eth1/1]".into(),
        attrs: attrs(&[("dn", "sys/x")]),
    };
    assert!(mit.apply(&rename, 3_000).is_err());
}

#[test]
fn shutting_a_port_takes_its_link_down() {
    let mut mit = leaf();
    let change = Change::Set {
        dn: "sys/intf/phys-[eth1/2]".into(),
        attrs: attrs(&[("adminSt", "down")]),
    };
    let records = mit.apply(&change, 5_000).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(&*records[1].class, "ethpmPhysIf");
    let oper = records[1].new.as_ref().unwrap();
    assert_eq!(oper.get("operSt"), Some("down"));
    assert_eq!(oper.get("operStQual"), Some("admin-down"));
    assert!(
        records[0].mod_ts < records[1].mod_ts,
        "modTs strictly increases"
    );
}

#[test]
fn create_requires_parent_and_consistent_names() {
    let mut mit = leaf();
    let orphan = Change::Create {
        class: "l2BD".into(),
        dn: "sys/nope/bd-[vlan-5]".into(),
        attrs: attrs(&[]),
    };
    assert!(mit.apply(&orphan, 1).is_err());
    let wrong_rn = Change::Create {
        class: "l2BD".into(),
        dn: "sys/bd/bd-[vlan-5]".into(),
        attrs: attrs(&[("rn", "x")]),
    };
    assert!(mit.apply(&wrong_rn, 1).is_err());
    let good = Change::Create {
        class: "l2BD".into(),
        dn: "sys/bd/bd-[vlan-5]".into(),
        attrs: attrs(&[("id", "5")]),
    };
    let records = mit.apply(&good, 1).unwrap();
    assert!(records[0].old.is_none());
    let new = records[0].new.as_ref().unwrap();
    assert_eq!(new.get("rn"), Some("bd-[vlan-5]"));
    assert_eq!(new.get("dn"), Some("sys/bd/bd-[vlan-5]"));
    assert!(mit.apply(&good, 1).is_err(), "duplicate dn");
}

#[test]
fn delete_removes_the_subtree_children_first() {
    let mut mit = leaf();
    let records = mit
        .apply(
            &Change::Delete {
                dn: "sys/intf".into(),
            },
            1,
        )
        .unwrap();
    assert_eq!(records.len(), 9);
    assert_eq!(records.last().unwrap().dn, "sys/intf");
    let position = |dn: &str| records.iter().position(|record| record.dn == dn).unwrap();
    assert!(position("sys/intf/phys-[eth1/1]/phys") < position("sys/intf/phys-[eth1/1]"));
    assert!(records.iter().all(|record| record.new.is_none()));
    assert!(mit.get("sys/intf/phys-[eth1/1]").is_none());
    let stamps: Vec<&str> = records
        .iter()
        .map(|record| record.mod_ts.as_str())
        .collect();
    assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
}

#[test]
fn mod_clock_is_strictly_increasing() {
    let mut clock = ModClock::default();
    let first = clock.next(1_571_427_749_446);
    assert_eq!(first, "2019-10-18T19:42:29.446+00:00");
    assert_eq!(
        clock.next(1_571_427_749_446),
        "2019-10-18T19:42:29.447+00:00"
    );
    assert_eq!(
        clock.next(1_000),
        "2019-10-18T19:42:29.448+00:00",
        "a clock going back does not reorder"
    );
}
