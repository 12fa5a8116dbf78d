//! The APIC personality of the DME simulator (`netpulse sim apic`): an ACI controller's object
//! tree — the controller and its leaf nodes with their ports under `topology/pod-1`, tenants with
//! bridge domains, application profiles and EPGs under `uni` — and a generator of what an APIC
//! pushes most: faults going through their lifecycle (`faultInst`: soaking → raised →
//! raised-clearing → retaining → deleted, on the port they are about), event records
//! (`eventRecord`) and audit records (`aaaModLR`: who changed what).
//!
//! Record attributes follow the APIC management information model (`code`, `descr`, `severity`,
//! `cause`, `created`, `ind`, `user`, `affected`, `changeSet`, `id`, `txId`); no push of these
//! classes was captured publicly (reference §3), so their exact attribute sets are INFER. Records
//! hang under `subj-[<dn>]` containers, which the simulator creates with the tree (an APIC does
//! not expose them as objects: a simplification).

use super::api::Change;
use super::attrs::Attrs;
use super::mit::{Mit, format_mod_ts};

/// Tenants of the simulated fabric, each with the same application layout.
const TENANTS: [&str; 3] = ["common", "prod", "dev"];
const BRIDGE_DOMAINS: [&str; 2] = ["web", "db"];
/// Leaf nodes are `node-101`, `node-102`, ...
const FIRST_LEAF: usize = 101;
/// Records stop being generated past this many per simulated controller (they are never pruned,
/// as on a controller until its retention policy runs).
const MAX_RECORDS: u64 = 20_000;
/// APIC record ids start here (observed ids are 64-bit counters around 2^32).
const FIRST_RECORD_ID: u64 = 4_294_967_297;

/// The dn of leaf `leaf`'s port `port` configuration object (`l1PhysIf`).
pub fn port_dn(leaf: usize, port: usize) -> String {
    format!("topology/pod-1/node-{leaf}/sys/phys-[eth1/{port}]")
}

/// Builds the controller's tree: `leaves` leaf nodes of `ports` ports each, the tenants.
pub fn build(name: &str, address: &str, leaves: usize, ports: usize, now_millis: i64) -> Mit {
    let mut mit = Mit::default();
    let mod_ts = format_mod_ts(now_millis);
    let plain = |class: &str| {
        (
            class.to_owned(),
            Attrs::from_pairs([("modTs", mod_ts.as_str())]),
        )
    };
    let mut insert =
        |class_attrs: (String, Attrs), dn: &str| mit.insert(&class_attrs.0, dn, class_attrs.1);
    insert(plain("fabricTopology"), "topology");
    insert(plain("fabricPod"), "topology/pod-1");
    insert(plain("fabricNode"), "topology/pod-1/node-1");
    insert(
        (
            "topSystem".to_owned(),
            Attrs::from_pairs([
                ("address", address),
                ("id", "1"),
                ("modTs", &mod_ts),
                ("name", name),
                ("role", "controller"),
                ("state", "in-service"),
                ("version", "6.0(5h)"),
            ]),
        ),
        "topology/pod-1/node-1/sys",
    );
    for leaf in FIRST_LEAF..FIRST_LEAF + leaves {
        let node = format!("topology/pod-1/node-{leaf}");
        insert(plain("fabricNode"), &node);
        insert(
            (
                "topSystem".to_owned(),
                Attrs::from_pairs([
                    ("id", leaf.to_string().as_str()),
                    ("modTs", &mod_ts),
                    ("name", &format!("leaf{leaf}")),
                    ("role", "leaf"),
                    ("state", "in-service"),
                ]),
            ),
            &format!("{node}/sys"),
        );
        for port in 1..=ports {
            let dn = port_dn(leaf, port);
            let id = format!("eth1/{port}");
            insert(
                (
                    "l1PhysIf".to_owned(),
                    Attrs::from_pairs([
                        ("adminSt", "up"),
                        ("id", id.as_str()),
                        ("modTs", mod_ts.as_str()),
                    ]),
                ),
                &dn,
            );
            insert(
                (
                    "ethpmPhysIf".to_owned(),
                    Attrs::from_pairs([
                        ("modTs", mod_ts.as_str()),
                        ("operSt", "up"),
                        ("operStQual", "none"),
                    ]),
                ),
                &format!("{dn}/phys"),
            );
            insert(plain("subj"), &format!("subj-[{dn}/phys]"));
        }
    }
    insert(plain("polUni"), "uni");
    for tenant in TENANTS {
        let tenant_dn = format!("uni/tn-{tenant}");
        insert(
            (
                "fvTenant".to_owned(),
                Attrs::from_pairs([("modTs", mod_ts.as_str()), ("name", tenant)]),
            ),
            &tenant_dn,
        );
        insert(
            (
                "fvAp".to_owned(),
                Attrs::from_pairs([("modTs", mod_ts.as_str()), ("name", "app")]),
            ),
            &format!("{tenant_dn}/ap-app"),
        );
        for bd in BRIDGE_DOMAINS {
            let bd_dn = format!("{tenant_dn}/BD-{bd}");
            insert(
                (
                    "fvBD".to_owned(),
                    Attrs::from_pairs([("descr", ""), ("modTs", mod_ts.as_str()), ("name", bd)]),
                ),
                &bd_dn,
            );
            insert(plain("subj"), &format!("subj-[{bd_dn}]"));
            insert(
                (
                    "fvAEPg".to_owned(),
                    Attrs::from_pairs([("modTs", mod_ts.as_str()), ("name", bd)]),
                ),
                &format!("{tenant_dn}/ap-app/epg-{bd}"),
            );
        }
    }
    mit
}

