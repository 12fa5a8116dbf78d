//! `netpulse sim ise`: Cisco ISE's pxGrid 2.0 control API and STOMP pubsub (being written).

/// Simulate Cisco ISE pxGrid 2.0.
#[derive(clap::Args, Debug)]
pub struct IseSimArgs {}

pub async fn run_cli(
    _args: IseSimArgs,
    _shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    anyhow::bail!("netpulse sim ise is not available yet")
}
