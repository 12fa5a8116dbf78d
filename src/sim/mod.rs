//! Simulators of the devices and platforms netpulse talks to. They are a product feature
//! (`netpulse sim ...`): people test their automation against them, and every test and benchmark of
//! netpulse uses them instead of hardware.

pub mod dme;
pub mod hooks;
pub mod ise;
mod load;
pub mod nats;
pub mod sdwan;
pub mod webex;

pub use load::Load;

use tokio_util::sync::CancellationToken;

/// `netpulse sim <kind>`: which simulator to run, with its own arguments.
// Built once per process from the command line: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
pub enum SimCommand {
    /// NX-OS DME device(s): REST login, WebSocket subscriptions, a change generator, fault injection.
    Dme(dme::DmeSimArgs),
    /// Pull and plug cables, switch switches off and on, in a running `sim dme --spines/--chain`.
    Fabric(dme::FabricCliArgs),
    /// ACI APIC(s): the DME simulator with tenants, leaf ports, faults through their lifecycle,
    /// event and audit records.
    Apic(dme::DmeSimArgs),
    /// SD-WAN Manager: posts real alarm webhooks (raise/clear pairs) with Basic auth, at a rate.
    Sdwan(sdwan::SdwanSimArgs),
    /// Webex Messages API: bearer tokens, rooms, recorded messages, injectable 429/5xx/latency.
    Webex(webex::WebexSimArgs),
    /// Meraki: posts alert webhooks (official examples, raise/clear pairs) with the shared secret.
    Meraki(hooks::MerakiSimArgs),
    /// Catalyst Center: posts Assurance issue notifications (active, then resolved).
    #[command(name = "catalyst-center")]
    CatalystCenter(hooks::CatalystCenterSimArgs),
    /// ThousandEyes: posts classic alert webhooks (TRIGGER, then CLEAR), optional Basic auth.
    Thousandeyes(hooks::ThousandeyesSimArgs),
    /// Intersight: posts cond.Alarm webhooks signed with a draft-cavage HTTP Signature.
    Intersight(hooks::IntersightSimArgs),
    /// Standard Webhooks: posts alarm messages signed v1 with a whsec_ secret.
    #[command(name = "standard-webhooks")]
    StandardWebhooks(hooks::StandardWebhooksSimArgs),
    /// CloudEvents 1.0: posts alarm events in binary or structured mode.
    Cloudevents(hooks::CloudeventsSimArgs),
    /// Cisco ISE pxGrid 2.0: the control REST API and the STOMP pubsub over WebSocket.
    Ise(ise::IseSimArgs),
    /// A local NATS JetStream cluster (real nats-server processes, 2.11 or later) to try
    /// `cluster:` on one machine.
    Nats(nats::NatsSimArgs),
}

impl SimCommand {
    /// Runs the simulator until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        match self {
            SimCommand::Dme(args) => dme::run_cli(args, shutdown).await,
            SimCommand::Apic(args) => dme::run_apic_cli(args, shutdown).await,
            SimCommand::Fabric(args) => dme::run_fabric_cli(args).await,
            SimCommand::Sdwan(args) => sdwan::run_cli(args, shutdown).await,
            SimCommand::Webex(args) => webex::run_cli(args, shutdown).await,
            SimCommand::Meraki(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::CatalystCenter(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Thousandeyes(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Intersight(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::StandardWebhooks(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Cloudevents(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Ise(args) => ise::run_cli(args, shutdown).await,
            SimCommand::Nats(args) => nats::run_cli(args, shutdown).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `dir` that is not a test (`tests.rs`, `*_tests.rs`, `tests/`).
    fn product_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "tests" {
                    product_files(&path, found);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
                found.push(path);
            }
        }
    }

    /// A simulator that parsed with netpulse's own code would mirror its bugs, and no test would
    /// see them: only tests may compare a simulator's output with netpulse's reading of it.
    #[test]
    fn no_simulator_uses_netpulse_s_source_code() {
        let mut files = Vec::new();
        product_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim"),
            &mut files,
        );
        assert!(files.len() > 20, "{files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Inline test modules come last and may compare, as test files do.
            let product = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = product
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for forbidden in ["crate::source", "crate::{source", "netpulse::source"] {
                assert!(
                    !code.contains(forbidden),
                    "{} uses {forbidden}",
                    file.display()
                );
            }
        }
    }
}
