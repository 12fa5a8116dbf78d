//! The checks of the cluster chaos run, from outside netpulse: the nodes' histories and alarms
//! (their public API) against each other, against what the poster got acknowledged, against the
//! simulated Webex room's messages, and against the sessions the simulated switches saw.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::hooks::Post;
use super::watch::Mark;

pub const GAP_TYPE: &str = "io.netpulse.source.gap";

/// One node's history and alarms as its API answered at the end.
pub struct History {
    pub node: String,
    pub events: Vec<Value>,
    pub alarms: Vec<Value>,
}

/// Figures for the report and failures for the verdict.
#[derive(Default)]
pub struct Findings {
    pub figures: Vec<(String, String)>,
    pub failures: Vec<String>,
}

impl Findings {
    pub fn figure(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.figures.push((name.into(), value.into()));
    }

    pub fn fail(&mut self, failure: impl Into<String>) {
        self.failures.push(failure.into());
    }

    pub fn print(&self) {
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        for (name, value) in &self.figures {
            println!("| {name} | {value} |");
        }
        if self.failures.is_empty() {
            println!("\nall checks passed");
        } else {
            println!("\nFAILED ({}):", self.failures.len());
            for failure in &self.failures {
                println!("- {failure}");
            }
        }
    }
}

fn source_of(event: &Value) -> &str {
    event["source"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("/netpulse/")
}

/// The alarm uuid of an SD-WAN webhook event.
fn alarm_uuid(event: &Value) -> Option<&str> {
    if source_of(event) != "vmanage" {
        return None;
    }
    event["data"]["uuid"].as_str()
}

/// Every node holds the same events at the same seqs, and the same alarm states.
pub fn same_everywhere(histories: &[History], findings: &mut Findings) {
    let Some(reference) = histories.first() else {
        return;
    };
    let identity = |event: &Value| (event["seq"].as_u64().unwrap_or(0), event["id"].to_string());
    let reference_events: BTreeMap<u64, String> = reference.events.iter().map(identity).collect();
    for history in histories {
        let events: BTreeMap<u64, String> = history.events.iter().map(identity).collect();
        let missing = reference_events
            .iter()
            .filter(|(seq, id)| events.get(seq) != Some(id))
            .count();
        let extra = events
            .keys()
            .filter(|seq| !reference_events.contains_key(seq))
            .count();
        findings.figure(
            format!(
                "{}: events stored (differing from {})",
                history.node, reference.node
            ),
            format!("{} ({})", history.events.len(), missing + extra),
        );
        if missing + extra > 0 {
            findings.fail(format!(
                "{} differs from {}: {missing} events of {} missing or at another seq, {extra} extra",
                history.node, reference.node, reference.node
            ));
        }
        let alarm_state = |alarm: &Value| {
            format!(
                "{} raised={} last_seq={} events={} operator={}",
                alarm["key"],
                alarm["raised"],
                alarm["last_seq"],
                alarm["events"],
                alarm["operator"]
            )
        };
        let mine: Vec<String> = history.alarms.iter().map(alarm_state).collect();
        let theirs: Vec<String> = reference.alarms.iter().map(alarm_state).collect();
        if mine != theirs {
            let first = mine
                .iter()
                .zip(&theirs)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("{a} vs {b}"))
                .unwrap_or_else(|| format!("{} vs {} alarms", mine.len(), theirs.len()));
            findings.fail(format!(
                "{}'s alarms differ from {}'s: {first}",
                history.node, reference.node
            ));
        }
    }
    findings.figure(
        "alarms (same states on every node)",
        reference.alarms.len().to_string(),
    );
}

/// Every acknowledged alarm is in every node's history exactly once.
pub fn acknowledged_stored_once(posts: &[Post], histories: &[History], findings: &mut Findings) {
    let acked: Vec<&Post> = posts.iter().filter(|post| post.acked()).collect();
    let refused = posts
        .iter()
        .filter(|post| post.status.is_some() && !post.acked())
        .count();
    let unanswered = posts.iter().filter(|post| post.status.is_none()).count();
    findings.figure(
        "webhooks posted / 2xx / other status / no answer",
        format!(
            "{} / {} / {refused} / {unanswered}",
            posts.len(),
            acked.len()
        ),
    );
    for history in histories {
        let mut stored: HashMap<&str, u64> = HashMap::new();
        for uuid in history.events.iter().filter_map(alarm_uuid) {
            *stored.entry(uuid).or_default() += 1;
        }
        let missing: Vec<&str> = acked
            .iter()
            .filter(|post| !stored.contains_key(post.uuid.as_str()))
            .map(|post| post.uuid.as_str())
            .collect();
        let twice = stored.values().filter(|count| **count > 1).count();
        let unacked_stored = stored.len() - (acked.len() - missing.len());
        findings.figure(
            format!(
                "{}: acknowledged alarms missing / stored twice / stored without a 2xx",
                history.node
            ),
            format!("{} / {twice} / {unacked_stored}", missing.len()),
        );
        if !missing.is_empty() {
            findings.fail(format!(
                "{}: {} acknowledged alarms are not in the history (first: {:?})",
                history.node,
                missing.len(),
                &missing[..missing.len().min(5)]
            ));
        }
        if twice > 0 {
            findings.fail(format!(
                "{}: {twice} alarms stored more than once",
                history.node
            ));
        }
    }
}

