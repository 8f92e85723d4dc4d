//! The conditional updates the delivery log writes: an attempt delivered or failed (ending a
//! replay hold when the attempted copy carries its mark), a reopen for replay, the end of a
//! hold, and one more call counted in a rate window.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::deliveries::{AttemptNote, DeliveryState, REPLAY_HOLD_MS, event_key};
use gateway_core::meta::EventId;
use gateway_core::tenant::TenantId;

use super::attributes::{REOPENED_AT_MS, REPLAY_MARK, attempt_value, note_values, tenant_state};
use super::{STATE_AT_MS, TENANT_STATE};
use crate::dynamo::idempotency;
use crate::dynamo::{PK, TTL_ATTRIBUTE, n, s};

/// A rate window's count outlives its minute with room to spare (the TTL sweep lags anyway).
const CALLS_KEPT_SECS: i64 = 600;

pub(super) type Update =
    aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

fn with_values(mut update: Update, values: Vec<(&'static str, AttributeValue)>) -> Update {
    for (name, value) in values {
        update = update.expression_attribute_values(name, value);
    }
    update
}

/// What the write of an attempt removes besides the claim: the replay hold too when the copy
/// attempted carries `mark` (the write is then conditional on the hold waiting for `mark`).
fn hold_end(mark: Option<&str>) -> String {
    match mark {
        Some(_) => format!(", {REOPENED_AT_MS}, {REPLAY_MARK}"),
        None => String::new(),
    }
}

pub(super) fn delivered_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &EventId,
    note: &AttemptNote,
    mark: Option<&str>,
    keep_for: Duration,
) -> Update {
    let (set, values) = note_values(note, DeliveryState::Delivered, id);
    let remove_hold = hold_end(mark);
    let mut update = client
        .update_item()
        .table_name(table)
        .key(PK, s(event_key(id)))
        .update_expression(format!(
            "SET #status = :completed, expires_at = :ttl, delivered = :attempt, {set} REMOVE in_progress_until, failed_attempts, retry_at_ms{remove_hold}"
        ))
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#format", "format")
        .expression_attribute_names("#field", "field")
        .expression_attribute_values(":completed", s(idempotency::COMPLETED))
        .expression_attribute_values(":attempt", attempt_value(&note.attempt))
        .expression_attribute_values(":ttl", n(crate::now() + keep_for.as_secs() as i64));
    if let Some(mark) = mark {
        update = update
            .condition_expression(format!("{REPLAY_MARK} = :mark"))
            .expression_attribute_values(":mark", s(mark));
    }
    with_values(update, values)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn failed_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &EventId,
    note: &AttemptNote,
    mark: Option<&str>,
    state: DeliveryState,
    retry_after: Duration,
    keep_for: Duration,
) -> Update {
    let (set, values) = note_values(note, state, id);
    let remove_hold = hold_end(mark);
    let condition = match mark {
        Some(_) => format!("#status = :in_progress AND {REPLAY_MARK} = :mark"),
        None => "#status = :in_progress".to_owned(),
    };
    let mut update = client
        .update_item()
        .table_name(table)
        .key(PK, s(event_key(id)))
        .update_expression(format!(
            "SET #status = :failed, expires_at = :ttl, retry_at_ms = :retry_at, attempts = list_append(if_not_exists(attempts, :none), :attempts), {set} ADD failed_attempts :one REMOVE in_progress_until{remove_hold}"
        ))
        .condition_expression(condition)
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#format", "format")
        .expression_attribute_names("#field", "field")
        .expression_attribute_values(":in_progress", s(idempotency::IN_PROGRESS))
        .expression_attribute_values(":failed", s(idempotency::FAILED))
        .expression_attribute_values(":ttl", n(crate::now() + keep_for.as_secs() as i64))
        .expression_attribute_values(
            ":retry_at",
            n(crate::now_ms() + retry_after.as_millis() as i64),
        )
        .expression_attribute_values(":none", AttributeValue::L(vec![]))
        .expression_attribute_values(
            ":attempts",
            AttributeValue::L(vec![attempt_value(&note.attempt)]),
        )
        .expression_attribute_values(":one", n(1));
    if let Some(mark) = mark {
        update = update.expression_attribute_values(":mark", s(mark));
    }
    with_values(update, values)
}

