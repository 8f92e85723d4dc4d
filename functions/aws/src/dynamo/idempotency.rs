//! The Idempotency table: delivery claims, completions and failed attempts per event.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use gateway_core::Error;
use gateway_core::ports::{Claim, IdempotencyStore};

use super::*;

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

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }
}

pub(super) const IN_PROGRESS: &str = "IN_PROGRESS";
pub(super) const COMPLETED: &str = "COMPLETED";
pub(super) const FAILED: &str = "FAILED";
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
        now_ms: i64,
    ) -> Result<Claim, Error> {
        let now = now_ms / 1000;
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
            .expression_attribute_values(":now_ms", n(now_ms + RETRY_SLACK_MS))
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
                    Some(FAILED) if retry_at_ms > now_ms + RETRY_SLACK_MS => {
                        Claim::NotYet(Duration::from_millis((retry_at_ms - now_ms) as u64))
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
        now_ms: i64,
    ) -> Result<(), Error> {
        self.give_up(key, Some((retry_after, keep_for, now_ms)))
            .await
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
    /// keep for, when it failed), one more failed attempt is added, claims before the retry is
    /// due are told to wait, and the record is kept that long.
    async fn give_up(
        &self,
        key: &str,
        counted: Option<(Duration, Duration, i64)>,
    ) -> Result<(), Error> {
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
        if let Some((retry_after, keep_for, now_ms)) = counted {
            update = update
                .update_expression(format!(
                    "SET #status = :failed, expires_at = :ttl, {RETRY_AT_MS} = :retry_at ADD {FAILED_ATTEMPTS} :one REMOVE in_progress_until"
                ))
                .expression_attribute_values(":ttl", n(now_ms / 1000 + keep_for.as_secs() as i64))
                .expression_attribute_values(
                    ":retry_at",
                    n(now_ms + retry_after.as_millis() as i64),
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
