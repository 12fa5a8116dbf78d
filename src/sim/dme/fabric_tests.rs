use std::collections::BTreeMap;

use super::*;
use crate::sim::dme::links::initial_changes;
use crate::sim::dme::mit::format_mod_ts;
use crate::sim::dme::tree::{LeafProfile, build_leaf, serial, test_profile};

fn spec(shape: FabricShape, domain: Option<&str>) -> FabricSpec {
    FabricSpec {
        shape,
        domain: domain.map(str::to_owned),
    }
}

/// Every switch of the fabric built as the simulator builds it, by name.
fn build(spec: &FabricSpec, access_ports: usize) -> BTreeMap<String, Mit> {
    let plan = spec.plan(access_ports);
    let identities: Vec<Identity> = (0..plan.names.len())
        .map(|index| Identity {
            name: plan.names[index].clone(),
            role: plan.roles[index],
            serial: serial(1, index),
            address: "127.0.0.1".to_owned(),
            index,
        })
        .collect();
    let mod_ts = format_mod_ts(0);
    (0..plan.names.len())
        .map(|index| {
            let profile = LeafProfile {
                name: &plan.names[index],
                index,
                role: plan.roles[index],
                ports: plan.ports[index],
                ..test_profile(plan.ports[index], 1, 1)
            };
            let mut mit = build_leaf(&profile, 0);
            insert_discovery(&mut mit, plan.ports[index], &mod_ts);
            for change in initial_changes(spec, &plan, &identities, index, &mit) {
                mit.apply(&change, 0).unwrap();
            }
            (plan.names[index].clone(), mit)
        })
        .collect()
}

/// (local device, local port) → (neighbour named by LLDP sysName, its port from portIdV).
fn lldp_links(fabric: &BTreeMap<String, Mit>) -> BTreeMap<(String, String), (String, String)> {
    let mut links = BTreeMap::new();
    for (name, mit) in fabric {
        for (dn, mo) in mit.iter().filter(|(_, mo)| &*mo.class == "lldpAdjEp") {
            let port = dn.split('[').nth(1).unwrap().split(']').next().unwrap();
            let neighbour = mo.attrs.get("sysName").unwrap().to_owned();
            let neighbour_port = mo.attrs.get("portIdV").unwrap().replace("Ethernet", "eth");
            links.insert((name.clone(), port.to_owned()), (neighbour, neighbour_port));
        }
    }
    links
}

#[test]
fn a_spine_leaf_fabric_of_64_switches_is_cabled_every_leaf_to_every_spine() {
    let spec = spec(
        FabricShape::SpineLeaf {
            spines: 4,
            leaves: 60,
        },
        None,
    );
    assert_eq!(spec.devices(), 64);
    let plan = spec.plan(48);
    assert_eq!(plan.names[0], "spine1");
    assert_eq!(plan.names[4], "leaf1");
    assert_eq!(plan.names[63], "leaf60");
    assert_eq!(plan.cables.len(), 240);
    assert_eq!(plan.ports[0], 60, "a spine has a port per leaf");
    assert_eq!(
        plan.ports[4], 52,
        "a leaf has its 48 ports and an uplink per spine"
    );
    // leaf1's first uplink is eth1/49 to spine1 eth1/1.
    assert_eq!(
        plan.cables[0],
        Cable {
            a: End {
                device: 4,
                port: 49
            },
            b: End { device: 0, port: 1 }
        }
    );
}