/// Reopens the tenant's event when no copy of it is queued (see `deliveries::held`), in one
/// conditional write: `failed` or `delivered` (as `states` allow) without a live hold, or
/// `pending` (if allowed) with a stale one, its replay copy never having come; and never
/// while a delivery holds its claim. `states` is never empty.
#[allow(clippy::too_many_arguments)]
pub(super) fn reopen_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &EventId,
    tenant: &TenantId,
    states: &[DeliveryState],
    mark: &str,
    now_ms: i64,
    keep_for: Duration,
) -> Update {
    let settled: Vec<DeliveryState> = states
        .iter()
        .copied()
        .filter(|state| *state != DeliveryState::Pending)
        .collect();
    let names: Vec<String> = (0..settled.len()).map(|i| format!(":st{i}")).collect();
    let mut ways = Vec::new();
    if !settled.is_empty() {
        ways.push(format!(
            "({TENANT_STATE} IN ({}) AND (attribute_not_exists({REOPENED_AT_MS}) OR {REOPENED_AT_MS} < :stale))",
            names.join(", ")
        ));
    }
    if states.contains(&DeliveryState::Pending) {
        ways.push(format!(
            "({TENANT_STATE} = :pending AND attribute_exists({REOPENED_AT_MS}) AND {REOPENED_AT_MS} < :stale)"
        ));
    }
    let update = client
        .update_item()
        .table_name(table)
        .key(PK, s(event_key(id)))
        .update_expression(format!(
            "SET #status = :failed, retry_at_ms = :zero, failed_attempts = :zero, {TENANT_STATE} = :pending, {STATE_AT_MS} = :now_ms, {REOPENED_AT_MS} = :now_ms, {REPLAY_MARK} = :mark, expires_at = :ttl"
        ))
        .condition_expression(format!(
            "tenant_id = :tenant AND (#status <> :in_progress OR in_progress_until < :now) AND ({})",
            ways.join(" OR ")
        ))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":failed", s(idempotency::FAILED))
        .expression_attribute_values(":in_progress", s(idempotency::IN_PROGRESS))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":pending", s(tenant_state(tenant, DeliveryState::Pending)))
        .expression_attribute_values(":now_ms", n(now_ms))
        .expression_attribute_values(":stale", n(now_ms - REPLAY_HOLD_MS))
        .expression_attribute_values(":mark", s(mark))
        .expression_attribute_values(":now", n(crate::now()))
        .expression_attribute_values(":ttl", n(crate::now() + keep_for.as_secs() as i64))
        .expression_attribute_values(":tenant", s(tenant.as_str()));
    names
        .iter()
        .zip(&settled)
        .fold(update, |update, (name, state)| {
            update.expression_attribute_values(name, s(tenant_state(tenant, *state)))
        })
}

/// Ends the replay hold if it still waits for the copy carrying `mark`.
pub(super) fn replay_done_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &EventId,
    mark: &str,
) -> Update {
    client
        .update_item()
        .table_name(table)
        .key(PK, s(event_key(id)))
        .update_expression(format!("REMOVE {REOPENED_AT_MS}, {REPLAY_MARK}"))
        .condition_expression(format!("{REPLAY_MARK} = :mark"))
        .expression_attribute_values(":mark", s(mark))
}

/// One more call in a rate window, unless `limit` are counted there already.
pub(super) fn count_call_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
    limit: u32,
) -> Update {
    client
        .update_item()
        .table_name(table)
        .key(PK, s(key))
        .update_expression(format!("SET {TTL_ATTRIBUTE} = :ttl ADD #calls :one"))
        .condition_expression("attribute_not_exists(#calls) OR #calls < :limit")
        .expression_attribute_names("#calls", "calls")
        .expression_attribute_values(":ttl", n(crate::now() + CALLS_KEPT_SECS))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":limit", n(i64::from(limit)))
}
