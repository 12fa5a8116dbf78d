use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::sim::Load;

#[test]
fn the_stream_is_real_documents_with_fresh_ids_and_clears_that_name_earlier_raises() {
    let mut raised = HashSet::new();
    let mut uuids = HashSet::new();
    let mut clears = 0;
    let now = jiff::Timestamp::now().as_millisecond();
    for body in alarms(7, 5).take(500) {
        let alarm = crate::source::webhook::sdwan::parse(&body).expect("an SD-WAN alarm");
        assert!(uuids.insert(alarm.uuid.to_string()), "uuids are fresh");
        assert!(
            (alarm.entry_time.as_millisecond() - now).abs() < 60_000,
            "re-dated"
        );
        let document: Value = serde_json::from_slice(&body).unwrap();
        let host = document["values"][0]["host-name"]
            .as_str()
            .unwrap_or("edge-001");
        assert!(host.starts_with("edge-00"), "{host}");
        if alarm.active {
            raised.insert(alarm.uuid.to_string());
        } else {
            clears += 1;
            for cleared in &alarm.cleared_events {
                assert!(
                    raised.remove(cleared),
                    "a clear names a raise sent before it"
                );
            }
        }
    }
    assert!(clears > 100, "{clears} clears");
}

#[tokio::test]
async fn alarms_are_posted_with_basic_auth_and_answers_are_reported() {
    let received = Arc::new(Mutex::new(Vec::<Value>::new()));
    let store = received.clone();
    let router = axum::Router::new().route(
        "/hooks/sdwan",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                // webhook:s3cret
                if headers["authorization"] != "Basic d2ViaG9vazpzM2NyZXQ=" {
                    return StatusCode::UNAUTHORIZED;
                }
                store
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let config = SdwanSimConfig {
        target: format!("http://{address}/hooks/sdwan"),
        username: "webhook".to_owned(),
        password: "s3cret".to_owned(),
        load: Load {
            count: Some(40),
            concurrency: 4,
            rate: Some(400.0),
            record_accepted: true,
            ..Load::default()
        },
    };
    let report = run(config, CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 40);
    assert_eq!(report.by_status.get(&200), Some(&40));
    assert_eq!(report.accepted_ids.len(), 40);
    // 40 requests at 400/s take at least 97.5 ms (the first goes at once).
    assert!(
        report.elapsed >= std::time::Duration::from_millis(97),
        "{:?}",
        report.elapsed
    );
    let received = received.lock().unwrap();
    let uuids: HashSet<&str> = received
        .iter()
        .map(|alarm| alarm["uuid"].as_str().unwrap())
        .collect();
    let accepted: HashSet<&str> = report.accepted_ids.iter().map(String::as_str).collect();
    assert_eq!(uuids, accepted);
}
