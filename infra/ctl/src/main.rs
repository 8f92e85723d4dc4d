//! `gatewayctl`: tenants, phone numbers and WABAs in the Tenants table, against AWS or the local
//! emulator (AWS_ENDPOINT_URL). Table names come from the stack's outputs (TENANTS_TABLE).

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway_aws::admin::{TenantSpec, create_tenant};
use gateway_aws::dynamo::DynamoTenants;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::{OwnerKind, TenantDirectory};
use gateway_core::tenant::{TargetPolicy, TenantId};

#[derive(Parser)]
#[command(
    name = "gatewayctl",
    about = "Operate the WhatsApp passthrough gateway"
)]
struct Cli {
    /// The Tenants table (the stack's TenantsTableName output).
    #[arg(
        long,
        env = "TENANTS_TABLE",
        global = true,
        default_value = "local-TenantsTable"
    )]
    tenants_table: String,
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
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Creates a tenant and prints its API key and webhook secret (shown only this once).
    Create {
        #[arg(long)]
        name: String,
        /// HTTPS URL that receives the tenant's events.
        #[arg(long)]
        webhook_url: String,
        #[arg(long, default_value = "meta")]
        format: DeliveryFormat,
        /// Domain allowed in per-message callback_url (repeatable).
        #[arg(long = "callback-domain")]
        callback_domains: Vec<String>,
        /// Allow http://127.0.0.1 webhook URLs (the local stack only).
        #[arg(long, env = "ALLOW_LOOPBACK_HTTP_TARGETS", hide = true)]
        allow_loopback_http: bool,
        #[arg(long)]
        json: bool,
    },
    /// Shows a tenant (without its secrets).
    Show { tenant_id: String },
}

#[derive(Subcommand)]
enum OwnedCommand {
    /// Assigns the id to a tenant; refused when another tenant has it.
    Add {
        id: String,
        #[arg(long)]
        tenant: String,
    },
    /// Removes the id from the tenant.
    Remove {
        id: String,
        #[arg(long)]
        tenant: String,
    },
}

async fn existing_tenant(tenants: &DynamoTenants, id: &str) -> anyhow::Result<TenantId> {
    let id = TenantId(id.to_owned());
    match tenants.tenant(&id).await? {
        Some(_) => Ok(id),
        None => anyhow::bail!("unknown tenant `{}`", id.as_str()),
    }
}

async fn owned(
    tenants: &DynamoTenants,
    kind: OwnerKind,
    command: OwnedCommand,
) -> anyhow::Result<()> {
    let name = match kind {
        OwnerKind::Phone => "phone number",
        _ => "WABA",
    };
    match command {
        OwnedCommand::Add { id, tenant } => {
            anyhow::ensure!(
                !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
                "{name} id `{id}` must be digits"
            );
            let tenant = existing_tenant(tenants, &tenant).await?;
            tenants.add_owner(kind, &id, &tenant).await?;
            println!("{name} {id} -> tenant {}", tenant.as_str());
        }
        OwnedCommand::Remove { id, tenant } => {
            let tenant = existing_tenant(tenants, &tenant).await?;
            anyhow::ensure!(
                tenants.remove_owner(kind, &id, &tenant).await?,
                "{name} {id} does not belong to tenant {}",
                tenant.as_str()
            );
            println!("{name} {id} removed from tenant {}", tenant.as_str());
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sdk = gateway_aws::config::sdk_config().await;
    let clients = gateway_aws::Clients::new(&sdk);
    let tenants = DynamoTenants::new(clients.dynamodb, &cli.tenants_table);
    match cli.command {
        Command::Tenant {
            command:
                TenantCommand::Create {
                    name,
                    webhook_url,
                    format,
                    callback_domains,
                    allow_loopback_http,
                    json,
                },
        } => {
            let policy = if allow_loopback_http {
                TargetPolicy::AllowLoopbackHttp
            } else {
                TargetPolicy::PublicHttpsOnly
            };
            let created = create_tenant(
                &tenants,
                TenantSpec {
                    name,
                    webhook_url,
                    format,
                    callback_domains,
                },
                policy,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!(
                    "tenant_id:      {}\napi_key:        {}\nwebhook_secret: {}\n(the API key and secret are shown only now)",
                    created.tenant_id, created.api_key, created.webhook_secret
                );
            }
        }
        Command::Tenant {
            command: TenantCommand::Show { tenant_id },
        } => {
            let tenant = tenants
                .tenant(&TenantId(tenant_id.clone()))
                .await?
                .with_context(|| format!("unknown tenant `{tenant_id}`"))?;
            println!(
                "{}",
                serde_json::json!({
                    "tenant_id": tenant.id.as_str(),
                    "name": tenant.name,
                    "webhook_url": tenant.webhook_url,
                    "format": tenant.format.as_str(),
                    "callback_domains": tenant.callback_domains,
                    "active": tenant.active,
                })
            );
        }
        Command::Phone { command } => owned(&tenants, OwnerKind::Phone, command).await?,
        Command::Waba { command } => owned(&tenants, OwnerKind::Waba, command).await?,
    }
    Ok(())
}
