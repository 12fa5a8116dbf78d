//! Leases against a real three-server NATS cluster (`LocalNats`): one owner per key, takeover
//! after a crash, self-fencing when cut off, planned handover to a new member, and a NATS
//! server's death moving no key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::local::LocalNats;
use super::wire::LeaseKey;
use super::{Node, rendezvous};
use crate::config::{ClusterConfig, LeaseConfig, NatsConfig, StreamConfig};

fn config(urls: Vec<String>, lease: LeaseConfig) -> ClusterConfig {
    ClusterConfig {
        node_id: None,
        advertise_url: None,
        nats: NatsConfig {
            urls,
            credentials_file: None,
            user: None,
            password: None,
            token: None,
            tls: None,
        },
        lease,
        publish_timeout: Duration::from_secs(1),
        stream: StreamConfig {
            replicas: 3,
            ..StreamConfig::default()
        },
        max_lag: 10_000,
    }
}

/// Short timings so a test takes seconds: ttl 3 s, renew 1 s, self-fence 2.4 s, poll 0.5 s.
fn fast() -> LeaseConfig {
    LeaseConfig {
        ttl: Duration::from_secs(3),
        renew: Duration::from_secs(1),
        self_fence: Duration::from_millis(2400),
        poll: Duration::from_millis(500),
        member_ttl: Duration::from_secs(3),
    }
}

fn keys(count: usize) -> Vec<LeaseKey> {
    (0..count)
        .map(|index| LeaseKey::Device(format!("sw{index}")))
        .collect()
}

async fn node(nats: &LocalNats, id: &str, lease: LeaseConfig) -> Node {
    let config = config(nats.urls(), lease);
    let client = super::nats::connect(&config, id).await.unwrap();
    let node = Node::start_with(&config, id.to_owned(), client);
    node.leases.set_wanted(keys(30));
    node
}

/// Key → holders, from every node's `FenceBook` (what its publisher would fence with).
fn holders(nodes: &[&Node]) -> BTreeMap<LeaseKey, Vec<String>> {
    let mut holders: BTreeMap<LeaseKey, Vec<String>> = BTreeMap::new();
    for node in nodes {
        for key in node.fences.keys() {
            holders.entry(key).or_default().push(node.id.clone());
        }
    }
    holders
}

/// Samples the holders every 20 ms until `done` holds or `timeout` passes; panics if a key is
/// ever held by two nodes at once. Returns the time it took.
async fn until(
    nodes: &[&Node],
    timeout: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<LeaseKey, Vec<String>>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let holders = holders(nodes);
        for (key, nodes) in &holders {
            assert!(nodes.len() <= 1, "{key:?} held by {nodes:?} at once");
        }
        if done(&holders) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "not {what} after {timeout:?}: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_held(holders: &BTreeMap<LeaseKey, Vec<String>>) -> bool {
    holders.len() == 30
}

