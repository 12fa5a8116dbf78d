//! Sink entries of the configuration (`sinks:`), one variant per kind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{
    Problems, Secret, TlsConfig, check_delays, check_http_url, resolve_path, resolve_secret,
};
use crate::duration::serde_duration;

/// One entry of `sinks:`; the `type` field picks the variant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Appends events as JSON Lines (one CloudEvents JSON object per line) to a file.
    File(FileSinkConfig),
    /// Writes events to standard output, as JSON Lines or as one readable line each.
    Stdout(StdoutSinkConfig),
    /// Posts a Markdown message per event to a Webex room or person.
    Webex(Box<WebexSinkConfig>),
}

/// `match:`: which events a sink takes, delivered one message per event (the one-route shorthand
/// of a sink that no route names). Every field that is set must match; an empty filter takes
/// everything.
pub type SinkMatch = super::EventMatcher;

/// A Webex bot posting to one room (or one person).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebexSinkConfig {
    pub name: String,
    /// The bot's access token, from the environment: `token: ${WEBEX_BOT_TOKEN}`.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub room_id: Option<String>,
    #[serde(default)]
    pub to_person_email: Option<String>,
    /// The Webex API; change it for the simulator (`netpulse sim webex`) or a proxy.
    #[serde(default = "default_webex_base_url")]
    pub base_url: String,
    /// The IANA time zone for times in messages, e.g. `America/Los_Angeles`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// A Jinja template for every message, inline; without it, built-in templates are used.
    #[serde(default)]
    pub template: Option<String>,
    /// The same, read from a file.
    #[serde(default)]
    pub template_file: Option<PathBuf>,
    #[serde(default, rename = "match")]
    pub filter: SinkMatch,
    #[serde(default)]
    pub retry: RetryConfig,
    /// At most this many messages per second. Webex publishes no number for /v1/messages (it
    /// answers 429 with Retry-After when a bot goes too fast), so the default stays well under
    /// what bots are commonly seen to sustain.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: f64,
    #[serde(default = "default_request_timeout", with = "serde_duration")]
    pub request_timeout: Duration,
    /// How the API's certificate is checked (the simulator's, in a lab).
    #[serde(default)]
    pub tls: TlsConfig,
    /// netpulse's address as the room's readers reach it (e.g. `https://netpulse.example.com`).
    /// A message cut for length links to the event there (in the API) when the event has no link
    /// of its own.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Answer commands posted to the bot (`alarms?`, `help`). Route the bot's messages to this
    /// sink with `match: { type_prefix: [com.cisco.webex.message] }` from a `provider: webex`
    /// webhook (or a `webex_events` source). `true` answers in the sink's own room only; a mapping
    /// (`{ rooms: [...], direct: false, per_minute: 6 }`) lists more rooms.
    #[serde(default, deserialize_with = "commands_setting")]
    pub commands: Option<CommandsConfig>,
    /// Acting from the room: notifications become Adaptive Cards with Acknowledge and Silence
    /// buttons (the Markdown kept as the fallback), and the bot takes `ack`, `silence`,
    /// `unsilence`. Who may act is `allow`. Absent: Markdown messages without buttons, and the bot
    /// only answers questions.
    #[serde(default)]
    pub actions: Option<ActionsConfig>,
}

/// Who may act on alarms from a Webex room, and the silence buttons a card offers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    #[serde(default)]
    pub allow: ActionAllow,
    /// One Silence button per duration (`[1h, 24h]`).
    #[serde(
        default = "default_silence_buttons",
        with = "crate::duration::serde_durations"
    )]
    pub silence_buttons: Vec<Duration>,
}

impl Default for ActionsConfig {
    fn default() -> ActionsConfig {
        ActionsConfig {
            allow: ActionAllow::default(),
            silence_buttons: default_silence_buttons(),
        }
    }
}

/// Silence buttons a card may have: Webex shows five buttons at most (developer.webex.com,
/// "Buttons and Cards"), and a card has Acknowledge and "Open in netpulse" besides.
pub const MAX_SILENCE_BUTTONS: usize = 3;
/// The longest silence a button may make, as for the API's silences.
const MAX_SILENCE_BUTTON: Duration = Duration::from_secs(90 * 24 * 3600);

