//! Tenant administration shared by gatewayctl and the local stack: create a tenant with a
//! generated webhook secret and API key, and attach phone numbers and WABAs.

use anyhow::Context;
use base64::Engine;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::{OwnerKind, TenantDirectory};
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

/// One message waiting in the dead-letter queue.
#[derive(Debug, serde::Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub event_id: Option<String>,
    /// The reference under which the gateway's logs name this event.
    pub event_ref: Option<String>,
    /// Meta's change field (`messages`, `message_template_status_update`, ...).
    pub field: Option<String>,
    pub receive_count: Option<String>,
}

/// Up to `max` messages of the DLQ, left in place.
pub async fn dlq_list(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    max: usize,
) -> anyhow::Result<Vec<DeadLetter>> {
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    let mut seen = std::collections::BTreeMap::new();
    let mut empty = 0;
    while seen.len() < max && empty < 2 {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            // Seen, not taken: each stays hidden briefly so one listing shows it once.
            .visibility_timeout(5)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("reading the dead-letter queue")?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
        }
        for m in messages {
            let body = m.body().unwrap_or_default();
            // A claim check names its event's id and field; the body stays in the bucket.
            let event = match gateway_core::event::ClaimCheck::from_queue_body(body) {
                Some(check) => Some((check.id, check.field)),
                None => gateway_core::event::Event::from_queue_body(body)
                    .ok()
                    .map(|e| (e.id, e.field)),
            };
            let id = m.message_id().unwrap_or_default().to_owned();
            seen.entry(id.clone()).or_insert(DeadLetter {
                message_id: id,
                event_id: event.as_ref().map(|(id, _)| id.to_string()),
                event_ref: event
                    .as_ref()
                    .map(|(id, _)| gateway_core::mask::reference(id.as_str())),
                field: event.as_ref().map(|(_, field)| field.clone()),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned(),
            });
        }
    }
    Ok(seen.into_values().take(max).collect())
}

/// Moves every message of the DLQ back to the events queue (sent first, then deleted, so a
/// failure halfway duplicates at worst and never loses). Returns how many moved.
pub async fn dlq_redrive(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    queue: &crate::queue::SqsEventQueue,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    let mut empty = 0;
    while empty < 2 {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .context("reading the dead-letter queue")?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        for m in messages {
            // A claim check's body is copied to a fresh object, so it outlives the new pointer.
            queue
                .send_on(m.body().unwrap_or_default())
                .await
                .context("sending back to the events queue")?;
            sqs.delete_message()
                .queue_url(dlq_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .context("deleting from the dead-letter queue")?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// One parked unroutable event.
#[derive(Debug, serde::Serialize)]
pub struct Parked {
    pub key: String,
    pub event_id: Option<String>,
    pub event_ref: Option<String>,
    pub field: Option<String>,
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
}

/// Which parked events to take: all, or those of one phone number or one WABA.
#[derive(Debug, Clone, Default)]
pub struct ParkedFilter {
    pub phone: Option<String>,
    pub waba: Option<String>,
}

impl ParkedFilter {
    fn keeps(&self, event: &gateway_core::event::Event) -> bool {
        self.phone
            .as_deref()
            .is_none_or(|p| event.phone_number_id.as_deref() == Some(p))
            && self.waba.as_deref().is_none_or(|w| event.waba_id == w)
    }
}

/// The parked events the filter keeps, with their stored bodies.
async fn parked(
    bucket: &crate::blob::EventsBucket,
    filter: &ParkedFilter,
) -> anyhow::Result<Vec<(Parked, String)>> {
    let mut out = Vec::new();
    for key in bucket.list(crate::blob::UNROUTABLE_PREFIX).await? {
        let body = bucket.get(&key).await?;
        let event = gateway_core::event::Event::from_queue_body(&body).ok();
        if event.as_ref().is_some_and(|e| !filter.keeps(e))
            || (event.is_none() && (filter.phone.is_some() || filter.waba.is_some()))
        {
            continue;
        }
        out.push((
            Parked {
                key,
                event_id: event.as_ref().map(|e| e.id.to_string()),
                event_ref: event
                    .as_ref()
                    .map(|e| gateway_core::mask::reference(e.id.as_str())),
                field: event.as_ref().map(|e| e.field.clone()),
                waba_id: event.as_ref().map(|e| e.waba_id.clone()),
                phone_number_id: event.as_ref().and_then(|e| e.phone_number_id.clone()),
            },
            body,
        ));
    }
    Ok(out)
}

pub async fn unroutable_list(
    bucket: &crate::blob::EventsBucket,
    filter: &ParkedFilter,
) -> anyhow::Result<Vec<Parked>> {
    Ok(parked(bucket, filter)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}

/// Queues the parked events the filter keeps again (queued first, then deleted: a failure
/// halfway duplicates at worst, and the forwarder's dedupe absorbs that). Returns how many.
pub async fn unroutable_replay(
    bucket: &crate::blob::EventsBucket,
    queue: &crate::queue::SqsEventQueue,
    filter: &ParkedFilter,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    for (entry, body) in parked(bucket, filter).await? {
        let event = gateway_core::event::Event::from_queue_body(&body)
            .with_context(|| format!("{} is not a parked event", entry.key))?;
        gateway_core::ports::EventQueue::enqueue(queue, std::slice::from_ref(&event))
            .await
            .context("queueing a parked event")?;
        bucket.delete(&entry.key).await?;
        moved += 1;
    }
    Ok(moved)
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
