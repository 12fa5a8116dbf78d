//! One simulated switch: its object tree, sessions, injected faults and counters behind one lock,
//! and the fan-out that turns every object change into WebSocket pushes for the subscriptions
//! that cover it. [`SimDevice`] is the cheap public handle.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::api::{Change, DumpedMo, Fault, SessionView, SimStats};
use super::generator::Generator;
use super::links::Fabric;
use super::mit::{Mit, MoChange};
use super::render;
use super::session::{CloseReason, SessionTable};

/// Settings shared by every device of a simulator process.
#[derive(Debug)]
pub struct DeviceSettings {
    pub username: String,
    pub password: String,
    pub refresh_timeout: Duration,
    pub subscription_ttl: Duration,
    pub rotate_token_on_refresh: bool,
}

/// Everything a device's tasks and handlers share.
#[derive(Debug)]
pub struct DeviceInner {
    pub index: usize,
    pub name: String,
    pub addr: SocketAddr,
    pub tls: bool,
    pub settings: Arc<DeviceSettings>,
    pub state: Mutex<DeviceState>,
    pub pushes_sent: AtomicU64,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// The simulated network this switch is cabled into, if any (weak: the fabric holds the
    /// devices).
    pub fabric: OnceLock<Weak<Fabric>>,
}

/// The mutable part of a device. The lock is never held across an `.await`.
#[derive(Debug)]
pub struct DeviceState {
    pub mit: Mit,
    pub table: SessionTable,
    pub generator: Generator,
    pub faults: FaultState,
    pub changes_applied: u64,
    /// Set while the automatic change generator is paused (see [`SimDevice::pause_changes`]).
    pub changes_paused: bool,
}

/// Active injected faults.
#[derive(Debug, Default)]
pub struct FaultState {
    pub down_until: Option<Instant>,
    pub refuse_logins_until: Option<Instant>,
    pub delayed_refreshes: Option<(Duration, u32)>,
    pub failed_refreshes: u32,
    pub refresh_unavailable_until: Option<Instant>,
    /// Switched off by a fabric device action: down until switched on again.
    pub powered_off: bool,
}

/// A handle to one simulated device (cheap to clone).
#[derive(Clone, Debug)]
pub struct SimDevice {
    pub(crate) inner: Arc<DeviceInner>,
}

impl SimDevice {
    pub fn addr(&self) -> std::net::SocketAddr {
        self.inner.addr
    }

