//! DynamoDB adapters: the Tenants table (single-table keys), the Messages table and the
//! Idempotency table. Every table expires items through the `expires_at` TTL attribute.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use gateway_core::Error;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::{
    Claim, IdempotencyStore, MessageRecord, MessageStore, OwnerKind, TenantDirectory, status_rank,
};
use gateway_core::signature::Secret;
use gateway_core::tenant::{Tenant, TenantId, WebhookSecret};

/// The TTL attribute of every table; template.yaml names the same one (a test checks).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The hash key of the Tenants and Idempotency tables.
pub const PK: &str = "pk";
/// The hash key of the Messages table.
pub const WAMID: &str = "wamid";

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, key: &str) -> Option<i64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn unavailable<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> Error {
    move |e| {
        tracing::error!(error = ?e, "{what} failed");
        Error::unavailable(what)
    }
}

fn is_conditional_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

// ---------------------------------------------------------------------------------------------
// Idempotency

#[derive(Clone, Debug)]
pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

impl DynamoIdempotency {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoIdempotency {
            client,
            table: table.into(),
        }
    }
}

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";
const FAILED: &str = "FAILED";
/// Delivery attempts that failed, counted by `fail` (not queue receives).
const FAILED_ATTEMPTS: &str = "failed_attempts";
/// When the next attempt after a failed one is due (unix milliseconds).
const RETRY_AT_MS: &str = "retry_at_ms";
/// SQS hides a message for whole seconds (rounded), so an attempt up to a second early is on
/// time: without this slack a rounded-down wait would bounce off its own retry time.
const RETRY_SLACK_MS: i64 = 1_000;

impl IdempotencyStore for DynamoIdempotency {
    async fn claim(
        &self,
        key: &str,
        fingerprint: Option<&str>,
        in_progress_for: Duration,
    ) -> Result<Claim, Error> {
        let now = crate::now();
        let until = now + in_progress_for.as_secs() as i64;
        let (set_fingerprint, remove_fingerprint) = match fingerprint {
            Some(_) => (", fingerprint = :fp", ""),
            None => ("", ", fingerprint"),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key))
            .update_expression(format!(
                "SET #status = :in_progress, in_progress_until = :until, expires_at = :ttl{set_fingerprint} REMOVE #result{remove_fingerprint}"
            ))
            // Free, a lapsed claim, a failed attempt whose retry is due, or a record TTL has
            // not swept yet.
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND in_progress_until < :now) OR (#status = :failed AND (attribute_not_exists(retry_at_ms) OR retry_at_ms <= :now_ms)) OR expires_at < :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":failed", s(FAILED))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":ttl", n(until + 86_400))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":now_ms", n(crate::now_ms() + RETRY_SLACK_MS))
            .return_values(ReturnValue::AllOld);
        if let Some(fp) = fingerprint {
            update = update.expression_attribute_values(":fp", s(fp));
        }
        match update.send().await {
            Ok(out) => {
                let old = out.attributes.unwrap_or_default();
                let lapsed = get_n(&old, TTL_ATTRIBUTE).is_some_and(|t| t < now);
                let stored = get_n(&old, FAILED_ATTEMPTS).unwrap_or(0).max(0) as u32;
                if lapsed && stored > 0 {
                    // An expired record TTL had not swept: its count is not this event's.
                    self.reset_attempts(key).await?;
                }
                let failed_attempts = if lapsed { 0 } else { stored };
                Ok(Claim::Acquired { failed_attempts })
            }
            Err(e) if is_conditional_failure(&e) => {
                let existing = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key(PK, s(key))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(unavailable("idempotency read"))?
                    .item
                    .unwrap_or_default();
                if let (Some(expected), Some(stored)) =
                    (fingerprint, get_s(&existing, "fingerprint"))
                    && expected != stored
                {
                    return Err(Error::Unprocessable(
                        "this Idempotency-Key was used with a different request",
                    ));
                }
                let retry_at_ms = get_n(&existing, RETRY_AT_MS).unwrap_or(0);
                Ok(match get_s(&existing, "status").as_deref() {
                    Some(COMPLETED) => Claim::Completed(get_s(&existing, "result")),
                    Some(FAILED) if retry_at_ms > crate::now_ms() + RETRY_SLACK_MS => {
                        Claim::NotYet(Duration::from_millis(
                            (retry_at_ms - crate::now_ms()) as u64,
                        ))
                    }
                    _ => Claim::InProgress,
                })
            }
            Err(e) => Err(unavailable("idempotency claim")(e)),
        }
    }

    async fn complete(
        &self,
        key: &str,
        result: Option<&str>,
        keep_for: Duration,
    ) -> Result<(), Error> {
        let now = crate::now();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key))
            .update_expression(
                "SET #status = :completed, expires_at = :ttl REMOVE in_progress_until, failed_attempts, retry_at_ms",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":ttl", n(now + keep_for.as_secs() as i64));
        if let Some(result) = result {
            update = update
                .update_expression("SET #status = :completed, expires_at = :ttl, #result = :result REMOVE in_progress_until, failed_attempts, retry_at_ms")
                .expression_attribute_names("#result", "result")
                .expression_attribute_values(":result", s(result));
        }
        update
            .send()
            .await
            .map_err(unavailable("idempotency complete"))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), Error> {
        self.give_up(key, None).await
    }

    async fn fail(
        &self,
        key: &str,
        retry_after: Duration,
        keep_for: Duration,
    ) -> Result<(), Error> {
        self.give_up(key, Some((retry_after, keep_for))).await
    }
}

