//! `netpulse sim sdwan`: post SD-WAN Manager alarm webhooks to a receiver.

use tokio_util::sync::CancellationToken;

use super::sender::{SdwanSimConfig, run_with_progress};
use crate::sim::load::{CommonArgs, PasswordArgs, required, run_reported};

/// Post SD-WAN Manager alarm notifications (real captures, raise/clear pairs) with Basic auth.
#[derive(clap::Args, Debug)]
pub struct SdwanSimArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long, default_value = "webhook")]
    pub username: String,
    #[command(flatten)]
    pub password: PasswordArgs,
}

pub async fn run_cli(args: SdwanSimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let password = required(args.password.value()?, "password")?;
    let (target, load) = args.common.into_target_and_load();
    let config = SdwanSimConfig {
        target: target.clone(),
        username: args.username,
        password,
        load,
    };
    run_reported("sdwan", "alarms", &target, &shutdown.clone(), |progress| {
        run_with_progress(config, shutdown, progress)
    })
    .await
}
