//! Inhibition with the payloads of `tests/data/`, as a user would write the rules: an SD-WAN
//! control-connection-down on an edge inhibits that edge's BFD alarms; a Catalyst Center
//! device-unreachable issue inhibits that device's interface issues; an APIC node fault inhibits
//! that node's port faults. The resolution of an alarm already notified is never inhibited.

use serde_json::Value;

use super::engine::Outcome;
use super::notification::LineState;
use super::testkit::{Run, apic_fault, at, catalyst_issue, policy, sdwan_alarm};

const RULES: &str = r#"routes:
  - { sinks: [noc], group_by: [device] }
inhibit_rules:
  - name: control-down-hides-bfd
    source:
      type: [com.cisco.sdwan.alarm.raised]
      data: [{ pointer: /consumed_events/0/eventname, equals: control-connection-state-change }]
    target:
      subject_prefix: [BFD_]
    equal: [device]
  - name: unreachable-hides-interfaces
    source:
      type: [com.cisco.catalystcenter.issue.raised]
      data: [{ pointer: "/details/Assurance Issue Name", regex: ".* Unreachable .*" }]
    target:
      type: [com.cisco.catalystcenter.issue.raised]
      data: [{ pointer: "/details/Assurance Issue Name", regex: "Interface .*" }]
    equal: [device]
  - name: node-fault-hides-ports
    source:
      type_prefix: [com.cisco.dme.]
      data: [{ pointer: /faultInst/attributes/code, equals: F0110 }]
    target:
      type_prefix: [com.cisco.dme.]
      data: [{ pointer: /faultInst/attributes/code, equals: F0546 }]
    equal: [device]
"#;

const CONTROL_DOWN: &str = "rest-alarm-control-node-down-inactive-20.x.json";
const BFD_NODE_DOWN: &str = "rest-alarm-bfd-node-down-inactive-20.x.json";
const BFD_TLOC_DOWN: &str = "rest-alarm-bfd-tloc-down-active-20.x.json";

/// The fixture's inactive record as the alarm's raise: active, not yet cleared.
fn raised(document: &mut Value) {
    document["active"] = Value::from(true);
    document["cleared_by"] = Value::from("");
}

fn grouped(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Grouped { .. })
}

#[test]
fn an_edge_control_connection_down_inhibits_that_edges_bfd_alarms() {
    let mut run = Run::new(policy(RULES));
    let control = sdwan_alarm(CONTROL_DOWN, raised);
    let control_key = control.1[0].key.clone();
    let (_, decisions) = run.send(&control, at(0));
    assert!(
        grouped(&decisions[0].outcome),
        "the source alarm is notified: {decisions:?}"
    );
    let (_, decisions) = run.send(&sdwan_alarm(BFD_NODE_DOWN, raised), at(1));
    let inhibited = Outcome::Inhibited {
        alarm: control_key,
        rule: "control-down-hides-bfd".to_owned(),
    };
    assert_eq!(decisions[0].outcome, inhibited, "Edge1's BFD alarm");
    let (_, decisions) = run.send(&sdwan_alarm(BFD_TLOC_DOWN, |_| {}), at(2));
    assert!(
        grouped(&decisions[0].outcome),
        "Edge2's BFD alarm: {decisions:?}"
    );
    run.tick(at(10));
    run.tick(at(12));
    let notified: Vec<String> = run
        .notifications
        .iter()
        .flat_map(|n| n.alarms.iter().map(|line| line.summary.clone()))
        .collect();
    assert_eq!(
        notified,
        [
            "Control_Node_Down on Edge1",
            "BFD_TLOC_Down on Edge2: color=private1"
        ]
    );

    // The control connections come back (the fixture as recorded): BFD alarms notify again.
    run.send(&sdwan_alarm(CONTROL_DOWN, |_| {}), at(20));
    let again = sdwan_alarm(BFD_NODE_DOWN, |document| {
        raised(document);
        document["uuid"] = Value::from("11111111-2222-4333-8444-555555555555");
    });
    let (_, decisions) = run.send(&again, at(30));
    assert!(grouped(&decisions[0].outcome), "{decisions:?}");
}

#[test]
fn inhibition_never_hides_the_clear_of_a_notified_alarm() {
    let mut run = Run::new(policy(RULES));
    run.send(&sdwan_alarm(BFD_NODE_DOWN, raised), at(0));
    assert_eq!(
        run.tick(at(10))[0].alarms[0].summary,
        "BFD_Node_Down on Edge1"
    );
    run.send(&sdwan_alarm(CONTROL_DOWN, raised), at(20));
    // The BFD alarm's own inactive record clears it while the control alarm still inhibits.
    let (_, decisions) = run.send(&sdwan_alarm(BFD_NODE_DOWN, |_| {}), at(30));
    assert!(grouped(&decisions[0].outcome), "{decisions:?}");
    let update = run.tick(at(310)).remove(0);
    let states: Vec<(LineState, &str)> = update
        .alarms
        .iter()
        .map(|line| (line.state, line.summary.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            (LineState::New, "Control_Node_Down on Edge1"),
            (LineState::Cleared, "BFD_Node_Down on Edge1"),
        ]
    );
}