impl DynamoIdempotency {
    async fn reset_attempts(&self, key: &str) -> Result<(), Error> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key))
            .update_expression(format!("REMOVE {FAILED_ATTEMPTS}, {RETRY_AT_MS}"))
            .send()
            .await
            .map_err(unavailable("idempotency reset"))?;
        Ok(())
    }

    /// IN_PROGRESS -> FAILED, so the next claim succeeds at once; with `counted` (retry after,
    /// keep for), one more failed attempt is added, claims before the retry is due are told
    /// to wait, and the record is kept that long.
    async fn give_up(&self, key: &str, counted: Option<(Duration, Duration)>) -> Result<(), Error> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key))
            .update_expression("SET #status = :failed REMOVE in_progress_until")
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":failed", s(FAILED));
        if let Some((retry_after, keep_for)) = counted {
            update = update
                .update_expression(format!(
                    "SET #status = :failed, expires_at = :ttl, {RETRY_AT_MS} = :retry_at ADD {FAILED_ATTEMPTS} :one REMOVE in_progress_until"
                ))
                .expression_attribute_values(":ttl", n(crate::now() + keep_for.as_secs() as i64))
                .expression_attribute_values(
                    ":retry_at",
                    n(crate::now_ms() + retry_after.as_millis() as i64),
                )
                .expression_attribute_values(":one", n(1));
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("idempotency release")(e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tenants

#[derive(Clone, Debug)]
pub struct DynamoTenants {
    client: Client,
    table: String,
}

/// The tenant attribute that lists ids of this kind, for those the tenant record lists.
fn listed_on_tenant(kind: OwnerKind) -> Option<&'static str> {
    match kind {
        OwnerKind::Phone => Some("phone_number_ids"),
        OwnerKind::ApiKey => Some("api_key_hashes"),
        _ => None,
    }
}

fn owner_key(kind: OwnerKind, id: &str) -> String {
    format!("{}#{id}", kind.prefix())
}

fn tenant_key(id: &TenantId) -> String {
    format!("TENANT#{}", id.as_str())
}

/// What `add_owner` refuses: the id already belongs to a tenant.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    #[error("{kind} {id} already belongs to a tenant")]
    Taken { kind: &'static str, id: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl DynamoTenants {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTenants {
            client,
            table: table.into(),
        }
    }

    async fn owner_by_key(&self, key: String) -> Result<Option<TenantId>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(key))
            .send()
            .await
            .map_err(unavailable("tenant lookup"))?;
        // TTL sweeps lazily: an expired mapping (a rotated-out API key) is already gone.
        let now = crate::now();
        Ok(out
            .item
            .filter(|item| get_n(item, TTL_ATTRIBUTE).is_none_or(|at| at > now))
            .and_then(|item| get_s(&item, "tenant_id"))
            .map(TenantId))
    }

    /// Writes a tenant's own fields (create or update); the lists of its phone numbers and API
    /// keys are kept by `add_owner` and `remove_owner`.
    pub async fn put_tenant(&self, tenant: &Tenant) -> anyhow::Result<()> {
        let secrets = tenant
            .webhook_secrets
            .iter()
            .map(|ws| {
                let mut m = HashMap::from([("secret".to_owned(), s(ws.secret.expose()))]);
                if let Some(at) = ws.expires_at {
                    m.insert("expires_at".to_owned(), n(at));
                }
                AttributeValue::M(m)
            })
            .collect();
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(tenant_key(&tenant.id)))
            .update_expression(
                "SET tenant_id = :id, #name = :name, webhook_url = :url, webhook_secrets = :secrets, \
                 #format = :format, callback_domains = :domains, active = :active",
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#format", "format")
            .expression_attribute_values(":id", s(tenant.id.as_str()))
            .expression_attribute_values(":name", s(&tenant.name))
            .expression_attribute_values(":url", s(&tenant.webhook_url))
            .expression_attribute_values(":secrets", AttributeValue::L(secrets))
            .expression_attribute_values(":format", s(tenant.format.as_str()))
            .expression_attribute_values(
                ":domains",
                AttributeValue::L(tenant.callback_domains.iter().map(s).collect()),
            )
            .expression_attribute_values(":active", AttributeValue::Bool(tenant.active))
            .send()
            .await
            .context("writing tenant")?;
        Ok(())
    }

    /// Every tenant (an operator's listing: a scan, not for request paths).
    pub async fn list_tenants(&self) -> anyhow::Result<Vec<Tenant>> {
        let mut tenants = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", s("TENANT#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .context("listing tenants")?;
            tenants.extend(out.items().iter().filter_map(tenant_from_item));
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        tenants.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.0.cmp(&b.id.0)));
        Ok(tenants)
    }

    /// The SHA-256 hashes of the tenant's API keys.
    pub async fn api_key_hashes(&self, tenant: &TenantId) -> anyhow::Result<Vec<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(tenant_key(tenant)))
            .consistent_read(true)
            .send()
            .await
            .context("reading tenant")?;
        Ok(out
            .item
            .and_then(|item| {
                item.get("api_key_hashes")
                    .and_then(|v| v.as_ss().ok())
                    .cloned()
            })
            .unwrap_or_default())
    }

    /// Makes a mapping (a rotated-out API key) stop working at `at`, and vanish by TTL.
    pub async fn expire_owner(&self, kind: OwnerKind, id: &str, at: i64) -> anyhow::Result<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(owner_key(kind, id)))
            .update_expression("SET expires_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at > :at)",
            )
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        match out {
            // Already expiring sooner, or gone: nothing to do.
            Err(e) if !is_conditional_failure(&e) => {
                Err(anyhow::Error::new(e).context(format!("expiring {} {id}", kind.prefix())))
            }
            _ => Ok(()),
        }
    }

    /// Assigns `id` to `tenant`; an id that already has an owner is refused. A phone number is
    /// also listed on the tenant's record.
    pub async fn add_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> Result<(), OwnershipError> {
        let put = Put::builder()
            .table_name(&self.table)
            .item(PK, s(owner_key(kind, id)))
            .item("tenant_id", s(tenant.as_str()))
            .item("created_at", n(crate::now()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .context("building the ownership put")?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.list_update(kind, tenant, id, "ADD")?);
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(Transact::ConditionFailed) => Err(OwnershipError::Taken {
                kind: kind.prefix(),
                id: id.to_owned(),
            }),
            Err(Transact::Failed(e)) => {
                Err(e.context(format!("adding {} {id}", kind.prefix())).into())
            }
        }
    }

    /// The update that keeps a list on the tenant record in step with its `PHONE#`/`KEY#`
    /// keys, written in the same transaction as the key; `action` is `ADD` or `DELETE`.
    fn list_update(
        &self,
        kind: OwnerKind,
        tenant: &TenantId,
        id: &str,
        action: &str,
    ) -> anyhow::Result<Option<TransactWriteItem>> {
        let Some(list) = listed_on_tenant(kind) else {
            return Ok(None);
        };
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(tenant_key(tenant)))
            .update_expression(format!("{action} {list} :p"))
            .expression_attribute_values(":p", AttributeValue::Ss(vec![id.to_owned()]))
            .build()
            .context("building the tenant list update")?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }

    /// Both writes or neither: a phone number's key and the tenant's list never disagree.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), Transact> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let condition_failed = e
                    .as_service_error()
                    .and_then(|se| match se {
                        TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                        _ => None,
                    })
                    .is_some_and(|c| {
                        c.cancellation_reasons()
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"))
                    });
                match condition_failed {
                    true => Err(Transact::ConditionFailed),
                    false => Err(Transact::Failed(anyhow::Error::new(e))),
                }
            }
        }
    }

    /// Removes `id` from `tenant`; `Ok(false)` when it is not the tenant's.
    pub async fn remove_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> anyhow::Result<bool> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(owner_key(kind, id)))
            .condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", s(tenant.as_str()))
            .build()
            .context("building the ownership delete")?;
        let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
        items.extend(self.list_update(kind, tenant, id, "DELETE")?);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(Transact::ConditionFailed) => Ok(false),
            Err(Transact::Failed(e)) => Err(e.context(format!("removing {} {id}", kind.prefix()))),
        }
    }
}

