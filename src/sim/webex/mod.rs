//! A Webex Messages API simulator (`netpulse sim webex`): bearer tokens, rooms, messages created
//! and listed as the documented API does (`protocols-webhooks.md` §8), the 7439-byte limit, the
//! error shape `{"message", "errors": [{"description"}], "trackingId"}` with a `trackingId` header,
//! threads (a message created with `parentId` replies to a message of the same room that is not
//! itself a reply), and injectable faults: 429 with Retry-After, 5xx, latency. Every POST attempt is recorded with
//! the time it arrived, so tests can check how a client retries. It can also go down for a while
//! and come back on the same address with its rooms and messages ([`WebexSim::go_down`]).
//!
//! It also plays the real-time side a bot without a public URL uses (`protocols-websocket.md` §4):
//! WDM device registrations and the Mercury WebSocket (`mercury.rs`); every message created in a
//! room reaches each connected socket as a `conversation.activity` whose activity id is the uuid
//! inside the message's Hydra id.
//!
//! Interactive side (issue 21): messages carry Adaptive Card `attachments` validated as Webex
//! does (`cards.rs`); people click them through `POST /v1/attachment/actions` with their own
//! token, or through the control endpoint `POST /_sim/click` (`cards.rs`); several people, each
//! a member of some rooms, are readable with `GET /v1/people/{id}` (`people.rs`); webhooks are
//! registered and fire signed notifications to their `targetUrl` (`webhooks.rs`); a message's
//! author may edit or delete it with `PUT`/`DELETE /v1/messages/{id}` (`edit.rs`); Markdown
//! mentions make `mentionedPeople`, and `bot_mentions_only` applies Webex's visibility rule for
//! bots (`mentions.rs`).

mod api;
mod cards;
mod cli;
mod control;
mod edit;
mod mentions;
mod mercury;
mod people;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cards;
#[cfg(test)]
mod tests_mentions;
#[cfg(test)]
mod tests_people;
#[cfg(test)]
mod tests_webhooks;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use cards::SimAction;
pub use cli::{WebexSimArgs, run_cli};
pub use people::PersonSpec;
pub use webhooks::Delivery;

use crate::http::server::{ServeOptions, serve};
use crate::tls::server::ServerIdentity;

pub struct WebexSimConfig {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Accepted bearer tokens.
    pub tokens: Vec<String>,
    /// Titles of the rooms that exist from the start; each gets a Webex-style id.
    pub rooms: Vec<String>,
    /// Serve HTTPS with this identity; plain HTTP without.
    pub tls: Option<ServerIdentity>,
    /// Print each message on stdout as it is created.
    pub print: bool,
    /// People who can call the API with a token of their own (post, click cards), each a member
    /// of the rooms it names (every room when it names none). The bot is in every room.
    pub people: Vec<PersonSpec>,
    /// A bot sees a group room's messages only when they mention it (webhooks, reads), as
    /// Webex documents for bots; off: the bot sees every message of its rooms.
    pub bot_mentions_only: bool,
}

impl Default for WebexSimConfig {
    fn default() -> WebexSimConfig {
        WebexSimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: vec!["sim-bot-token".to_owned()],
            rooms: vec!["NOC".to_owned()],
            tls: None,
            print: false,
            people: Vec::new(),
            bot_mentions_only: false,
        }
    }
}

/// A message as the simulator stored it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimMessage {
    /// `base64("ciscospark://us/MESSAGE/<activity uuid>")`: the Hydra id of the activity that
    /// Mercury announces.
    pub id: String,
    /// Who posted it: the bot, or a person added with [`WebexSim::add_person`].
    pub person_id: String,
    pub person_email: String,
    pub room_id: Option<String>,
    pub to_person_email: Option<String>,
    pub text: Option<String>,
    pub markdown: Option<String>,
    /// The message this one replies to, in its thread.
    pub parent_id: Option<String>,
    /// The Adaptive Card, as posted (at most one: "Only one card per message").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<serde_json::Value>,
    /// The Hydra ids of the people its Markdown mentions (`<@personEmail:…>`, `<@personId:…>`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentioned_people: Vec<String>,
    pub created: jiff::Timestamp,
    /// When its author last edited it (`PUT /v1/messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<jiff::Timestamp>,
    /// How many times it was edited.
    #[serde(skip)]
    pub edits: u32,
}

/// One `POST /v1/messages` attempt and how it was answered.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub at: jiff::Timestamp,
    /// When it arrived, for measuring the client's waits.
    #[serde(skip)]
    pub instant: std::time::Instant,
    pub status: u16,
    /// The Retry-After the answer carried, in seconds.
    pub retry_after: Option<u64>,
}

