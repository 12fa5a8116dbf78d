//! The chaos scenario shared by the benchmark and the CI test: the simulators, three NATS
//! servers, the nodes, the steady load, the disruptions in turn with a settle after each, then
//! the checks (see `checks.rs`) and the figures.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use netpulse::cluster::local::LocalNats;
use netpulse::sim::dme::{DmeSim, DmeSimConfig};
use netpulse::sim::webex::{WebexSim, WebexSimConfig};
use tokio_util::sync::CancellationToken;

use super::bench_support::{free_port, memory_kib};
use super::checks::{self, Findings, History};
use super::hooks::{self, Poster};
use super::nodes::{LeaseTiming, Node, Shared};
use super::replay;
use super::watch::Watch;

/// What a new owner gets for logging in, subscribing and resynchronising a switch.
const RESYNC_ALLOWANCE: Duration = Duration::from_secs(10);

/// One disruption.
#[derive(Clone, Debug)]
pub enum Disruption {
    /// `kill -9` of node i; once every switch is owned again, it starts again on its store.
    KillNode(usize),
    /// SIGSTOP of node i for a while, then SIGCONT.
    PauseNode(usize, Duration),
    /// `kill -9` of these NATS servers; they start again after the duration.
    KillNats(Vec<usize>, Duration),
    /// One more node joins.
    AddNode,
}

impl Disruption {
    fn name(&self) -> String {
        match self {
            Disruption::KillNode(node) => format!("kill -9 node n{}", node + 1),
            Disruption::PauseNode(node, for_) => {
                format!("SIGSTOP node n{} for {} s", node + 1, for_.as_secs())
            }
            Disruption::KillNats(servers, for_) => format!(
                "kill NATS {} for {} s",
                servers
                    .iter()
                    .map(|server| format!("s{}", server + 1))
                    .collect::<Vec<_>>()
                    .join("+"),
                for_.as_secs()
            ),
            Disruption::AddNode => "add a node".to_owned(),
        }
    }
}

pub struct Plan {
    pub out: PathBuf,
    pub switches: usize,
    pub nodes: usize,
    /// Changes per switch per second.
    pub change_rate: f64,
    /// Webhooks per second, round-robin over the nodes.
    pub webhook_rate: f64,
    pub lease: LeaseTiming,
    pub disruptions: Vec<Disruption>,
    /// After each disruption, every switch owned once for this long before the next.
    pub settle: Duration,
    /// Ingest comparison (concurrency, duration); `None` skips it.
    pub ingest: Option<(usize, Duration)>,
    pub seed: u64,
    pub log: String,
}

