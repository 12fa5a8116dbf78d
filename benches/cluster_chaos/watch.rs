//! What the simulated switches see of netpulse's sessions, sampled every 100 ms from the
//! simulator (not from netpulse): a session is *active* when it has an open WebSocket and a live
//! subscription (it receives the switch's pushes). Two active sessions on one switch at one
//! sample is a double owner. Each disruption is a *mark*: a switch whose active session changes
//! after it is affected, and the time from the mark until a new session is active on it is the
//! time it took to be owned again; the longest stretch without any active session is kept too.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netpulse::sim::dme::SimDevice;
use tokio_util::sync::CancellationToken;

pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// One disruption as the switches saw it.
#[derive(Clone, Debug)]
pub struct Mark {
    pub name: String,
    pub at: Instant,
    pub wall: jiff::Timestamp,
    /// Active session keys of each switch at the mark.
    before: Vec<Vec<u64>>,
    /// When a session not active at the mark became active (first time), per switch.
    pub owned_again: Vec<Option<Duration>>,
    /// Longest time without an active session after the mark, per switch.
    pub longest_unowned: Vec<Duration>,
    /// New active sessions after the mark (before the next mark), per switch.
    pub new_sessions: Vec<u64>,
}

impl Mark {
    pub fn affected(&self) -> usize {
        self.owned_again
            .iter()
            .filter(|time| time.is_some())
            .count()
    }

    /// (median, max) of the time until owned again over affected switches.
    pub fn owned_again_times(&self) -> Option<(Duration, Duration)> {
        let mut times: Vec<Duration> = self.owned_again.iter().flatten().copied().collect();
        times.sort();
        let max = *times.last()?;
        Some((times[times.len() / 2], max))
    }

