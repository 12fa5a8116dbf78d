//! The cabling of a simulated network: which simulated switch is connected to which, port to port,
//! and the LLDP and CDP objects each switch holds about its neighbours. Pure: it plans names,
//! roles, port counts and cables, and turns one end of a cable into the objects or changes that
//! end shows. The running network that takes links down and up is in [`super::links`].
//!
//! # Discovery objects (reference: the DME model as seen through public APIC/NX-OS payloads)
//! - LLDP: `lldpEntity` `sys/lldp`, `lldpInst` `sys/lldp/inst`, one `lldpIf`
//!   `sys/lldp/inst/if-[eth1/N]` per port and, on a port with a neighbour, one `lldpAdjEp`
//!   `sys/lldp/inst/if-[eth1/N]/adj-1`. Attribute names (`sysName`, `portIdV`, `portIdT`,
//!   `chassisIdV`, `chassisIdT`, `mgmtIp`, `sysDesc`, `capability`, `enCap`, `id`, `ttl`,
//!   `portDesc`, `portVlan`, `mgmtPortMac`, `stQual`) are those of `lldpAdjEp` objects in public
//!   APIC query results (`topology/pod-1/node-201/sys/lldp/inst/if-[mgmt0]/adj-1`, `…/if-[eth1/49]/adj-1`).
//! - CDP: `cdpEntity` `sys/cdp`, `cdpInst` `sys/cdp/inst`, `cdpIf` `sys/cdp/inst/if-[eth1/N]`,
//!   `cdpAdjEp` `sys/cdp/inst/if-[eth1/N]/adj-1` with `devId` (`name(SERIAL)`), `portId`
//!   (`Ethernet1/49`), `sysName`, `platId`, `ver`, `cap`, `duplex`, `nativeVlan`, `index`,
//!   `stQual` (attribute names from a public APIC `cdpAdjEp` dump).
//! - INFER: every public sample is from an APIC, whose node dns start `topology/pod-1/node-N/`;
//!   the NX-OS standalone dns here are the same with that prefix removed, as for every other class
//!   the simulator models. The adjacency index is always 1 here (a real switch may number a
//!   neighbour 2 after a flap: one public CDP sample is `adj-2`). `sysObjIdL/V`, `mgmtId` and
//!   LLDP TLVs the samples do not show are left out rather than invented.

use std::collections::BTreeMap;

use super::api::Change;
use super::attrs::Attrs;
use super::mit::Mit;

/// The NX-OS version the simulated switches announce (as `topSystem` does).
const VERSION: &str = "10.3(4a)";

/// How the simulated switches are cabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FabricShape {
    /// `spines` spines (`spine1` ..) and `leaves` leaves (`leaf1` ..); every leaf is cabled to
    /// every spine: leaf port `eth1/(ports + s)` to spine `s`, spine port `eth1/l` to leaf `l`.
    /// One spine makes a star.
    SpineLeaf { spines: usize, leaves: usize },
    /// `devices` switches (`leaf1` ..) in a line: `leaf{i}` port `eth1/(ports + 2)` to
    /// `leaf{i+1}` port `eth1/(ports + 1)`, so every switch is behind the one before it.
    Chain { devices: usize },
}

/// A simulated network's cabling, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FabricSpec {
    pub shape: FabricShape,
    /// Appended to LLDP `sysName` and CDP `devId` (`leaf1.lab.example.com(SIM…)`), as switches
    /// with `ip domain-name` set announce themselves; `None`: bare host names.
    pub domain: Option<String>,
}

impl FabricSpec {
    /// How many switches the fabric has.
    pub fn devices(&self) -> usize {
        match self.shape {
            FabricShape::SpineLeaf { spines, leaves } => spines + leaves,
            FabricShape::Chain { devices } => devices,
        }
    }

    /// Names, roles, port counts and cables, for switches with `access_ports` ports of their own.
    pub fn plan(&self, access_ports: usize) -> Plan {
        let mut plan = Plan::default();
        match self.shape {
            FabricShape::SpineLeaf { spines, leaves } => {
                for spine in 1..=spines {
                    plan.push(format!("spine{spine}"), "spine", access_ports.max(leaves));
                }
                for leaf in 1..=leaves {
                    plan.push(format!("leaf{leaf}"), "leaf", access_ports + spines);
                    for spine in 1..=spines {
                        plan.cables.push(Cable {
                            a: End {
                                device: spines + leaf - 1,
                                port: access_ports + spine,
                            },
                            b: End {
                                device: spine - 1,
                                port: leaf,
                            },
                        });
                    }
                }
            }
            FabricShape::Chain { devices } => {
                for index in 0..devices {
                    plan.push(format!("leaf{}", index + 1), "leaf", access_ports + 2);
                    if index > 0 {
                        plan.cables.push(Cable {
                            a: End {
                                device: index - 1,
                                port: access_ports + 2,
                            },
                            b: End {
                                device: index,
                                port: access_ports + 1,
                            },
                        });
                    }
                }
            }
        }
        plan
    }
}