    /// The device's name, `leaf1`, `leaf2`, ... (its `topSystem` name).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `https://127.0.0.1:PORT` (or `http://` without TLS); an unspecified listen address is
    /// reached through loopback.
    pub fn base_url(&self) -> String {
        let scheme = if self.inner.tls { "https" } else { "http" };
        let ip = match self.inner.addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => {
                "127.0.0.1".parse().expect("valid address")
            }
            ip if ip.is_unspecified() => "::1".parse().expect("valid address"),
            ip => ip,
        };
        format!("{scheme}://{}", SocketAddr::new(ip, self.inner.addr.port()))
    }

    /// Applies a change to the object tree and sends the pushes it causes.
    pub fn apply(&self, change: Change) -> anyhow::Result<()> {
        let admin_port = match &change {
            Change::Set { dn, attrs } if attrs.contains_key("adminSt") => Some(dn.clone()),
            _ => None,
        };
        self.apply_here(change)?;
        // Shutting or enabling a cabled port moves the other end too, as a real link does.
        if let (Some(dn), Some(fabric)) = (admin_port, self.fabric()) {
            fabric.port_admin_changed(self.inner.index, &dn)?;
        }
        Ok(())
    }

    fn apply_here(&self, change: Change) -> anyhow::Result<()> {
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        let now = Instant::now();
        let now_millis = jiff::Timestamp::now().as_millisecond();
        if let Change::Random { count } = change {
            for _ in 0..count {
                let Some(step) = state.generator.next_change(&state.mit, now_millis) else {
                    break;
                };
                state.apply_one(&step, now_millis, now, &self.inner.name)?;
            }
            return Ok(());
        }
        state.apply_one(&change, now_millis, now, &self.inner.name)
    }

    /// Pauses (`true`) or resumes the automatic change generator, so a test or benchmark can
    /// freeze the device's state; explicit changes still apply.
    pub fn pause_changes(&self, paused: bool) {
        self.inner.lock().changes_paused = paused;
    }

    /// One step of the automatic change generator, unless it is paused. The pause is checked under
    /// the same lock as the change, so no step lands after [`SimDevice::pause_changes`] returns.
    pub(crate) fn generate(&self) -> anyhow::Result<()> {
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        // A switched-off switch changes nothing until it is switched on again.
        if state.changes_paused || state.faults.powered_off {
            return Ok(());
        }
        let now_millis = jiff::Timestamp::now().as_millisecond();
        match state.generator.next_change(&state.mit, now_millis) {
            Some(step) => state.apply_one(&step, now_millis, Instant::now(), &self.inner.name),
            None => Ok(()),
        }
    }

    /// Applies the changes `derive` makes from the current tree, under one lock, so that what
    /// they were judged against cannot change in between (the fabric's link actions).
    pub(crate) fn apply_derived(
        &self,
        derive: impl FnOnce(&Mit) -> Vec<Change>,
    ) -> anyhow::Result<()> {
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        let now = Instant::now();
        let now_millis = jiff::Timestamp::now().as_millisecond();
        for change in derive(&state.mit) {
            state.apply_one(&change, now_millis, now, &self.inner.name)?;
        }
        Ok(())
    }

    /// Reads the current tree.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Mit) -> T) -> T {
        read(&self.inner.lock().mit)
    }

    /// Switches the device off (every session ends, sockets close, requests answer 503) or on.
    pub(crate) fn power(&self, on: bool) {
        let mut state = self.inner.lock();
        if !on {
            state.table.end_all(CloseReason::Dropped);
        }
        state.faults.powered_off = !on;
    }

    /// The simulated network this switch is part of, if any.
    pub fn fabric(&self) -> Option<Arc<Fabric>> {
        self.inner.fabric.get().and_then(Weak::upgrade)
    }

    /// Injects a fault (see [`Fault`]).
    pub fn fault(&self, fault: Fault) {
        info!(device = %self.inner.name, ?fault, "injecting fault");
        let mut state = self.inner.lock();
        let now = Instant::now();
        match fault {
            Fault::DropSockets => state.table.drop_sockets(CloseReason::Dropped),
            Fault::ExpireSessions => state.table.end_all(CloseReason::SessionEnded),
            Fault::LoseSubscriptions => state.table.subscriptions.clear(),
            Fault::Restart { down_for_ms } => {
                state.table.end_all(CloseReason::Dropped);
                state.faults.down_until = Some(now + Duration::from_millis(down_for_ms));
            }
            Fault::DelayRefresh { delay_ms, count } => {
                state.faults.delayed_refreshes = Some((Duration::from_millis(delay_ms), count));
            }
            Fault::FailRefresh { count } => state.faults.failed_refreshes = count,
            Fault::RefuseLogins { for_ms } => {
                state.faults.refuse_logins_until = Some(now + Duration::from_millis(for_ms));
            }
            Fault::RefreshUnavailable { for_ms } => {
                state.faults.refresh_unavailable_until = Some(now + Duration::from_millis(for_ms));
            }
        }
    }

    /// Every object, sorted by dn, with its attributes as stored.
    pub fn dump(&self) -> Vec<DumpedMo> {
        let state = self.inner.lock();
        state
            .mit
            .iter()
            .map(|(_, mo)| DumpedMo {
                class: mo.class.to_string(),
                attributes: mo.attrs.to_map(),
            })
            .collect()
    }

    /// Every API session with its socket, live subscriptions and idle time (see
    /// [`SessionView`]); expired sessions and lapsed subscriptions are left out.
    pub fn sessions(&self) -> Vec<SessionView> {
        let now = Instant::now();
        let mut state = self.inner.lock();
        state.table.sweep(now);
        state.table.sessions_seen(now)
    }

    pub fn stats(&self) -> SimStats {
        let mut stats = self.inner.lock().snapshot();
        stats.pushes_sent_total = self.inner.pushes_sent.load(Ordering::Relaxed);
        stats
    }
}

