//! Listing and reading a tenant's events (`GET /v1/events`, `GET /v1/events/{event_id}`):
//! the query and its checks, the times and ids a tenant writes, and the JSON of a record.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::DeliveriesService;
use crate::Error;
use crate::deliveries::{Attempt, DeliveryLog, DeliveryState, EventRecord, Requeue};
use crate::endpoint_health::EndpointHealth;
use crate::http::ApiResponse;
use crate::meta::EventId;
use crate::query::Query;
use crate::tenant::Tenant;

/// Events per page by default, and at most.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
/// How far back the log reaches: its records live 14 days.
const LOG_DAYS_MS: i64 = 14 * 86_400_000;

/// `GET /v1/events`' query, checked field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsQuery {
    pub status: DeliveryState,
    pub since_ms: i64,
    pub until_ms: i64,
    pub limit: usize,
    pub cursor: Option<String>,
}

pub(crate) fn rfc3339(ms: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

pub(super) fn parse_time(field: &str, value: &str) -> Result<i64, Error> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            Error::invalid(
                "invalid_field",
                field,
                format!("`{field}` must be an RFC 3339 time such as 2026-12-01T10:00:00Z"),
            )
        })
}

/// A window whose end is before its start names `until`.
pub(super) fn check_window(since_ms: i64, until_ms: i64) -> Result<(), Error> {
    match until_ms < since_ms {
        true => Err(Error::invalid(
            "invalid_field",
            "until",
            "`until` is before `since`",
        )),
        false => Ok(()),
    }
}

impl EventsQuery {
    pub fn parse(raw: Option<&str>, now_ms: i64) -> Result<Self, Error> {
        let query = Query::parse(raw);
        let status = match query.get("status") {
            Some(s) => DeliveryState::parse(s).ok_or_else(|| {
                Error::invalid(
                    "invalid_field",
                    "status",
                    "`status` must be `failed`, `pending` or `delivered`",
                )
            })?,
            None => {
                return Err(Error::invalid(
                    "missing_field",
                    "status",
                    "`status` is required: `failed`, `pending` or `delivered`",
                ));
            }
        };
        let since_ms = match query.get("since") {
            Some(v) => parse_time("since", v)?,
            None => now_ms - LOG_DAYS_MS,
        };
        let until_ms = match query.get("until") {
            Some(v) => parse_time("until", v)?,
            None => now_ms,
        };
        check_window(since_ms, until_ms)?;
        let limit = match query.get("limit") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Error::invalid(
                        "invalid_field",
                        "limit",
                        format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
            None => DEFAULT_LIMIT,
        };
        Ok(EventsQuery {
            status,
            since_ms,
            until_ms,
            limit,
            cursor: query.get("cursor").map(str::to_owned),
        })
    }
}

fn attempt_json(a: &Attempt) -> Value {
    json!({
        "at": rfc3339(a.at_ms),
        "status": a.status,
        "error": a.error,
        "latency_ms": a.latency_ms,
        "next_retry_at": a.next_retry_at_ms.map(rfc3339),
    })
}

pub fn event_json(r: &EventRecord) -> Value {
    json!({
        "event_id": r.event_id,
        "status": r.status.as_str(),
        "field": r.field,
        "phone_number_id": r.phone_number_id,
        "destination": r.destination,
        "format": r.format,
        "updated_at": rfc3339(r.updated_at_ms),
        "attempts": r.attempts.iter().map(attempt_json).collect::<Vec<_>>(),
        "delivered": r.delivered.as_ref().map(attempt_json),
        "replay_queued": r.replay_queued,
    })
}

/// An event id as a tenant writes it in a path: the `webhook-id` it received.
pub(super) fn event_id(raw: &str) -> Result<EventId, Error> {
    let valid = (1..=512).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    match valid {
        true => Ok(EventId::from_header(raw)),
        false => Err(Error::invalid(
            "invalid_id",
            "event_id",
            "`event_id` is not an event id (the `webhook-id` of a delivery)",
        )),
    }
}

impl<L: DeliveryLog, Q: Requeue, H: EndpointHealth> DeliveriesService<L, Q, H> {
    /// `GET /v1/events`
    pub async fn events(
        &self,
        tenant: &Tenant,
        raw_query: Option<&str>,
        now_ms: i64,
    ) -> Result<ApiResponse, Error> {
        let q = EventsQuery::parse(raw_query, now_ms)?;
        let page = self
            .log
            .list(
                &tenant.id,
                q.status,
                q.since_ms,
                q.until_ms,
                q.limit,
                q.cursor.as_deref(),
            )
            .await?;
        let data: Vec<Value> = page.events.iter().map(event_json).collect();
        Ok(ApiResponse::json(
            200,
            &json!({"data": data, "next_cursor": page.next}),
        ))
    }

    /// `GET /v1/events/{event_id}`
    pub async fn event(&self, tenant: &Tenant, raw_id: &str) -> Result<ApiResponse, Error> {
        let record = self.own(tenant, &event_id(raw_id)?).await?;
        Ok(ApiResponse::json(200, &event_json(&record)))
    }
}
