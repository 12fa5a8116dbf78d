//! Tests of `http::api::silences`.

use super::*;

fn now() -> jiff::Timestamp {
    "2026-12-07T10:00:00Z".parse().unwrap()
}

fn parse(body: Value) -> Result<Mute, ApiError> {
    parse_mute(
        body.to_string().as_bytes(),
        MuteKind::Silence,
        "alice",
        now(),
        "id-1".to_owned(),
    )
}

fn error(body: Value) -> String {
    let error = parse(body).expect_err("refused");
    assert_eq!(error.status, StatusCode::BAD_REQUEST);
    error.message
}

#[test]
fn a_silence_with_a_duration_starts_now_and_names_its_maker() {
    let mute = parse(json!({
        "matchers": {"source": ["vmanage"], "device": ["edge-1"]},
        "duration": "2h",
        "comment": "  change 1234 ",
    }))
    .unwrap();
    assert_eq!(mute.id, "id-1");
    assert_eq!(mute.kind, MuteKind::Silence);
    assert_eq!(mute.matcher.device, ["edge-1"]);
    assert_eq!(mute.starts_at, now());
    assert_eq!(mute.ends_at, "2026-12-07T12:00:00Z".parse().unwrap());
    assert_eq!(mute.comment, "change 1234");
    assert_eq!(mute.created_by, "alice");
    assert_eq!(mute.created_at, now());
    assert_eq!(mute.expired_by, None);
}

#[test]
fn a_window_may_start_later_and_end_at_a_given_time() {
    let mute = parse(json!({
        "matchers": {"device": ["edge-1", "edge-2"]},
        "starts_at": "2026-12-08T22:00:00Z",
        "ends_at": "2026-12-09T02:00:00+00:00",
        "comment": "site A router swap",
    }))
    .unwrap();
    assert_eq!(mute.starts_at, "2026-12-08T22:00:00Z".parse().unwrap());
    assert_eq!(mute.ends_at, "2026-12-09T02:00:00Z".parse().unwrap());
    assert!(!mute.is_active(now()));
}

#[test]
fn every_mistake_names_its_field() {
    let ok = || json!({"matchers": {"device": ["e"]}, "duration": "1h", "comment": "c"});
    let with = |key: &str, value: Value| {
        let mut body = ok();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = ok();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    assert!(error(without("matchers")).contains("matchers is required"));
    assert!(error(with("matchers", json!({}))).contains("matchers is empty"));
    assert!(
        error(with("matchers", json!({"devce": ["e"]})))
            .contains("matchers: unknown field `devce`")
    );
    assert!(error(with("matchers", json!({"min_severity": "huge"}))).starts_with("matchers:"));
    assert!(error(without("comment")).contains("comment is required"));
    assert!(error(with("comment", json!("  "))).contains("comment is required"));
    assert!(error(with("comment", json!(3))).contains("comment must be a string"));
    assert!(error(without("duration")).contains("ends_at (RFC 3339) or duration"));
    assert!(error(with("ends_at", json!("2026-12-07T11:00:00Z"))).contains("not both"));
    assert!(error(with("duration", json!("2 fortnights"))).starts_with("duration:"));
    assert!(error(with("duration", json!("0s"))).contains("more than 0"));
    assert!(error(with("duration", json!("91d"))).contains("at most 90 days"));
    assert!(error(with("starts_at", json!("tomorrow"))).contains("starts_at \"tomorrow\""));
    assert!(error(with("colour", json!("red"))).contains("unknown field \"colour\""));
    assert!(error(json!([1])).contains("JSON object"));
    assert!(
        parse_mute(b"{", MuteKind::Window, "a", now(), "x".into())
            .unwrap_err()
            .message
            .contains("not JSON")
    );
    let mut backwards = without("duration");
    backwards["starts_at"] = json!("2026-12-07T12:00:00Z");
    backwards["ends_at"] = json!("2026-12-07T11:00:00Z");
    assert!(error(backwards).contains("must be after starts_at"));
    let mut past = without("duration");
    past["starts_at"] = json!("2026-12-07T08:00:00Z");
    past["ends_at"] = json!("2026-12-07T09:00:00Z");
    assert!(error(past).contains("already past"));
}

#[test]
fn the_list_keeps_this_kinds_mutes_not_ended_soonest_first() {
    let mute = |id: &str, kind, starts: &str, ends: &str, expired: Option<&str>| Mute {
        id: id.to_owned(),
        kind,
        matcher: EventMatcher {
            device: vec!["e".to_owned()],
            ..EventMatcher::default()
        },
        starts_at: starts.parse().unwrap(),
        ends_at: ends.parse().unwrap(),
        comment: "c".to_owned(),
        created_by: "alice".to_owned(),
        created_at: now(),
        expired_by: expired.map(str::to_owned),
    };
    let row = |mute: &Mute| {
        (
            format!("{MUTE_KEY_PREFIX}{}", mute.id),
            serde_json::to_string(mute).unwrap(),
        )
    };
    let later = mute(
        "later",
        MuteKind::Silence,
        "2026-12-08T00:00:00Z",
        "2026-12-09T00:00:00Z",
        None,
    );
    let active = mute(
        "active",
        MuteKind::Silence,
        "2026-12-07T09:00:00Z",
        "2026-12-07T11:00:00Z",
        None,
    );
    let ended = mute(
        "ended",
        MuteKind::Silence,
        "2026-12-07T08:00:00Z",
        "2026-12-07T10:00:00Z",
        None,
    );
    let expired = mute(
        "expired",
        MuteKind::Silence,
        "2026-12-07T09:00:00Z",
        "2026-12-07T11:00:00Z",
        Some("bob"),
    );
    let window = mute(
        "window",
        MuteKind::Window,
        "2026-12-07T09:00:00Z",
        "2026-12-07T11:00:00Z",
        None,
    );
    // As the engine stores it: the mute beside its bookkeeping.
    let wrapped = |mute: &Mute| {
        (
            format!("{MUTE_KEY_PREFIX}{}", mute.id),
            json!({"mute": mute, "started": true}).to_string(),
        )
    };
    let rows = vec![
        wrapped(&later),
        row(&active),
        row(&ended),
        row(&expired),
        row(&window),
        ("group/x".to_owned(), "{}".to_owned()),
        (format!("{MUTE_KEY_PREFIX}broken"), "not json".to_owned()),
    ];
    let ids = |kind| {
        mutes_in_state(&rows, kind, now())
            .into_iter()
            .map(|mute| mute.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(MuteKind::Silence), ["active", "later"]);
    assert_eq!(ids(MuteKind::Window), ["window"]);
}
