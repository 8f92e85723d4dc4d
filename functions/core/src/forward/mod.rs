//! Forward: one queued event to the right tenant, signed, at most once per event id while
//! nothing crashes, at least once always. The retry delay is decided here; the queue applies it.

use std::sync::Arc;
use std::time::Duration;

mod batch;
mod breaker;
mod config;
mod route;

pub use batch::{BatchQueue, LARGE_AT_ONCE, QueueAction, QueueMessage};
pub use config::{ForwardConfig, ForwardPorts};

use breaker::Passage;

use crate::Error;
use crate::deliveries::{Attempt, AttemptNote, DeliveryLog, DeliveryState, event_key, replay_mark};
use crate::endpoint_health::{EndpointHealth, Failure};
use crate::format::render;
use crate::mask;
use crate::meta::Event;
use crate::metrics::{self, Metric};
use crate::ports::{
    Claim, Delivery, DeliveryResult, IdempotencyStore, MessageStore, TenantDirectory,
    UnroutableStore, WebhookSender,
};
use crate::realtime::Publish;
use crate::retry::FailureKind;
use crate::signature::sign_delivery;

/// What became of one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Delivered before (a duplicate from Meta or a redelivery from SQS): acknowledged.
    Duplicate,
    /// No tenant owns it: parked for replay, counted and acknowledged, never retried forever.
    Unroutable,
    /// The tenant's fields leave this event out: acknowledged, not delivered.
    Filtered,
    /// Not delivered; the queue should offer it again after this delay.
    Retry {
        after: Duration,
    },
    /// The last attempt failed: the queue's redrive policy takes it to the DLQ.
    Exhausted,
}

/// An attempt that never reached the endpoint.
fn unsent(at_ms: i64, why: &str, next: Option<Duration>) -> Attempt {
    Attempt {
        at_ms,
        status: None,
        error: Some(why.to_owned()),
        latency_ms: 0,
        next_retry_at_ms: next.map(|d| at_ms + d.as_millis() as i64),
    }
}

pub struct Forwarder<I, T, M, W, P, H> {
    idempotency: I,
    tenants: T,
    messages: M,
    sender: W,
    parking: P,
    health: H,
    config: ForwardConfig,
    /// The tenant's live WebSocket connections, posted to once per event beside the webhook.
    realtime: Option<Arc<dyn Publish>>,
    /// The breaker's calls under way in this process (see `breaker`).
    trials: breaker::Trials,
}

/// What one attempt came to, before it is recorded.
enum Attempted {
    Delivered(AttemptNote),
    /// Failed (or deferred by the breaker, or the tenant is suspended); `next` is `None` when
    /// the schedule is spent.
    Failed {
        note: AttemptNote,
        next: Option<Duration>,
    },
    /// Unroutable or filtered out: acknowledged, no attempt.
    Settled(Outcome),
}