#[test]
fn an_alarm_inhibited_after_it_arrived_is_left_out_of_the_first_notification() {
    let mut run = Run::new(policy(RULES));
    let (bfd_seq, _) = run.send(&sdwan_alarm(BFD_NODE_DOWN, raised), at(0));
    run.send(&sdwan_alarm(CONTROL_DOWN, raised), at(5));
    let first = run.tick(at(10)).remove(0);
    assert_eq!(first.alarms.len(), 1);
    assert_eq!(first.alarms[0].summary, "Control_Node_Down on Edge1");
    let decided_later = run.decisions.iter().any(|(seq, decision)| {
        *seq == bfd_seq
            && matches!(&decision.outcome, Outcome::Inhibited { rule, .. } if rule == "control-down-hides-bfd")
    });
    assert!(decided_later, "{:?}", run.decisions);
}

/// The interface-down fixture's device, unreachable from the controller (a Catalyst Center
/// assurance issue of the same shape; the name follows the controller's wording).
fn device_unreachable() -> (crate::event::Event, Vec<crate::event::AlarmUpdate>) {
    catalyst_issue("dnac-2019-interface-down-p1-active.json", |document| {
        document["instanceId"] = Value::from("6a4f2b7e-0c1d-4e2f-9a3b-5c6d7e8f9a0b");
        document["eventId"] = Value::from("NETWORK-DEVICES-1-206");
        document["subDomain"] = Value::from("Device Reachability");
        let details = &mut document["details"];
        details["Assurance Issue Name"] =
            Value::from("Network Device 10.93.141.17 Is Unreachable From Controller");
        details["Assurance Issue Details"] =
            Value::from("The network device 10.93.141.17 is unreachable from the controller");
        details["Assurance Issue Category"] = Value::from("Availability");
    })
}

#[test]
fn a_catalyst_center_device_unreachable_inhibits_that_devices_interface_issues() {
    let mut run = Run::new(policy(RULES));
    let unreachable = device_unreachable();
    let key = unreachable.1[0].key.clone();
    let (_, decisions) = run.send(&unreachable, at(0));
    assert!(grouped(&decisions[0].outcome), "{decisions:?}");
    let interface = catalyst_issue("dnac-2019-interface-down-p1-active.json", |_| {});
    let (_, decisions) = run.send(&interface, at(1));
    let inhibited = Outcome::Inhibited {
        alarm: key,
        rule: "unreachable-hides-interfaces".to_owned(),
    };
    assert_eq!(decisions[0].outcome, inhibited);
    let elsewhere = catalyst_issue("dnac-2019-interface-flapping-p3-warn-nulls.json", |_| {});
    let (_, decisions) = run.send(&elsewhere, at(2));
    assert!(
        grouped(&decisions[0].outcome),
        "another device: {decisions:?}"
    );
}

#[test]
fn an_apic_node_fault_inhibits_that_nodes_port_faults() {
    let mut run = Run::new(policy(RULES));
    // A node-level fault of the same node as the fixture's port fault (node-103). The code is
    // illustrative (INFER: a node's unreachability fault as an operator would name it).
    let node = apic_fault(|attributes| {
        attributes.insert("code".into(), "F0110".into());
        attributes.insert("dn".into(), "topology/pod-1/node-103/fault-F0110".into());
        attributes.insert("descr".into(), "Node 103 not reachable".into());
        attributes.insert("severity".into(), "critical".into());
    });
    assert_eq!(node.0.device, "pod-1/node-103");
    let key = node.1[0].key.clone();
    let (_, decisions) = run.send(&node, at(0));
    assert!(grouped(&decisions[0].outcome), "{decisions:?}");
    let port = apic_fault(|_| {});
    assert_eq!(port.0.device, "pod-1/node-103");
    let (_, decisions) = run.send(&port, at(1));
    let inhibited = Outcome::Inhibited {
        alarm: key,
        rule: "node-fault-hides-ports".to_owned(),
    };
    assert_eq!(decisions[0].outcome, inhibited);
    let other_node = apic_fault(|attributes| {
        let dn = attributes["dn"].replace("node-103", "node-104");
        attributes.insert("dn".into(), dn);
    });
    let (_, decisions) = run.send(&other_node, at(2));
    assert!(grouped(&decisions[0].outcome), "node-104: {decisions:?}");
}
