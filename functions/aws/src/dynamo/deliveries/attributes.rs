//! How a delivery record maps onto Idempotency table items: the keys of its items, the
//! attributes of an attempt, and a record read back from its item.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::deliveries::{Attempt, AttemptNote, DeliveryState, EventRecord, REPLAY_HOLD_MS};
use gateway_core::meta::EventId;
use gateway_core::tenant::TenantId;

use super::{STATE_AT_MS, TENANT_STATE};
use crate::dynamo::{Item, PK, get_n, get_s, n, s};

pub(super) fn tenant_state(tenant: &TenantId, state: DeliveryState) -> String {
    format!("{}#{}", tenant.as_str(), state.as_str())
}

pub(super) fn payload_key(id: &EventId) -> String {
    format!("PAYLOAD#{}", id.as_str())
}

pub(super) fn calls_key(tenant: &TenantId, kind: &str, window_start_ms: i64) -> String {
    format!("CALLS#{}#{kind}#{window_start_ms}", tenant.as_str())
}

/// When the replay or recovery whose copy is not attempted yet was queued, and its mark.
pub(super) const REOPENED_AT_MS: &str = "reopened_at_ms";
pub(super) const REPLAY_MARK: &str = "replay_mark";

pub(super) fn attempt_value(a: &Attempt) -> AttributeValue {
    let mut m = HashMap::from([
        ("at_ms".to_owned(), n(a.at_ms)),
        ("latency_ms".to_owned(), n(a.latency_ms as i64)),
    ]);
    if let Some(status) = a.status {
        m.insert("status".to_owned(), n(i64::from(status)));
    }
    if let Some(error) = &a.error {
        // Reasons are short; a long one (a TLS chain) is cut, never the record.
        m.insert(
            "error".to_owned(),
            s(error.chars().take(300).collect::<String>()),
        );
    }
    if let Some(at) = a.next_retry_at_ms {
        m.insert("next_retry_at_ms".to_owned(), n(at));
    }
    AttributeValue::M(m)
}

fn attempt_from(v: &AttributeValue) -> Option<Attempt> {
    let m = v.as_m().ok()?;
    Some(Attempt {
        at_ms: get_n(m, "at_ms")?,
        status: get_n(m, "status").and_then(|s| u16::try_from(s).ok()),
        error: get_s(m, "error"),
        latency_ms: get_n(m, "latency_ms").unwrap_or(0).max(0) as u64,
        next_retry_at_ms: get_n(m, "next_retry_at_ms"),
    })
}

pub(super) fn record_from(item: &Item) -> Option<EventRecord> {
    let (tenant, state) = get_s(item, TENANT_STATE)?
        .rsplit_once('#')
        .map(|(t, s)| (t.to_owned(), s.to_owned()))?;
    let event_id = get_s(item, PK)?.strip_prefix("EVENT#")?.to_owned();
    Some(EventRecord {
        event_id,
        tenant_id: TenantId::new(tenant),
        status: DeliveryState::parse(&state)?,
        field: get_s(item, "field").unwrap_or_default(),
        phone_number_id: get_s(item, "phone_number_id"),
        destination: get_s(item, "destination").unwrap_or_default(),
        format: get_s(item, "format").unwrap_or_default(),
        updated_at_ms: get_n(item, STATE_AT_MS).unwrap_or_default(),
        attempts: item
            .get("attempts")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(attempt_from).collect())
            .unwrap_or_default(),
        delivered: item.get("delivered").and_then(attempt_from),
        replay_queued: get_n(item, REOPENED_AT_MS)
            .is_some_and(|at| at > crate::now_ms() - REPLAY_HOLD_MS),
        reopened_at_ms: get_n(item, REOPENED_AT_MS),
        replay_mark: get_s(item, REPLAY_MARK),
    })
}

/// The attributes every recorded attempt sets, as `SET` clauses and their values.
pub(super) fn note_values(
    note: &AttemptNote,
    state: DeliveryState,
    id: &EventId,
) -> (String, Vec<(&'static str, AttributeValue)>) {
    let mut values = vec![
        (":ts", s(tenant_state(&note.tenant_id, state))),
        (":at", n(note.attempt.at_ms)),
        (":tenant", s(note.tenant_id.as_str())),
        (":dest", s(&note.destination)),
        (":fmt", s(note.format)),
        (":field", s(&note.field)),
        (":event_id", s(id.as_str())),
    ];
    let mut set = format!(
        "{TENANT_STATE} = :ts, {STATE_AT_MS} = :at, tenant_id = :tenant, destination = :dest, #format = :fmt, #field = :field, event_id = :event_id"
    );
    if let Some(phone) = &note.phone_number_id {
        set.push_str(", phone_number_id = :phone");
        values.push((":phone", s(phone)));
    }
    (set, values)
}
