//! Tenant administration as use cases over a narrow writer port: create a tenant with a
//! generated webhook secret and API key, change it, rotate its secrets, set its destinations,
//! assign phone numbers and WABAs. gatewayctl and the local stack call [`TenantAdmin`]; the
//! time and the random bytes are given, so every rule is unit-tested over the memory fake.

use std::future::Future;

use base64::Engine;

use crate::format::DeliveryFormat;
use crate::ids::ApiKey;
use crate::ports::{OwnerKind, TenantDirectory};
use crate::signature::Secret;
use crate::tenant::{TargetPolicy, TargetUrl, Tenant, TenantId, WebhookSecret};
use crate::time::Clock;

mod destinations;
#[cfg(test)]
mod tests;

pub use destinations::DestinationChanges;

/// How long a rotated-out API key or webhook secret keeps working.
pub const ROTATION_GRACE_SECS: i64 = 24 * 3600;

/// What administration writes, beside what the functions read ([`TenantDirectory`]).
/// Contract: `add_owner` is conditional (an id has one owner; a phone number is also listed
/// on its tenant's record in the same write), `remove_owner` only removes the tenant's own.
pub trait TenantWriter: TenantDirectory {
    /// Stores or replaces a tenant's record.
    fn put_tenant(&self, tenant: &Tenant) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Assigns `id` to `tenant`; refused when it already has an owner.
    fn add_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), OwnershipError>> + Send;
    /// Removes `id` from `tenant`; `Ok(false)` when it is not the tenant's.
    fn remove_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// Makes a mapping (a rotated-out API key) stop working at unix seconds `at`.
    fn expire_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        at: i64,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// The stored hashes of the tenant's API keys.
    fn api_key_hashes(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = anyhow::Result<Vec<String>>> + Send;
}

/// Where new secrets' bytes come from: the system's generator in gatewayctl and the local
/// stack, a known sequence in tests.
pub trait Entropy: Send + Sync {
    fn fill(&self, bytes: &mut [u8]);
}

#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    #[error("{kind} {id} already belongs to a tenant")]
    Taken { kind: &'static str, id: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Why an administration request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A value is refused; `field` names it as the tenant record does (`webhook_url`...).
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("unknown tenant `{0}`")]
    UnknownTenant(String),
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field,
        message: message.into(),
    }
}

/// What a new tenant is told once: the API key is stored only as its SHA-256.
#[derive(Debug, serde::Serialize)]
pub struct NewTenant {
    pub tenant_id: String,
    pub api_key: String,
    pub webhook_secret: String,
}

pub struct TenantSpec {
    pub name: String,
    pub webhook_url: String,
    pub format: DeliveryFormat,
    pub callback_domains: Vec<String>,
}

/// What `update` may change; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub webhook_url: Option<String>,
    pub format: Option<DeliveryFormat>,
    pub callback_domains: Option<Vec<String>>,
    pub active: Option<bool>,
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

/// Checked callback domains, lower-cased.
fn callback_domains(domains: &[String]) -> Result<Vec<String>, AdminError> {
    domains
        .iter()
        .map(|domain| match valid_domain(domain) {
            true => Ok(domain.to_ascii_lowercase()),
            false => Err(invalid(
                "callback_domain",
                format!("`{domain}` is not a domain name"),
            )),
        })
        .collect()
}

fn name(name: &str) -> Result<(), AdminError> {
    match name.trim().is_empty() {
        true => Err(invalid("name", "must not be empty")),
        false => Ok(()),
    }
}

/// The tenant use cases, over `W`'s records, `C`'s time and `R`'s random bytes.
pub struct TenantAdmin<W, C, R> {
    tenants: W,
    policy: TargetPolicy,
    clock: C,
    entropy: R,
}

impl<W: TenantWriter, C: Clock, R: Entropy> TenantAdmin<W, C, R> {
    /// URLs are checked against `policy` (public HTTPS; loopback too on the local stack).
    pub fn new(tenants: W, policy: TargetPolicy, clock: C, entropy: R) -> Self {
        TenantAdmin {
            tenants,
            policy,
            clock,
            entropy,
        }
    }

    /// The records written to.
    pub fn tenants(&self) -> &W {
        &self.tenants
    }

