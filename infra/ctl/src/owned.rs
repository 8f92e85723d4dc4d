//! Phone numbers and WABAs assigned to tenants, and how a tenant is shown.

use clap::Subcommand;
use gateway_aws::admin::Admin;
use gateway_core::admin::AdminError;
use gateway_core::ports::OwnerKind;
use gateway_core::tenant::Tenant;
use serde_json::json;

#[derive(Subcommand)]
pub enum OwnedCommand {
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

/// The tenant use cases' refusals as gatewayctl's options name them (`webhook_url` is
/// `--webhook-url`), with where to look next.
pub trait Flags<T> {
    fn flags(self) -> anyhow::Result<T>;
}

impl<T> Flags<T> for Result<T, AdminError> {
    fn flags(self) -> anyhow::Result<T> {
        self.map_err(|e| match e {
            AdminError::Invalid { field, message } => {
                let hint = match field {
                    "phone" if message.contains("not one of") => " (gatewayctl phone add)",
                    _ => "",
                };
                anyhow::anyhow!("--{} {message}{hint}", field.replace('_', "-"))
            }
            other => other.into(),
        })
    }
}

pub fn tenant_json(tenant: &Tenant) -> serde_json::Value {
    json!({
        "tenant_id": tenant.id.as_str(),
        "name": tenant.name,
        "webhook_url": tenant.webhook_url,
        "format": tenant.format.as_str(),
        "callback_domains": tenant.callback_domains,
        "phone_number_ids": tenant.phone_number_ids,
        "active": tenant.active,
        "webhook_secrets": tenant.webhook_secrets.len(),
    })
}

pub async fn owned(admin: &Admin, kind: OwnerKind, command: OwnedCommand) -> anyhow::Result<()> {
    let name = match kind {
        OwnerKind::Phone => "phone number",
        _ => "WABA",
    };
    match command {
        OwnedCommand::Add { id, tenant } => {
            anyhow::ensure!(
                !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_digit()),
                "{name} id `{id}` must be digits"
            );
            let tenant = admin.assign(kind, &id, &tenant).await.flags()?;
            println!("{name} {id} -> tenant {}", tenant.id.as_str());
        }
        OwnedCommand::Remove { id, tenant } => {
            let (tenant, removed) = admin.unassign(kind, &id, &tenant).await.flags()?;
            anyhow::ensure!(
                removed,
                "{name} {id} does not belong to tenant {}",
                tenant.id.as_str()
            );
            println!(
                "{name} {id} removed from tenant {} (warm functions notice within the stack's TenantCacheSeconds, 60 s by default)",
                tenant.id.as_str()
            );
        }
    }
    Ok(())
}