/// Faults to inject; error faults apply to `POST /v1/messages` and create no message.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The next `count` posts are answered 429 with `Retry-After: retry_after_secs`.
    RateLimit { count: u32, retry_after_secs: u64 },
    /// The next `count` posts are answered `status` (500, 502, 503...).
    ServerError { count: u32, status: u16 },
    /// Every API request waits this long before it is answered (0: no delay).
    Latency { millis: u64 },
    /// Mercury: every connected socket is dropped without a close frame (a network cut).
    DropSockets,
    /// Mercury: every connected socket is closed with this code and reason (4000 "replaced",
    /// 1011, 1000 "idle"...).
    CloseSockets { code: u16, reason: String },
    /// WDM: every device registration is forgotten, so the next connect to one answers 404.
    ForgetRegistrations,
    /// Mercury: pings go unanswered while set (to exercise a client's pong timeout).
    IgnorePings { ignore: bool },
    /// Removes every fault.
    Clear,
}

#[derive(Debug, Clone, Serialize)]
struct Room {
    id: String,
    /// The conversation uuid inside `id`, as Mercury's `target.id` carries it.
    uuid: String,
    title: String,
}

use people::Person;

#[derive(Default)]
struct Faults {
    rate_limit: Option<(u32, u64)>,
    server_error: Option<(u32, u16)>,
    latency_ms: u64,
}

#[derive(Default)]
struct State {
    rooms: Vec<Room>,
    messages: Vec<SimMessage>,
    requests: Vec<RequestRecord>,
    /// `GET /v1/messages` of a room answered (a sink looking in the room for a post it is
    /// unsure of makes one).
    room_lists: u64,
    faults: Faults,
    /// People added by tests, each with a token of their own.
    people: Vec<Person>,
    /// Every attachment action created (card clicks), oldest first.
    actions: Vec<SimAction>,
    webhooks: Vec<webhooks::Webhook>,
    /// Every webhook notification sent, oldest first.
    deliveries: Vec<Delivery>,
}

struct Inner {
    tokens: Vec<String>,
    print: bool,
    bot_mentions_only: bool,
    bot_uuid: String,
    state: Mutex<State>,
    mercury: mercury::Mercury,
    /// Webhook notifications to send, in order, by one delivery task.
    outgoing: tokio::sync::mpsc::UnboundedSender<webhooks::Outgoing>,
}

impl Inner {
    /// Who a bearer token belongs to: the bot for a configured token, or an added person.
    fn caller(&self, token: &str) -> Option<Person> {
        if self.tokens.iter().any(|known| known == token) {
            return Some(Person {
                token: token.to_owned(),
                ..self.bot()
            });
        }
        let state = self.state.lock().expect("sim state");
        state
            .people
            .iter()
            .find(|person| person.token == token)
            .cloned()
    }
}

/// What serves the API, kept so that the simulator can stop listening and listen again.
struct Listening {
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    /// The server now running; `None` while the simulator is down.
    server: tokio::sync::Mutex<Option<Server>>,
}

struct Server {
    /// A child of the simulator's shutdown: cancelling it stops this server only.
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    connections: TaskTracker,
}

impl Listening {
    fn spawn(&self, listener: TcpListener, inner: Arc<Inner>) -> Server {
        let stop = self.shutdown.child_token();
        let connections = TaskTracker::new();
        let options = ServeOptions {
            acceptor: self.acceptor.clone(),
            shutdown: stop.clone(),
            tracker: connections.clone(),
            name: "sim-webex".to_owned(),
        };
        let task = tokio::spawn(serve(listener, api::router(inner), options));
        Server {
            stop,
            task,
            connections,
        }
    }
}

/// A running simulator; clones share it.
#[derive(Clone)]
pub struct WebexSim {
    inner: Arc<Inner>,
    listening: Arc<Listening>,
    addr: SocketAddr,
    scheme: &'static str,
}

