//! Refreshing a live session's subscriptions, each on its own deadline, and what their health
//! shows: the status, the metrics, relogins, and the subscription alarms (`at_risk` before the
//! device would drop one, `lost` when it did, `healthy` when either is over).
//!
//! A refresh call that fails without the device saying the subscription is gone (a timeout, an
//! HTTP 5xx from a loaded APIC) does not end the session: the subscription lives on the device
//! until its timeout, so the call is tried again soon while the margin shrinks. Only a device
//! that answers "expired" (400), or a timeout that passes without a good refresh, makes it lost.
//! A call is never awaited past the subscription's expiry, and one still unanswered at the alarm
//! margin raises `at_risk` while it hangs.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::Device;
use super::client::SessionError;
use super::health::{Health, Tracked, alarm_event};
use super::session::{Live, while_reading};
use crate::source::SubscriptionState;
use crate::source::lifecycle::Link;

/// What outlives a device's sessions about its subscriptions.
#[derive(Debug, Default)]
pub(super) struct DeviceHealth {
    /// Queries whose alarm is raised (`at_risk` or `lost`), until cleared.
    raised: BTreeMap<String, SubscriptionState>,
    /// Whether the device was ever logged in to: later logins are relogins.
    logged_in: bool,
}

/// Why the refreshes ended the session, and until when nothing was missed.
pub(super) type Lost = (SessionError, jiff::Timestamp);

impl Device {
    /// Counts a login after the first as a relogin.
    pub(super) fn logged_in(&mut self, link: &Link) {
        if std::mem::replace(&mut self.health.logged_in, true) {
            link.counters.relogins.increment(1);
            link.status.update(|status| status.relogins += 1);
        }
    }

    /// A new session has subscribed everything: shows its subscriptions, and clears the alarms
    /// of the queries that were at risk or lost before.
    pub(super) async fn subscribed(&mut self, link: &Link, live: &Live) {
        let statuses = live
            .subscriptions
            .iter()
            .map(|tracked| tracked.status.clone())
            .collect();
        link.status
            .update(|status| status.subscription_health = statuses);
        let now = Instant::now();
        for tracked in &live.subscriptions {
            if let Some(was) = self.health.raised.remove(&tracked.query) {
                let detail = match was {
                    SubscriptionState::Lost => "resubscribed",
                    _ => "resubscribed in a new session",
                };
                let event =
                    alarm_event(&link.name, SubscriptionState::Healthy, tracked, now, detail);
                tracing::info!(source = %link.name, query = %tracked.query, "{}", event.summary);
                link.emit(event).await;
            }
        }
    }

    /// The session ended: its subscriptions are closed (their alarms stay until resubscribed).
    pub(super) fn closed(&self, link: &Link) {
        link.status.update(|status| {
            for subscription in &mut status.subscription_health {
                subscription.state = SubscriptionState::Closed;
                subscription.expires_at = None;
            }
        });
    }

    /// Refreshes every subscription that is due, then raises or clears alarms as the margins
    /// say. An error ends the session.
    pub(super) async fn attend(
        &mut self,
        link: &Link,
        live: &mut Live,
        buffered: &mut Vec<String>,
    ) -> Result<(), Lost> {
        // One after the other on purpose: concurrent calls would each hold a pooled TLS
        // connection per device, and thousands of devices make that the gateway's largest
        // memory cost; on a healthy device each call takes about a millisecond.
        for index in 0..live.subscriptions.len() {
            if !live.subscriptions[index].is_due(Instant::now()) {
                continue;
            }
            let sent = Instant::now();
            let sent_wall = jiff::Timestamp::now();
            let result = self.refresh_one(link, live, index, buffered).await;
            let tracked = &mut live.subscriptions[index];
            match result {
                Ok(Ok(())) => {
                    if tracked.refreshed(sent, Instant::now(), sent_wall) {
                        tracked.metrics.late.increment(1);
                        link.status.update(|status| status.late_refreshes += 1);
                        tracing::warn!(source = %link.name, query = %tracked.query, took_ms = tracked.status.last_refresh_took_ms, "late subscription refresh");
                    }
                }
                Ok(Err(error)) if is_transient(&error) => {
                    tracked.failed(Instant::now(), &error.to_string());
                    tracked.metrics.failures.increment(1);
                    link.status.update(|status| status.refresh_failures += 1);
                    let margin_ms = tracked.margin(Instant::now()).as_millis() as u64;
                    tracing::warn!(source = %link.name, query = %tracked.query, margin_ms, failing = tracked.failing(), error = %error, "subscription refresh failed; retrying before the device expires it");
                }
                Ok(Err(error)) => {
                    if matches!(error, SessionError::SubscriptionLost { .. }) {
                        let healthy_until = tracked.healthy_until();
                        self.lose(link, live, index, &error.to_string()).await;
                        return Err((error, healthy_until));
                    }
                    return Err((error, jiff::Timestamp::now()));
                }
                Err(error) => return Err((error, jiff::Timestamp::now())),
            }
        }
        self.judge(link, live).await
    }

