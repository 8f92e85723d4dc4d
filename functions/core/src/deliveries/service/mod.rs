//! The tenant's `/v1/events` and `/v1/endpoint` routes: list and read its events' delivery
//! records, replay one, recover everything that failed since a time, and read the health of
//! each of its destinations. Every lookup is scoped to the calling tenant: another tenant's
//! event id is answered exactly like an id that does not exist.
//!
//! This module holds the service, its shared checks (ownership, rate) and the endpoint
//! health route; the listing, replay and recovery routes live in their own modules.

mod listing;
mod recover;
mod replay;

use std::time::Duration;

use serde_json::json;

use super::{DeliveryLog, EventRecord, Requeue};
use crate::Error;
use crate::endpoint_health::EndpointHealth;
use crate::http::ApiResponse;
use crate::meta::EventId;
use crate::tenant::Tenant;

pub use listing::EventsQuery;
pub(crate) use listing::rfc3339;
#[cfg(test)]
pub(super) use recover::{MAX_RECOVER, RECOVERS_PER_MINUTE};
#[cfg(test)]
pub(super) use replay::REPLAYS_PER_MINUTE;

const RATE_WINDOW_MS: i64 = 60_000;

pub struct DeliveriesService<L, Q, H> {
    log: L,
    queue: Q,
    health: H,
    /// How long a reopened record is kept (as long as a failed one).
    keep_for: std::time::Duration,
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

    /// The tenant's record of `id`; another tenant's is not found, like a missing one.
    async fn own(&self, tenant: &Tenant, id: &EventId) -> Result<EventRecord, Error> {
        match self.log.get(id).await? {
            Some(record) if record.tenant_id == tenant.id => Ok(record),
            _ => Err(Error::NotFound("no such event")),
        }
    }

    /// Counts one call of `kind` against the tenant's `per_minute`; beyond it, 429 with the
    /// time left in the minute.
    async fn rate(
        &self,
        tenant: &Tenant,
        kind: &str,
        per_minute: u32,
        refusal: &'static str,
        now_ms: i64,
    ) -> Result<(), Error> {
        let window_start_ms = now_ms - now_ms.rem_euclid(RATE_WINDOW_MS);
        if self
            .log
            .count_call(&tenant.id, kind, window_start_ms, per_minute)
            .await?
        {
            return Ok(());
        }
        let left_ms = window_start_ms + RATE_WINDOW_MS - now_ms;
        Err(Error::RateLimited {
            message: refusal,
            retry_after: Duration::from_secs((left_ms.max(1) as u64).div_ceil(1000)),
        })
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
