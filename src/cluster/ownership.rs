//! Sessions follow their device's lease: in cluster mode every session-holding source starts
//! stopped; it starts on the node that holds `dev.<source>` (once that node's projection has
//! applied the lease's announcement, so its view includes all the previous owner reported) and
//! stops when the node loses the lease (self-fence, expiry, handover, release).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::lease::{Leases, Tenure};
use super::wire::LeaseKey;
use super::{Node, ProjectionProgress};
use crate::source::{ConnectionState, Registry, SourceHandle};

/// Starts following the registry's sources (also after a reload replaces them) until
/// `shutdown`. A session starts only once this node's projection has applied its lease's
/// announcement (so the stored view holds everything the previous owner reported).
pub fn spawn(
    node: &Node,
    sources: Registry,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let leases = node.leases.clone();
    let projection = node.projection.clone();
    let period = node
        .config
        .lease
        .poll
        .min(std::time::Duration::from_secs(1));
    tokio::spawn(async move {
        let mut followers: HashMap<String, (Arc<SourceHandle>, CancellationToken)> = HashMap::new();
        let mut seen: Option<Arc<Vec<Arc<SourceHandle>>>> = None;
        loop {
            let list = sources.list();
            if !seen.as_ref().is_some_and(|seen| Arc::ptr_eq(seen, &list)) {
                reconcile(&list, &leases, &projection, &mut followers, &shutdown);
                seen = Some(list);
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(period) => {}
            }
        }
        for (_, (_, stop)) in followers {
            stop.cancel();
        }
    })
}

/// The device lease keys of the session-holding sources.
pub fn device_keys(sources: &[Arc<SourceHandle>]) -> Vec<LeaseKey> {
    sources
        .iter()
        .filter(|source| source.session().is_some())
        .map(|source| LeaseKey::Device(source.name.clone()))
        .collect()
}

fn reconcile(
    list: &[Arc<SourceHandle>],
    leases: &Leases,
    projection: &ProjectionProgress,
    followers: &mut HashMap<String, (Arc<SourceHandle>, CancellationToken)>,
    shutdown: &CancellationToken,
) {
    leases.set_wanted_devices(device_keys(list));
    followers.retain(|name, (handle, stop)| {
        let current = list.iter().any(|source| Arc::ptr_eq(source, handle));
        if !current {
            tracing::debug!(source = %name, "no longer following the replaced source");
            stop.cancel();
        }
        current
    });
    for source in list.iter().filter(|source| source.session().is_some()) {
        if followers.contains_key(&source.name) {
            continue;
        }
        let stop = shutdown.child_token();
        let key = LeaseKey::Device(source.name.clone());
        tokio::spawn(follow(
            source.clone(),
            leases.watch(&key),
            leases.stopped_gate(&key),
            projection.clone(),
            stop.clone(),
        ));
        followers.insert(source.name.clone(), (source.clone(), stop));
    }
}

/// Starts and stops one source's sessions with this node's tenure of its device.
async fn follow(
    source: Arc<SourceHandle>,
    mut tenure: watch::Receiver<Option<Tenure>>,
    stopped: Arc<tokio::sync::Notify>,
    projection: ProjectionProgress,
    stop: CancellationToken,
) {
    let Some(control) = source.session().cloned() else {
        return;
    };
    loop {
        let current = tenure.borrow_and_update().clone();
        match current {
            Some(held) => {
                tokio::select! {
                    () = projection.wait_for(held.control_seq) => {}
                    changed = tenure.changed() => {
                        if changed.is_err() { break; }
                        continue;
                    }
                    () = stop.cancelled() => break,
                }
                tracing::info!(source = %source.name, revision = held.revision, "this node holds the device: starting its session");
                control.start();
            }
            None => {
                if !control.is_stopped() {
                    tracing::info!(source = %source.name, "this node no longer holds the device: stopping its session");
                    control.stop_because(crate::source::lifecycle::OWNERSHIP_MOVED);
                    session_ended(&source).await;
                    stopped.notify_one();
                }
            }
        }
        tokio::select! {
            changed = tenure.changed() => if changed.is_err() { break },
            () = stop.cancelled() => break,
        }
    }
}

/// Waits until the source's lifecycle shows it stopped (its session logged out), at most 10 s.
async fn session_ended(source: &SourceHandle) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while source.status.snapshot().state != ConnectionState::Stopped
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
