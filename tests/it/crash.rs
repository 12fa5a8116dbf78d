//! kill -9 in the middle of a load: every alarm that was acknowledged survives, and every pending
//! delivery reaches the room exactly once after the restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpulse::sim::webex::{WebexSim, WebexSimConfig};
use tokio_util::sync::CancellationToken;

use crate::support::{TIMEOUT, free_port, sdwan_alarm, spawn_gateway, wait_until};

const LOADERS: usize = 4;

async fn wait_ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts alarms with fresh uuids until stopped; records every uuid that got a 2xx.
async fn load(
    port: u16,
    loader: usize,
    accepted: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
) {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/hooks/sdwan");
    for index in 0.. {
        if stop.is_cancelled() {
            return;
        }
        let uuid = format!("crash-{loader}-{index}");
        let body = sdwan_alarm("webhook-interface-state-change-down-2019.json", &uuid, None);
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => accepted.lock().unwrap().push(uuid),
            // The gateway is gone: the loader's job is done.
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_alarm_and_delivers_each_once() {
    let sim_shutdown = CancellationToken::new();
    let sim = WebexSim::start(WebexSimConfig::default(), sim_shutdown.clone())
        .await
        .unwrap();
    let room = sim.room_id("NOC").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("netpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:{port}\" }}
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: {{ none: true }}
    vmanage_url: https://vmanage.example.com
sinks:
  - name: noc
    type: webex
    base_url: {base}
    token: ${{WEBEX_TOKEN}}
    room_id: \"{room}\"
    rate_limit: 200
",
            base = sim.base_url()
        ),
    )
    .unwrap();

    let mut gateway = spawn_gateway(&config, &[("WEBEX_TOKEN", "sim-bot-token")]);
    wait_ready(port).await;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let loaders: Vec<_> = (0..LOADERS)
        .map(|loader| tokio::spawn(load(port, loader, accepted.clone(), stop.clone())))
        .collect();
    // Kill while alarms are arriving and messages are being posted.
    wait_until("some alarms are delivered", || sim.messages().len() >= 50).await;
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    stop.cancel();
    for loader in loaders {
        loader.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let delivered_before = sim.messages().len();
    assert!(
        accepted.len() > delivered_before,
        "the kill came while deliveries were pending ({} accepted, {delivered_before} delivered)",
        accepted.len()
    );

    let mut gateway = spawn_gateway(&config, &[("WEBEX_TOKEN", "sim-bot-token")]);
    wait_ready(port).await;
    let reader = netpulse::store::Reader::open(&dir.path().join("netpulse.db")).unwrap();
    for uuid in &accepted {
        assert!(
            reader
                .event_by_key(&format!("vmanage:sdwan:{uuid}"))
                .unwrap()
                .is_some(),
            "acknowledged alarm {uuid} is not in the store"
        );
    }
    let per_uuid = |messages: &[netpulse::sim::webex::SimMessage]| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for message in messages {
            let markdown = message.markdown.as_deref().unwrap_or_default();
            let uuid = markdown
                .split("/details/")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .unwrap_or("?");
            *counts.entry(uuid.to_owned()).or_default() += 1;
        }
        counts
    };
    wait_until("every acknowledged alarm reaches the room", || {
        let counts = per_uuid(&sim.messages());
        accepted.iter().all(|uuid| counts.contains_key(uuid))
    })
    .await;
    // Let the restarted gateway finish whatever else it had (alarms stored but not acknowledged).
    wait_until("the outbox is empty", || {
        reader.outbox_counts("noc").unwrap().pending == 0
    })
    .await;
    let counts = per_uuid(&sim.messages());
    let repeated: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
    println!(
        "accepted {}, delivered before the kill {delivered_before}, after the restart {}",
        accepted.len(),
        sim.messages().len()
    );
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    sim_shutdown.cancel();
}
