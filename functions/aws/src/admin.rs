//! Tenant administration shared by gatewayctl and the local stack: create a tenant with a
//! generated webhook secret and API key, and attach phone numbers and WABAs.

use anyhow::Context;
use base64::Engine;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::OwnerKind;
use gateway_core::signature::Secret;
use gateway_core::tenant::{TargetPolicy, TargetUrl, Tenant, TenantId, WebhookSecret};
use rand::RngCore;
use sha2::{Digest, Sha256};

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

/// The key under which an API key is stored and looked up.
pub fn api_key_hash(api_key: &str) -> String {
    hex::encode(Sha256::digest(api_key.as_bytes()))
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
