//! Endpoint health on the Tenants table: one `HEALTH#<tenant>#<hash>` item per endpoint that
//! has failed, shared by every forwarder. The hash is of the endpoint's name
//! (`gateway_core::endpoint_health::Endpoint::name`): a configured URL as it is, or `host <origin>` for
//! every callback URL on one scheme, host and port. Reads are eventually consistent and a warm
//! function keeps what it read for a second (`KEPT_FOR`): a breaker seen a moment late costs
//! one more call, never a lost event, and a busy endpoint costs one read a second, not one
//! per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use gateway_core::Error;
use gateway_core::endpoint_health::{EndpointHealth, Failure, Health, destination_key};
use gateway_core::tenant::TenantId;

use super::*;

const KEPT_FOR: Duration = Duration::from_secs(1);
/// An endpoint's state outlives its last failure or success by this long, then expires.
const KEPT_DAYS: i64 = 30;
/// Endpoints kept at most; past this the expired ones are dropped, and if none has expired,
/// all of them.
const MAX_KEPT: usize = 10_000;

#[derive(Clone, Debug)]
pub struct DynamoHealth {
    client: Client,
    table: String,
    kept: Arc<Mutex<HashMap<String, (Instant, Health)>>>,
}

impl DynamoHealth {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoHealth {
            client,
            table: table.into(),
            kept: Arc::default(),
        }
    }

    fn keep(&self, key: &str, health: Option<&Health>) {
        let mut kept = self.kept.lock().expect("never poisoned");
        match health {
            Some(h) => {
                if kept.len() >= MAX_KEPT {
                    kept.retain(|_, (at, _)| at.elapsed() < KEPT_FOR);
                    if kept.len() >= MAX_KEPT {
                        kept.clear();
                    }
                }
                kept.insert(key.to_owned(), (Instant::now(), h.clone()));
            }
            None => {
                kept.remove(key);
            }
        }
    }

    fn kept(&self, key: &str) -> Option<Health> {
        let kept = self.kept.lock().expect("never poisoned");
        kept.get(key)
            .filter(|(at, _)| at.elapsed() < KEPT_FOR)
            .map(|(_, h)| h.clone())
    }
}

fn health_from(item: &Item) -> Health {
    Health {
        failure_streak: get_n(item, "failure_streak").unwrap_or(0).max(0) as u32,
        open_until_ms: get_n(item, "open_until_ms"),
        last_error: get_s(item, "last_error"),
        last_status: get_n(item, "last_status").and_then(|s| u16::try_from(s).ok()),
        last_failure_at_ms: get_n(item, "last_failure_at_ms"),
        last_success_at_ms: get_n(item, "last_success_at_ms"),
    }
}

impl EndpointHealth for DynamoHealth {
    async fn health(&self, tenant: &TenantId, name: &str) -> Result<Health, Error> {
        let key = destination_key(tenant, name);
        if let Some(health) = self.kept(&key) {
            return Ok(health);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(&key))
            .send()
            .await
            .map_err(unavailable("endpoint health read"))?;
        let health = out.item.as_ref().map(health_from).unwrap_or_default();
        self.keep(&key, Some(&health));
        Ok(health)
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        name: &str,
        failure: &Failure,
    ) -> Result<Health, Error> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(destination_key(tenant, name)))
            .update_expression(
                "SET last_error = :error, last_failure_at_ms = :at, tenant_id = :tenant, expires_at = :ttl ADD failure_streak :one REMOVE last_status",
            )
            .expression_attribute_values(":error", s(failure.error.chars().take(300).collect::<String>()))
            .expression_attribute_values(":at", n(failure.at_ms))
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(crate::now() + KEPT_DAYS * 86_400))
            .return_values(ReturnValue::AllNew);
        if let Some(status) = failure.status {
            update = update
                .update_expression(
                    "SET last_error = :error, last_failure_at_ms = :at, tenant_id = :tenant, expires_at = :ttl, last_status = :status ADD failure_streak :one",
                )
                .expression_attribute_values(":status", n(i64::from(status)));
        }
        let out = update
            .send()
            .await
            .map_err(unavailable("endpoint health write"))?;
        let health = out.attributes.as_ref().map(health_from).unwrap_or_default();
        self.keep(&destination_key(tenant, name), Some(&health));
        Ok(health)
    }

    async fn open(&self, tenant: &TenantId, name: &str, until_ms: i64) -> Result<(), Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(destination_key(tenant, name)))
            .update_expression("SET open_until_ms = :until")
            // Another worker opened it first (or a probe holds it): theirs stands.
            .condition_expression("attribute_not_exists(open_until_ms)")
            .expression_attribute_values(":until", n(until_ms))
            .send()
            .await;
        // Forgotten after the write, so a read racing it cannot keep the old state.
        self.keep(&destination_key(tenant, name), None);
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("endpoint health open")(e)),
        }
    }

    async fn take_probe(
        &self,
        tenant: &TenantId,
        name: &str,
        seen_until_ms: i64,
        until_ms: i64,
    ) -> Result<bool, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(destination_key(tenant, name)))
            .update_expression("SET open_until_ms = :until")
            .condition_expression("open_until_ms = :seen")
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":seen", n(seen_until_ms))
            .send()
            .await;
        self.keep(&destination_key(tenant, name), None);
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("endpoint health probe")(e)),
        }
    }

    async fn record_success(&self, tenant: &TenantId, name: &str, at_ms: i64) -> Result<(), Error> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(destination_key(tenant, name)))
            .update_expression(
                "SET failure_streak = :zero, last_success_at_ms = :at, expires_at = :ttl REMOVE open_until_ms",
            )
            .expression_attribute_values(":ttl", n(crate::now() + KEPT_DAYS * 86_400))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":at", n(at_ms))
            .send()
            .await
            .map_err(unavailable("endpoint health write"))?;
        self.keep(&destination_key(tenant, name), None);
        Ok(())
    }
}
