use super::*;

const SESSION_LIFETIME: Duration = Duration::from_secs(600);
const TTL: Duration = Duration::from_secs(60);

fn table_with_session(now: Instant) -> (SessionTable, u64) {
    let mut table = SessionTable::default();
    let key = table.login(
        "admin",
        "tok/en+1=".into(),
        "sid".into(),
        0,
        now + SESSION_LIFETIME,
    );
    (table, key)
}

fn query() -> Query {
    Query::parse("/api/class/l1PhysIf.json", Some("subscription=yes")).unwrap()
}

fn attach(
    table: &mut SessionTable,
    key: u64,
) -> (u64, mpsc::Receiver<String>, oneshot::Receiver<CloseReason>) {
    let (frames, frames_rx) = mpsc::channel(4);
    let (closer, closer_rx) = oneshot::channel();
    (
        table.attach_socket(key, frames, closer).unwrap(),
        frames_rx,
        closer_rx,
    )
}

#[test]
fn subscription_ids_are_above_i64_max_and_unique() {
    let now = Instant::now();
    let (mut table, key) = table_with_session(now);
    let first = table.subscribe(key, query(), TTL, now);
    let second = table.subscribe(key, query(), TTL, now);
    assert!(first > i64::MAX as u64);
    assert_ne!(first, second);
    assert!(
        first.to_string().parse::<i64>().is_err(),
        "clients must parse ids as u64 or strings"
    );
}

#[test]
fn session_expires_after_refresh_timeout_and_refresh_extends_it() {
    let start = Instant::now();
    let (mut table, key) = table_with_session(start);
    assert_eq!(
        table.authenticate("tok/en+1=", start + Duration::from_secs(599)),
        Some(key)
    );
    table.refresh_session(
        key,
        start + Duration::from_secs(300) + SESSION_LIFETIME,
        None,
    );
    assert_eq!(
        table.authenticate("tok/en+1=", start + Duration::from_secs(899)),
        Some(key)
    );
    assert_eq!(
        table.authenticate("tok/en+1=", start + Duration::from_secs(900)),
        None
    );
    assert!(
        table.sessions.is_empty(),
        "the lazy check ended the session"
    );
}

#[test]
fn token_rotation_keeps_the_session_and_socket() {
    let now = Instant::now();
    let (mut table, key) = table_with_session(now);
    let (_generation, _frames, mut closed) = attach(&mut table, key);
    table.refresh_session(key, now + SESSION_LIFETIME, Some("new/token=".into()));
    assert_eq!(table.authenticate("tok/en+1=", now), None);
    assert_eq!(table.authenticate("new/token=", now), Some(key));
    assert!(table.has_socket(key));
    assert!(closed.try_recv().is_err(), "the socket stays open");
}

#[test]
fn ending_a_session_closes_its_socket_and_drops_its_subscriptions() {
    let now = Instant::now();
    let (mut table, key) = table_with_session(now);
    let (_generation, _frames, mut closed) = attach(&mut table, key);
    table.subscribe(key, query(), TTL, now);
    table.sweep(now + SESSION_LIFETIME);
    assert_eq!(closed.try_recv(), Ok(CloseReason::SessionEnded));
    assert!(table.subscriptions.is_empty());
    assert_eq!(
        table.counters.subscriptions_expired_total, 0,
        "session end is not a TTL lapse"
    );
}

#[test]
fn a_second_socket_replaces_the_first() {
    let now = Instant::now();
    let (mut table, key) = table_with_session(now);
    let (first, _frames, mut first_closed) = attach(&mut table, key);
    let (second, _frames2, _closed2) = attach(&mut table, key);
    assert_eq!(first_closed.try_recv(), Ok(CloseReason::Replaced));
    table.detach_socket(key, first);
    assert!(
        table.has_socket(key),
        "a stale detach does not remove the newer socket"
    );
    table.detach_socket(key, second);
    assert!(!table.has_socket(key));
    assert_eq!(table.counters.sockets_opened_total, 2);
}

