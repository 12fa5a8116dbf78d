//! SD-WAN alarm webhooks posted round-robin to the nodes, each with a fresh `uuid`; for every
//! request the poster keeps whether it was answered 2xx (acknowledged), so the checks can require
//! every acknowledged alarm in every node's history. Also the ingest measurement: concurrent
//! posters for a while, events/s and the latency of each acknowledged request.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

const FIXTURE: &str =
    include_str!("../../tests/data/sdwan/webhook-interface-state-change-down-2019.json");
const FIXTURE_UUID: &str = "8459e3a0-5bea-4370-ab57-6f45f8022d66";
/// A request not answered within this is not acknowledged (a paused node answers late or never).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One posted alarm.
#[derive(Clone, Debug)]
pub struct Post {
    pub uuid: String,
    pub node: String,
    /// The HTTP status, or `None` (connection refused, timeout).
    pub status: Option<u16>,
}

impl Post {
    pub fn acked(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// The body of an alarm with this uuid (its alarm key is `vmanage:sdwan:<uuid>`), on one of a
/// few interfaces.
pub fn alarm(uuid: &str, index: u64) -> String {
    FIXTURE
        .replace(FIXTURE_UUID, uuid)
        .replace("GigabitEthernet4", &format!("GigabitEthernet{}", index % 8))
}

/// Posts `rate` alarms a second, round-robin over the targets (which can change: a node
/// joining), until stopped.
#[derive(Clone)]
pub struct Poster {
    pub targets: Arc<Mutex<Vec<(String, String)>>>,
    pub posts: Arc<Mutex<Vec<Post>>>,
    stop: CancellationToken,
    /// Cancelled once the last request in flight is recorded.
    done: CancellationToken,
}

impl Poster {
    /// `targets`: (node id, hook URL).
    pub fn start(targets: Vec<(String, String)>, rate: f64, prefix: &str) -> Poster {
        let poster = Poster {
            targets: Arc::new(Mutex::new(targets)),
            posts: Arc::new(Mutex::new(Vec::new())),
            stop: CancellationToken::new(),
            done: CancellationToken::new(),
        };
        let task = poster.clone();
        let prefix = prefix.to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            let in_flight = tokio_util::task::TaskTracker::new();
            for index in 0u64.. {
                tokio::select! {
                    _ = task.stop.cancelled() => break,
                    _ = interval.tick() => {}
                }
                let (node, url) = {
                    let targets = task.targets.lock().unwrap();
                    targets[index as usize % targets.len()].clone()
                };
                let uuid = format!("{prefix}-{index}");
                let body = alarm(&uuid, index);
                let client = client.clone();
                let posts = task.posts.clone();
                in_flight.spawn(async move {
                    let sent = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .timeout(REQUEST_TIMEOUT)
                        .send()
                        .await;
                    let status = sent.ok().map(|response| response.status().as_u16());
                    posts.lock().unwrap().push(Post { uuid, node, status });
                });
            }
            in_flight.close();
            in_flight.wait().await;
            task.done.cancel();
        });
        poster
    }

    pub fn add_target(&self, node: &str, url: &str) {
        self.targets
            .lock()
            .unwrap()
            .push((node.to_owned(), url.to_owned()));
    }

    /// Stops posting and waits for the requests in flight.
    pub async fn finish(&self) -> Vec<Post> {
        self.stop.cancel();
        self.done.cancelled().await;
        self.posts.lock().unwrap().clone()
    }
}

/// What an ingest run measured.
#[derive(Debug, Default)]
pub struct Ingest {
    pub acked: u64,
    pub failed: u64,
    pub seconds: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl Ingest {
    pub fn per_second(&self) -> f64 {
        self.acked as f64 / self.seconds
    }
}

/// `concurrency` posters, each posting one alarm after the other to its target (round-robin
/// over `urls`) for `duration`.
pub async fn ingest(
    urls: &[String],
    concurrency: usize,
    duration: Duration,
    prefix: &str,
) -> Ingest {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let url = urls[worker % urls.len()].clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0u64;
            let mut index = 0u64;
            while started.elapsed() < duration {
                let uuid = format!("{prefix}-{worker}-{index}");
                let body = alarm(&uuid, index);
                index += 1;
                let sent_at = Instant::now();
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .timeout(REQUEST_TIMEOUT)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        latencies.push(sent_at.elapsed())
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (each, each_failed) = task.await.unwrap();
        latencies.extend(each);
        failed += each_failed;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |fraction: f64| {
        latencies
            .get(
                ((latencies.len() as f64 * fraction) as usize)
                    .min(latencies.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or_default()
    };
    Ingest {
        acked: latencies.len() as u64,
        failed,
        seconds,
        p50: at(0.5),
        p99: at(0.99),
    }
}
