//! Tenant administration shared by gatewayctl and the local stack: create a tenant with a
//! generated webhook secret and API key, and attach phone numbers and WABAs.

use anyhow::Context;
use base64::Engine;
use gateway_core::format::DeliveryFormat;
use gateway_core::ids::ApiKey;
use gateway_core::ports::{OwnerKind, TenantDirectory};
use gateway_core::signature::Secret;
use gateway_core::tenant::{TargetPolicy, TargetUrl, Tenant, TenantId, WebhookSecret};
use rand::RngCore;

use crate::dynamo::DynamoTenants;

/// What a new tenant is told once: the API key is stored only as its SHA-256.
#[derive(Debug, serde::Serialize)]
pub struct NewTenant {
    pub tenant_id: String,
    pub api_key: String,
    pub webhook_secret: String,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// `whsec_` + base64 of 24 random bytes, the Standard Webhooks form.
pub fn generate_webhook_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(random_bytes::<24>())
    )
}

/// `wgk_` + hex of 32 random bytes.
pub fn generate_api_key() -> String {
    format!("wgk_{}", hex::encode(random_bytes::<32>()))
}

/// The key under which an API key is stored and looked up: core's [`ApiKey::hash`], the one
/// derivation the send side checks keys with.
pub fn api_key_hash(api_key: &str) -> String {
    ApiKey::new(api_key).hash().as_str().to_owned()
}

pub struct TenantSpec {
    pub name: String,
    pub webhook_url: String,
    pub format: DeliveryFormat,
    pub callback_domains: Vec<String>,
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

pub async fn create_tenant(
    tenants: &DynamoTenants,
    spec: TenantSpec,
    policy: TargetPolicy,
) -> anyhow::Result<NewTenant> {
    anyhow::ensure!(!spec.name.trim().is_empty(), "--name must not be empty");
    TargetUrl::parse(&spec.webhook_url, policy)
        .map_err(|why| anyhow::anyhow!("--webhook-url {why}"))?;
    for domain in &spec.callback_domains {
        anyhow::ensure!(
            valid_domain(domain),
            "--callback-domain `{domain}` is not a domain name"
        );
    }
    let id = TenantId(hex::encode(random_bytes::<8>()));
    let webhook_secret = generate_webhook_secret();
    let api_key = generate_api_key();
    tenants
        .put_tenant(&Tenant {
            id: id.clone(),
            name: spec.name,
            webhook_url: spec.webhook_url,
            webhook_secrets: vec![WebhookSecret {
                secret: Secret::new(webhook_secret.clone()),
                expires_at: None,
            }],
            format: spec.format,
            callback_domains: spec
                .callback_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            phone_number_ids: Vec::new(),
            active: true,
            destinations: Default::default(),
        })
        .await?;
    tenants
        .add_owner(OwnerKind::ApiKey, &api_key_hash(&api_key), &id)
        .await
        .context("storing the API key")?;
    Ok(NewTenant {
        tenant_id: id.0,
        api_key,
        webhook_secret,
    })
}

/// How long a rotated-out API key or webhook secret keeps working.
pub const ROTATION_GRACE_SECS: i64 = 24 * 3600;

/// What `tenant update` may change; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub webhook_url: Option<String>,
    pub format: Option<DeliveryFormat>,
    pub callback_domains: Option<Vec<String>>,
    pub active: Option<bool>,
}

pub async fn existing_tenant(tenants: &DynamoTenants, id: &str) -> anyhow::Result<Tenant> {
    tenants
        .tenant(&TenantId(id.to_owned()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("unknown tenant `{id}`"))
}

pub async fn update_tenant(
    tenants: &DynamoTenants,
    id: &str,
    changes: TenantChanges,
    policy: TargetPolicy,
) -> anyhow::Result<Tenant> {
    let mut tenant = existing_tenant(tenants, id).await?;
    if let Some(name) = changes.name {
        anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
        tenant.name = name;
    }
    if let Some(url) = changes.webhook_url {
        TargetUrl::parse(&url, policy).map_err(|why| anyhow::anyhow!("--webhook-url {why}"))?;
        tenant.webhook_url = url;
    }
    if let Some(format) = changes.format {
        tenant.format = format;
    }
    if let Some(domains) = changes.callback_domains {
        for domain in &domains {
            anyhow::ensure!(
                valid_domain(domain),
                "--callback-domain `{domain}` is not a domain name"
            );
        }
        tenant.callback_domains = domains.iter().map(|d| d.to_ascii_lowercase()).collect();
    }
    if let Some(active) = changes.active {
        tenant.active = active;
    }
    tenants.put_tenant(&tenant).await?;
    Ok(tenant)
}

/// A new API key for the tenant; the old ones keep working for 24 h (or stop now).
pub async fn rotate_api_key(
    tenants: &DynamoTenants,
    id: &str,
    revoke_now: bool,
) -> anyhow::Result<String> {
    let tenant = existing_tenant(tenants, id).await?;
    let old = tenants.api_key_hashes(&tenant.id).await?;
    let api_key = generate_api_key();
    tenants
        .add_owner(OwnerKind::ApiKey, &api_key_hash(&api_key), &tenant.id)
        .await?;
    let until = crate::now() + if revoke_now { 0 } else { ROTATION_GRACE_SECS };
    for hash in old {
        tenants
            .expire_owner(OwnerKind::ApiKey, &hash, until)
            .await?;
    }
    Ok(api_key)
}

/// A new webhook secret; deliveries carry signatures with the old one too for 24 h.
pub async fn rotate_webhook_secret(tenants: &DynamoTenants, id: &str) -> anyhow::Result<String> {
    let mut tenant = existing_tenant(tenants, id).await?;
    let now = crate::now();
    let secret = generate_webhook_secret();
    let mut secrets = vec![WebhookSecret {
        secret: Secret::new(secret.clone()),
        expires_at: None,
    }];
    secrets.extend(tenant.webhook_secrets.into_iter().filter_map(|mut old| {
        let until = old
            .expires_at
            .unwrap_or(i64::MAX)
            .min(now + ROTATION_GRACE_SECS);
        (until > now).then(|| {
            old.expires_at = Some(until);
            old
        })
    }));
    tenant.webhook_secrets = secrets;
    tenants.put_tenant(&tenant).await?;
    Ok(secret)
}

mod destinations;
mod dlq;

pub use destinations::{DestinationChanges, set_destinations};
pub use dlq::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_their_documented_form() {
        let secret = generate_webhook_secret();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(raw.len(), 24);
        let key = generate_api_key();
        assert_eq!(key.len(), 4 + 64);
        assert_ne!(generate_api_key(), key);
        assert_eq!(api_key_hash("abc").len(), 64);
    }

    #[test]
    fn domains_are_checked() {
        assert!(valid_domain("example.com"));
        assert!(valid_domain("a-b.example.co"));
        for bad in ["", "exa mple.com", "-a.com", "a..com", "https://x.com"] {
            assert!(!valid_domain(bad), "{bad}");
        }
    }
}