#[test]
fn subscriptions_lapse_without_refresh() {
    let start = Instant::now();
    let (mut table, key) = table_with_session(start);
    let id = table.subscribe(key, query(), TTL, start);
    assert!(table.refresh_subscription(key, id, start + Duration::from_secs(45)));
    assert_eq!(table.counters.worst_refresh_margin_ms, Some(15_000));
    assert!(table.refresh_subscription(key, id, start + Duration::from_secs(104)));
    assert_eq!(table.counters.worst_refresh_margin_ms, Some(1_000));
    // Lazy check: refreshing too late fails and counts as an expiry.
    assert!(!table.refresh_subscription(key, id, start + Duration::from_secs(164)));
    assert_eq!(table.counters.subscriptions_expired_total, 1);
    assert_eq!(table.counters.subscription_refresh_failures, 1);
    // Sweep: an unrefreshed subscription disappears on time.
    let other = table.subscribe(key, query(), TTL, start);
    table.sweep(start + TTL - Duration::from_millis(1));
    assert!(table.subscriptions.contains_key(&other));
    table.sweep(start + TTL);
    assert!(!table.subscriptions.contains_key(&other));
    assert_eq!(table.counters.subscriptions_expired_total, 2);
}

#[test]
fn only_the_owner_may_refresh() {
    let now = Instant::now();
    let (mut table, owner) = table_with_session(now);
    let intruder = table.login(
        "admin",
        "other".into(),
        "sid2".into(),
        0,
        now + SESSION_LIFETIME,
    );
    let id = table.subscribe(owner, query(), TTL, now);
    assert!(!table.refresh_subscription(intruder, id, now));
    assert!(table.refresh_subscription(owner, id, now));
}

#[test]
fn lapsed_subscriptions_are_not_deliverable() {
    let start = Instant::now();
    let (mut table, key) = table_with_session(start);
    let (_generation, _frames, _closed) = attach(&mut table, key);
    let id = table.subscribe(key, query(), TTL, start);
    assert_eq!(
        table
            .deliverable(start)
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        vec![id]
    );
    assert_eq!(table.deliverable(start + TTL).count(), 0);
}

#[test]
fn unsubscribe_matches_query_identity() {
    let now = Instant::now();
    let (mut table, key) = table_with_session(now);
    table.subscribe(key, query(), TTL, now);
    table.subscribe(key, query(), TTL, now);
    let unsubscribe = Query::parse("/api/class/l1PhysIf.json", Some("subscription=no")).unwrap();
    assert_eq!(table.unsubscribe(key, &unsubscribe.identity), 2);
}

#[test]
fn base64_and_tokens() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    let token = new_token();
    assert_eq!(token.len(), 172);
    assert!(
        token.contains('/') && token.contains('+') && token.ends_with('='),
        "{token}"
    );
    assert_ne!(token, new_token());
    assert_eq!(new_session_id().len(), 24);
    assert_eq!(log_prefix("abc"), "abc");
}

#[test]
fn a_session_is_seen_active_only_with_a_socket_and_a_live_subscription() {
    let now = Instant::now();
    let (mut table, key) = table_with_session(now);
    let seen = table.sessions_seen(now);
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].active(), "no socket, no subscription");
    let (_generation, _frames, _closer) = attach(&mut table, key);
    assert!(!table.sessions_seen(now)[0].active(), "no subscription yet");
    table.subscribe(key, query(), TTL, now);
    let seen = table.sessions_seen(now + Duration::from_secs(5));
    assert!(seen[0].active());
    assert_eq!(seen[0].live_subscriptions, 1);
    assert!(
        !table.sessions_seen(now + TTL)[0].active(),
        "the subscription lapsed: no more pushes"
    );
    assert!(
        table
            .authenticate("tok/en+1=", now + Duration::from_secs(7))
            .is_some()
    );
    assert_eq!(
        table.sessions_seen(now + Duration::from_secs(9))[0].idle_ms,
        2000,
        "idle since the last authenticated request"
    );
}