    /// One refresh call, bounded by the first expiry among the session's subscriptions (past
    /// it the device has dropped one, whatever the call says later). While the call is
    /// unanswered, every subscription whose margin falls under its alarm margin (this one, and
    /// the others waiting behind it) raises `at_risk` there and then: a hung device must not
    /// delay the alarm by the request timeout.
    async fn refresh_one(
        &mut self,
        link: &Link,
        live: &mut Live,
        index: usize,
        buffered: &mut Vec<String>,
    ) -> Result<Result<(), SessionError>, SessionError> {
        let Live {
            token,
            socket,
            subscriptions,
            ..
        } = live;
        let sent = Instant::now();
        let first_expiry = subscriptions
            .iter()
            .map(Tracked::expires_at)
            .min()
            .unwrap_or(sent);
        let id = subscriptions[index].id.clone();
        let call = async {
            let refresh = self.client.refresh_subscription(token, &id);
            match tokio::time::timeout_at(first_expiry, refresh).await {
                Ok(answer) => answer,
                Err(_) => Err(SessionError::Transport(
                    "no answer before a subscription's timeout".to_owned(),
                )),
            }
        };
        let reading = while_reading(Box::pin(call), socket, buffered);
        tokio::pin!(reading);
        loop {
            let warn_at = next_warning(subscriptions);
            let warning = async {
                match warn_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = &mut reading => return result,
                () = warning => {
                    let now = Instant::now();
                    for (other, tracked) in subscriptions.iter_mut().enumerate() {
                        if tracked.status.state != SubscriptionState::Healthy
                            || tracked.health(now) == Health::Healthy
                        {
                            continue;
                        }
                        let detail = if other == index {
                            format!(
                                "a refresh sent {:.1} s ago is still unanswered",
                                sent.elapsed().as_secs_f64()
                            )
                        } else {
                            format!(
                                "waiting behind the refresh of {} sent {:.1} s ago, still unanswered",
                                id,
                                sent.elapsed().as_secs_f64()
                            )
                        };
                        raise_at_risk(&mut self.health, link, tracked, &detail).await;
                    }
                }
            }
        }
    }

    /// Raises `at_risk` for a subscription under its margin, clears it for one refreshed in time,
    /// and ends the session for one whose timeout has passed.
    async fn judge(&mut self, link: &Link, live: &mut Live) -> Result<(), Lost> {
        let now = Instant::now();
        for index in 0..live.subscriptions.len() {
            let tracked = &mut live.subscriptions[index];
            let state = tracked.status.state;
            match tracked.health(now) {
                Health::Expired => {
                    let healthy_until = tracked.healthy_until();
                    let error = SessionError::SubscriptionLost {
                        id: tracked.id.clone(),
                        text: format!(
                            "not refreshed within its {:?} timeout",
                            tracked.plan.timeout
                        ),
                    };
                    self.lose(link, live, index, &error.to_string()).await;
                    return Err((error, healthy_until));
                }
                Health::AtRisk if state == SubscriptionState::Healthy => {
                    let detail = tracked
                        .status
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "refreshes late".to_owned());
                    raise_at_risk(&mut self.health, link, tracked, &detail).await;
                }
                Health::Healthy if state == SubscriptionState::AtRisk => {
                    tracked.status.state = SubscriptionState::Healthy;
                    self.health.raised.remove(&tracked.query);
                    let event = alarm_event(
                        &link.name,
                        SubscriptionState::Healthy,
                        tracked,
                        now,
                        "refreshed in time",
                    );
                    tracing::info!(source = %link.name, query = %tracked.query, "{}", event.summary);
                    link.emit(event).await;
                }
                _ => {}
            }
        }
        self.show(link, live);
        Ok(())
    }

    /// Raises `lost` for one subscription (the session ends and resubscribes).
    async fn lose(&mut self, link: &Link, live: &mut Live, index: usize, detail: &str) {
        let tracked = &mut live.subscriptions[index];
        tracked.status.state = SubscriptionState::Lost;
        self.show(link, live);
        let tracked = &live.subscriptions[index];
        let event = alarm_event(
            &link.name,
            SubscriptionState::Lost,
            tracked,
            Instant::now(),
            detail,
        );
        self.health
            .raised
            .insert(tracked.query.clone(), SubscriptionState::Lost);
        tracing::warn!(source = %link.name, query = %tracked.query, "{}", event.summary);
        link.emit(event).await;
    }

    /// Copies the subscriptions' health into the source status.
    fn show(&self, link: &Link, live: &Live) {
        let oldest = live.subscriptions.iter().map(Tracked::healthy_until).min();
        link.status.update(|status| {
            status.last_refresh_at = oldest.or(status.last_refresh_at);
            for (shown, tracked) in status
                .subscription_health
                .iter_mut()
                .zip(&live.subscriptions)
            {
                shown.clone_from(&tracked.status);
            }
        });
    }
}

/// When the first healthy subscription will fall under its alarm margin.
fn next_warning(subscriptions: &[Tracked]) -> Option<Instant> {
    subscriptions
        .iter()
        .filter(|tracked| tracked.status.state == SubscriptionState::Healthy)
        .map(|tracked| tracked.expires_at() - tracked.plan.alarm_margin)
        .min()
}

/// Marks a subscription at risk and raises its alarm.
async fn raise_at_risk(
    health: &mut DeviceHealth,
    link: &Link,
    tracked: &mut Tracked,
    detail: &str,
) {
    tracked.status.state = SubscriptionState::AtRisk;
    let event = alarm_event(
        &link.name,
        SubscriptionState::AtRisk,
        tracked,
        Instant::now(),
        detail,
    );
    health
        .raised
        .insert(tracked.query.clone(), SubscriptionState::AtRisk);
    tracing::warn!(source = %link.name, query = %tracked.query, "{}", event.summary);
    link.emit(event).await;
}

/// Whether a failed refresh call leaves the subscription alive on the device: anything but an
/// answer that the subscription, the session or its socket is gone.
fn is_transient(error: &SessionError) -> bool {
    matches!(
        error,
        SessionError::Transport(_)
            | SessionError::Unavailable { .. }
            | SessionError::Http { .. }
            | SessionError::Protocol(_)
    )
}
