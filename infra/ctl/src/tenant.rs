//! `gatewayctl tenant ...`: create, change, show and list tenants, and set their
//! destinations. `show` reads each destination's circuit breaker.

use clap::Subcommand;
use gateway_aws::admin::Admin;
use gateway_aws::dynamo::DynamoHealth;
use gateway_core::admin::{DestinationChanges, TenantChanges, TenantSpec};
use gateway_core::endpoint_health::EndpointHealth;
use gateway_core::format::DeliveryFormat;
use gateway_core::tenant::Tenant;
use serde_json::{Value, json};

use crate::owned::{Flags, tenant_json};

#[derive(Subcommand)]
pub enum TenantCommand {
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
        #[arg(long)]
        json: bool,
    },
    /// Changes a tenant; options left out keep their value.
    Update {
        tenant_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        webhook_url: Option<String>,
        #[arg(long)]
        format: Option<DeliveryFormat>,
        /// Replaces the callback domains (repeatable); `--clear-callback-domains` empties them.
        #[arg(long = "callback-domain")]
        callback_domains: Vec<String>,
        #[arg(long, conflicts_with = "callback_domains")]
        clear_callback_domains: bool,
        /// `false` suspends deliveries and API access.
        #[arg(long)]
        active: Option<bool>,
    },
    /// Shows a tenant, without its secrets, with each destination's circuit breaker.
    Show { tenant_id: String },
    /// Sets where the tenant's events go besides its webhook URL, and which it wants.
    Destinations {
        tenant_id: String,
        /// `<phone_number_id>=<url>`: that number's events go to this URL (repeatable).
        #[arg(long)]
        phone: Vec<String>,
        /// The number's events go to the webhook URL again (repeatable).
        #[arg(long)]
        remove_phone: Vec<String>,
        /// Statuses (sent, delivered, read, failed...) go to this URL.
        #[arg(long, conflicts_with = "clear_statuses_url")]
        statuses_url: Option<String>,
        #[arg(long)]
        clear_statuses_url: bool,
        /// Only these change fields are delivered, comma-separated (`messages,calls`).
        #[arg(long, conflicts_with = "all_fields")]
        fields: Option<String>,
        /// Every field is delivered again.
        #[arg(long)]
        all_fields: bool,
    },
    /// Lists every tenant.
    List,
}

/// Each destination of the tenant, what it is used for, and its breaker.
async fn destinations_json(tenant: &Tenant, health: &DynamoHealth) -> anyhow::Result<Value> {
    let now_ms = gateway_aws::now_ms();
    let mut out = Vec::new();
    for url in tenant.destination_urls() {
        let h = health.health(&tenant.id, url).await?;
        out.push(json!({
            "url": url,
            "used_for": tenant.uses_of(url),
            "breaker": h.state(now_ms),
            "failure_streak": h.failure_streak,
            "last_error": h.last_error,
            "last_status": h.last_status,
            "last_failure_at_ms": h.last_failure_at_ms,
            "open_until_ms": h.open_until_ms,
        }));
    }
    Ok(json!({"urls": out, "fields": tenant.destinations.fields}))
}

pub async fn run(
    admin: &Admin,
    health: &DynamoHealth,
    command: TenantCommand,
) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            name,
            webhook_url,
            format,
            callback_domains,
            json,
        } => {
            let spec = TenantSpec {
                name,
                webhook_url,
                format,
                callback_domains,
            };
            let created = admin.create(spec).await.flags()?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!(
                    "tenant_id:      {}\napi_key:        {}\nwebhook_secret: {}\n(the API key and secret are shown only now)",
                    created.tenant_id, created.api_key, created.webhook_secret
                );
            }
        }
        TenantCommand::Update {
            tenant_id,
            name,
            webhook_url,
            format,
            callback_domains,
            clear_callback_domains,
            active,
        } => {
            let callback_domains = if clear_callback_domains {
                Some(Vec::new())
            } else {
                (!callback_domains.is_empty()).then_some(callback_domains)
            };
            let changes = TenantChanges {
                name,
                webhook_url,
                format,
                callback_domains,
                active,
            };
            let tenant = admin.update(&tenant_id, changes).await.flags()?;
            println!("{}", tenant_json(&tenant));
        }
        TenantCommand::Show { tenant_id } => {
            let tenant = admin.existing(&tenant_id).await.flags()?;
            let mut shown = tenant_json(&tenant);
            shown["destinations"] = destinations_json(&tenant, health).await?;
            println!("{shown}");
        }
        TenantCommand::Destinations {
            tenant_id,
            phone,
            remove_phone,
            statuses_url,
            clear_statuses_url,
            fields,
            all_fields,
        } => {
            let mut phones = std::collections::BTreeMap::new();
            for pair in phone {
                let (id, url) = pair.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("--phone `{pair}` must be <phone_number_id>=<url>")
                })?;
                phones.insert(id.to_owned(), url.to_owned());
            }
            let changes = DestinationChanges {
                phones,
                remove_phones: remove_phone,
                statuses: match (statuses_url, clear_statuses_url) {
                    (Some(url), _) => Some(Some(url)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                fields: match (fields, all_fields) {
                    (Some(list), _) => Some(
                        list.split(',')
                            .map(|f| f.trim().to_owned())
                            .filter(|f| !f.is_empty())
                            .collect(),
                    ),
                    (None, true) => Some(Vec::new()),
                    (None, false) => None,
                },
            };
            let tenant = admin.set_destinations(&tenant_id, changes).await.flags()?;
            let mut shown = tenant_json(&tenant);
            shown["destinations"] = destinations_json(&tenant, health).await?;
            println!("{shown}");
        }
        TenantCommand::List => {
            for tenant in admin.tenants().list_tenants().await? {
                println!("{}", tenant_json(&tenant));
            }
        }
    }
    Ok(())
}