impl ActionsConfig {
    fn validate(&self, place: &str, problems: &mut Problems) {
        let buttons = &self.silence_buttons;
        if buttons.len() > MAX_SILENCE_BUTTONS {
            problems.push(
                &format!("{place}.silence_buttons"),
                format!("at most {MAX_SILENCE_BUTTONS} (Webex shows five buttons on a card, with Acknowledge and Open)"),
            );
        }
        for (index, duration) in buttons.iter().enumerate() {
            let at = format!("{place}.silence_buttons[{index}]");
            if duration.is_zero() || duration.subsec_nanos() != 0 {
                problems.push(&at, "must be a whole number of seconds above 0, such as 1h");
            } else if *duration > MAX_SILENCE_BUTTON {
                problems.push(&at, "a silence lasts at most 90 days");
            }
            if buttons[..index].contains(duration) {
                problems.push(&at, "the same duration is listed twice");
            }
        }
        if let ActionAllow::People { emails, domains } = &self.allow {
            if emails.is_empty() && domains.is_empty() {
                problems.push(
                    &format!("{place}.allow"),
                    "names nobody: list emails or domains, or write allow: room",
                );
            }
            for (index, email) in emails.iter().enumerate() {
                let valid = email.trim().split_once('@').is_some_and(|(user, domain)| {
                    !user.is_empty() && !domain.is_empty() && !domain.contains('@')
                });
                if !valid {
                    problems.push(
                        &format!("{place}.allow.emails[{index}]"),
                        format!("{email:?} is not an email address"),
                    );
                }
            }
            for (index, domain) in domains.iter().enumerate() {
                let domain = domain.trim().trim_start_matches('@');
                if domain.is_empty() || domain.contains(['@', ' ', '*']) {
                    problems.push(
                        &format!("{place}.allow.domains[{index}]"),
                        "must be a domain such as example.com (it matches *@example.com)",
                    );
                }
            }
        }
    }
}

fn default_silence_buttons() -> Vec<Duration> {
    vec![Duration::from_secs(3600), Duration::from_secs(24 * 3600)]
}

/// `allow: room` (anyone in the room the card or command is in: the room's membership is the
/// list) or `allow: { emails: [...], domains: [...] }` (only these people, by the email Webex
/// reports for them; a domain matches `*@domain`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ActionAllow {
    Keyword(AllowKeyword),
    People {
        #[serde(default)]
        emails: Vec<String>,
        #[serde(default)]
        domains: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowKeyword {
    /// Everyone in the room.
    Room,
}

impl Default for ActionAllow {
    fn default() -> ActionAllow {
        ActionAllow::Keyword(AllowKeyword::Room)
    }
}

/// Where and how often a Webex sink answers bot commands. Anyone who can reach the bot can ask it,
/// so it answers only in the sink's room (`room_id`) and the rooms listed here, never in a direct
/// (1:1) room unless `direct` says so, and at most `per_minute` answers per room.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsConfig {
    /// Room ids (besides `room_id`) where the bot answers.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Also answer in any direct room: any Webex user who can message the bot sees the alarms.
    #[serde(default)]
    pub direct: bool,
    /// Answers per room per minute at most (a burst of that many, then one every 60/n s); the
    /// questions over it are left unanswered, logged and counted.
    #[serde(default = "default_commands_per_minute")]
    pub per_minute: u32,
}

impl Default for CommandsConfig {
    fn default() -> CommandsConfig {
        CommandsConfig {
            rooms: Vec::new(),
            direct: false,
            per_minute: default_commands_per_minute(),
        }
    }
}

fn default_commands_per_minute() -> u32 {
    6
}

/// `commands: true | false | { rooms, direct, per_minute }`.
fn commands_setting<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<CommandsConfig>, D::Error> {
    struct Setting;
    impl<'de> serde::de::Visitor<'de> for Setting {
        type Value = Option<CommandsConfig>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("true, false or { rooms: [...], direct: false, per_minute: 6 }")
        }

        fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<Self::Value, E> {
            Ok(on.then(CommandsConfig::default))
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            CommandsConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_any(Setting)
}

/// How a failed delivery is retried: 5xx and network errors back off exponentially with jitter
/// from `initial` to `max`; after `max_attempts` failures the delivery is dead-lettered. A 429 waits
/// exactly as long as the target's Retry-After says and does not count as an attempt.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "default_retry_initial", with = "serde_duration")]
    pub initial: Duration,
    #[serde(default = "default_retry_max", with = "serde_duration")]
    pub max: Duration,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            initial: default_retry_initial(),
            max: default_retry_max(),
            max_attempts: default_max_attempts(),
        }
    }
}

