//! The Webex Messages API as the sink uses it: create a message in the room (or to the person),
//! and list recent messages to find one that may already have been posted. Each answer is
//! classified for the retry policy: sent, rate limited (with the wait Retry-After asks for), worth
//! retrying (5xx, network), or rejected for good (other 4xx, with the error body).

use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;

use super::markdown;
use super::render::parse_retry_after;
use crate::config::WebexSinkConfig;
use crate::webex_api::{WebexApi, WebexApiOptions};

/// The wait after a 429 that carries no usable Retry-After: what the Webex Python SDK assumes
/// (`protocols-webhooks.md` §8.2).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(15);
/// How much of an error body is kept for the log and the dead letter.
const MAX_ERROR_BODY: usize = 1024;

/// Who the messages go to.
#[derive(Debug, Clone)]
enum Target {
    Room(String),
    Person(String),
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    Sent,
    /// 429 (or 423): wait this long before any other request.
    RateLimited(Duration),
    /// 5xx, 408 or a network error: retry later.
    Retry(String),
    /// Any other 4xx: retrying the same request cannot help.
    Rejected(String),
}

/// The Webex sink's client for the Messages API (create, list recent), through the shared
/// [`WebexApi`].
pub struct MessagesClient {
    api: WebexApi,
    target: Target,
}

impl MessagesClient {
    pub fn new(config: &WebexSinkConfig) -> anyhow::Result<MessagesClient> {
        let api = WebexApi::new(&WebexApiOptions {
            component: &format!("sink {:?}", config.name),
            base_url: &config.base_url,
            token: config.token(),
            tls: &config.tls,
            timeout: config.request_timeout,
        })?;
        let target = match (&config.room_id, &config.to_person_email) {
            (Some(room), _) => Target::Room(room.clone()),
            (None, Some(email)) => Target::Person(email.clone()),
            (None, None) => anyhow::bail!("a room_id or to_person_email is required"),
        };
        Ok(MessagesClient { api, target })
    }

    /// Creates one message in the configured room (or to the configured person): the
    /// `markdown`, and its plain `text` (see [`content`]).
    pub async fn post(&self, markdown: &str) -> SendResult {
        let mut body = content(markdown);
        match &self.target {
            Target::Room(room) => body.insert("roomId".to_owned(), room.as_str().into()),
            Target::Person(email) => body.insert("toPersonEmail".to_owned(), email.as_str().into()),
        };
        self.send(body.into()).await
    }

    /// Creates one message in `room` (the answer to a command posted there), with its plain text.
    pub async fn post_to_room(&self, room: &str, markdown: &str) -> SendResult {
        let mut body = content(markdown);
        body.insert("roomId".to_owned(), room.into());
        self.send(body.into()).await
    }

    async fn send(&self, body: serde_json::Value) -> SendResult {
        match self.api.post(self.api.url(["v1", "messages"]), &body).await {
            Ok(response) if response.status().is_success() => SendResult::Sent,
            Ok(response) => failure(response).await,
            Err(error) => SendResult::Retry(format!(
                "request failed: {}",
                crate::tls::error_chain(&error)
            )),
        }
    }

    /// The markdown of the most recent messages of the room (or of the direct conversation), to
    /// find out whether a message was posted by a process that died before recording it.
    pub async fn recent_markdown(&self, max: usize) -> anyhow::Result<Vec<String>> {
        Ok(self
            .recent_messages(max)
            .await?
            .into_iter()
            .filter_map(|message| message.markdown)
            .collect())
    }

    /// Creates one message in the configured room (or to the configured person), as a reply in
    /// the thread of `parent_id` when given, with its plain `text` beside the Markdown when
    /// given. Answers the outcome and, when sent, the created message's id (the parent of a
    /// group's later notifications).
    pub async fn post_reply(
        &self,
        markdown: &str,
        text: Option<&str>,
        parent_id: Option<&str>,
    ) -> (SendResult, Option<String>) {
        let (result, created) = self.post_card(markdown, text, parent_id, None).await;
        (result, created.and_then(|created| created.id))
    }

