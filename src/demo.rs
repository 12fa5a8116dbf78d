//! `netpulse demo`: a simulated leaf switch (or a few) with changes flowing, the gateway subscribed
//! to it over real TLS and WebSockets, and events printed as they arrive. Every 20 s the demo
//! breaks something the way real networks do (a device restart, a dropped socket, lost
//! subscriptions, an expired session) and changes a few ports while netpulse is blind, so the gap
//! event and the resynchronised changes can be seen.
//!
//! A simulated SD-WAN Manager posts an alarm (raise, later its clear) every few seconds to the
//! gateway's webhook receiver, and the gateway posts a message for each to a simulated Webex room;
//! the demo prints the messages that reached the room. Everything is stored in the embedded store
//! in the demo's folder. No configuration, no hardware.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::sim::Load;
use crate::sim::dme::{Change, DmeSim, DmeSimConfig, Fault};
use crate::sim::sdwan::SdwanSimConfig;
use crate::sim::webex::{WebexSim, WebexSimConfig};

/// The webhook password the simulated manager and the gateway share.
const HOOK_PASSWORD: &str = "demo-hook-password";
/// The simulated bot's token.
const BOT_TOKEN: &str = "demo-bot-token";
/// The simulated operator in the NOC room, who acknowledges the first card.
const OPERATOR_EMAIL: &str = "alice@demo.example";
const OPERATOR_TOKEN: &str = "demo-alice-token";
/// How often the room is looked at for new messages.
const ROOM_POLL: Duration = Duration::from_millis(500);

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Number of simulated switches.
    #[arg(long, default_value_t = 2)]
    pub devices: usize,
    /// Random changes per second per switch.
    #[arg(long, default_value_t = 0.5)]
    pub change_rate: f64,
    /// Stop after this long (e.g. 90s); runs until Ctrl-C by default.
    #[arg(long, value_parser = crate::duration::parse_duration)]
    pub duration: Option<Duration>,
    /// SD-WAN alarms per second posted by the simulated manager (0: none).
    #[arg(long, default_value_t = 0.2)]
    pub alarm_rate: f64,
}

const FAULT_INTERVAL: Duration = Duration::from_secs(20);

pub async fn run(args: DemoArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let sim_config = DmeSimConfig {
        listen: "127.0.0.1:0".parse().expect("valid address"),
        devices: args.devices.max(1),
        change_rate: args.change_rate,
        subscription_ttl: Duration::from_secs(20),
        ..DmeSimConfig::default()
    };
    let sim = DmeSim::start(sim_config, shutdown.child_token())
        .await
        .context("cannot start the simulated switch")?;
    // An ACI fabric's controller beside the switches: faults through their lifecycle, audit records.
    let apic = DmeSim::start(
        DmeSimConfig {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            platform: crate::sim::dme::SimPlatform::Apic,
            leaves: 2,
            ports: 8,
            change_rate: args.change_rate.max(0.1),
            seed: 7,
            ..DmeSimConfig::default()
        },
        shutdown.child_token(),
    )
    .await
    .context("cannot start the simulated APIC")?;
    let folder = std::env::temp_dir().join(format!("netpulse-demo-{}", std::process::id()));
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let ca_file = folder.join("sim-ca.pem");
    std::fs::write(
        &ca_file,
        sim.ca_pem().context("the simulator made no certificate")?,
    )?;
    let apic_ca_file = folder.join("apic-ca.pem");
    std::fs::write(
        &apic_ca_file,
        apic.ca_pem()
            .context("the APIC simulator made no certificate")?,
    )?;
    let webex = WebexSim::start(
        WebexSimConfig {
            tokens: vec![BOT_TOKEN.to_owned()],
            // Someone in the NOC room, who acknowledges the first alarm card from the room.
            people: vec![
                format!("{OPERATOR_EMAIL}:{OPERATOR_TOKEN}:Alice:NOC")
                    .parse()
                    .context("the simulated operator")?,
            ],
            ..WebexSimConfig::default()
        },
        shutdown.child_token(),
    )
    .await
    .context("cannot start the simulated Webex")?;
    let room = webex.room_id("NOC").context("the simulated room")?;
    // A fresh API token per demo, handed to the browser in the URL fragment (never sent on).
    let api_token = new_api_token();
    let env = |name: &str| match name {
        "DEMO_API_TOKEN" => Some(api_token.clone()),
        "DEMO_PASSWORD" => Some("admin".to_owned()),
        "DEMO_HOOK_PASSWORD" => Some(HOOK_PASSWORD.to_owned()),
        "DEMO_BOT_TOKEN" => Some(BOT_TOKEN.to_owned()),
        _ => None,
    };
    let mut yaml = demo_yaml(&sim, &ca_file, &webex, &room);
    yaml = yaml.replacen(
        "sinks:\n",
        &format!(
            "  - name: apic1\n    type: dme\n    platform: apic\n    address: {url}\n    username: admin\n    password: ${{DEMO_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    subscription_timeout: 60s\n    subscription_refresh: 20s\n    subscriptions:\n      - /api/class/faultInst.json\n      - /api/class/aaaModLR.json\nsinks:\n",
            url = apic.devices()[0].base_url(),
            ca = apic_ca_file.display()
        ),
        1,
    );
    let config = Config::parse_with(&yaml, &folder, &env)
        .map_err(|errors| anyhow::anyhow!("demo configuration: {errors}"))?;
    println!(
        "netpulse demo: {} simulated switch(es), TLS verified against {}",
        args.devices.max(1),
        ca_file.display()
    );
    for (index, device) in sim.devices().iter().enumerate() {
        println!(
            "  leaf{} at {} (control API: {}/_sim/)",
            index + 1,
            device.base_url(),
            device.base_url()
        );
    }
    println!(
        "  apic1 at {} (an ACI controller: {} leaves, faults and audit records)",
        apic.devices()[0].base_url(),
        2
    );
    println!(
        "  a simulated SD-WAN Manager posting {} alarm(s)/s, and a simulated Webex room at {}",
        args.alarm_rate,
        webex.base_url()
    );
    println!(
        "  the store: {} (removed when the demo ends)",
        folder.join("netpulse.db").display()
    );
    println!("events follow (time, sequence, device, severity, summary); Ctrl-C stops\n");
    let gateway_shutdown = shutdown.child_token();
    let gateway = crate::Gateway::start(config, gateway_shutdown.clone()).await?;
    println!(
        "dashboard: http://{address}/#token={api_token}\n  API: curl -H 'Authorization: Bearer {api_token}' http://{address}/api/v1/events (metrics: /metrics)\n",
        address = gateway.http_addr()
    );
    let chaos = tokio::spawn(break_things(sim.devices().to_vec(), shutdown.clone()));
    let manager = (args.alarm_rate > 0.0).then(|| {
        let config = SdwanSimConfig {
            target: format!("http://{}/hooks/sdwan", gateway.http_addr()),
            username: "vmanage".to_owned(),
            password: HOOK_PASSWORD.to_owned(),
            load: Load {
                rate: Some(args.alarm_rate),
                devices: 5,
                ..Load::default()
            },
        };
        tokio::spawn(crate::sim::sdwan::run(config, gateway_shutdown.clone()))
    });
    let operator = tokio::spawn(acknowledge_first_card(webex.clone(), shutdown.clone()));
    let room_watch = tokio::spawn(show_room(webex, shutdown.clone()));
    match args.duration {
        Some(duration) => tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(duration) => {}
        },
        None => shutdown.cancelled().await,
    }
    gateway_shutdown.cancel();
    if let Some(manager) = manager {
        let _ = manager.await;
    }
    gateway.wait().await?;
    chaos.abort();
    operator.abort();
    room_watch.abort();
    shutdown.cancel();
    sim.stopped().await;
    apic.stopped().await;
    let _ = std::fs::remove_dir_all(&folder);
    Ok(())
}

