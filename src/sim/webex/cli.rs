//! `netpulse sim webex`: the command-line front of the Webex Messages API simulator.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{PersonSpec, WebexSim, WebexSimConfig};
use crate::tls::server::ServerIdentity;

/// Simulate the Webex Messages API for a bot: rooms, messages, 429/5xx/latency faults.
#[derive(clap::Args, Debug)]
pub struct WebexSimArgs {
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Accepted bearer token (repeat for several).
    #[arg(
        long = "token",
        env = "NETPULSE_SIM_WEBEX_TOKEN",
        default_value = "sim-bot-token",
        hide_env_values = true
    )]
    pub tokens: Vec<String>,
    /// Room to create at start (repeat for several); its id is printed.
    #[arg(long = "room", default_value = "NOC")]
    pub rooms: Vec<String>,
    /// Serve HTTPS with a generated certificate (its fingerprint is printed).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the generated certificate here, for clients to use as their CA file.
    #[arg(long, requires = "tls")]
    pub cert_out: Option<PathBuf>,
    /// Print each message as it arrives.
    #[arg(long)]
    pub print: bool,
    /// A person who can post and click cards with a token of their own (repeat for several):
    /// `EMAIL:TOKEN[:DISPLAY NAME[:ROOM,ROOM...]]`, a member of the rooms named (every room
    /// when none is), e.g. `alice@example.com:alice-token:Alice Example:NOC`.
    #[arg(long = "person", value_parser = clap::value_parser!(PersonSpec))]
    pub people: Vec<PersonSpec>,
    /// As Webex does for bots: the bot sees a group room's messages (webhooks, reads) only when
    /// they mention it (`<@personEmail:bot@…>` in the Markdown).
    #[arg(long)]
    pub bot_mentions_only: bool,
}

pub async fn run_cli(args: WebexSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let tls = if args.tls {
        let identity = ServerIdentity::generate(args.listen.ip())?;
        if let (Some(path), Some(pem)) = (&args.cert_out, &identity.generated_pem) {
            std::fs::write(path, pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        println!(
            "certificate SHA-256 fingerprint: {}",
            identity.fingerprint_sha256
        );
        Some(identity)
    } else {
        None
    };
    let config = WebexSimConfig {
        listen: args.listen,
        tokens: args.tokens,
        rooms: args.rooms.clone(),
        tls,
        print: args.print,
        people: args.people.clone(),
        bot_mentions_only: args.bot_mentions_only,
    };
    let sim = WebexSim::start(config, shutdown.clone()).await?;
    println!(
        "Webex API simulator at {} (POST/GET {}/v1/messages)",
        sim.base_url(),
        sim.base_url()
    );
    for title in &args.rooms {
        println!(
            "room {title:?}: roomId {}",
            sim.room_id(title).unwrap_or_default()
        );
    }
    for person in &args.people {
        println!(
            "person {}: personId {}",
            person.email,
            sim.person_id(&person.email).unwrap_or_default()
        );
    }
    println!(
        "control: {0}/_sim/messages, {0}/_sim/requests, {0}/_sim/actions, {0}/_sim/deliveries, POST {0}/_sim/fault {{\"kind\":\"rate_limit\",\"count\":3,\"retry_after_secs\":10}}",
        sim.base_url()
    );
    println!(
        "click a card as a person: POST {0}/_sim/click {{\"messageId\":\"…\",\"person\":\"alice@example.com\",\"inputs\":{{\"netpulse\":\"ack\"}}}}",
        sim.base_url()
    );
    shutdown.cancelled().await;
    Ok(())
}