impl<I, T, M, W, P, H> Forwarder<I, T, M, W, P, H>
where
    I: IdempotencyStore + DeliveryLog,
    T: TenantDirectory,
    M: MessageStore,
    W: WebhookSender,
    P: UnroutableStore,
    H: EndpointHealth,
{
    pub fn new(ports: ForwardPorts<I, T, M, W, P, H>, config: ForwardConfig) -> Self {
        Forwarder {
            idempotency: ports.idempotency,
            tenants: ports.tenants,
            messages: ports.messages,
            sender: ports.sender,
            parking: ports.parking,
            health: ports.health,
            config,
            realtime: None,
            trials: breaker::Trials::default(),
        }
    }

    /// Also posts each event, on its first attempt, to the tenant's live connections.
    pub fn with_realtime(mut self, realtime: Arc<dyn Publish>) -> Self {
        self.realtime = Some(realtime);
        self
    }

    /// Forwards `event` (queued as `queue_body`, kept for replay when given) at unix time
    /// `now`; `random` in [0, 1) drives the jitter. `Err` means a dependency failed: try again
    /// later.
    ///
    /// The attempt number comes from the failed attempts recorded under the event's id, not
    /// from the queue's receive count: a receive that only found another worker's claim, or a
    /// dependency down, is no delivery attempt and must not bring the DLQ closer.
    pub async fn forward(
        &self,
        event: &Event,
        queue_body: Option<&str>,
        now: i64,
        random: f64,
    ) -> Result<Outcome, Error> {
        self.forward_ms(event, queue_body, now * 1000, random).await
    }

    /// [`Self::forward`] at unix milliseconds `now_ms`: the claim compares the retry time to
    /// the millisecond (a whole second less would spend the slack SQS's rounding needs).
    pub async fn forward_ms(
        &self,
        event: &Event,
        queue_body: Option<&str>,
        now_ms: i64,
        random: f64,
    ) -> Result<Outcome, Error> {
        let now = now_ms.div_euclid(1000);
        let key = event_key(&event.id);
        // A replay's copy carries its mark: only its own attempt ends the replay's hold.
        let mark = queue_body.and_then(replay_mark);
        let failed_attempts = match self
            .idempotency
            .claim(&key, None, self.config.in_progress_for, now_ms)
            .await?
        {
            Claim::Completed(_) => {
                // Another copy delivered it first: this replay copy is spent all the same.
                if let Some(mark) = mark
                    && let Err(e) = self.idempotency.replay_done(&event.id, mark).await
                {
                    tracing::warn!(event_ref = %mask::reference(event.id.as_str()), error = %e, "could not end the replay hold; it goes stale on its own");
                }
                return Ok(Outcome::Duplicate);
            }
            Claim::InProgress => {
                // Another worker holds it; look again once its claim may have lapsed.
                return Ok(Outcome::Retry {
                    after: self.config.in_progress_for,
                });
            }
            // Another copy of this event failed recently: this one waits for the same turn.
            Claim::NotYet(after) => return Ok(Outcome::Retry { after }),
            Claim::Acquired { failed_attempts } => failed_attempts,
        };
        if let Some(body) = queue_body
            && failed_attempts == 0
            && !self.config.payload_retention.is_zero()
            && let Err(e) = self
                .idempotency
                .keep_payload(&event.id, body, self.config.payload_retention)
                .await
        {
            // Delivery goes on: only a later replay of this one event is lost.
            tracing::warn!(event_ref = %mask::reference(event.id.as_str()), error = %e, "could not keep the payload for replay");
        }
        // An event redriven from the DLQ after its schedule was spent starts a new schedule.
        let attempt = failed_attempts % self.config.schedule.attempts() + 1;
        let first = failed_attempts == 0;
        let result = self.deliver(event, attempt, first, now, random).await;
        let recorded = match &result {
            // A crash before this line means one duplicate later, never a loss.
            Ok(Attempted::Delivered(note)) => {
                return self
                    .idempotency
                    .delivered(&event.id, note, mark, self.config.completed_for)
                    .await
                    .map(|()| Outcome::Delivered);
            }
            Ok(Attempted::Failed { note, next }) => {
                let (state, after) = match next {
                    Some(after) => (DeliveryState::Pending, *after),
                    None => (DeliveryState::Failed, Duration::ZERO),
                };
                self.idempotency
                    .failed(
                        &event.id,
                        note,
                        mark,
                        state,
                        after,
                        self.config.failed_kept_for,
                    )
                    .await
            }
            Ok(Attempted::Settled(_)) | Err(_) => self.idempotency.release(&key).await,
        };
        if let Err(e) = recorded {
            tracing::warn!(event_ref = %mask::reference(event.id.as_str()), error = %e, "could not record the attempt; the claim lapses on its own");
        }
        result.map(|attempted| match attempted {
            Attempted::Delivered(_) => Outcome::Delivered,
            Attempted::Failed {
                next: Some(after), ..
            } => Outcome::Retry { after },
            Attempted::Failed { next: None, .. } => Outcome::Exhausted,
            Attempted::Settled(outcome) => outcome,
        })
    }

    /// Routes `event` and makes attempt number `attempt`; the first one (`first`) is also
    /// posted in real time, concurrently, so the webhook never waits on it.
    async fn deliver(
        &self,
        event: &Event,
        attempt: u32,
        first: bool,
        now: i64,
        random: f64,
    ) -> Result<Attempted, Error> {
        let Some((tenant, url)) = self.route(event, now).await? else {
            // Kept before it is acknowledged: a failure here leaves it on the queue.
            self.parking.park(event).await?;
            metrics::count(Metric::Unroutable, 1, "forward");
            tracing::warn!(
                event_ref = %mask::reference(event.id.as_str()),
                waba_id = %event.waba_id,
                phone_number_id = event.phone_number_id.as_deref().map(mask::phone).unwrap_or_default(),
                metric = "unroutable",
                "no tenant owns this event; parked for replay"
            );
            return Ok(Attempted::Settled(Outcome::Unroutable));
        };
        let Some(url) = url else {
            tracing::info!(event_ref = %mask::reference(event.id.as_str()), tenant_id = tenant.id.as_str(), "filtered out by the tenant's fields");
            return Ok(Attempted::Settled(Outcome::Filtered));
        };
        let push = async {
            if first
                && tenant.active
                && let Some(realtime) = &self.realtime
            {
                realtime.publish(&tenant.id, event).await;
            }
        };
        let attempt = self.attempt(event, &tenant, url, attempt, now, random);
        let (attempted, ()) = futures::join!(attempt, push);
        attempted
    }

    async fn attempt(
        &self,
        event: &Event,
        tenant: &crate::tenant::Tenant,
        url: String,
        attempt: u32,
        now: i64,
        random: f64,
    ) -> Result<Attempted, Error> {
        let note = |attempt_record: Attempt| AttemptNote {
            tenant_id: tenant.id.clone(),
            destination: url.clone(),
            format: tenant.format.as_str(),
            field: event.field.clone(),
            phone_number_id: event.phone_number_id.as_deref().map(str::to_owned),
            attempt: attempt_record,
        };
        let now_ms = now * 1000;
        let schedule = |kind, retry_after| {
            self.config
                .schedule
                .retry_delay(attempt, kind, retry_after, random)
        };
        if !tenant.active {
            // Suspended, not forgotten: the event waits on the schedule, then in the DLQ, so a
            // redrive after reactivation delivers it.
            let next = schedule(FailureKind::Failed, None);
            tracing::warn!(event_ref = %mask::reference(event.id.as_str()), tenant_id = tenant.id.as_str(), attempt, "tenant suspended; delivery deferred");
            let record = unsent(now_ms, "tenant suspended", next);
            return Ok(Attempted::Failed {
                note: note(record),
                next,
            });
        }
        let pass = match self.breaker_gate(tenant, &url, now_ms).await? {
            Passage::Go(pass) => pass,
            Passage::Deferred(opens_in) => {
                // Never before the breaker lets a probe through, spread over one interval.
                let spread = self.config.breaker.probe_every.mul_f64(random);
                let next = schedule(FailureKind::Failed, None).map(|d| d.max(opens_in + spread));
                let record = unsent(now_ms, "circuit open", next);
                return Ok(Attempted::Failed {
                    note: note(record),
                    next,
                });
            }
        };
        let secrets = tenant.signing_secrets(now);
        if secrets.is_empty() {
            return Err(Error::Internal(anyhow::anyhow!(
                "tenant {} has no webhook secret",
                tenant.id.as_str()
            )));
        }
        self.remember_inbound_media(event, tenant).await;
        let body = render(event, tenant.format);
        let signatures = sign_delivery(&secrets, event.id.as_str(), now, &body);
        let delivery = Delivery {
            url: url.clone(),
            body,
            signatures,
        };
        let started = std::time::Instant::now();
        let result = self.sender.deliver(&delivery).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match result {
            DeliveryResult::Delivered { status } => {
                tracing::info!(event_ref = %mask::reference(event.id.as_str()), tenant_id = tenant.id.as_str(), status, attempt, latency_ms, "delivered");
                metrics::delivery(tenant.id.as_str(), true, latency_ms);
                self.breaker_success(&tenant.id, pass, now_ms).await;
                let record = Attempt {
                    at_ms: now_ms,
                    status: Some(status),
                    error: None,
                    latency_ms,
                    next_retry_at_ms: None,
                };
                Ok(Attempted::Delivered(note(record)))
            }
            DeliveryResult::Failed {
                kind,
                status,
                retry_after,
                reason,
            } => {
                let next = schedule(kind, retry_after);
                tracing::warn!(
                    event_ref = %mask::reference(event.id.as_str()),
                    tenant_id = tenant.id.as_str(),
                    status,
                    attempt,
                    latency_ms,
                    reason = %reason,
                    retry_in_secs = next.map(|d| d.as_secs_f64()),
                    "delivery failed"
                );
                metrics::delivery(tenant.id.as_str(), false, latency_ms);
                let failure = Failure {
                    at_ms: now_ms,
                    status,
                    error: reason.clone(),
                };
                self.breaker_failure(&tenant.id, pass, &failure).await;
                let record = Attempt {
                    at_ms: now_ms,
                    status,
                    error: Some(reason),
                    latency_ms,
                    next_retry_at_ms: next.map(|d| now_ms + d.as_millis() as i64),
                };
                Ok(Attempted::Failed {
                    note: note(record),
                    next,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
