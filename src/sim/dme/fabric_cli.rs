//! `netpulse sim fabric`: the command-line client of a running simulated fabric's control API
//! (`/_sim/link`, `/_sim/device`, `/_sim/topology`), for scripts and for people at a terminal.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::links::TopologyDump;

/// Pull and plug cables, switch switches off and on, in a running `netpulse sim dme --spines`.
#[derive(clap::Args, Debug)]
pub struct FabricCliArgs {
    /// Any switch of the fabric (the control API of each acts on the whole fabric).
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub target: String,
    /// The simulator's certificate (its --cert-out file), for an https target.
    #[arg(long, conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (lab only).
    #[arg(long)]
    pub insecure: bool,
    #[command(subcommand)]
    pub action: FabricCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum FabricCommand {
    /// Take a link down or bring it up on both ends: `link leaf1 eth1/49 down`, or by its
    /// neighbour: `link leaf1 spine1 up`.
    Link {
        device: String,
        /// A port of DEVICE (`eth1/49`) or the switch at the other end (`spine1`).
        port_or_neighbor: String,
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// Switch a switch off (its neighbours' ends go down) or on again.
    Device {
        device: String,
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// Print the switches and links with their state.
    Show,
}

/// The JSON body of a link action from the command line's words.
fn link_body(device: &str, port_or_neighbor: &str, state: &str) -> Value {
    let lower = port_or_neighbor.to_ascii_lowercase();
    if lower.starts_with("eth") {
        json!({"device": device, "port": port_or_neighbor, "state": state})
    } else {
        json!({"device": device, "neighbor": port_or_neighbor, "state": state})
    }
}

/// Runs one action against the fabric and prints what it did.
pub async fn run_fabric_cli(args: FabricCliArgs) -> anyhow::Result<()> {
    let client = crate::sim::load::client(
        args.ca_file.clone(),
        args.insecure,
        1,
        "netpulse-sim-fabric".to_owned(),
    )?;
    let base = args.target.trim_end_matches('/');
    let (path, body) = match &args.action {
        FabricCommand::Link {
            device,
            port_or_neighbor,
            state,
        } => ("link", link_body(device, port_or_neighbor, state)),
        FabricCommand::Device { device, state } => {
            ("device", json!({"device": device, "state": state}))
        }
        FabricCommand::Show => {
            let dump: TopologyDump = client
                .get(format!("{base}/_sim/topology"))
                .send()
                .await
                .context("reach the simulator")?
                .error_for_status()?
                .json()
                .await?;
            // A reader that stops early (`| head`) is not an error.
            let _ = writeln!(std::io::stdout(), "{}", describe(&dump));
            return Ok(());
        }
    };
    let response = client
        .post(format!("{base}/_sim/{path}"))
        .json(&body)
        .send()
        .await
        .context("reach the simulator")?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "the simulator refused: {}",
            answer["error"].as_str().unwrap_or(status.as_str())
        );
    }
    println!("ok: {body}");
    Ok(())
}

fn describe(dump: &TopologyDump) -> String {
    let mut lines: Vec<String> = dump
        .devices
        .iter()
        .map(|device| {
            let state = if device.up { "up" } else { "DOWN" };
            format!(
                "{:<10} {:<6} {:<5} {}",
                device.name, device.role, state, device.url
            )
        })
        .collect();
    lines.extend(dump.links.iter().map(|link| {
        let state = match (link.up, link.cut) {
            (true, _) => "up",
            (false, true) => "DOWN (cut)",
            (false, false) => "DOWN",
        };
        format!(
            "{} {} <-> {} {}: {state}",
            link.a, link.a_port, link.b, link.b_port
        )
    }));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_or_a_neighbour_names_the_link() {
        assert_eq!(
            link_body("leaf1", "eth1/49", "down"),
            json!({"device": "leaf1", "port": "eth1/49", "state": "down"})
        );
        assert_eq!(
            link_body("leaf1", "Ethernet1/49", "up")["port"],
            "Ethernet1/49"
        );
        assert_eq!(
            link_body("leaf1", "spine2", "up"),
            json!({"device": "leaf1", "neighbor": "spine2", "state": "up"})
        );
    }
}
