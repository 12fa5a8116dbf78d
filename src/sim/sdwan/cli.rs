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
    let common = args.common;
    let target = common.target.clone();
    let config = SdwanSimConfig {
        target: common.target,
        username: args.username,
        password,
        rate: common.rate,
        count: common.count,
        concurrency: common.concurrency,
        devices: common.devices,
        seed: common.seed,
        ca_file: common.ca_file,
        insecure: common.insecure,
        record_accepted: false,
    };
    run_reported("sdwan", "alarms", &target, &shutdown.clone(), |progress| {
        run_with_progress(config, shutdown, progress)
    })
    .await
}
