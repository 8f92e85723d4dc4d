//! Replaying one event (`POST /v1/events/{event_id}/replay`), and putting one event back on
//! the queue as a marked replay copy, which recovery does for each event it queues again.

use serde_json::json;

use super::DeliveriesService;
use super::listing::event_id;
use crate::Error;
use crate::deliveries::{DeliveryLog, DeliveryState, Held, Reopen, Requeue, held, new_replay_mark};
use crate::endpoint_health::EndpointHealth;
use crate::http::ApiResponse;
use crate::meta::EventId;
use crate::tenant::Tenant;

/// Calls per tenant per minute (a fixed window, counted in the log so every instance shares
/// it); beyond, 429 with `Retry-After`.
pub const REPLAYS_PER_MINUTE: u32 = 60;

/// Why a replay is refused while a copy of the event is on the queue, with the event's state.
fn held_conflict(why: Held) -> Error {
    Error::Conflict(match why {
        Held::RetryScheduled => {
            "the event is `pending`: its next attempt is already on the queue (see `next_retry_at`), so it is not queued again"
        }
        Held::ReplayQueued => {
            "the event is `pending`: a replay or recovery of it is already on the queue and not attempted yet (see `replay_queued`); try again once it was attempted"
        }
        Held::InProgress => {
            "the event is being delivered right now; try again once it was attempted"
        }
    })
}

pub(super) enum Requeued {
    Queued,
    Busy(Held),
    /// Not the tenant's any more, or no longer in a state asked for: it changed meanwhile.
    NotFound,
    NotRetained,
}

impl<L: DeliveryLog, Q: Requeue, H: EndpointHealth> DeliveriesService<L, Q, H> {
    /// Reopens one event in `states` and puts its kept payload back on the queue, marked as
    /// this replay's copy.
    pub(super) async fn requeue_one(
        &self,
        tenant: &Tenant,
        id: &EventId,
        states: &[DeliveryState],
        now_ms: i64,
    ) -> Result<Requeued, Error> {
        let Some(payload) = self.log.payload(id).await? else {
            return Ok(Requeued::NotRetained);
        };
        let mark = new_replay_mark(id, now_ms);
        match self
            .log
            .reopen(id, &tenant.id, states, &mark, now_ms, self.keep_for)
            .await?
        {
            Reopen::Reopened => {}
            Reopen::Busy(why) => return Ok(Requeued::Busy(why)),
            Reopen::NotFound => return Ok(Requeued::NotFound),
        }
        self.queue.requeue(&payload, &mark).await?;
        Ok(Requeued::Queued)
    }

    /// `POST /v1/events/{event_id}/replay`: delivered again now, even if it was delivered;
    /// refused while a copy of it is on the queue (its own retry, or an earlier replay).
    pub async fn replay(
        &self,
        tenant: &Tenant,
        raw_id: &str,
        now_ms: i64,
    ) -> Result<ApiResponse, Error> {
        let id = event_id(raw_id)?;
        self.rate(
            tenant,
            "replay",
            REPLAYS_PER_MINUTE,
            "too many replays: at most 60 a minute per tenant",
            now_ms,
        )
        .await?;
        let record = self.own(tenant, &id).await?;
        if let Some(why) = held(&record, now_ms) {
            return Err(held_conflict(why));
        }
        match self
            .requeue_one(tenant, &id, &DeliveryState::ALL, now_ms)
            .await?
        {
            Requeued::Queued => Ok(ApiResponse::json(
                202,
                &json!({"event_id": record.event_id, "status": "pending", "replay_queued": true}),
            )),
            Requeued::Busy(why) => Err(held_conflict(why)),
            Requeued::NotFound => Err(Error::NotFound("no such event")),
            Requeued::NotRetained => Err(Error::Conflict(
                "the event's payload is no longer kept (the operator's EventRetentionDays); the operator can redrive it from the dead-letter queue",
            )),
        }
    }
}