/// The public Webex API, for the sink and the `webex_events` source.
pub(super) fn default_webex_base_url() -> String {
    "https://webexapis.com".to_owned()
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

fn default_rate_limit() -> f64 {
    2.0
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_retry_initial() -> Duration {
    Duration::from_secs(1)
}

fn default_retry_max() -> Duration {
    Duration::from_secs(300)
}

/// With the default delays, 50 attempts keep trying for about four hours: a Webex outage of an
/// afternoon loses nothing.
fn default_max_attempts() -> u32 {
    50
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub name: String,
    pub path: PathBuf,
    /// Also fsync after each batch, so a power loss cannot take written lines away.
    #[serde(default)]
    pub fsync: bool,
    #[serde(default, rename = "match")]
    pub filter: SinkMatch,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    pub name: String,
    #[serde(default)]
    pub format: StdoutFormat,
    #[serde(default, rename = "match")]
    pub filter: SinkMatch,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StdoutFormat {
    /// One CloudEvents JSON object per line.
    #[default]
    Json,
    /// One human-readable line per event.
    Text,
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::File(file) => &file.name,
            SinkConfig::Stdout(stdout) => &stdout.name,
            SinkConfig::Webex(webex) => &webex.name,
        }
    }

    /// The sink's `type`, as configured.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::File(_) => "file",
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::Webex(_) => "webex",
        }
    }

    /// Which events this sink takes.
    pub fn filter(&self) -> &SinkMatch {
        match self {
            SinkConfig::File(file) => &file.filter,
            SinkConfig::Stdout(stdout) => &stdout.filter,
            SinkConfig::Webex(webex) => &webex.filter,
        }
    }

    pub(crate) fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        if let SinkConfig::Webex(webex) = self {
            webex.validate(place, base_dir, problems);
        }
        if let SinkConfig::File(file) = self {
            file.path = resolve_path(base_dir, &file.path);
            let parent = file.path.parent().unwrap_or(Path::new("."));
            if !parent.as_os_str().is_empty() && !parent.is_dir() {
                problems.push(
                    &format!("{place}.path"),
                    format!("the folder {} does not exist", parent.display()),
                );
            }
        }
    }
}

impl WebexSinkConfig {
    pub fn token(&self) -> &str {
        self.token.as_ref().map(Secret::expose).unwrap_or("")
    }

    fn validate(&mut self, place: &str, base_dir: &Path, problems: &mut Problems) {
        resolve_secret(
            place,
            "token",
            &mut self.token,
            &self.token_file,
            base_dir,
            problems,
        );
        match (&self.room_id, &self.to_person_email) {
            (Some(_), Some(_)) => problems.push(place, "set room_id or to_person_email, not both"),
            (None, None) => problems.push(
                place,
                "set room_id (e.g. room_id: ${WEBEX_ROOM_ID}) or to_person_email",
            ),
            _ => {}
        }
        check_http_url(&format!("{place}.base_url"), &self.base_url, None, problems);
        if let Some(url) = &self.public_url {
            check_http_url(
                &format!("{place}.public_url"),
                url,
                Some("https://netpulse.example.com"),
                problems,
            );
        }
        if let Err(err) = jiff::tz::TimeZone::get(&self.timezone) {
            problems.push(
                &format!("{place}.timezone"),
                format!("{:?} is not a known IANA time zone (such as Europe/Paris or America/Los_Angeles): {err}", self.timezone),
            );
        }
        match (&self.template, &self.template_file) {
            (Some(_), Some(_)) => problems.push(place, "set template or template_file, not both"),
            (None, Some(file)) => match std::fs::read_to_string(resolve_path(base_dir, file)) {
                Ok(text) => self.template = Some(text),
                Err(err) => problems.push(
                    &format!("{place}.template_file"),
                    format!("cannot read {}: {err}", file.display()),
                ),
            },
            _ => {}
        }
        if !(self.rate_limit > 0.0 && self.rate_limit.is_finite()) {
            problems.push(
                &format!("{place}.rate_limit"),
                "must be a number of messages per second above 0",
            );
        }
        check_delays(
            &format!("{place}.retry"),
            self.retry.initial,
            self.retry.max,
            problems,
        );
        if let Some(commands) = &self.commands {
            if commands.per_minute == 0 {
                problems.push(
                    &format!("{place}.commands.per_minute"),
                    "must be at least 1 (remove commands to answer nothing)",
                );
            }
            if commands.rooms.iter().any(|room| room.trim().is_empty()) {
                problems.push(&format!("{place}.commands.rooms"), "a room id is empty");
            }
        }
        if let Some(actions) = &self.actions {
            actions.validate(&format!("{place}.actions"), problems);
        }
        if self.retry.max_attempts == 0 {
            problems.push(&format!("{place}.retry.max_attempts"), "must be at least 1");
        }
        self.tls
            .validate(&format!("{place}.tls"), base_dir, problems);
    }
}