/// The APIC change generator: faults (half the steps), event records and audit records.
#[derive(Debug)]
pub struct ApicGenerator {
    next_record: u64,
}

impl Default for ApicGenerator {
    fn default() -> ApicGenerator {
        ApicGenerator {
            next_record: FIRST_RECORD_ID,
        }
    }
}

impl ApicGenerator {
    pub fn next_change(
        &mut self,
        rng: &mut fastrand::Rng,
        mit: &Mit,
        now_millis: i64,
    ) -> Option<Change> {
        let records_left = self.next_record - FIRST_RECORD_ID < MAX_RECORDS;
        match rng.u32(..4) {
            0 if records_left => self.event_record(rng, mit, now_millis),
            1 if records_left => self.audit_record(rng, mit, now_millis),
            _ => fault_step(rng, mit, now_millis),
        }
    }

    fn record_id(&mut self) -> u64 {
        let id = self.next_record;
        self.next_record += 1;
        id
    }

    fn event_record(
        &mut self,
        rng: &mut fastrand::Rng,
        mit: &Mit,
        now_millis: i64,
    ) -> Option<Change> {
        let port = pick(rng, mit, "ethpmPhysIf")?;
        let id = self.record_id();
        let interface = bracketed(&port);
        let created = format_mod_ts(now_millis);
        Some(create(
            "eventRecord",
            &format!("subj-[{port}]/rec-{id}"),
            &[
                ("affected", &port),
                ("cause", "port-link-state-change"),
                ("code", "E4208219"),
                ("created", &created),
                ("descr", &format!("Port {interface} link state changed")),
                ("id", &id.to_string()),
                ("ind", "state-transition"),
                ("severity", "info"),
                ("trig", "oper"),
                ("txId", &(id * 7).to_string()),
                ("user", "internal"),
            ],
        ))
    }

    fn audit_record(
        &mut self,
        rng: &mut fastrand::Rng,
        mit: &Mit,
        now_millis: i64,
    ) -> Option<Change> {
        let bd = pick(rng, mit, "fvBD")?;
        let id = self.record_id();
        let name = bd.rsplit("BD-").next().unwrap_or("bd");
        let user = ["admin", "netops", "ansible"][rng.usize(..3)];
        let created = format_mod_ts(now_millis);
        Some(create(
            "aaaModLR",
            &format!("subj-[{bd}]/mod-{id}"),
            &[
                ("affected", &bd),
                ("cause", "transition"),
                ("changeSet", &format!("descr (Old: , New: change {id})")),
                ("code", "E4209236"),
                ("created", &created),
                ("descr", &format!("BD {name} modified")),
                ("id", &id.to_string()),
                ("ind", "modification"),
                ("severity", "info"),
                ("trig", "config"),
                ("txId", &(id * 7).to_string()),
                ("user", user),
            ],
        ))
    }
}