/// Every stored alarm reached the room once: counted in the Webex simulator's messages by the
/// alarm's link (`.../details/<uuid>`).
pub fn room_once(markdowns: &[String], history: &History, findings: &mut Findings) {
    let mut in_room: HashMap<String, u64> = HashMap::new();
    for markdown in markdowns {
        if let Some(uuid) = markdown
            .split("/details/")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
        {
            *in_room.entry(uuid.to_owned()).or_default() += 1;
        }
    }
    let stored: Vec<&str> = history.events.iter().filter_map(alarm_uuid).collect();
    let missing = stored
        .iter()
        .filter(|uuid| !in_room.contains_key(**uuid))
        .count();
    let repeated: Vec<(&String, &u64)> = in_room.iter().filter(|(_, count)| **count > 1).collect();
    let strangers = in_room
        .keys()
        .filter(|uuid| !stored.contains(&uuid.as_str()))
        .count();
    findings.figure(
        "room: messages / stored alarms / missing / posted more than once / not stored",
        format!(
            "{} / {} / {missing} / {} / {strangers}",
            markdowns.len(),
            stored.len(),
            repeated.len()
        ),
    );
    if missing > 0 {
        findings.fail(format!("{missing} stored alarms never reached the room"));
    }
    if !repeated.is_empty() {
        findings.fail(format!(
            "{} alarms reached the room more than once (first: {:?})",
            repeated.len(),
            &repeated[..repeated.len().min(5)]
        ));
    }
}

/// Gap events per switch: each session after a switch's first should come with exactly one gap
/// event (an ownership move or a reconnect), and each disruption's gap events are counted by
/// their `until` time.
pub fn gaps(
    history: &History,
    sessions: &BTreeMap<String, u64>,
    marks: &[Mark],
    switches: &[String],
    findings: &mut Findings,
) {
    let mut by_switch: BTreeMap<&str, u64> = BTreeMap::new();
    let mut untils: Vec<(String, jiff::Timestamp)> = Vec::new();
    for event in &history.events {
        if event["type"].as_str() != Some(GAP_TYPE) {
            continue;
        }
        let source = source_of(event);
        *by_switch.entry(source).or_default() += 1;
        if let Some(until) = event["data"]["until"]
            .as_str()
            .and_then(|until| until.parse::<jiff::Timestamp>().ok())
        {
            untils.push((source.to_owned(), until));
        }
    }
    let mut wrong = Vec::new();
    for switch in switches {
        let expected = sessions.get(switch).copied().unwrap_or(0).saturating_sub(1);
        let got = by_switch.get(switch.as_str()).copied().unwrap_or(0);
        if got != expected {
            wrong.push(format!(
                "{switch}: {got} gap events, {expected} session changes"
            ));
        }
    }
    let gap_total: u64 = by_switch.values().sum();
    let changes: u64 = sessions.values().map(|count| count.saturating_sub(1)).sum();
    findings.figure(
        "gap events / session changes seen by the switches / switches where they differ",
        format!("{gap_total} / {changes} / {}", wrong.len()),
    );
    if !wrong.is_empty() {
        findings.fail(format!(
            "{} switches have not one gap event per session change: {}",
            wrong.len(),
            wrong[..wrong.len().min(8)].join("; ")
        ));
    }
    for (index, mark) in marks.iter().enumerate() {
        let end = marks.get(index + 1).map(|next| next.wall);
        let in_window = untils
            .iter()
            .filter(|(_, until)| *until >= mark.wall && end.is_none_or(|end| *until < end))
            .count();
        let new_sessions: u64 = mark.new_sessions.iter().sum();
        findings.figure(
            format!("{}: new sessions / gap events (by their end)", mark.name),
            format!("{new_sessions} / {in_window}"),
        );
    }
}

/// Writes the DME change and gap events of a history as JSON lines (for the replay; the
/// subscription health events, `io.netpulse.subscription.*`, describe the session, not the
/// switch).
pub fn write_lines(history: &History, path: &std::path::Path) {
    let mut text = String::new();
    for event in &history.events {
        let kind = event["type"].as_str().unwrap_or_default();
        if kind.starts_with("com.cisco.dme.") || kind == GAP_TYPE {
            text.push_str(&event.to_string());
            text.push('\n');
        }
    }
    std::fs::write(path, text).unwrap();
}
