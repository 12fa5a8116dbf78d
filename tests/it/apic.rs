//! An ACI APIC (the simulator's APIC personality) through the DME source with `platform: apic`:
//! a login-domain user, class subscriptions with `refresh-timeout`, faults through their
//! lifecycle to alarm state, audit records as events, and recovery from a dropped socket, an
//! expired session and a controller restart, after which netpulse's alarms match the faults.

use netpulse::sim::dme::{Change, DmeSim, DmeSimConfig, Fault, SimPlatform};
use tokio_util::sync::CancellationToken;

use crate::support::{Running, wait_until};

fn config(sim: &DmeSim, ca_file: &std::path::Path) -> String {
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
sources:
  - name: apic1
    type: dme
    platform: apic
    address: {address}
    username: 'apic#tacacs\\noc'
    password: ${{APIC_PASSWORD}}
    tls: {{ ca_file: {ca} }}
    subscription_timeout: 20s
    subscription_refresh: 5s
    subscriptions:
      - /api/class/faultInst.json
      - /api/class/aaaModLR.json
      - /api/class/eventRecord.json?query-target-filter=eq(eventRecord.severity,\"info\")
",
        address = sim.devices()[0].base_url(),
        ca = ca_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apic_faults_become_alarms_and_records_events_across_drops_expiry_and_restart() {
    let shutdown = CancellationToken::new();
    let sim = DmeSim::start(
        DmeSimConfig {
            platform: SimPlatform::Apic,
            leaves: 2,
            ports: 4,
            username: "apic#tacacs\\noc".to_owned(),
            password: "secret".to_owned(),
            ..DmeSimConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, sim.ca_pem().unwrap()).unwrap();
    let running = Running::start(&config(&sim, &ca_file), &[("APIC_PASSWORD", "secret")]).await;
    let device = &sim.devices()[0];
    let source = || running.gateway().source("apic1").unwrap().status.snapshot();
    wait_until("subscribed to the three classes", || {
        source().subscriptions == 3
    })
    .await;

    let stored = || {
        let query = netpulse::store::EventQuery {
            after_seq: Some(0),
            limit: 10_000,
            ..Default::default()
        };
        running.reader().events(&query).unwrap()
    };
    // The simulator's generator: faults go through soaking, raised, raised-clearing, retaining.
    device.apply(Change::Random { count: 60 }).unwrap();
    wait_until("fault and audit events arrive", || {
        let events = stored();
        events
            .iter()
            .any(|e| e.objectclass.as_deref() == Some("faultInst"))
            && events
                .iter()
                .any(|e| e.objectclass.as_deref() == Some("aaaModLR"))
    })
    .await;
    device.fault(Fault::DropSockets);
    device.apply(Change::Random { count: 60 }).unwrap();
    wait_until("the session is back after the dropped socket", || {
        source().connects >= 2
    })
    .await;

    // Whatever the device holds now, netpulse's alarms agree: every fault that is raised or
    // soaking on the device is an active alarm, every other one is not.
    wait_until("alarms match the device's faults", || {
        let reader = running.reader();
        device
            .dump()
            .iter()
            .filter(|mo| mo.class == "faultInst")
            .all(|mo| {
                let lc = mo.attributes.get("lc").map(String::as_str).unwrap_or("");
                let active = matches!(lc, "soaking" | "raised");
                let dn = &mo.attributes["dn"];
                let alarm = reader.alarm(&format!("apic1:{dn}")).unwrap();
                alarm.is_some_and(|alarm| alarm.raised == active)
            })
    })
    .await;
    let events = stored();
    let audit = events
        .iter()
        .find(|e| e.objectclass.as_deref() == Some("aaaModLR"))
        .unwrap();
    assert!(
        audit.summary.contains(": modification uni/tn-"),
        "{}",
        audit.summary
    );
    let fault = events
        .iter()
        .find(|e| e.objectclass.as_deref() == Some("faultInst"))
        .unwrap();
    assert!(
        fault.device.starts_with("pod-1/node-10"),
        "{}",
        fault.device
    );
    running.stop().await;
    shutdown.cancel();
}