fn demo_yaml(sim: &DmeSim, ca_file: &std::path::Path, webex: &WebexSim, room: &str) -> String {
    // The store lives in the demo's own folder (relative paths are taken from there); the HTTP
    // server takes any free port so that the demo never collides with a running netpulse.
    let mut yaml = String::from(
        "store: { path: netpulse.db }\nhttp: { listen: \"127.0.0.1:0\" }\napi:\n  auth:\n    tokens:\n      - { name: demo, token: \"${DEMO_API_TOKEN}\", scope: admin }\nsources:\n",
    );
    for (index, device) in sim.devices().iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: leaf{n}\n    type: dme\n    address: {url}\n    username: admin\n    password: ${{DEMO_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    subscription_refresh: 8s\n    backoff: {{ initial: 500ms, max: 5s }}\n    subscriptions:\n      - /api/class/ethpmPhysIf.json\n      - /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf\n      - /api/class/l2BD.json\n",
            n = index + 1,
            url = device.base_url(),
            ca = ca_file.display()
        ));
    }
    yaml.push_str(
        "  - name: vmanage\n    type: webhook\n    provider: sdwan\n    path: /hooks/sdwan\n    auth:\n      basic:\n        username: vmanage\n        password: ${DEMO_HOOK_PASSWORD}\n    vmanage_url: https://vmanage.demo.example\n");
    // The bot's real-time events (no public URL needed): a click on a card's button arrives here.
    yaml.push_str(&format!(
        "  - name: noc-bot\n    type: webex_events\n    token: ${{DEMO_BOT_TOKEN}}\n    base_url: {}\n    wdm_url: {}\n",
        webex.base_url(),
        webex.wdm_url()
    ));
    yaml.push_str("sinks:\n  - name: console\n    type: stdout\n    format: text\n");
    // `actions:` makes the room's notifications cards with Acknowledge and Silence buttons,
    // for the people of the demo's domain.
    yaml.push_str(&format!(
        "  - name: noc-room\n    type: webex\n    base_url: {}\n    token: ${{DEMO_BOT_TOKEN}}\n    room_id: \"{room}\"\n    timezone: {}\n    actions: {{ allow: {{ domains: [demo.example] }} }}\n",
        webex.base_url(),
        local_time_zone()
    ));
    // The SD-WAN alarms reach the room grouped: a first message after 5 s, then what changed
    // every 20 s as replies in its thread (the defaults, 10 s and 5 m, are a NOC's; a demo is
    // shorter).
    yaml.push_str(
        "routes:\n  - name: sdwan\n    match: { source: [vmanage] }\n    sinks: [noc-room]\n    group_by: [source]\n    group_wait: 5s\n    group_interval: 20s\n",
    );
    yaml
}

