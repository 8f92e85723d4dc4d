//! The tenant's `/v1/events` and `/v1/endpoint` routes: list and read its events' delivery
//! records, replay one, recover everything that failed since a time, and read the health of
//! each of its destinations. Every lookup is scoped to the calling tenant: another tenant's
//! event id is answered exactly like an id that does not exist.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Attempt, DeliveryLog, DeliveryState, EventRecord, Reopen, Requeue};
use crate::Error;
use crate::event::EventId;
use crate::health::EndpointHealth;
use crate::query::Query;
use crate::send::ApiResponse;
use crate::tenant::Tenant;

/// Events per page by default, and at most.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
/// Events one recovery call re-enqueues at most; `"complete": false` asks for another call.
pub const MAX_RECOVER: usize = 500;
/// Events one recovery call requeues concurrently.
const RECOVER_AT_ONCE: usize = 10;
/// How far back the log reaches: its records live 14 days.
const LOG_DAYS_MS: i64 = 14 * 86_400_000;

pub struct DeliveriesService<L, Q, H> {
    log: L,
    queue: Q,
    health: H,
    /// How long a reopened record is kept (as long as a failed one).
    keep_for: std::time::Duration,
}

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

fn parse_time(field: &str, value: &str) -> Result<i64, Error> {
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
fn check_window(since_ms: i64, until_ms: i64) -> Result<(), Error> {
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
fn event_id(raw: &str) -> Result<EventId, Error> {
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
    pub fn new(log: L, queue: Q, health: H, keep_for: std::time::Duration) -> Self {
        DeliveriesService {
            log,
            queue,
            health,
            keep_for,
        }
    }

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

    /// The tenant's record of `raw_id`; another tenant's is not found, like a missing one.
    async fn own(&self, tenant: &Tenant, raw_id: &str) -> Result<EventRecord, Error> {
        match self.log.get(&event_id(raw_id)?).await? {
            Some(record) if record.tenant_id == tenant.id => Ok(record),
            _ => Err(Error::NotFound("no such event")),
        }
    }

    /// `GET /v1/events/{event_id}`
    pub async fn event(&self, tenant: &Tenant, raw_id: &str) -> Result<ApiResponse, Error> {
        let record = self.own(tenant, raw_id).await?;
        Ok(ApiResponse::json(200, &event_json(&record)))
    }

    /// Reopens one event in `states` and puts its kept payload back on the queue.
    async fn requeue_one(
        &self,
        tenant: &Tenant,
        id: &EventId,
        states: &[DeliveryState],
    ) -> Result<Requeued, Error> {
        let Some(payload) = self.log.payload(id).await? else {
            return Ok(Requeued::NotRetained);
        };
        match self
            .log
            .reopen(id, &tenant.id, states, self.keep_for)
            .await?
        {
            Reopen::Reopened => {}
            Reopen::Busy => return Ok(Requeued::Busy),
            Reopen::NotFound => return Ok(Requeued::NotFound),
        }
        self.queue.requeue(&payload).await?;
        Ok(Requeued::Queued)
    }

    /// `POST /v1/events/{event_id}/replay`: delivered again now, even if it was delivered.
    pub async fn replay(&self, tenant: &Tenant, raw_id: &str) -> Result<ApiResponse, Error> {
        let record = self.own(tenant, raw_id).await?;
        let id = EventId::from_header(&record.event_id);
        match self.requeue_one(tenant, &id, &DeliveryState::ALL).await? {
            Requeued::Queued => Ok(ApiResponse::json(
                202,
                &json!({"event_id": record.event_id, "status": "pending", "replay_queued": true}),
            )),
            Requeued::Busy => Err(Error::Conflict(
                "the event is being delivered right now, or a replay of it is already queued",
            )),
            Requeued::NotFound => Err(Error::NotFound("no such event")),
            Requeued::NotRetained => Err(Error::Conflict(
                "the event's payload is no longer kept (the operator's EventRetentionDays); the operator can redrive it from the dead-letter queue",
            )),
        }
    }

    /// `POST /v1/events/recover` with `{"since": "<RFC 3339>", "until"?}`: every failed or
    /// pending event of the tenant that changed in that window goes back on the queue, once.
    pub async fn recover(
        &self,
        tenant: &Tenant,
        body: &[u8],
        now_ms: i64,
    ) -> Result<ApiResponse, Error> {
        let body = crate::send::parse_json_object(body)?;
        if let Some(unknown) = body
            .keys()
            .find(|k| !["since", "until"].contains(&k.as_str()))
        {
            return Err(Error::invalid(
                "unknown_field",
                unknown.clone(),
                format!("`{unknown}` is not a field of this request"),
            ));
        }
        let since_ms = match body.get("since") {
            Some(Value::String(s)) => parse_time("since", s)?,
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_field",
                    "since",
                    "`since` must be an RFC 3339 time string",
                ));
            }
            None => {
                return Err(Error::invalid(
                    "missing_field",
                    "since",
                    "`since` is required",
                ));
            }
        };
        let until_ms = match body.get("until") {
            Some(Value::String(s)) => parse_time("until", s)?,
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_field",
                    "until",
                    "`until` must be an RFC 3339 time string",
                ));
            }
            None => now_ms,
        };
        check_window(since_ms, until_ms)?;
        let mut tally = Tally::default();
        'states: for state in [DeliveryState::Failed, DeliveryState::Pending] {
            let mut cursor = None;
            loop {
                let page = self
                    .log
                    .list(
                        &tenant.id,
                        state,
                        since_ms,
                        until_ms,
                        MAX_LIMIT,
                        cursor.as_deref(),
                    )
                    .await?;
                // Already queued by an earlier replay or recovery: not queued again.
                let todo: Vec<&EventRecord> =
                    page.events.iter().filter(|r| !r.replay_queued).collect();
                tally.skipped += page.events.len() - todo.len();
                // Ten at a time: one call stays well inside the API's 29 s.
                for chunk in todo.chunks(RECOVER_AT_ONCE) {
                    if tally.queued.len() + chunk.len() > MAX_RECOVER {
                        tally.complete = false;
                        break 'states;
                    }
                    let states = [DeliveryState::Failed, DeliveryState::Pending];
                    let results = futures::future::join_all(chunk.iter().map(|r| {
                        let id = EventId::from_header(&r.event_id);
                        async move { self.requeue_one(tenant, &id, &states).await }
                    }))
                    .await;
                    for (record, result) in chunk.iter().zip(results) {
                        match result? {
                            Requeued::Queued => tally.queued.push(record.event_id.clone()),
                            Requeued::NotRetained => {
                                tally.not_retained.push(record.event_id.clone())
                            }
                            Requeued::Busy | Requeued::NotFound => tally.skipped += 1,
                        }
                    }
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(ApiResponse::json(
            202,
            &json!({
                "recovered": tally.queued.len(),
                "event_ids": tally.queued,
                "not_retained": tally.not_retained,
                "skipped": tally.skipped,
                "complete": tally.complete,
            }),
        ))
    }

    /// `GET /v1/endpoint`: each destination, its breaker and its last error; the filters.
    pub async fn endpoint(&self, tenant: &Tenant, now_ms: i64) -> Result<ApiResponse, Error> {
        let mut destinations = Vec::new();
        for url in tenant.destination_urls() {
            let health = self.health.health(&tenant.id, url).await?;
            destinations.push(json!({
                "url": url,
                "used_for": tenant.uses_of(url),
                "state": health.state(now_ms),
                "failure_streak": health.failure_streak,
                "open_until": health.open_until_ms.map(rfc3339),
                "last_error": health.last_error,
                "last_status": health.last_status,
                "last_failure_at": health.last_failure_at_ms.map(rfc3339),
                "last_success_at": health.last_success_at_ms.map(rfc3339),
            }));
        }
        Ok(ApiResponse::json(
            200,
            &json!({
                "destinations": destinations,
                "fields": tenant.destinations.fields,
                "format": tenant.format.as_str(),
            }),
        ))
    }
}

enum Requeued {
    Queued,
    Busy,
    NotFound,
    NotRetained,
}

struct Tally {
    queued: Vec<String>,
    not_retained: Vec<String>,
    skipped: usize,
    complete: bool,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            queued: Vec::new(),
            not_retained: Vec::new(),
            skipped: 0,
            complete: true,
        }
    }
}
