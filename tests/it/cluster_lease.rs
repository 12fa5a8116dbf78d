//! Cluster mode, ownership: two gateways on one three-server NATS cluster and four simulated
//! switches; each switch has exactly one session (the simulator counts them), on the node
//! holding its lease, and its session moves when that gateway stops.

use std::time::Duration;

use netpulse::cluster::local::LocalNats;
use netpulse::cluster::rendezvous;
use netpulse::sim::dme::DmeSim;
use netpulse::source::ConnectionState;
use tokio_util::sync::CancellationToken;

use crate::support::{Running, send_json, small_switch};

const TOKEN: &str = "read-token-0123456789";
const SWITCHES: usize = 4;

fn config(node: &str, nats: &LocalNats, sim: &DmeSim, ca_file: &str) -> String {
    let urls: Vec<String> = nats.urls().iter().map(|url| format!("\"{url}\"")).collect();
    let mut sources = String::new();
    for (index, device) in sim.devices().iter().enumerate() {
        sources.push_str(&format!(
            "  - {{ name: sw{index}, type: dme, address: \"{}\", username: admin, password: admin, tls: {{ ca_file: {ca_file} }}, backoff: {{ initial: 200ms, max: 1s }}, subscriptions: [/api/class/l1PhysIf.json] }}\n",
            device.base_url()
        ));
    }
    format!(
        "store: {{ path: netpulse.db }}
http: {{ listen: \"127.0.0.1:0\" }}
api:
  auth:
    tokens:
      - {{ name: screen, token: \"{TOKEN}\" }}
sources:
{sources}sinks:
  - {{ name: archive, type: file, path: events.jsonl }}
cluster:
  node_id: {node}
  nats: {{ urls: [{urls}] }}
  lease: {{ ttl: 3s, renew: 1s, self_fence: 2400ms, poll: 500ms, member_ttl: 3s }}
",
        urls = urls.join(", ")
    )
}

async fn get(running: &Running, path: &str) -> serde_json::Value {
    send_json(
        reqwest::Client::new()
            .get(running.url(path))
            .bearer_auth(TOKEN),
    )
    .await
}

/// Waits until `done`, checking at every sample that no switch has two sessions.
async fn until(sim: &DmeSim, what: &str, done: impl Fn(&[u64]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let sessions: Vec<u64> = sim
            .devices()
            .iter()
            .map(|device| device.stats().sessions_active)
            .collect();
        assert!(
            sessions.iter().all(|count| *count <= 1),
            "a switch has two sessions: {sessions:?}"
        );
        if done(&sessions) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}: sessions {sessions:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_switch_has_one_session_on_its_owner_and_moves_when_the_owner_stops() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let sim_shutdown = CancellationToken::new();
    let mut sim_config = small_switch();
    sim_config.devices = SWITCHES;
    let sim = DmeSim::start(sim_config, sim_shutdown.clone())
        .await
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, sim.ca_pem().unwrap()).unwrap();
    let ca_file = ca_file.display().to_string();
    let g1 = Running::start(&config("g1", &nats, &sim, &ca_file), &[]).await;
    let g2 = Running::start(&config("g2", &nats, &sim, &ca_file), &[]).await;

    // At first a node may see itself alone and take everything; once both are members, each
    // switch ends on its rendezvous owner by planned handover.
    let preferred: Vec<String> = (0..SWITCHES)
        .map(|index| {
            let key = format!("dev.sw{index}");
            rendezvous::rank(&key, ["g1", "g2"])[0].to_owned()
        })
        .collect();
    until(
        &sim,
        "every switch has a session on its preferred node",
        |sessions| {
            sessions.iter().all(|count| *count == 1)
                && preferred.iter().enumerate().all(|(index, node)| {
                    let running = if node == "g1" { &g1 } else { &g2 };
                    running
                        .gateway()
                        .source(&format!("sw{index}"))
                        .unwrap()
                        .status
                        .snapshot()
                        .state
                        == ConnectionState::Connected
                })
        },
    )
    .await;
    // Both nodes' APIs agree on the owners (refreshed every poll) and see both members.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut agreed = true;
        for running in [&g1, &g2] {
            let sources = get(running, "/api/v1/sources").await;
            let owners: Vec<&str> = sources["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|source| source["owner"].as_str().unwrap_or("none"))
                .collect();
            let cluster = get(running, "/api/v1/cluster").await;
            agreed &= owners == preferred
                && cluster["members"].as_array().unwrap().len() == 2
                && cluster["leases"].as_array().unwrap().len() == SWITCHES;
        }
        if agreed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the APIs do not show the owners {preferred:?}: {}",
            get(&g1, "/api/v1/cluster").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // g1 stops cleanly: its sessions log out, its leases are released, g2 takes every switch.
    let _ = g1.stop().await;
    until(&sim, "every switch has a session on g2", |sessions| {
        sessions.iter().all(|count| *count == 1)
            && (0..SWITCHES).all(|index| {
                g2.gateway()
                    .source(&format!("sw{index}"))
                    .unwrap()
                    .session()
                    .is_some_and(|control| !control.is_stopped())
            })
    })
    .await;
    let sources = get(&g2, "/api/v1/sources").await;
    for source in sources["sources"].as_array().unwrap() {
        assert_eq!(source["owner"], "g2", "{source}");
    }
    let _ = g2.stop().await;
    sim_shutdown.cancel();
}