    fn random<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.entropy.fill(&mut bytes);
        bytes
    }

    /// `whsec_` + base64 of 24 random bytes, the Standard Webhooks form.
    fn webhook_secret(&self) -> String {
        let bytes = self.random::<24>();
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    /// `wgk_` + hex of 32 random bytes.
    fn api_key(&self) -> String {
        format!("wgk_{}", hex::encode(self.random::<32>()))
    }

    fn url(&self, field: &'static str, url: &str) -> Result<(), AdminError> {
        TargetUrl::parse(url, self.policy)
            .map(|_| ())
            .map_err(|why| invalid(field, why))
    }

    pub async fn create(&self, spec: TenantSpec) -> Result<NewTenant, AdminError> {
        name(&spec.name)?;
        self.url("webhook_url", &spec.webhook_url)?;
        let callback_domains = callback_domains(&spec.callback_domains)?;
        let id = TenantId::new(hex::encode(self.random::<8>()));
        let webhook_secret = self.webhook_secret();
        let api_key = self.api_key();
        self.tenants
            .put_tenant(&Tenant {
                id: id.clone(),
                name: spec.name,
                webhook_url: spec.webhook_url,
                webhook_secrets: vec![WebhookSecret {
                    secret: Secret::new(webhook_secret.clone()),
                    expires_at: None,
                }],
                format: spec.format,
                callback_domains,
                phone_number_ids: Vec::new(),
                active: true,
                destinations: Default::default(),
            })
            .await?;
        let hash = ApiKey::new(&api_key).hash();
        self.tenants
            .add_owner(OwnerKind::ApiKey, hash.as_str(), &id)
            .await?;
        Ok(NewTenant {
            tenant_id: id.into_string(),
            api_key,
            webhook_secret,
        })
    }

    pub async fn existing(&self, id: &str) -> Result<Tenant, AdminError> {
        self.tenants
            .tenant(&TenantId::new(id))
            .await
            .map_err(|e| AdminError::Store(anyhow::anyhow!("reading tenant {id}: {e}")))?
            .ok_or_else(|| AdminError::UnknownTenant(id.to_owned()))
    }

    pub async fn update(&self, id: &str, changes: TenantChanges) -> Result<Tenant, AdminError> {
        let mut tenant = self.existing(id).await?;
        if let Some(new_name) = changes.name {
            name(&new_name)?;
            tenant.name = new_name;
        }
        if let Some(url) = changes.webhook_url {
            self.url("webhook_url", &url)?;
            tenant.webhook_url = url;
        }
        if let Some(format) = changes.format {
            tenant.format = format;
        }
        if let Some(domains) = changes.callback_domains {
            tenant.callback_domains = callback_domains(&domains)?;
        }
        if let Some(active) = changes.active {
            tenant.active = active;
        }
        self.tenants.put_tenant(&tenant).await?;
        Ok(tenant)
    }

    /// A new API key for the tenant; the old ones keep working for 24 h (or stop now).
    pub async fn rotate_api_key(&self, id: &str, revoke_now: bool) -> Result<String, AdminError> {
        let tenant = self.existing(id).await?;
        let old = self.tenants.api_key_hashes(&tenant.id).await?;
        let api_key = self.api_key();
        let hash = ApiKey::new(&api_key).hash();
        self.tenants
            .add_owner(OwnerKind::ApiKey, hash.as_str(), &tenant.id)
            .await?;
        let grace = if revoke_now { 0 } else { ROTATION_GRACE_SECS };
        let until = self.clock.now_secs() + grace;
        for hash in old {
            self.tenants
                .expire_owner(OwnerKind::ApiKey, &hash, until)
                .await?;
        }
        Ok(api_key)
    }

    /// A new webhook secret; deliveries carry signatures with the old one too for 24 h.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<String, AdminError> {
        let mut tenant = self.existing(id).await?;
        let now = self.clock.now_secs();
        let secret = self.webhook_secret();
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
        self.tenants.put_tenant(&tenant).await?;
        Ok(secret)
    }

    /// Assigns a phone number or WABA to an existing tenant; refused when another has it.
    pub async fn assign(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &str,
    ) -> Result<Tenant, AdminError> {
        let tenant = self.existing(tenant).await?;
        self.tenants.add_owner(kind, id, &tenant.id).await?;
        Ok(tenant)
    }

    /// Removes a phone number or WABA from the tenant; `Ok(false)` when it is not the tenant's.
    pub async fn unassign(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &str,
    ) -> Result<(Tenant, bool), AdminError> {
        let tenant = self.existing(tenant).await?;
        let removed = self.tenants.remove_owner(kind, id, &tenant.id).await?;
        Ok((tenant, removed))
    }
}