impl WebexSim {
    pub async fn start(
        config: WebexSimConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<WebexSim> {
        let rooms: Vec<Room> = config
            .rooms
            .iter()
            .map(|title| {
                let uuid = uuid::Uuid::now_v7().to_string();
                Room {
                    id: webex_id("ROOM", &uuid),
                    uuid,
                    title: title.clone(),
                }
            })
            .collect();
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let acceptor = match &config.tls {
            Some(identity) => Some(TlsAcceptor::from(identity.server_config()?)),
            None => None,
        };
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let people = people::from_specs(&config.people, &rooms)?;
        let (outgoing, to_deliver) = tokio::sync::mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            tokens: config.tokens,
            print: config.print,
            bot_mentions_only: config.bot_mentions_only,
            bot_uuid: uuid::Uuid::now_v7().to_string(),
            state: Mutex::new(State {
                rooms,
                people,
                ..State::default()
            }),
            mercury: mercury::Mercury::new(format!("{scheme}://{addr}"), shutdown.clone()),
            outgoing,
        });
        tokio::spawn(webhooks::deliver(
            Arc::downgrade(&inner),
            to_deliver,
            shutdown.clone(),
        ));
        let listening = Listening {
            acceptor,
            shutdown,
            server: tokio::sync::Mutex::new(None),
        };
        *listening.server.lock().await = Some(listening.spawn(listener, inner.clone()));
        Ok(WebexSim {
            inner,
            listening: Arc::new(listening),
            addr,
            scheme,
        })
    }

    /// Goes down as in an outage: the listener closes, so connections are refused, and the open
    /// ones are closed (Mercury sockets are dropped). Rooms, messages and request records are
    /// kept. Returns once the port is closed; [`WebexSim::come_back`] listens again.
    pub async fn go_down(&self) {
        let Some(server) = self.listening.server.lock().await.take() else {
            return;
        };
        server.stop.cancel();
        self.inner.mercury.drop_sockets();
        // The listener is dropped when the accept loop returns; requests in flight are answered.
        let _ = server.task.await;
        server.connections.close();
        server.connections.wait().await;
    }

    /// Listens again on the same address after [`WebexSim::go_down`] (nothing to do when up).
    pub async fn come_back(&self) -> anyhow::Result<()> {
        let mut server = self.listening.server.lock().await;
        if server.is_none() {
            let listener = TcpListener::bind(self.addr)
                .await
                .with_context(|| format!("cannot listen on {} again", self.addr))?;
            *server = Some(self.listening.spawn(listener, self.inner.clone()));
        }
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (https with TLS); the API is under `/v1/`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn room_id(&self, title: &str) -> Option<String> {
        let state = self.inner.state.lock().expect("sim state");
        state
            .rooms
            .iter()
            .find(|room| room.title == title)
            .map(|room| room.id.clone())
    }

    /// Every message created, oldest first.
    pub fn messages(&self) -> Vec<SimMessage> {
        self.inner.state.lock().expect("sim state").messages.clone()
    }

    /// Every `POST /v1/messages` attempt, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.state.lock().expect("sim state").requests.clone()
    }

    /// How many times a room's messages were listed (`GET /v1/messages?roomId=`, answered 200).
    pub fn room_lists(&self) -> u64 {
        self.inner.state.lock().expect("sim state").room_lists
    }

    pub fn fault(&self, fault: Fault) {
        self.inner.apply(fault);
    }

    /// Adds a person who can post with `token` (as a test posting into a room as a human does),
    /// a member of every room; returns the person's Hydra id. [`WebexSim::add_member`] chooses
    /// the rooms.
    pub fn add_person(&self, token: &str, email: &str, display_name: &str) -> String {
        let person = Person {
            token: token.to_owned(),
            uuid: uuid::Uuid::now_v7().to_string(),
            email: email.to_owned(),
            display_name: display_name.to_owned(),
            kind: "PERSON",
            rooms: None,
        };
        let id = person.hydra_id();
        self.inner
            .state
            .lock()
            .expect("sim state")
            .people
            .push(person);
        id
    }

    /// The WDM base URL, `{base_url}/wdm/api/v1` (devices are under `/devices`).
    pub fn wdm_url(&self) -> String {
        format!("{}/wdm/api/v1", self.base_url())
    }

    /// What the Mercury side has seen: registrations, connections, pings and acks.
    pub fn mercury_stats(&self) -> MercuryStats {
        self.inner.mercury.stats()
    }

    /// How long a new Mercury socket may take to send its authorization frame (30 s by default:
    /// INFER from the SDK's special-cased close reason, the real deadline is UNKNOWN).
    pub fn set_auth_deadline(&self, deadline: std::time::Duration) {
        self.inner.mercury.set_auth_deadline(deadline);
    }
}

pub use mercury::MercuryStats;

impl Inner {
    fn apply(&self, fault: Fault) {
        let mut state = self.state.lock().expect("sim state");
        let faults = &mut state.faults;
        match fault {
            Fault::RateLimit {
                count,
                retry_after_secs,
            } => {
                faults.rate_limit = Some((count, retry_after_secs));
            }
            Fault::ServerError { count, status } => faults.server_error = Some((count, status)),
            Fault::Latency { millis } => faults.latency_ms = millis,
            Fault::DropSockets => self.mercury.drop_sockets(),
            Fault::CloseSockets { code, reason } => self.mercury.close_sockets(code, &reason),
            Fault::ForgetRegistrations => self.mercury.forget_registrations(),
            Fault::IgnorePings { ignore } => self.mercury.ignore_pings(ignore),
            Fault::Clear => {
                *faults = Faults::default();
                self.mercury.ignore_pings(false);
            }
        }
    }
}

/// A Webex-style id: base64 (standard alphabet, no padding) of `ciscospark://us/<KIND>/<uuid>`.
fn webex_id(kind: &str, uuid: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(format!("ciscospark://us/{kind}/{uuid}"))
}
