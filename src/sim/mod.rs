//! Simulators of the devices and platforms netpulse talks to. They are a product feature
//! (`netpulse sim ...`): people test their automation against them, and every test and benchmark of
//! netpulse uses them instead of hardware.

pub mod dme;
pub mod hooks;
pub mod ise;
mod load;
pub mod sdwan;
pub mod webex;

use tokio_util::sync::CancellationToken;

/// `netpulse sim <kind>`: which simulator to run, with its own arguments.
// Built once per process from the command line: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
pub enum SimCommand {
    /// NX-OS DME device(s): REST login, WebSocket subscriptions, a change generator, fault injection.
    Dme(dme::DmeSimArgs),
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
}

impl SimCommand {
    /// Runs the simulator until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        match self {
            SimCommand::Dme(args) => dme::run_cli(args, shutdown).await,
            SimCommand::Apic(args) => dme::run_apic_cli(args, shutdown).await,
            SimCommand::Sdwan(args) => sdwan::run_cli(args, shutdown).await,
            SimCommand::Webex(args) => webex::run_cli(args, shutdown).await,
            SimCommand::Meraki(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::CatalystCenter(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Thousandeyes(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Intersight(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::StandardWebhooks(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Cloudevents(args) => hooks::run_cli(args, shutdown).await,
            SimCommand::Ise(args) => ise::run_cli(args, shutdown).await,
        }
    }
}
