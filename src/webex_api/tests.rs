//! The shared Webex client against an in-process API that records every request it gets.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::Uri;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::event::Event;

/// An API on loopback that answers every GET with a message, or a room list under `/v1/rooms`,
/// and records the paths it was asked for.
struct RecordingApi {
    base_url: String,
    paths: Arc<Mutex<Vec<String>>>,
    shutdown: CancellationToken,
}

impl Drop for RecordingApi {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn recording_api() -> RecordingApi {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let recorded = paths.clone();
    let router = Router::new().fallback(move |uri: Uri| {
        let recorded = recorded.clone();
        async move {
            recorded.lock().unwrap().push(uri.path().to_owned());
            let body = if uri.path().starts_with("/v1/rooms") {
                json!({"items": [{"title": "the board's private room"}]})
            } else {
                json!({"id": "m", "text": "hello"})
            };
            axum::Json(body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let options = crate::http::server::ServeOptions {
        acceptor: None,
        shutdown: shutdown.clone(),
        tracker: TaskTracker::new(),
        name: "webex-api-test".to_owned(),
    };
    tokio::spawn(crate::http::server::serve(listener, router, options));
    RecordingApi {
        base_url,
        paths,
        shutdown,
    }
}

fn notification(id: &str) -> Event {
    let data = json!({
        "id": "Y2lzY29zcGFyazovL3VzL1dFQkhPT0svOTZhYmMyYWEtM2RjYy0xMWU1LWExNTItZmUzNDgxOWNkYzlh",
        "resource": "messages",
        "event": "created",
        "data": {"id": id, "roomId": "r"}
    });
    let mut event = Event::new(
        "bot",
        "com.cisco.webex.messages.created",
        jiff::Timestamp::UNIX_EPOCH,
        data,
    );
    event.summary = "matt@example.com posted a message".to_owned();
    event
}

#[tokio::test]
async fn a_notification_whose_id_climbs_out_of_the_path_fetches_nothing() {
    let api = recording_api().await;
    let fetcher = Fetcher::new("bot", &api.base_url, "bot-token").unwrap();
    for id in ["../rooms", "..%2Frooms", "x/../../rooms", "?max=1000"] {
        let mut event = notification(id);
        fetcher.enrich(&mut event).await;
        assert!(event.data.get("message").is_none(), "{id}: {}", event.data);
        let error = event.data["fetch_error"].as_str().unwrap_or_default();
        assert!(error.contains("is not a Webex id"), "{id}: {error}");
        assert_eq!(event.summary, "matt@example.com posted a message");
    }
    assert_eq!(*api.paths.lock().unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn a_webex_id_is_fetched_as_one_percent_encoded_path_segment() {
    let api = recording_api().await;
    let fetcher = Fetcher::new("bot", &api.base_url, "bot-token").unwrap();
    // Standard base64 may hold `/`: it stays inside the one segment.
    let id = "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvPz8/Pj4+";
    let mut event = notification(id);
    fetcher.enrich(&mut event).await;
    assert_eq!(event.data["message"]["text"], "hello");
    assert_eq!(event.summary, "matt@example.com posted a message: hello");
    assert_eq!(
        *api.paths.lock().unwrap(),
        ["/v1/messages/Y2lzY29zcGFyazovL3VzL01FU1NBR0UvPz8%2FPj4+"]
    );
}

#[test]
fn urls_are_built_from_segments_under_the_base_path() {
    let api = WebexApi::new(&WebexApiOptions {
        component: "test",
        base_url: "https://proxy.example/webex/",
        token: "t",
        tls: &Default::default(),
        timeout: Duration::from_secs(1),
    })
    .unwrap();
    assert_eq!(
        api.url(["v1", "people", "me"]).as_str(),
        "https://proxy.example/webex/v1/people/me"
    );
    assert!(
        api.resource_url(Resource::AttachmentActions, "../../x")
            .is_err()
    );
}
