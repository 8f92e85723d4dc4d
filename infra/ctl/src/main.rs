//! `gatewayctl`: operate the gateway against AWS or the local emulator (AWS_ENDPOINT_URL).
//! Tenants, phone numbers and WABAs, API key and webhook secret rotation, message records and
//! the dead-letter queue; Meta's webhook subscription; a health check of a deployed stack.
//! Resource names come from the stack (`--stack NAME`), from variables, or, against the local
//! emulator, from the names `make run` uses.

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway_aws::Gateway;
use gateway_aws::admin::{ParkedFilter, dlq_list, dlq_redrive, unroutable_list, unroutable_replay};
use gateway_core::bundle::Ports;
use gateway_core::ports::{MessageStore, OwnerKind};
use gateway_core::tenant::TargetPolicy;
use serde_json::json;

mod doctor;
mod meta;
mod names;
mod owned;
mod realtime;
mod tenant;

use tenant::TenantCommand;

use owned::{Flags, OwnedCommand, owned};

use names::{Names, StackArgs};

#[derive(Parser)]
#[command(
    name = "gatewayctl",
    about = "Operate the WhatsApp passthrough gateway",
    version
)]
struct Cli {
    #[command(flatten)]
    names: StackArgs,
    /// Allow http://127.0.0.1 webhook URLs. Implied when the AWS endpoint is a loopback
    /// emulator (the local stack); never against AWS.
    #[arg(long, env = "ALLOW_LOOPBACK_HTTP_TARGETS", global = true, hide = true)]
    allow_loopback_http: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tenants: the companies whose webhooks receive events.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Phone numbers (Meta phone_number_id) owned by tenants.
    Phone {
        #[command(subcommand)]
        command: OwnedCommand,
    },
    /// WhatsApp Business Accounts owned by tenants.
    Waba {
        #[command(subcommand)]
        command: OwnedCommand,
    },
    /// API keys.
    Key {
        #[command(subcommand)]
        command: RotateCommand,
    },
    /// Webhook signing secrets.
    Secret {
        #[command(subcommand)]
        command: RotateCommand,
    },
    /// Message records.
    Message {
        #[command(subcommand)]
        command: MessageCommand,
    },
    /// The dead-letter queue: events whose every delivery attempt failed.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Events no tenant owned when they arrived, parked for 14 days.
    Unroutable {
        #[command(subcommand)]
        command: UnroutableCommand,
    },
    /// Real-time events: end a tenant's tokens and live WebSocket connections.
    Realtime {
        #[command(subcommand)]
        command: realtime::RealtimeCommand,
    },
    /// Meta's side: the app's webhook subscription and the WABAs subscribed to the app.
    Meta {
        #[command(subcommand)]
        command: meta::MetaCommand,
    },
    /// Checks a deployed stack (secrets, webhook verification, queues, alarms, Graph token)
    /// and prints what to fix.
    Doctor {
        /// The webhook URL to verify, when it is not the stack's WebhookUrl output.
        #[arg(long)]
        webhook_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum UnroutableCommand {
    /// Lists parked events (they stay parked).
    List {
        #[command(flatten)]
        filter: ParkedArgs,
    },
    /// Queues parked events again, e.g. once their phone number was added to a tenant.
    Replay {
        #[command(flatten)]
        filter: ParkedArgs,
    },
}

#[derive(clap::Args)]
struct ParkedArgs {
    /// Only events of this phone_number_id.
    #[arg(long)]
    phone: Option<String>,
    /// Only events of this WABA id.
    #[arg(long)]
    waba: Option<String>,
}

#[derive(Subcommand)]
enum RotateCommand {
    /// Issues a new one and prints it once; the old one keeps working for 24 hours.
    Rotate {
        #[arg(long)]
        tenant: String,
        /// API keys only: the old keys stop working as soon as warm functions read again
        /// (within the stack's TenantCacheSeconds, 60 s by default).
        #[arg(long)]
        revoke_now: bool,
    },
}

#[derive(Subcommand)]
enum MessageCommand {
    /// Shows the record of a message sent through the gateway.
    Show { wamid: String },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Lists the events in the dead-letter queue (they stay there).
    List {
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Moves every event of the dead-letter queue back to the events queue.
    Redrive,
}

impl From<ParkedArgs> for ParkedFilter {
    fn from(args: ParkedArgs) -> Self {
        ParkedFilter {
            phone: args.phone,
            waba: args.waba,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sdk = gateway_aws::config::sdk_config().await;
    let names = names::resolve(cli.names, &sdk).await?;
    anyhow::ensure!(
        !cli.allow_loopback_http || names.local,
        "loopback webhook URLs are for the local emulator only, never a stack in AWS"
    );
    let policy = if names.local {
        TargetPolicy::AllowLoopbackHttp
    } else {
        TargetPolicy::PublicHttpsOnly
    };
    // The composition root the functions use, over the resources the names give.
    let gateway = Gateway::new(sdk, names.settings(policy));
    let (sdk, clients, admin) = (&gateway.sdk, &gateway.clients, gateway.admin());
    match cli.command {
        Command::Tenant { command } => tenant::run(&admin, &gateway.health(), command).await?,
        Command::Phone { command } => owned(&admin, OwnerKind::Phone, command).await?,
        Command::Waba { command } => owned(&admin, OwnerKind::Waba, command).await?,
        Command::Key {
            command: RotateCommand::Rotate { tenant, revoke_now },
        } => {
            let key = admin.rotate_api_key(&tenant, revoke_now).await.flags()?;
            let old = if revoke_now {
                "stop working within the stack's TenantCacheSeconds (60 s by default)"
            } else {
                "keep working for 24 hours"
            };
            println!(
                "{}",
                json!({"tenant_id": tenant, "api_key": key, "note": format!("old keys {old}")})
            );
        }
        Command::Secret {
            command: RotateCommand::Rotate { tenant, revoke_now },
        } => {
            anyhow::ensure!(!revoke_now, "--revoke-now applies to API keys only");
            let secret = admin.rotate_webhook_secret(&tenant).await.flags()?;
            println!(
                "{}",
                json!({"tenant_id": tenant, "webhook_secret": secret, "note": "deliveries carry the old secret's signatures too for 24 hours"})
            );
        }
        Command::Message {
            command: MessageCommand::Show { wamid },
        } => {
            let record = gateway
                .messages()
                .get(&wamid)
                .await?
                .with_context(|| format!("no message record for `{wamid}`"))?;
            println!("{}", serde_json::to_string(&record)?);
        }
        Command::Dlq { command } => {
            let dlq = Names::required(&names.dead_letter_queue_url, "DEAD_LETTER_QUEUE_URL")?;
            match command {
                DlqCommand::List { max } => {
                    for letter in dlq_list(&clients.sqs, dlq, max).await? {
                        println!("{}", serde_json::to_string(&letter)?);
                    }
                }
                DlqCommand::Redrive => {
                    Names::required(&names.events_queue_url, "EVENTS_QUEUE_URL")?;
                    Names::required(&names.events_bucket, "EVENTS_BUCKET")?;
                    let moved = dlq_redrive(&clients.sqs, dlq, &gateway.queue()).await?;
                    println!("{}", json!({"moved": moved}));
                }
            }
        }
        Command::Unroutable { command } => {
            Names::required(&names.events_bucket, "EVENTS_BUCKET")?;
            let bucket = gateway.events_bucket();
            match command {
                UnroutableCommand::List { filter } => {
                    for parked in unroutable_list(&bucket, &filter.into()).await? {
                        println!("{}", serde_json::to_string(&parked)?);
                    }
                }
                UnroutableCommand::Replay { filter } => {
                    Names::required(&names.events_queue_url, "EVENTS_QUEUE_URL")?;
                    let replayed =
                        unroutable_replay(&bucket, &gateway.queue(), &filter.into()).await?;
                    println!("{}", json!({"replayed": replayed}));
                }
            }
        }
        Command::Realtime { command } => {
            realtime::run(sdk, clients, &names, &admin, command).await?
        }
        Command::Meta { command } => meta::run(clients, &names, command).await?,
        Command::Doctor { webhook_url } => {
            let mut names = names;
            names.webhook_url = webhook_url.or(names.webhook_url);
            doctor::run(sdk, clients, &names).await?
        }
    }
    Ok(())
}