    /// Like [`MessagesClient::post_reply`], with an Adaptive Card (`card`: the attachment, see
    /// `card::attachment`) when given; the Markdown and text are the card's fallback. Answers the
    /// created message (its id, and the room it went to: a card to a person lands in a direct
    /// room whose id only the answer says).
    pub async fn post_card(
        &self,
        markdown: &str,
        text: Option<&str>,
        parent_id: Option<&str>,
        card: Option<&serde_json::Value>,
    ) -> (SendResult, Option<Created>) {
        let mut body = match &self.target {
            Target::Room(room) => serde_json::json!({"roomId": room, "markdown": markdown}),
            Target::Person(email) => {
                serde_json::json!({"toPersonEmail": email, "markdown": markdown})
            }
        };
        if let Some(text) = text {
            body["text"] = serde_json::Value::from(text);
        }
        if let Some(parent_id) = parent_id {
            body["parentId"] = serde_json::Value::from(parent_id);
        }
        if let Some(card) = card {
            body["attachments"] = serde_json::Value::Array(vec![card.clone()]);
        }
        self.create(&body).await
    }

    /// Creates `markdown` (with its plain text) in `room`, as a reply to `parent_id` when given:
    /// the answer to a card's button, in the card's thread.
    pub async fn post_in_room(
        &self,
        room: &str,
        markdown: &str,
        parent_id: Option<&str>,
    ) -> SendResult {
        let mut body = content(markdown);
        body.insert("roomId".to_owned(), room.into());
        if let Some(parent_id) = parent_id {
            body.insert("parentId".to_owned(), parent_id.into());
        }
        self.create(&body.into()).await.0
    }

    async fn create(&self, body: &serde_json::Value) -> (SendResult, Option<Created>) {
        let response = match self.api.post(self.api.url(["v1", "messages"]), body).await {
            Ok(response) => response,
            Err(error) => {
                let error = format!("request failed: {}", crate::tls::error_chain(&error));
                return (SendResult::Retry(error), None);
            }
        };
        if !response.status().is_success() {
            return (failure(response).await, None);
        }
        // Sent: an answer without a readable id still counts as sent (the message is in the
        // room); the group's thread then starts with its next notification.
        (SendResult::Sent, response.json::<Created>().await.ok())
    }

    /// The shared API client: to fetch a message, a card action or a person.
    pub fn api(&self) -> &WebexApi {
        &self.api
    }

    /// The most recent messages of the room (or of the direct conversation), newest first, with
    /// their ids: to find a message posted by a process that died before recording it, and
    /// recover its id.
    pub async fn recent_messages(&self, max: usize) -> anyhow::Result<Vec<RecentMessage>> {
        let (mut url, query) = match &self.target {
            Target::Room(room) => (self.api.url(["v1", "messages"]), ("roomId", room)),
            Target::Person(email) => (
                self.api.url(["v1", "messages", "direct"]),
                ("personEmail", email),
            ),
        };
        url.query_pairs_mut()
            .append_pair(query.0, query.1)
            .append_pair("max", &max.to_string());
        let (status, body) = self.api.get(url.clone()).await?;
        anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}");
        #[derive(Deserialize)]
        struct Recent {
            #[serde(default)]
            items: Vec<RecentMessage>,
        }
        let recent: Recent = serde_json::from_value(body)
            .with_context(|| format!("GET {url}: not a list of messages"))?;
        Ok(recent.items)
    }
}

/// A created message as the API answers it (only what the sink reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub room_id: Option<String>,
}

/// A message listed by [`MessagesClient::recent_messages`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentMessage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub markdown: Option<String>,
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// The outcome of an answer that is not a success, with its detail (status, tracking id, body).
async fn failure(response: reqwest::Response) -> SendResult {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, jiff::Timestamp::now()));
    let tracking = response
        .headers()
        .get("trackingid")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    let mut end = text.len().min(MAX_ERROR_BODY);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let detail = format!("HTTP {status} (trackingId {tracking}): {}", &text[..end]);
    classify(status, retry_after, detail)
}

/// The content fields of a message: `markdown`, and `text`, its plain text
/// ([`markdown::plain`]), which the Messages API shows "for clients without rich text" and which
/// notifications display. The plain text is never longer than the Markdown, so a message part cut
/// to the size limit (`split.rs`) fits in both fields. Every message the sink creates has both;
/// add the target (and `parentId` for a reply) to this object.
pub fn content(markdown: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut body = serde_json::Map::new();
    body.insert("markdown".to_owned(), markdown.into());
    body.insert("text".to_owned(), markdown::plain(markdown).into());
    body
}

