//! `netpulse sim meraki | catalyst-center | thousandeyes | intersight | standard-webhooks |
//! cloudevents`: post a platform's webhooks to a receiver.

use tokio_util::sync::CancellationToken;

use super::payloads::{CloudEventsMode, Provider};
use super::sender::{HookSimConfig, default_cloudevents_source, run_with_progress};
use super::sign::{Auth, DEFAULT_KEY_ID, standard_webhooks_key};
pub use crate::sim::load::CommonArgs;
pub use crate::sim::load::{PasswordArgs, SecretArgs};
use crate::sim::load::{required, run_reported, secret};

/// Where Meraki's shared secret travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SecretIn {
    /// The default "Meraki" template: the body's `sharedSecret`.
    #[default]
    Body,
    /// A custom template: `Authorization: Bearer <secret>`, `sharedSecret` left empty.
    Authorization,
}

/// Post Meraki alert webhooks (official examples; APs down/up and port down/up pairs).
#[derive(clap::Args, Debug)]
pub struct MerakiSimArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
    /// Where the secret goes: the body's sharedSecret (default template) or Authorization: Bearer.
    #[arg(long, value_enum, default_value_t = SecretIn::Body)]
    pub secret_in: SecretIn,
}

/// HTTP method of a Catalyst Center webhook destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DestinationMethod {
    #[default]
    Post,
    Put,
}

/// Post Catalyst Center (DNA Center) Assurance issue notifications, active then resolved.
#[derive(clap::Args, Debug)]
pub struct CatalystCenterSimArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// HTTP Basic username (with --password-env or --password).
    #[arg(long, conflicts_with = "token_header")]
    pub username: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Send a token in this header instead, e.g. X-Auth-Token (with --token-env or --token).
    #[arg(long)]
    pub token_header: Option<String>,
    #[arg(long, conflicts_with = "token_env")]
    pub token: Option<String>,
    /// Read the token from this environment variable.
    #[arg(long)]
    pub token_env: Option<String>,
    /// The destination's method.
    #[arg(long, value_enum, default_value_t = DestinationMethod::Post)]
    pub method: DestinationMethod,
}

/// Post ThousandEyes classic alert webhooks, TRIGGER then CLEAR.
#[derive(clap::Args, Debug)]
pub struct ThousandeyesSimArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Optional HTTP Basic username (with --password-env or --password).
    #[arg(long)]
    pub username: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Post Intersight cond.Alarm webhooks (raised, then cleared), signed with an HTTP Signature.
#[derive(clap::Args, Debug)]
pub struct IntersightSimArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
    /// The signature's keyId.
    #[arg(long, default_value = DEFAULT_KEY_ID)]
    pub key_id: String,
}

/// Post Standard Webhooks messages (network alarms raised and cleared), signed v1 with a whsec_ secret.
#[derive(clap::Args, Debug)]
pub struct StandardWebhooksSimArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

/// Post CloudEvents 1.0 (network alarms raised and cleared, with netpulse's extensions).
#[derive(clap::Args, Debug)]
pub struct CloudeventsSimArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// binary: ce-* headers and the data as body; structured: one application/cloudevents+json body.
    #[arg(long, value_enum, default_value_t = CloudEventsMode::Binary)]
    pub mode: CloudEventsMode,
    /// The events' source; default /netpulse-sim/<this host>.
    #[arg(long)]
    pub source: Option<String>,
    /// Optional bearer token; prefer --token-env.
    #[arg(long, conflicts_with = "token_env")]
    pub token: Option<String>,
    #[arg(long)]
    pub token_env: Option<String>,
}

/// The sender configuration of each subcommand.
pub trait HookArgs {
    fn into_config(self) -> anyhow::Result<HookSimConfig>;
}

fn base(common: CommonArgs, provider: Provider, auth: Auth) -> HookSimConfig {
    let (target, load) = common.into_target_and_load();
    HookSimConfig {
        load,
        ..HookSimConfig::new(provider, target, auth)
    }
}

impl HookArgs for MerakiSimArgs {
    fn into_config(self) -> anyhow::Result<HookSimConfig> {
        let shared_secret = self.secret.value()?;
        let (auth, in_body) = match self.secret_in {
            SecretIn::Body => (Auth::None, shared_secret.unwrap_or_default()),
            SecretIn::Authorization => (
                Auth::Bearer(required(shared_secret, "secret")?),
                String::new(),
            ),
        };
        let mut config = base(self.common, Provider::Meraki, auth);
        config.options.meraki_shared_secret = in_body;
        Ok(config)
    }
}

impl HookArgs for CatalystCenterSimArgs {
    fn into_config(self) -> anyhow::Result<HookSimConfig> {
        let auth = if let Some(name) = self.token_header {
            Auth::Header {
                name,
                value: required(secret(&self.token, &self.token_env, "token")?, "token")?,
            }
        } else if let Some(username) = self.username {
            Auth::Basic {
                username,
                password: required(self.password.value()?, "password")?,
            }
        } else {
            Auth::None
        };
        let mut config = base(self.common, Provider::CatalystCenter, auth);
        config.method = match self.method {
            DestinationMethod::Post => reqwest::Method::POST,
            DestinationMethod::Put => reqwest::Method::PUT,
        };
        Ok(config)
    }
}

impl HookArgs for ThousandeyesSimArgs {
    fn into_config(self) -> anyhow::Result<HookSimConfig> {
        let auth = match self.username {
            Some(username) => Auth::Basic {
                username,
                password: required(self.password.value()?, "password")?,
            },
            None => Auth::None,
        };
        Ok(base(self.common, Provider::Thousandeyes, auth))
    }
}

impl HookArgs for IntersightSimArgs {
    fn into_config(self) -> anyhow::Result<HookSimConfig> {
        let secret = required(self.secret.value()?, "secret")?;
        anyhow::ensure!(!secret.is_empty(), "the webhook secret is empty");
        let auth = Auth::HttpSignature {
            key_id: self.key_id,
            secret: secret.into_bytes(),
        };
        Ok(base(self.common, Provider::Intersight, auth))
    }
}

impl HookArgs for StandardWebhooksSimArgs {
    fn into_config(self) -> anyhow::Result<HookSimConfig> {
        let secret = required(self.secret.value()?, "secret")?;
        let auth = Auth::StandardWebhooks {
            key: standard_webhooks_key(&secret)?,
        };
        Ok(base(self.common, Provider::StandardWebhooks, auth))
    }
}

impl HookArgs for CloudeventsSimArgs {
    fn into_config(self) -> anyhow::Result<HookSimConfig> {
        let auth = match secret(&self.token, &self.token_env, "token")? {
            Some(token) => Auth::Bearer(token),
            None => Auth::None,
        };
        let mut config = base(self.common, Provider::Cloudevents, auth);
        config.options.cloudevents_mode = self.mode;
        config.options.cloudevents_source = self.source.unwrap_or_else(default_cloudevents_source);
        Ok(config)
    }
}

/// Runs one subcommand: progress on stderr every 5 s, the report on stdout; exits with an error
/// when requests failed at the network level.
pub async fn run_cli(args: impl HookArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let provider = config.provider.as_str();
    let target = config.target.clone();
    let what = format!("{provider} notifications");
    run_reported(provider, &what, &target, &shutdown.clone(), |progress| {
        run_with_progress(config, shutdown, progress)
    })
    .await
}