/// One end of a cable: a device (its index in the simulator) and a port number (`eth1/<port>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct End {
    pub device: usize,
    pub port: usize,
}

/// A cable between two ports of two switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cable {
    pub a: End,
    pub b: End,
}

impl Cable {
    /// The other end, when `end` is one of this cable's ends.
    pub fn far_end(&self, end: End) -> Option<End> {
        if self.a == end {
            Some(self.b)
        } else if self.b == end {
            Some(self.a)
        } else {
            None
        }
    }
}

/// What the fabric makes of each switch, and its cables.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub names: Vec<String>,
    pub roles: Vec<&'static str>,
    pub ports: Vec<usize>,
    pub cables: Vec<Cable>,
}

impl Plan {
    fn push(&mut self, name: String, role: &'static str, ports: usize) {
        self.names.push(name);
        self.roles.push(role);
        self.ports.push(ports);
    }

    /// The cables of device `index`, as (its end, the far end).
    pub fn cables_of(&self, index: usize) -> impl Iterator<Item = (End, End)> + '_ {
        self.cables.iter().filter_map(move |cable| {
            if cable.a.device == index {
                Some((cable.a, cable.b))
            } else if cable.b.device == index {
                Some((cable.b, cable.a))
            } else {
                None
            }
        })
    }
}

/// What a switch announces about itself to its neighbours.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub role: &'static str,
    pub serial: String,
    pub address: String,
    pub index: usize,
}

impl Identity {
    /// The name with the domain, as LLDP `sysName` and CDP `devId` carry it.
    fn qualified(&self, domain: Option<&str>) -> String {
        match domain {
            Some(domain) => format!("{}.{domain}", self.name),
            None => self.name.clone(),
        }
    }

    /// A locally administered MAC address per device (INFER: any unique MAC does).
    fn mac(&self) -> String {
        let index = self.index as u32 + 1;
        format!(
            "52:54:00:{:02x}:{:02x}:{:02x}",
            (index >> 16) & 0xff,
            (index >> 8) & 0xff,
            index & 0xff
        )
    }

    /// The hardware model CDP announces (INFER: typical spine and leaf models).
    fn platform(&self) -> &'static str {
        if self.role == "spine" {
            "N9K-C9364C"
        } else {
            "N9K-C93180YC-FX"
        }
    }
}

/// The dn of the LLDP adjacency on `port`.
pub fn lldp_adjacency_dn(port: usize) -> String {
    format!("sys/lldp/inst/if-[eth1/{port}]/adj-1")
}

/// The dn of the CDP adjacency on `port`.
pub fn cdp_adjacency_dn(port: usize) -> String {
    format!("sys/cdp/inst/if-[eth1/{port}]/adj-1")
}

/// The LLDP and CDP containers and per-port interface objects of a switch with `ports` ports
/// (no adjacency: they come with links, see [`adjacency_changes`]).
pub fn insert_discovery(mit: &mut Mit, ports: usize, mod_ts: &str) {
    let plain = || Attrs::from_pairs([("modTs", mod_ts)]);
    mit.insert(
        "lldpEntity",
        "sys/lldp",
        Attrs::from_pairs([("adminSt", "enabled"), ("modTs", mod_ts)]),
    );
    mit.insert(
        "lldpInst",
        "sys/lldp/inst",
        Attrs::from_pairs([
            ("adminSt", "enabled"),
            ("holdTime", "120"),
            ("initDelayTime", "2"),
            ("modTs", mod_ts),
            ("txFreq", "30"),
        ]),
    );
    mit.insert("cdpEntity", "sys/cdp", plain());
    mit.insert(
        "cdpInst",
        "sys/cdp/inst",
        Attrs::from_pairs([
            ("adminSt", "enabled"),
            ("holdIntvl", "180"),
            ("modTs", mod_ts),
            ("txFreq", "60"),
            ("ver", "v2"),
        ]),
    );
    for port in 1..=ports {
        let id = format!("eth1/{port}");
        mit.insert(
            "lldpIf",
            &format!("sys/lldp/inst/if-[{id}]"),
            Attrs::from_pairs([
                ("adminRxSt", "enabled"),
                ("adminTxSt", "enabled"),
                ("id", &id),
                ("modTs", mod_ts),
            ]),
        );
        mit.insert(
            "cdpIf",
            &format!("sys/cdp/inst/if-[{id}]"),
            Attrs::from_pairs([("adminSt", "enabled"), ("id", &id), ("modTs", mod_ts)]),
        );
    }
}