fn classify(status: StatusCode, retry_after: Option<Duration>, detail: String) -> SendResult {
    match status.as_u16() {
        // 423 Locked may carry Retry-After too (reference §8.1).
        429 | 423 => SendResult::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
        408 | 500..=599 => SendResult::Retry(detail),
        _ => SendResult::Rejected(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_for_the_retry_policy() {
        let detail = || "x".to_owned();
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, after, detail()),
            SendResult::RateLimited(Duration::from_secs(3))
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, None, detail()),
            SendResult::RateLimited(DEFAULT_RETRY_AFTER)
        );
        for status in [500, 502, 503, 408] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                classify(status, None, detail()),
                SendResult::Retry(detail())
            );
        }
        for status in [400, 401, 403, 404, 409] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                classify(status, None, detail()),
                SendResult::Rejected(detail())
            );
        }
    }

    #[test]
    fn every_message_has_its_markdown_and_its_plain_text() {
        let markdown = "🔴 CRITICAL · **edge-1** \\*x\\*\n\n[Open](https://a.example/1)";
        let body = content(markdown);
        assert_eq!(body["markdown"], markdown);
        assert_eq!(
            body["text"],
            "🔴 CRITICAL · edge-1 *x*\n\nOpen (https://a.example/1)"
        );
        // A part cut to the size limit fits in both fields.
        let long = "**x** ".repeat(2000);
        for part in super::super::split::split(&long, super::super::split::MAX_MESSAGE_BYTES) {
            let body = content(&part);
            let text = body["text"].as_str().unwrap();
            assert!(text.len() <= super::super::split::MAX_MESSAGE_BYTES);
            assert!(!text.contains('*'), "{text}");
        }
    }

    /// What a closure logs, as text.
    fn logged(run: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
            type Writer = Captured;
            fn make_writer(&'a self) -> Captured {
                self.clone()
            }
        }
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    fn sink_config(tls: serde_json::Value) -> WebexSinkConfig {
        serde_json::from_value(serde_json::json!({
            "name": "ops-room", "token": "t", "room_id": "r",
            "base_url": "https://127.0.0.1:9", "tls": tls,
        }))
        .unwrap()
    }

    #[test]
    fn a_sink_that_skips_verification_logs_one_warning_naming_it() {
        let insecure = sink_config(serde_json::json!({"insecure_skip_verify": true}));
        let log = logged(|| drop(MessagesClient::new(&insecure).unwrap()));
        let warnings: Vec<&str> = log.lines().filter(|line| line.contains("WARN")).collect();
        assert_eq!(warnings.len(), 1, "{log}");
        assert!(warnings[0].contains("for sink \"ops-room\""), "{log}");
        assert!(warnings[0].contains("insecure_skip_verify"), "{log}");

        let pinned = sink_config(serde_json::json!({"fingerprint_sha256": "AB".repeat(32)}));
        let log = logged(|| drop(MessagesClient::new(&pinned).unwrap()));
        assert!(!log.contains("WARN"), "{log}");
    }

    #[tokio::test]
    async fn a_reply_names_its_parent_and_the_created_id_is_returned() {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let sim = crate::sim::webex::WebexSim::start(Default::default(), shutdown.clone())
            .await
            .unwrap();
        let config: WebexSinkConfig = serde_json::from_value(serde_json::json!({
            "name": "noc", "token": "sim-bot-token", "room_id": sim.room_id("NOC").unwrap(),
            "base_url": sim.base_url(),
        }))
        .unwrap();
        let client = MessagesClient::new(&config).unwrap();
        let (result, parent) = client.post_reply("**first**", Some("first"), None).await;
        assert_eq!(result, SendResult::Sent);
        let parent = parent.expect("the created message's id");
        let (result, reply) = client
            .post_reply("second", Some("second"), Some(&parent))
            .await;
        assert_eq!(result, SendResult::Sent);
        let messages = sim.messages();
        assert_eq!(messages[0].id, parent);
        assert_eq!(messages[0].text.as_deref(), Some("first"));
        assert_eq!(messages[1].id, reply.clone().unwrap());
        assert_eq!(messages[1].parent_id.as_deref(), Some(parent.as_str()));
        // Webex threads are one level deep: a reply to the reply is refused for good.
        let (result, none) = client.post_reply("third", None, reply.as_deref()).await;
        assert!(
            matches!(&result, SendResult::Rejected(error) if error.contains("HTTP 400")),
            "{result:?}"
        );
        assert_eq!(none, None);
        let recent = client.recent_messages(10).await.unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].id, reply);
        assert_eq!(recent[0].parent_id.as_deref(), Some(parent.as_str()));
        assert_eq!(recent[1].markdown.as_deref(), Some("**first**"));
        shutdown.cancel();
    }
}