/// Runs the plan; the findings hold the figures and what failed.
pub async fn run(plan: Plan) -> Findings {
    let mut findings = Findings::default();
    let _ = std::fs::remove_dir_all(&plan.out);
    std::fs::create_dir_all(&plan.out).unwrap();
    let stop = CancellationToken::new();
    let webex = WebexSim::start(WebexSimConfig::default(), stop.clone())
        .await
        .expect("the Webex simulator starts");
    let room = webex.room_id("NOC").unwrap();
    let sim = DmeSim::start(
        DmeSimConfig {
            devices: plan.switches,
            // Shorter than the lease TTL: the subscriptions of a paused owner lapse (the switch
            // stops pushing to it) before another node may take the switch.
            subscription_ttl: plan.lease.self_fence.min(Duration::from_secs(10)),
            refresh_timeout: Duration::from_secs(60),
            change_rate: plan.change_rate,
            ports: 16,
            vlans: 8,
            seed: plan.seed,
            ..DmeSimConfig::default()
        },
        stop.clone(),
    )
    .await
    .expect("the DME simulator starts");
    sim.pause_changes(true);
    let baselines: Vec<replay::Objects> = sim
        .devices()
        .iter()
        .map(replay::subscribed_objects)
        .collect();
    let ca = plan.out.join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    let nats = LocalNats::start(&plan.out.join("nats"), 3)
        .await
        .expect("three NATS servers start");
    let mut nats = nats;
    let refresh = (plan.lease.self_fence.min(Duration::from_secs(10)) / 2).as_millis();
    let shared = Shared {
        switches: sim
            .devices()
            .iter()
            .map(|device| (device.name().to_owned(), device.base_url()))
            .collect(),
        ca,
        webex_url: webex.base_url(),
        room,
        nats_urls: nats.urls(),
        lease: plan.lease.clone(),
        subscription_refresh: format!("{refresh}ms"),
        log: plan.log.clone(),
    };
    println!(
        "cluster chaos: {} switches at {} changes/s each, {} webhooks/s round-robin, {} nodes on 3 NATS servers, lease ttl {:?} renew {:?} self_fence {:?} poll {:?}; machine: {} cores",
        plan.switches,
        plan.change_rate,
        plan.webhook_rate,
        plan.nodes,
        plan.lease.ttl,
        plan.lease.renew,
        plan.lease.self_fence,
        plan.lease.poll,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut nodes: Vec<Node> = (0..plan.nodes)
        .map(|index| start_node(&shared, &plan, index))
        .collect();
    for node in &mut nodes {
        if let Err(error) = node.wait_ready(Duration::from_secs(60)).await {
            findings.fail(error);
            return findings;
        }
    }
    let watch_stop = CancellationToken::new();
    let watch = Watch::start(sim.devices().to_vec(), watch_stop.clone());
    let first_owned = Instant::now();
    watch.mark("start (first owners, then the moves to the nodes that joined)");
    let owned = watch
        .wait_owned(Duration::from_secs(1), Duration::from_secs(120))
        .await;
    findings.figure(
        "every switch owned once after the start",
        format!(
            "{:.1?} ({})",
            first_owned.elapsed(),
            if owned { "yes" } else { "NO" }
        ),
    );
    if !owned {
        findings.fail(format!(
            "the switches were not each owned once within 120 s of the start: {:?}",
            watch.not_owned_once()
        ));
    }
    spread(&nodes, Duration::from_secs(60)).await;
    sim.pause_changes(false);
    let poster = Poster::start(
        nodes
            .iter()
            .map(|node| (node.id.clone(), node.hook_url()))
            .collect(),
        plan.webhook_rate,
        "chaos",
    );
    tokio::time::sleep(plan.settle).await;
    let owned_limit = plan.lease.ttl * 2 + Duration::from_secs(30);
    for disruption in &plan.disruptions {
        let name = disruption.name();
        println!("{:>7.1?} {name}", first_owned.elapsed());
        watch.mark(&name);
        match disruption {
            Disruption::KillNode(index) => {
                nodes[*index].kill9();
                settle(&watch, &plan, owned_limit, &name, &mut findings).await;
                watch.mark(&format!("n{} started again", index + 1));
                nodes[*index].restart();
                if let Err(error) = nodes[*index].wait_ready(Duration::from_secs(60)).await {
                    findings.fail(error);
                }
                settle(&watch, &plan, owned_limit, &name, &mut findings).await;
            }
            Disruption::PauseNode(index, for_) => {
                nodes[*index].pause();
                tokio::time::sleep(*for_).await;
                watch.mark(&format!("SIGCONT node n{}", index + 1));
                nodes[*index].resume();
                settle(&watch, &plan, owned_limit, &name, &mut findings).await;
            }
            Disruption::KillNats(servers, for_) => {
                for server in servers {
                    nats.kill(*server);
                }
                tokio::time::sleep(*for_).await;
                if servers.len() == 1 {
                    settle(&watch, &plan, owned_limit, &name, &mut findings).await;
                }
                watch.mark(&format!("NATS {servers:?} started again"));
                for server in servers {
                    if let Err(error) = nats.restart(*server) {
                        findings.fail(format!(
                            "NATS server {server} does not start again: {error:#}"
                        ));
                    }
                }
                let _ = nats.wait_ready(Duration::from_secs(30)).await;
                settle(&watch, &plan, owned_limit, &name, &mut findings).await;
            }
            Disruption::AddNode => {
                let index = nodes.len();
                let mut node = start_node(&shared, &plan, index);
                if let Err(error) = node.wait_ready(Duration::from_secs(60)).await {
                    findings.fail(error);
                }
                poster.add_target(&node.id, &node.hook_url());
                nodes.push(node);
                settle(&watch, &plan, owned_limit, &name, &mut findings).await;
            }
        }
        let mut held = Vec::new();
        for node in &mut nodes {
            node.sample_memory();
            let leases = node.device_leases().await;
            held.push(format!(
                "{} {}",
                node.id,
                leases.map_or("?".to_owned(), |count| count.to_string())
            ));
        }
        println!(
            "{:>7.1?} settled; device leases by the nodes' word: {}",
            first_owned.elapsed(),
            held.join(", ")
        );
    }

    // The end: no more changes nor alarms; every node catches up.
    sim.pause_changes(true);
    let posts = poster.finish().await;
    let converged = converge(&nodes, &webex).await;
    findings.figure(
        "nodes converged after the load stopped",
        format!("{converged:.1?}"),
    );
    let mut histories = Vec::new();
    for node in &nodes {
        match (node.events().await, node.alarms().await) {
            (Ok(events), Ok(alarms)) => histories.push(History {
                node: node.id.clone(),
                events,
                alarms,
            }),
            (Err(error), _) | (_, Err(error)) => findings.fail(error),
        }
    }
    let (overlap_count, overlaps) = watch.overlaps();
    let (samples, late) = watch.samples();
    findings.figure(
        "samples of every switch's sessions, every 100 ms (late: > 200 ms apart)",
        format!("{samples} ({late})"),
    );
    findings.figure(
        "switch-samples with two active sessions (socket + live subscription) / with two open sockets",
        format!("{overlap_count} / {}", watch.two_sockets()),
    );
    if overlap_count > 0 {
        findings.fail(format!(
            "{overlap_count} switch-samples saw two active sessions on a switch; first: {:?}",
            &overlaps[..overlaps.len().min(5)]
        ));
    }
    let marks = watch.marks();
    // A lost owner's lease expires within the TTL; the next node in rank order tries within a few
    // polls; then it logs in, subscribes and resynchronises.
    let owned_limit = plan.lease.ttl + plan.lease.poll * 4 + RESYNC_ALLOWANCE;
    for mark in &marks {
        let times = mark.owned_again_times().map_or("-".to_owned(), |(median, max)| {
            if (mark.name.starts_with("kill -9") || mark.name.starts_with("SIGSTOP"))
                && max > owned_limit
            {
                findings.fail(format!(
                    "{}: a switch was owned again only after {max:.1?} (limit: TTL + 4 polls + {RESYNC_ALLOWANCE:?} = {owned_limit:.1?})",
                    mark.name
                ));
            }
            format!("{median:.1?} / {max:.1?}")
        });
        findings.figure(
            format!(
                "{}: switches moved / owned again median / max / longest unowned",
                mark.name
            ),
            format!(
                "{} / {times} / {:.1?}",
                mark.affected(),
                mark.longest_unowned()
            ),
        );
    }
    if let Some(reference) = histories.first() {
        checks::same_everywhere(&histories, &mut findings);
        checks::acknowledged_stored_once(&posts, &histories, &mut findings);
        let markdowns: Vec<String> = webex
            .messages()
            .into_iter()
            .filter_map(|message| message.markdown)
            .collect();
        checks::room_once(&markdowns, reference, &mut findings);
        let posts_by_status = webex.requests().iter().fold(
            std::collections::BTreeMap::<u16, u64>::new(),
            |mut counts, request| {
                *counts.entry(request.status).or_default() += 1;
                counts
            },
        );
        findings.figure(
            "room: POST /v1/messages by status / room listings (the check of an uncertain post)",
            format!("{posts_by_status:?} / {}", webex.room_lists()),
        );
        checks::gaps(
            reference,
            &watch.sessions_per_switch(),
            &marks,
            &watch.switch_names(),
            &mut findings,
        );
        let lines = plan.out.join("replay.jsonl");
        checks::write_lines(reference, &lines);
        let events = replay::read_events(&lines);
        let outcome = replay::compare(sim.devices(), &baselines, &events);
        findings.figure(
            "switches whose view rebuilt from the events equals the switch",
            format!("{} of {}", outcome.equal, plan.switches),
        );
        findings.figure(
            "device events: live / resync / gap",
            format!(
                "{} / {} / {}",
                events.live,
                events.resync.values().sum::<u64>(),
                events.gaps
            ),
        );
        if !outcome.differences.is_empty() || !outcome.misfits.is_empty() {
            findings.fail(format!(
                "{} switches differ from the view their events build, {} events do not fit it; first: {:?} {:?}",
                outcome.differences.len(),
                outcome.misfits.len(),
                outcome.differences.first(),
                outcome.misfits.first()
            ));
        }
    }
    watch_stop.cancel();
    for node in &mut nodes {
        let (cpu, wall) = node.cpu();
        let rss = memory_kib(&node.pid.to_string()).0;
        node.sample_memory();
        findings.figure(
            format!("{}: CPU (average over its life) / RSS now / peak", node.id),
            format!(
                "{:.0} % / {:.0} MiB / {:.0} MiB",
                100.0 * cpu / wall.max(0.001),
                rss as f64 / 1024.0,
                node.peak_rss_kib as f64 / 1024.0
            ),
        );
    }
    if let Some((concurrency, duration)) = plan.ingest {
        let urls: Vec<String> = nodes.iter().map(Node::hook_url).collect();
        let cluster = hooks::ingest(&urls, concurrency, duration, "ingest-cluster").await;
        for node in &mut nodes {
            node.terminate();
        }
        let single_dir = plan.out.join("single");
        let mut single = Node::start(&shared, None, &single_dir, free_port());
        if let Err(error) = single.wait_ready(Duration::from_secs(60)).await {
            findings.fail(error);
        } else {
            let alone =
                hooks::ingest(&[single.hook_url()], concurrency, duration, "ingest-single").await;
            for (name, ingest) in [
                ("cluster (NATS, R3)", cluster),
                ("single node (SQLite)", alone),
            ] {
                findings.figure(
                    format!("durable ingest, {name}: {concurrency} posters, events/s / p50 / p99 / failed"),
                    format!(
                        "{:.0} / {:.1?} / {:.1?} / {}",
                        ingest.per_second(),
                        ingest.p50,
                        ingest.p99,
                        ingest.failed
                    ),
                );
            }
        }
        single.terminate();
    } else {
        for node in &mut nodes {
            node.terminate();
        }
    }
    drop(nats);
    stop.cancel();
    findings
}

fn start_node(shared: &Shared, plan: &Plan, index: usize) -> Node {
    let id = format!("n{}", index + 1);
    Node::start(shared, Some(&id), &plan.out.join(&id), free_port())
}

/// Waits (at most `limit`) until every node says it holds a device lease, so that the first
/// disruption hits a node with devices: the nodes' word (`GET /api/v1/cluster`) only paces the
/// run, the checks do not rely on it.
async fn spread(nodes: &[Node], limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let mut all = true;
        for node in nodes {
            all &= node.device_leases().await.unwrap_or(0) > 0;
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("not every node holds a device lease after {limit:?}; going on");
}

/// Waits until every switch is owned once for `plan.settle`.
async fn settle(watch: &Watch, plan: &Plan, limit: Duration, name: &str, findings: &mut Findings) {
    if !watch.wait_owned(plan.settle, limit + plan.settle).await {
        findings.fail(format!(
            "after {name}: switches not owned exactly once within {limit:?}: {:?}",
            watch.not_owned_once()
        ));
    }
}

/// Waits until every node has the same newest seq and the room has stopped growing, each for
/// 5 s; at most 180 s.
async fn converge(nodes: &[Node], webex: &WebexSim) -> Duration {
    let started = Instant::now();
    let mut stable_since = Instant::now();
    let mut last = (Vec::new(), 0);
    while started.elapsed() < Duration::from_secs(180) {
        let mut seqs = Vec::new();
        for node in nodes {
            seqs.push(node.last_seq().await.unwrap_or(0));
        }
        let state = (seqs, webex.messages().len());
        let same = state.0.windows(2).all(|pair| pair[0] == pair[1]);
        if state != last || !same {
            stable_since = Instant::now();
            last = state;
        } else if stable_since.elapsed() >= Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    started.elapsed()
}