/// How a transaction ended when it did not commit.
enum Transact {
    /// A condition of one of its writes did not hold: nothing was written.
    ConditionFailed,
    Failed(anyhow::Error),
}

fn tenant_from_item(item: &Item) -> Option<Tenant> {
    let secrets = item
        .get("webhook_secrets")
        .and_then(|v| v.as_l().ok())
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_m().ok())
                .filter_map(|m| {
                    Some(WebhookSecret {
                        secret: Secret::new(get_s(m, "secret")?),
                        expires_at: get_n(m, "expires_at"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Tenant {
        id: TenantId(get_s(item, "tenant_id")?),
        name: get_s(item, "name").unwrap_or_default(),
        webhook_url: get_s(item, "webhook_url")?,
        webhook_secrets: secrets,
        format: get_s(item, "format")
            .and_then(|f| f.parse().ok())
            .unwrap_or(DeliveryFormat::Meta),
        callback_domains: item
            .get("callback_domains")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        phone_number_ids: item
            .get("phone_number_ids")
            .and_then(|v| v.as_ss().ok())
            .map(|ids| {
                let mut ids = ids.clone();
                ids.sort();
                ids
            })
            .unwrap_or_default(),
        active: item
            .get("active")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(true),
    })
}

impl TenantDirectory for DynamoTenants {
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(tenant_key(id)))
            .send()
            .await
            .map_err(unavailable("tenant read"))?;
        Ok(out.item.as_ref().and_then(tenant_from_item))
    }

    async fn owner(&self, kind: OwnerKind, id: &str) -> Result<Option<TenantId>, Error> {
        self.owner_by_key(owner_key(kind, id)).await
    }

    async fn record_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> Result<bool, Error> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(owner_key(kind, id)))
            .item("tenant_id", s(tenant.as_str()))
            .item("created_at", n(crate::now()))
            .condition_expression("attribute_not_exists(pk) OR tenant_id = :t")
            .expression_attribute_values(":t", s(tenant.as_str()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("ownership record")(e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Messages

/// Message records live 30 days.
pub const MESSAGE_TTL_SECS: i64 = 30 * 86_400;

#[derive(Clone, Debug)]
pub struct DynamoMessages {
    client: Client,
    table: String,
}

impl DynamoMessages {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoMessages {
            client,
            table: table.into(),
        }
    }
}

fn record_from_item(item: &Item) -> Option<MessageRecord> {
    Some(MessageRecord {
        wamid: get_s(item, WAMID)?,
        tenant_id: TenantId(get_s(item, "tenant_id")?),
        phone_number_id: get_s(item, "phone_number_id").unwrap_or_default(),
        recipient: get_s(item, "recipient").unwrap_or_default(),
        callback_url: get_s(item, "callback_url"),
        created_at: get_n(item, "created_at").unwrap_or_default(),
        last_status: get_s(item, "last_status"),
        statuses: item
            .get("statuses")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

impl MessageStore for DynamoMessages {
    async fn put(&self, record: &MessageRecord) -> Result<(), Error> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(WAMID, s(&record.wamid))
            .item("tenant_id", s(record.tenant_id.as_str()))
            .item("phone_number_id", s(&record.phone_number_id))
            .item("recipient", s(&record.recipient))
            .item("created_at", n(record.created_at))
            .item("statuses", AttributeValue::M(HashMap::new()))
            .item(TTL_ATTRIBUTE, n(record.created_at + MESSAGE_TTL_SECS));
        if let Some(url) = &record.callback_url {
            put = put.item("callback_url", s(url));
        }
        put.send().await.map_err(unavailable("message write"))?;
        Ok(())
    }

    async fn get(&self, wamid: &str) -> Result<Option<MessageRecord>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(WAMID, s(wamid))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("message read"))?;
        Ok(out.item.as_ref().and_then(record_from_item))
    }

    async fn record_status(
        &self,
        wamid: &str,
        status: &str,
        timestamp: i64,
    ) -> Result<Option<MessageRecord>, Error> {
        let first_report = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(WAMID, s(wamid))
            .update_expression("SET statuses.#s = if_not_exists(statuses.#s, :at)")
            .condition_expression("attribute_exists(wamid)")
            .expression_attribute_names("#s", status)
            .expression_attribute_values(":at", n(timestamp))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let mut record = match first_report {
            Ok(out) => match out.attributes.as_ref().and_then(record_from_item) {
                Some(r) => r,
                None => return Ok(None),
            },
            // The gateway did not send this message: nothing to update.
            Err(e) if is_conditional_failure(&e) => return Ok(None),
            Err(e) => return Err(unavailable("message status update")(e)),
        };
        let rank = status_rank(status);
        let current = record.last_status.as_deref().map(status_rank).unwrap_or(0);
        if rank > current {
            let forward = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(WAMID, s(wamid))
                .update_expression("SET last_status = :s, last_status_rank = :r")
                .condition_expression(
                    "attribute_not_exists(last_status_rank) OR last_status_rank < :r",
                )
                .expression_attribute_values(":s", s(status))
                .expression_attribute_values(":r", n(i64::from(rank)))
                .send()
                .await;
            match forward {
                Ok(_) => record.last_status = Some(status.to_owned()),
                // A later status landed first: the record stays where it is.
                Err(e) if is_conditional_failure(&e) => {}
                Err(e) => return Err(unavailable("message status update")(e)),
            }
        }
        Ok(Some(record))
    }
}