/// The changes that bring the local end of a cable to `up` (link up, both adjacencies naming
/// `neighbour` on `neighbour_port`) or down (link down with `operStQual` "link-failure", both
/// adjacencies deleted), judged against the current tree so that nothing already so changes:
/// the port first, then the adjacencies, in the order a switch reports them.
pub fn adjacency_changes(
    mit: &Mit,
    local_port: usize,
    neighbour: &Identity,
    neighbour_port: usize,
    up: bool,
    domain: Option<&str>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let oper_dn = format!("{}/phys", super::tree::port_dn(local_port));
    if let Some(oper) = mit.get(&oper_dn) {
        let (oper_st, qualifier) = if up {
            ("up", "none")
        } else {
            ("down", "link-failure")
        };
        if oper.attrs.get("operSt") != Some(oper_st) {
            changes.push(Change::Set {
                dn: oper_dn,
                attrs: owned([("operSt", oper_st), ("operStQual", qualifier)]),
            });
        }
    }
    let adjacencies = [
        (
            lldp_adjacency_dn(local_port),
            "lldpAdjEp",
            lldp_attributes(neighbour, neighbour_port, domain),
        ),
        (
            cdp_adjacency_dn(local_port),
            "cdpAdjEp",
            cdp_attributes(neighbour, neighbour_port, domain),
        ),
    ];
    for (dn, class, attrs) in adjacencies {
        let exists = mit.get(&dn).is_some();
        let parent_exists =
            super::mit::parent_dn(&dn).is_some_and(|parent| mit.get(parent).is_some());
        match (up, exists) {
            (true, false) if parent_exists => changes.push(Change::Create {
                class: class.to_owned(),
                dn,
                attrs,
            }),
            (false, true) => changes.push(Change::Delete { dn }),
            _ => {}
        }
    }
    changes
}

/// What LLDP on a port shows of the neighbour at its other end.
fn lldp_attributes(
    neighbour: &Identity,
    neighbour_port: usize,
    domain: Option<&str>,
) -> BTreeMap<String, String> {
    let mac = neighbour.mac();
    owned([
        ("capability", "bridge,router"),
        ("chassisIdT", "mac"),
        ("chassisIdV", mac.as_str()),
        ("enCap", "bridge,router"),
        ("id", "1"),
        ("mgmtIp", neighbour.address.as_str()),
        ("mgmtPortMac", mac.to_uppercase().as_str()),
        ("portDesc", ""),
        ("portIdT", "if-name"),
        ("portIdV", format!("Ethernet1/{neighbour_port}").as_str()),
        ("portVlan", ""),
        ("stQual", ""),
        (
            "sysDesc",
            format!("Cisco Nexus Operating System (NX-OS) Software {VERSION}").as_str(),
        ),
        ("sysName", neighbour.qualified(domain).as_str()),
        ("ttl", "120"),
    ])
}

/// What CDP on a port shows of the neighbour at its other end.
fn cdp_attributes(
    neighbour: &Identity,
    neighbour_port: usize,
    domain: Option<&str>,
) -> BTreeMap<String, String> {
    owned([
        ("cap", "igmp-filter,router,stp-dispute,switch"),
        (
            "devId",
            format!("{}({})", neighbour.qualified(domain), neighbour.serial).as_str(),
        ),
        ("duplex", "full"),
        ("index", "1"),
        ("nativeVlan", "1"),
        ("platId", neighbour.platform()),
        ("portId", format!("Ethernet1/{neighbour_port}").as_str()),
        ("stQual", ""),
        ("sysName", neighbour.name.as_str()),
        (
            "ver",
            format!("Cisco Nexus Operating System (NX-OS) Software, Version {VERSION}").as_str(),
        ),
    ])
}

fn owned<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[cfg(test)]
#[path = "fabric_tests.rs"]
mod tests;