/// The machine's IANA time zone, for the times in messages; UTC when it has none.
fn local_time_zone() -> String {
    jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_owned()
}

/// A Markdown line with its backslash escapes resolved, roughly as the room shows it.
fn as_rendered(line: &str) -> String {
    let mut shown = String::with_capacity(line.len());
    let mut characters = line.chars().peekable();
    while let Some(character) = characters.next() {
        match characters.peek() {
            Some(next) if character == '\\' && next.is_ascii_punctuation() => {
                shown.push(*next);
                characters.next();
            }
            _ => shown.push(character),
        }
    }
    shown
}

/// The simulated operator: once the first card is in the room, she clicks its Acknowledge
/// button (the click reaches netpulse over the bot's real-time events; netpulse fetches it,
/// checks it and answers in the card's thread).
async fn acknowledge_first_card(webex: WebexSim, shutdown: CancellationToken) {
    let card = loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(ROOM_POLL) => {}
        }
        if let Some(card) = webex
            .messages()
            .into_iter()
            .find(|message| !message.attachments.is_empty())
        {
            break card;
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::sleep(Duration::from_secs(3)) => {}
    }
    println!("\n*** demo: {OPERATOR_EMAIL} clicks Acknowledge on the card in the room ***\n");
    if let Err(error) = webex.click(
        &card.id,
        OPERATOR_EMAIL,
        serde_json::json!({"netpulse": "ack"}),
    ) {
        println!("*** demo: the click was refused by the simulated Webex: {error:#} ***");
    }
}

/// Prints each message that reaches the simulated room, as the room would show it.
async fn show_room(webex: WebexSim, shutdown: CancellationToken) {
    let mut shown = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(ROOM_POLL) => {}
        }
        let messages = webex.messages();
        for message in &messages[shown.min(messages.len())..] {
            let text = message
                .markdown
                .as_deref()
                .or(message.text.as_deref())
                .unwrap_or("");
            let heading = if message.parent_id.is_some() {
                "┌─ Webex room NOC · reply in the thread ───────────────────"
            } else {
                "┌─ Webex room NOC ─────────────────────────────────────────"
            };
            println!("\n{heading}");
            for line in text.lines() {
                println!("│ {}", as_rendered(line));
            }
            for card in &message.attachments {
                let buttons: Vec<&str> = card["content"]["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|action| action["title"].as_str())
                    .collect();
                println!("│ [card buttons: {}]", buttons.join(" | "));
            }
            println!("└──────────────────────────────────────────────────────────\n");
        }
        shown = messages.len();
    }
}

/// Injects one fault every [`FAULT_INTERVAL`] on the first switch, with changes during the gap.
async fn break_things(devices: Vec<crate::sim::dme::SimDevice>, shutdown: CancellationToken) {
    let Some(device) = devices.first().cloned() else {
        return;
    };
    let faults = [
        (
            "restart of leaf1 (down for 3 s)",
            Fault::Restart { down_for_ms: 3000 },
        ),
        ("leaf1 drops its WebSockets", Fault::DropSockets),
        ("leaf1 forgets every subscription", Fault::LoseSubscriptions),
        ("leaf1 expires every session", Fault::ExpireSessions),
    ];
    for (description, fault) in faults.iter().cycle() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FAULT_INTERVAL) => {}
        }
        println!(
            "\n*** demo: {description}; 4 changes happen while netpulse cannot see them ***\n"
        );
        device.fault(fault.clone());
        if let Err(err) = device.apply(Change::Random { count: 4 }) {
            tracing::warn!(error = %err, "demo could not apply changes");
        }
    }
}

/// A fresh API token for one demo: 256 bits from `rand`'s `ThreadRng` (a CSPRNG seeded from the
/// operating system's generator; `fastrand` is not one and must never make a secret), in URL-safe
/// base64 so it can travel in the dashboard URL's fragment as it is.
fn new_api_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a test can check of a token: 256 bits written in 43 URL-safe base64 characters, and
    /// a new value each time. That the bits come from the operating system's CSPRNG (through
    /// `rand`'s `ThreadRng`) is a property of the generator called, which no output test can prove.
    #[test]
    fn demo_tokens_are_256_random_bits_in_url_safe_base64_and_differ() {
        let first = new_api_token();
        let second = new_api_token();
        assert_ne!(first, second);
        for token in [&first, &second] {
            assert_eq!(token.len(), 43, "{token}");
            assert!(
                token
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'),
                "{token}"
            );
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .unwrap();
            assert_eq!(bytes.len(), 32);
        }
    }
}