/// Moves one port fault a step through its lifecycle, or raises a new one.
fn fault_step(rng: &mut fastrand::Rng, mit: &Mit, now_millis: i64) -> Option<Change> {
    let now = format_mod_ts(now_millis);
    if rng.bool()
        && let Some(fault) = pick(rng, mit, "faultInst")
    {
        let lc = mit
            .get(&fault)?
            .attrs
            .get("lc")
            .unwrap_or("raised")
            .to_owned();
        let next: &[(&str, &str)] = match lc.as_str() {
            "soaking" => &[
                ("lc", "raised"),
                ("severity", "major"),
                ("highestSeverity", "major"),
            ],
            "raised" => &[
                ("lc", "raised-clearing"),
                ("severity", "cleared"),
                ("prevSeverity", "major"),
            ],
            "raised-clearing" => &[("lc", "retaining"), ("severity", "cleared")],
            _ => return Some(Change::Delete { dn: fault }),
        };
        let mut pairs = next.to_vec();
        pairs.push(("lastTransition", &now));
        return Some(set(&fault, &pairs));
    }
    let port = pick(rng, mit, "ethpmPhysIf")?;
    let dn = format!("{port}/fault-F0546");
    if mit.get(&dn).is_some() {
        return None;
    }
    let interface = bracketed(&port);
    Some(create(
        "faultInst",
        &dn,
        &[
            ("ack", "no"),
            ("cause", "interface-physical-down"),
            ("code", "F0546"),
            ("created", &now),
            (
                "descr",
                &format!(
                    "Port is down, reason:linkFailure(connected), used by:EPG, lastLinkStChg:{now}, operStQual:link-failure"
                ),
            ),
            ("domain", "access"),
            ("highestSeverity", "minor"),
            ("lastTransition", &now),
            ("lc", "soaking"),
            ("occur", "1"),
            ("origSeverity", "minor"),
            ("prevSeverity", "minor"),
            ("rule", "ethpm-if-port-down-no-infra"),
            ("severity", "minor"),
            ("subject", &format!("port-down {interface}")),
            ("type", "communications"),
        ],
    ))
}

fn pick(rng: &mut fastrand::Rng, mit: &Mit, class: &str) -> Option<String> {
    let candidates: Vec<&str> = mit
        .iter()
        .filter(|(_, mo)| &*mo.class == class)
        .map(|(dn, _)| dn)
        .collect();
    (!candidates.is_empty()).then(|| candidates[rng.usize(..candidates.len())].to_owned())
}

fn bracketed(dn: &str) -> &str {
    match (dn.find('['), dn.rfind(']')) {
        (Some(start), Some(end)) if start < end => &dn[start + 1..end],
        _ => dn,
    }
}

fn create(class: &str, dn: &str, pairs: &[(&str, &str)]) -> Change {
    Change::Create {
        class: class.to_owned(),
        dn: dn.to_owned(),
        attrs: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn set(dn: &str, pairs: &[(&str, &str)]) -> Change {
    Change::Set {
        dn: dn.to_owned(),
        attrs: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_go_through_their_whole_lifecycle_and_records_accumulate() {
        let mut mit = build("apic1", "127.0.0.1", 2, 4, 0);
        assert_eq!(
            mit.iter()
                .filter(|(_, mo)| &*mo.class == "ethpmPhysIf")
                .count(),
            8
        );
        assert_eq!(mit.iter().filter(|(_, mo)| &*mo.class == "fvBD").count(), 6);
        let mut generator = ApicGenerator::default();
        let mut rng = fastrand::Rng::with_seed(3);
        let mut seen = std::collections::BTreeSet::new();
        for step in 0..2000 {
            let Some(change) = generator.next_change(&mut rng, &mit, step) else {
                continue;
            };
            if let Change::Set { attrs, .. } = &change
                && let Some(lc) = attrs.get("lc")
            {
                seen.insert(lc.clone());
            }
            if let Change::Delete { dn } = &change {
                assert!(
                    dn.ends_with("/fault-F0546"),
                    "only faults are deleted: {dn}"
                );
                seen.insert("deleted".to_owned());
            }
            mit.apply(&change, step).unwrap();
        }
        for lc in ["raised", "raised-clearing", "retaining", "deleted"] {
            assert!(seen.contains(lc), "{lc} never happened: {seen:?}");
        }
        assert!(mit.iter().any(|(_, mo)| &*mo.class == "eventRecord"));
        assert!(mit.iter().any(|(_, mo)| &*mo.class == "aaaModLR"));
    }
}
