//! The Tenants table: tenant records and the owner keys (`PHONE#`, `WABA#`, `KEY#`...).

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use gateway_core::Error;
use gateway_core::admin::{OwnershipError, TenantWriter};
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::{OwnerKind, TenantDirectory};
use gateway_core::signature::Secret;
use gateway_core::tenant::{Tenant, TenantId, WebhookSecret};

use super::*;

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
            .map(TenantId::new))
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
        tenants.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.as_str().cmp(b.id.as_str())));
        Ok(tenants)
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
        id: TenantId::new(get_s(item, "tenant_id")?),
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
        destinations: get_s(item, "destinations")
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default(),
    })
}

impl TenantWriter for DynamoTenants {
    /// Writes a tenant's own fields (create or update); the lists of its phone numbers and API
    /// keys are kept by `add_owner` and `remove_owner`.
    async fn put_tenant(&self, tenant: &Tenant) -> anyhow::Result<()> {
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
                 #format = :format, callback_domains = :domains, active = :active, \
                 destinations = :destinations",
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
            .expression_attribute_values(
                ":destinations",
                s(serde_json::to_string(&tenant.destinations).context("destinations")?),
            )
            .send()
            .await
            .context("writing tenant")?;
        Ok(())
    }

    /// The SHA-256 hashes of the tenant's API keys.
    async fn api_key_hashes(&self, tenant: &TenantId) -> anyhow::Result<Vec<String>> {
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
    async fn expire_owner(&self, kind: OwnerKind, id: &str, at: i64) -> anyhow::Result<()> {
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
    async fn add_owner(
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

    /// Removes `id` from `tenant`; `Ok(false)` when it is not the tenant's.
    async fn remove_owner(
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