/// Every key on the member rendezvous ranks first among `members`.
fn placed(members: &[&str]) -> impl Fn(&BTreeMap<LeaseKey, Vec<String>>) -> bool {
    let members: Vec<String> = members.iter().map(|member| member.to_string()).collect();
    move |holders| {
        holders.len() == 30
            && holders.iter().all(|(key, nodes)| {
                let ranked = rendezvous::rank(&key.as_key(), members.iter().map(String::as_str));
                nodes[0] == ranked[0]
            })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_hold_every_key_once_and_a_crashed_nodes_keys_move_within_ttl_and_poll() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let g1 = node(&nats, "g1", fast()).await;
    let g2 = node(&nats, "g2", fast()).await;
    let g3 = node(&nats, "g3", fast()).await;
    let nodes = [&g1, &g2, &g3];
    until(
        &nodes,
        Duration::from_secs(20),
        "placed by rendezvous",
        placed(&["g1", "g2", "g3"]),
    )
    .await;
    for node in nodes {
        let held = node.leases.held().len();
        assert!((4..=18).contains(&held), "{} holds {held} of 30", node.id);
        // What the API shows: every lease with its owner.
        let view = node.leases.view();
        assert_eq!(view.leases.len(), 30);
    }
    // g1 dies: no release, its keys expire.
    g1.leases.abort();
    let orphans = g1.fences.keys();
    // The dead node's FenceBook is stale (its process would be gone): sample the others only.
    let took = until(
        &[&g2, &g3],
        Duration::from_secs(15),
        "all taken by g2 and g3",
        all_held,
    )
    .await;
    eprintln!(
        "keys of the crashed node ({}) owned again after {took:?}",
        orphans.len()
    );
    // ttl (3 s) from the last renewal, plus its rank's wait (1 poll) and one refresh.
    assert!(
        took <= Duration::from_millis(3000 + 500 + 1500),
        "took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_nats_stops_its_sessions_before_another_can_hold_them() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let urls = nats.urls();
    // g1 talks to server 1 only (it cannot fail over): killing that server cuts it off.
    let alone = config(vec![urls[0].clone()], fast());
    let client = async_nats::ConnectOptions::new()
        .ignore_discovered_servers()
        .connect(urls[0].as_str())
        .await
        .unwrap();
    let g1 = Node::start_with(&alone, "g1".into(), client);
    g1.leases.set_wanted(keys(30));
    let g2 = node(&nats, "g2", fast()).await;
    let g3 = node(&nats, "g3", fast()).await;
    let nodes = [&g1, &g2, &g3];
    until(
        &nodes,
        Duration::from_secs(20),
        "placed by rendezvous",
        placed(&["g1", "g2", "g3"]),
    )
    .await;
    let cut = Instant::now();
    nats.kill(0);
    let fenced = until(&nodes, Duration::from_secs(10), "g1 fenced", |_| {
        g1.fences.keys().is_empty()
    })
    .await;
    eprintln!("g1 self-fenced {fenced:?} after losing NATS");
    assert!(
        fenced < Duration::from_secs(3),
        "self-fenced only after {fenced:?} (ttl 3 s)"
    );
    // The others take its keys after they expire (and after an election if server 1 led the
    // bucket), never while g1 still holds them: `until` checks every sample.
    until(
        &nodes,
        Duration::from_secs(30),
        "all held by g2 and g3",
        all_held,
    )
    .await;
    eprintln!("all keys held again {:?} after the cut", cut.elapsed());
    assert!(g1.leases.held().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_takes_about_a_quarter_by_planned_handover() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let g1 = node(&nats, "g1", fast()).await;
    let g2 = node(&nats, "g2", fast()).await;
    let g3 = node(&nats, "g3", fast()).await;
    until(
        &[&g1, &g2, &g3],
        Duration::from_secs(20),
        "placed by rendezvous",
        placed(&["g1", "g2", "g3"]),
    )
    .await;
    let before: BTreeMap<LeaseKey, Vec<String>> = holders(&[&g1, &g2, &g3]);
    let g4 = node(&nats, "g4", fast()).await;
    let nodes = [&g1, &g2, &g3, &g4];
    let took = until(
        &nodes,
        Duration::from_secs(20),
        "placed over four",
        placed(&["g1", "g2", "g3", "g4"]),
    )
    .await;
    let after = holders(&nodes);
    let moved: BTreeSet<&LeaseKey> = after
        .keys()
        .filter(|key| before[*key] != after[*key])
        .collect();
    let taken = g4.leases.held().len();
    eprintln!("g4 took {taken} of 30 keys in {took:?}");
    assert!((3..=14).contains(&taken), "g4 holds {taken} of 30");
    // Only keys that went to g4 moved.
    assert_eq!(moved.len(), taken);
}

/// Kills the NATS server leading the lease bucket: with a TTL above the election's stall no
/// key changes hands. Prints the longest stall of lease renewals, which sets the default TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_lease_buckets_leader_moves_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = LocalNats::for_tests(dir.path(), 3).await else {
        return;
    };
    let lease = LeaseConfig {
        ttl: Duration::from_secs(15),
        renew: Duration::from_secs(1),
        self_fence: Duration::from_secs(12),
        poll: Duration::from_millis(500),
        member_ttl: Duration::from_secs(15),
    };
    let g1 = node(&nats, "g1", lease.clone()).await;
    let g2 = node(&nats, "g2", lease.clone()).await;
    let g3 = node(&nats, "g3", lease.clone()).await;
    let nodes = [&g1, &g2, &g3];
    until(
        &nodes,
        Duration::from_secs(20),
        "placed by rendezvous",
        placed(&["g1", "g2", "g3"]),
    )
    .await;
    let before: BTreeMap<LeaseKey, Vec<String>> = holders(&nodes);
    let revisions: Vec<_> = nodes
        .iter()
        .flat_map(|node| {
            node.leases
                .held()
                .into_iter()
                .map(|key| (key.clone(), node.leases.tenure(&key)))
        })
        .collect();
    let mut stream = g1.jetstream.get_stream("KV_np_leases").await.unwrap();
    let leader = stream
        .info()
        .await
        .unwrap()
        .cluster
        .clone()
        .unwrap()
        .leader
        .unwrap();
    let index = nats
        .servers
        .iter()
        .position(|server| server.name == leader)
        .unwrap();
    // A probe writes every 50 ms through a client of another server and records the longest gap
    // between confirmed writes: the stall an election imposes on renewals.
    let probe_url = nats.urls()[(index + 1) % 3].clone();
    let probe = tokio::spawn(async move {
        let client = async_nats::connect(probe_url).await.unwrap();
        let bucket = async_nats::jetstream::new(client)
            .get_key_value("np_leases")
            .await
            .unwrap();
        let mut last = Instant::now();
        let mut longest = Duration::ZERO;
        let end = Instant::now() + Duration::from_secs(14);
        while Instant::now() < end {
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(1), bucket.put("probe", "x".into())).await
            {
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        longest
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    nats.kill(index);
    let stall = probe.await.unwrap();
    eprintln!("killed {leader} (leader of the lease bucket): writes stalled at most {stall:?}");
    assert_eq!(holders(&nodes), before, "a key moved");
    for (key, tenure) in revisions {
        let now = nodes.iter().find_map(|node| node.leases.tenure(&key));
        assert_eq!(now, tenure, "{key:?} was acquired again");
    }
}