    pub fn longest_unowned(&self) -> Duration {
        self.longest_unowned
            .iter()
            .copied()
            .max()
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    started: Option<Instant>,
    samples: u64,
    /// Active keys at the last sample, per switch.
    current: Vec<Vec<u64>>,
    /// Every session key ever seen active, per switch (to count new sessions).
    seen: Vec<std::collections::HashSet<u64>>,
    unowned_since: Vec<Option<Instant>>,
    marks: Vec<Mark>,
    /// (switch, time since start, description) of the first samples with two active sessions.
    overlaps: Vec<(String, Duration, String)>,
    /// Samples (per switch) with two active sessions, and with two open sockets whatever their
    /// subscriptions (a paused process keeps its socket open).
    overlap_count: u64,
    two_sockets: u64,
    /// Samples that took longer than twice the period (the sampler itself was late).
    late_samples: u64,
}

/// The sampler task and what it found.
#[derive(Clone)]
pub struct Watch {
    state: Arc<Mutex<State>>,
    devices: Arc<Vec<SimDevice>>,
}

impl Watch {
    /// Starts sampling `devices` until `stop`.
    pub fn start(devices: Vec<SimDevice>, stop: CancellationToken) -> Watch {
        let count = devices.len();
        let watch = Watch {
            state: Arc::new(Mutex::new(State {
                started: Some(Instant::now()),
                current: vec![Vec::new(); count],
                seen: vec![Default::default(); count],
                unowned_since: vec![Some(Instant::now()); count],
                ..State::default()
            })),
            devices: Arc::new(devices),
        };
        let sampler = watch.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(SAMPLE_EVERY);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = Instant::now();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = interval.tick() => {}
                }
                let late = last.elapsed() > SAMPLE_EVERY * 2;
                last = Instant::now();
                sampler.sample(late);
            }
        });
        watch
    }

    fn sample(&self, late: bool) {
        let now = Instant::now();
        let seen: Vec<Vec<netpulse::sim::dme::SessionView>> =
            self.devices.iter().map(SimDevice::sessions).collect();
        let mut state = self.state.lock().unwrap();
        let since_start = now - state.started.unwrap_or(now);
        state.samples += 1;
        state.late_samples += u64::from(late);
        for (index, sessions) in seen.into_iter().enumerate() {
            let active: Vec<_> = sessions.iter().filter(|view| view.active()).collect();
            let sockets = sessions.iter().filter(|view| view.socket_open).count();
            state.two_sockets += u64::from(sockets > 1);
            state.overlap_count += u64::from(active.len() > 1);
            if active.len() > 1 && state.overlaps.len() < 50 {
                let detail = active
                    .iter()
                    .map(|view| {
                        format!(
                            "session {} ({} live subscriptions, idle {} ms)",
                            view.key, view.live_subscriptions, view.idle_ms
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" and ");
                let name = self.devices[index].name().to_owned();
                state.overlaps.push((name, since_start, detail));
            }
            let keys: Vec<u64> = active.iter().map(|view| view.key).collect();
            let new: Vec<u64> = keys
                .iter()
                .copied()
                .filter(|key| !state.seen[index].contains(key))
                .collect();
            for key in &new {
                state.seen[index].insert(*key);
            }
            if keys.is_empty() {
                state.unowned_since[index].get_or_insert(now);
            }
            let unowned_for = if keys.is_empty() {
                None
            } else {
                state.unowned_since[index].take().map(|since| now - since)
            };
            if let Some(mark) = state.marks.last_mut() {
                mark.new_sessions[index] += new.len() as u64;
                let fresh = keys.iter().any(|key| !mark.before[index].contains(key));
                if fresh && mark.owned_again[index].is_none() {
                    mark.owned_again[index] = Some(now - mark.at);
                }
                if let Some(unowned) = unowned_for {
                    let longest = &mut mark.longest_unowned[index];
                    *longest = (*longest).max(unowned);
                }
            }
            state.current[index] = keys;
        }
    }

    /// A disruption starts now.
    pub fn mark(&self, name: &str) {
        let mut state = self.state.lock().unwrap();
        let count = state.current.len();
        let before = state.current.clone();
        state.marks.push(Mark {
            name: name.to_owned(),
            at: Instant::now(),
            wall: jiff::Timestamp::now(),
            before,
            owned_again: vec![None; count],
            longest_unowned: vec![Duration::ZERO; count],
            new_sessions: vec![0; count],
        });
    }

    /// Whether every switch has exactly one active session now.
    pub fn all_owned_once(&self) -> bool {
        let state = self.state.lock().unwrap();
        state.samples > 0 && state.current.iter().all(|keys| keys.len() == 1)
    }

    /// Waits until every switch has had exactly one active session for `stable`; false after
    /// `timeout`.
    pub async fn wait_owned(&self, stable: Duration, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut since: Option<Instant> = None;
        while Instant::now() < deadline {
            if self.all_owned_once() {
                let since = *since.get_or_insert_with(Instant::now);
                if since.elapsed() >= stable {
                    return true;
                }
            } else {
                since = None;
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        false
    }

    /// Switches without exactly one active session now, with their count.
    pub fn not_owned_once(&self) -> Vec<(String, usize)> {
        let state = self.state.lock().unwrap();
        state
            .current
            .iter()
            .enumerate()
            .filter(|(_, keys)| keys.len() != 1)
            .map(|(index, keys)| (self.devices[index].name().to_owned(), keys.len()))
            .collect()
    }

    pub fn marks(&self) -> Vec<Mark> {
        self.state.lock().unwrap().marks.clone()
    }

    /// (samples with two active sessions on a switch, the first of them in detail).
    pub fn overlaps(&self) -> (u64, Vec<(String, Duration, String)>) {
        let state = self.state.lock().unwrap();
        (state.overlap_count, state.overlaps.clone())
    }

    /// Samples with two open sockets on a switch (active or not).
    pub fn two_sockets(&self) -> u64 {
        self.state.lock().unwrap().two_sockets
    }

    /// (samples, late samples).
    pub fn samples(&self) -> (u64, u64) {
        let state = self.state.lock().unwrap();
        (state.samples, state.late_samples)
    }

    /// Sessions ever active per switch name (each one after the first is an ownership change or
    /// a reconnect, and should come with one gap event).
    pub fn sessions_per_switch(&self) -> BTreeMap<String, u64> {
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .enumerate()
            .map(|(index, keys)| (self.devices[index].name().to_owned(), keys.len() as u64))
            .collect()
    }

    pub fn switch_names(&self) -> Vec<String> {
        self.devices
            .iter()
            .map(|device| device.name().to_owned())
            .collect()
    }
}
