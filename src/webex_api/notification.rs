//! What a `provider: webex` webhook notification points to. The notification is signed but
//! carries only ids, so the message or the card action is fetched with the bot's token before
//! the event is stored. A fetch that fails, or is refused because the id is not a Webex id, does
//! not lose the notification: the event is stored with the ids and the reason in
//! `data.fetch_error`, and counted in `netpulse_webex_fetch_failures_total` (or
//! `netpulse_webex_fetch_refused_total` for an id that is not one).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Resource, WebexApi, WebexApiOptions};
use crate::event::Event;
use crate::throttle::Throttle;

/// How long one fetch may take: the notification's answer waits for it.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The summary quotes this much of a message at most.
const QUOTE_CHARS: usize = 200;

/// Fetches what a notification points to, with the bot's token.
pub struct Fetcher {
    api: WebexApi,
    /// A Webex outage or a sender of bad ids would repeat the WARN for every notification.
    refused_log: Throttle,
    failed_log: Throttle,
}

impl Fetcher {
    /// For the webhook source `source_name`.
    pub fn new(source_name: &str, base_url: &str, token: &str) -> anyhow::Result<Fetcher> {
        let api = WebexApi::new(&WebexApiOptions {
            component: &format!("source {source_name:?}"),
            base_url,
            token,
            tls: &Default::default(),
            timeout: FETCH_TIMEOUT,
        })?;
        Ok(Fetcher {
            api,
            refused_log: Throttle::new(),
            failed_log: Throttle::new(),
        })
    }

    /// Adds the message (`data.message`) or card action (`data.action`) the event points to,
    /// and says what it is in the summary; on failure, `data.fetch_error`.
    pub async fn enrich(&self, event: &mut Event) {
        let (resource, field) = match event.data["resource"].as_str() {
            Some("messages") => (Resource::Messages, "message"),
            Some("attachmentActions") => (Resource::AttachmentActions, "action"),
            _ => return,
        };
        let Some(id) = event.data["data"]["id"].as_str().map(str::to_owned) else {
            return;
        };
        let url = match self.api.resource_url(resource, &id) {
            Ok(url) => url,
            Err(refused) => {
                metrics::counter!("netpulse_webex_fetch_refused_total").increment(1);
                if let Some(left_out) = self.refused_log.admit(Instant::now()) {
                    tracing::warn!(source = %event.source, error = %refused, refused_since_last_line = left_out, "a Webex notification names an id that is not a Webex id: nothing fetched, stored without it");
                }
                event.data["fetch_error"] = Value::String(format!("not fetched: {refused}"));
                return;
            }
        };
        match self.api.get(url.clone()).await {
            Ok((status, fetched)) if status.is_success() && !fetched.is_null() => {
                event.summary = match resource {
                    Resource::Messages => quote_message(&event.summary, &fetched),
                    Resource::AttachmentActions | Resource::People => {
                        list_inputs(&event.summary, &fetched)
                    }
                };
                event.data[field] = fetched;
            }
            outcome => {
                let error = match outcome {
                    Ok((status, _)) if status.is_success() => {
                        "the Webex API answered something that is not JSON".to_owned()
                    }
                    Ok((status, body)) => {
                        format!("the Webex API answered {status}: {}", super::excerpt(&body))
                    }
                    Err(error) => format!("the Webex API did not answer: {error:#}"),
                };
                metrics::counter!("netpulse_webex_fetch_failures_total").increment(1);
                if let Some(left_out) = self.failed_log.admit(Instant::now()) {
                    tracing::warn!(source = %event.source, %error, path = %url.path(), failed_since_last_line = left_out, "cannot fetch what a Webex notification points to; stored without it");
                }
                event.data["fetch_error"] = Value::String(error);
            }
        }
    }
}

/// `summary: <the message's text>`, cut to [`QUOTE_CHARS`].
fn quote_message(summary: &str, message: &Value) -> String {
    let text = message["text"].as_str().unwrap_or("");
    let quote: String = text.chars().take(QUOTE_CHARS).collect();
    let ellipsis = if text.chars().count() > QUOTE_CHARS {
        "…"
    } else {
        ""
    };
    format!("{summary}: {quote}{ellipsis}")
}

/// `summary: key=value, ...` of a card submission's inputs.
fn list_inputs(summary: &str, action: &Value) -> String {
    let Some(inputs) = action["inputs"].as_object() else {
        return summary.to_owned();
    };
    let pairs: Vec<String> = inputs
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect();
    format!("{summary}: {}", pairs.join(", "))
}
