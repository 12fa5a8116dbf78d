//! A shared Webex sink's lease (cluster mode): the worker delivers only while this node holds
//! `sink.<name>`, and on taking it first catches up with what the previous deliverer recorded.

use super::{RECORD_PAUSE, Worker};

impl Worker {
    /// Waits until this node may deliver: at once for a sink that is not shared; for a shared
    /// one, until this node holds the sink's lease. On taking the lease (again), first waits for
    /// the projection to fold what the previous deliverer recorded, makes the rows this process
    /// had claimed claimable again (uncertain), and forgets what it remembered of earlier
    /// attempts (another node may have delivered meanwhile). False once shutting down.
    pub(super) async fn hold(&mut self) -> bool {
        let Some(mut lease) = self.outbox.recorder.lease() else {
            return true;
        };
        loop {
            let held = *lease.borrow_and_update();
            match (held, self.tenure) {
                (Some(revision), Some(tenure)) if revision == tenure => return true,
                (Some(revision), _) => {
                    if self.take_over(revision).await {
                        self.tenure = Some(revision);
                        return true;
                    }
                    if self.outbox.drain.is_cancelled() {
                        return false;
                    }
                }
                (None, tenure) => {
                    if let Some(tenure) = tenure {
                        tracing::info!(sink = %self.outbox.sink, revision = tenure, "the sink's lease is no longer held here: this node stops delivering");
                        metrics::counter!("netpulse_cluster_sink_leases_lost_total", "sink" => self.outbox.sink.clone()).increment(1);
                        self.tenure = None;
                    }
                    tokio::select! {
                        changed = lease.changed() => {
                            if changed.is_err() {
                                // The lease manager is gone (shutting down): wait for the drain.
                                self.outbox.drain.cancelled().await;
                                return false;
                            }
                        }
                        () = self.outbox.drain.cancelled() => return false,
                    }
                }
            }
        }
    }

    /// The first steps of this node as the sink's deliverer (lease `revision`); false when they
    /// did not complete (stream unreachable, lease lost again, shutting down): tried again.
    async fn take_over(&mut self, revision: u64) -> bool {
        let sink = self.outbox.sink.clone();
        let caught_up = tokio::select! {
            caught_up = self.outbox.recorder.caught_up() => caught_up,
            () = self.outbox.drain.cancelled() => return false,
        };
        if let Err(error) = caught_up {
            if let Some(left_out) = self.unrecorded.admit(std::time::Instant::now()) {
                tracing::warn!(sink, error = %format!("{error:#}"), left_out, "the sink's lease is held but the stream cannot say how far it goes: delivering waits, trying again every second");
            }
            tokio::select! {
                () = tokio::time::sleep(RECORD_PAUSE) => {}
                () = self.outbox.drain.cancelled() => {}
            }
            return false;
        }
        match self.outbox.store.recover_leases(&sink).await {
            Ok(0) => {}
            Ok(recovered) => {
                tracing::info!(
                    sink,
                    deliveries = recovered,
                    "deliveries this node had claimed before are offered again, checked in the room first"
                )
            }
            Err(error) => {
                tracing::error!(sink, %error, "cannot recover the deliveries claimed earlier; they come back when their lease ends")
            }
        }
        self.parts_sent.clear();
        self.threads.clear();
        self.replies.clear();
        tracing::info!(
            sink,
            revision,
            "this node holds the sink's lease: it delivers the sink's outbox"
        );
        metrics::counter!("netpulse_cluster_sink_leases_taken_total", "sink" => sink).increment(1);
        self.outbox.recorder.holds()
    }
}