#[test]
fn adjacencies_agree_on_both_ends() {
    let fabric = build(
        &spec(
            FabricShape::SpineLeaf {
                spines: 2,
                leaves: 3,
            },
            None,
        ),
        4,
    );
    let links = lldp_links(&fabric);
    assert_eq!(links.len(), 2 * 2 * 3, "both ends of 6 cables");
    for ((device, port), (neighbour, neighbour_port)) in &links {
        assert_eq!(
            links.get(&(neighbour.clone(), neighbour_port.clone())),
            Some(&(device.clone(), port.clone())),
            "{device} {port} names {neighbour} {neighbour_port}, which must name it back"
        );
    }
    assert_eq!(
        links[&("leaf1".to_owned(), "eth1/5".to_owned())],
        ("spine1".to_owned(), "eth1/1".to_owned())
    );
    assert_eq!(
        links[&("spine2".to_owned(), "eth1/3".to_owned())],
        ("leaf3".to_owned(), "eth1/6".to_owned())
    );
    // CDP says the same, with the serial in devId.
    let spine2 = &fabric["spine2"];
    let cdp = spine2.get("sys/cdp/inst/if-[eth1/3]/adj-1").unwrap();
    assert_eq!(&*cdp.class, "cdpAdjEp");
    assert_eq!(
        cdp.attrs.get("devId"),
        Some(format!("leaf3({})", serial(1, 4)).as_str())
    );
    assert_eq!(cdp.attrs.get("portId"), Some("Ethernet1/6"));
    assert_eq!(cdp.attrs.get("sysName"), Some("leaf3"));
    assert_eq!(
        fabric["leaf3"].get("sys").unwrap().attrs.get("serial"),
        Some(serial(1, 4).as_str()),
        "the devId serial is the neighbour's own"
    );
    // Cabled ports start up, whatever the seeded random initial state says.
    for (name, mit) in &fabric {
        for ((device, port), _) in links.iter().filter(|((device, _), _)| device == name) {
            let oper = mit
                .get(&format!("sys/intf/phys-[{port}]/phys"))
                .unwrap_or_else(|| panic!("{device} {port}"));
            assert_eq!(oper.attrs.get("operSt"), Some("up"), "{device} {port}");
        }
    }
    assert_eq!(
        fabric["spine1"].get("sys").unwrap().attrs.get("role"),
        Some("spine")
    );
}

#[test]
fn a_chain_puts_each_switch_behind_the_previous_one_and_domains_qualify_names() {
    let fabric = build(
        &spec(FabricShape::Chain { devices: 3 }, Some("lab.example.com")),
        2,
    );
    let links = lldp_links(&fabric);
    assert_eq!(links.len(), 4);
    assert_eq!(
        links[&("leaf1".to_owned(), "eth1/4".to_owned())],
        ("leaf2.lab.example.com".to_owned(), "eth1/3".to_owned())
    );
    assert_eq!(
        links[&("leaf3".to_owned(), "eth1/3".to_owned())],
        ("leaf2.lab.example.com".to_owned(), "eth1/4".to_owned())
    );
    let cdp = fabric["leaf2"]
        .get("sys/cdp/inst/if-[eth1/3]/adj-1")
        .unwrap();
    assert!(
        cdp.attrs
            .get("devId")
            .unwrap()
            .starts_with("leaf1.lab.example.com(SIM"),
        "{:?}",
        cdp.attrs.get("devId")
    );
    assert_eq!(cdp.attrs.get("sysName"), Some("leaf1"));
}

#[test]
fn a_link_down_changes_the_port_then_deletes_both_adjacencies_and_up_restores_them() {
    let fabric = build(&spec(FabricShape::Chain { devices: 2 }, None), 2);
    let mut leaf1 = fabric.into_iter().next().unwrap().1;
    let neighbour = Identity {
        name: "leaf2".into(),
        role: "leaf",
        serial: serial(1, 1),
        address: "127.0.0.1".into(),
        index: 1,
    };
    let down = adjacency_changes(&leaf1, 4, &neighbour, 3, false, None);
    assert_eq!(
        down,
        vec![
            Change::Set {
                dn: "sys/intf/phys-[eth1/4]/phys".into(),
                attrs: owned([("operSt", "down"), ("operStQual", "link-failure")]),
            },
            Change::Delete {
                dn: "sys/lldp/inst/if-[eth1/4]/adj-1".into()
            },
            Change::Delete {
                dn: "sys/cdp/inst/if-[eth1/4]/adj-1".into()
            },
        ]
    );
    for change in &down {
        leaf1.apply(change, 1).unwrap();
    }
    assert!(
        adjacency_changes(&leaf1, 4, &neighbour, 3, false, None).is_empty(),
        "a second link down changes nothing"
    );
    let up = adjacency_changes(&leaf1, 4, &neighbour, 3, true, None);
    assert_eq!(up.len(), 3);
    for change in &up {
        leaf1.apply(change, 2).unwrap();
    }
    let lldp = leaf1.get("sys/lldp/inst/if-[eth1/4]/adj-1").unwrap();
    assert_eq!(lldp.attrs.get("sysName"), Some("leaf2"));
    assert_eq!(lldp.attrs.get("portIdV"), Some("Ethernet1/3"));
}