impl DeviceInner {
    pub fn lock(&self) -> MutexGuard<'_, DeviceState> {
        // A panic while holding the lock leaves the state usable: every operation keeps it
        // consistent before it can panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends expired sessions and subscriptions (called by the sweeper).
    pub fn sweep(&self, now: Instant) {
        self.lock().table.sweep(now);
    }
}

impl DeviceState {
    fn snapshot(&self) -> SimStats {
        let mut stats = self.table.snapshot();
        stats.changes_applied_total = self.changes_applied;
        stats
    }

    /// Answers whether the device is down after a simulated restart.
    pub fn is_down(&mut self, now: Instant) -> bool {
        if self.faults.powered_off {
            return true;
        }
        match self.faults.down_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.faults.down_until = None;
                false
            }
            None => false,
        }
    }

    fn apply_one(
        &mut self,
        change: &Change,
        now_millis: i64,
        now: Instant,
        device: &str,
    ) -> anyhow::Result<()> {
        let records = self.mit.apply(change, now_millis)?;
        self.changes_applied += 1;
        self.fan_out(&records, now, device);
        Ok(())
    }

    /// Sends one frame per changed object to every socket whose session has subscriptions
    /// covering it, listing all of that session's matching subscription ids.
    fn fan_out(&mut self, records: &[MoChange], now: Instant, device: &str) {
        if self.table.subscriptions.is_empty() {
            return;
        }
        // Objects deleted in this batch are gone from the tree, but class queries with
        // children/subtree scope still need their classes to place their descendants.
        let deleted: HashMap<&str, Arc<str>> = records
            .iter()
            .filter(|record| record.new.is_none())
            .map(|record| (record.dn.as_str(), record.class.clone()))
            .collect();
        for record in records {
            let targets = self.targets(record, &deleted, now);
            if targets.is_empty() {
                continue;
            }
            let element = render::push_element(record);
            for (session_key, ids) in targets {
                self.send(session_key, render::push_frame(&ids, &element), device);
            }
        }
    }

    /// The matching subscription ids, by session. A modified object is sent when its new OR its
    /// old state matches, so a client sees an object leave a filter (INFER: not documented);
    /// a deleted one is judged on its last state.
    fn targets(
        &self,
        record: &MoChange,
        deleted: &HashMap<&str, Arc<str>>,
        now: Instant,
    ) -> BTreeMap<u64, Vec<u64>> {
        let class_of = |dn: &str| {
            self.mit
                .get(dn)
                .map(|mo| mo.class.clone())
                .or_else(|| deleted.get(dn).cloned())
        };
        let mut targets: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (id, subscription) in self.table.deliverable(now) {
            let covers = |attrs: &Option<_>| {
                attrs.as_ref().is_some_and(|attrs| {
                    subscription
                        .query
                        .covers(&record.class, &record.dn, attrs, &class_of)
                })
            };
            if covers(&record.new) || covers(&record.old) {
                targets.entry(subscription.session).or_default().push(id);
            }
        }
        targets
    }

    fn send(&mut self, session_key: u64, frame: String, device: &str) {
        let Some(session) = self.table.sessions.get_mut(&session_key) else {
            return;
        };
        let Some(socket) = &session.socket else {
            return;
        };
        match socket.frames.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                warn!(device, session = %super::session::log_prefix(&session.session_id), "closing the WebSocket of a client that does not keep up with pushes");
                if let Some(socket) = session.socket.take() {
                    socket.close(CloseReason::SlowConsumer);
                }
            }
            Err(TrySendError::Closed(_)) => session.socket = None,
        }
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
