//! Forward: one queued event to the right tenant, signed, at most once per event id while
//! nothing crashes, at least once always. The retry delay is decided here; the queue applies it.

use std::time::Duration;

use crate::Error;
use crate::event::{Event, EventKind};
use crate::fields::media_ids;
use crate::format::render;
use crate::mask;
use crate::metrics::{self, Metric};
use crate::ports::{
    Claim, Delivery, DeliveryResult, IdempotencyStore, MessageStore, OwnerKind, TenantDirectory,
    UnroutableStore, WebhookSender,
};
use crate::retry::{FailureKind, RetrySchedule};
use crate::signature::sign_delivery;
use crate::tenant::Tenant;

#[derive(Debug, Clone)]
pub struct ForwardConfig {
    pub schedule: RetrySchedule,
    /// How long an IN_PROGRESS claim holds: longer than one delivery can take.
    pub in_progress_for: Duration,
    /// How long a COMPLETED record suppresses duplicates: longer than Meta's 7 days of retries.
    pub completed_for: Duration,
    /// How long the count of failed attempts is kept: as long as the DLQ keeps the event.
    pub failed_kept_for: Duration,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            schedule: RetrySchedule::default(),
            in_progress_for: Duration::from_secs(60),
            completed_for: Duration::from_secs(8 * 86_400),
            failed_kept_for: Duration::from_secs(14 * 86_400),
        }
    }
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Delivered before (a duplicate from Meta or a redelivery from SQS): acknowledged.
    Duplicate,
    /// No tenant owns it: parked for replay, counted and acknowledged, never retried forever.
    Unroutable,
    /// Not delivered; the queue should offer it again after this delay.
    Retry {
        after: Duration,
    },
    /// The last attempt failed: the queue's redrive policy takes it to the DLQ.
    Exhausted,
}

pub struct Forwarder<I, T, M, W, P> {
    idempotency: I,
    tenants: T,
    messages: M,
    sender: W,
    parking: P,
    config: ForwardConfig,
}

fn idempotency_key(event: &Event) -> String {
    format!("EVENT#{}", event.id)
}

impl<I, T, M, W, P> Forwarder<I, T, M, W, P>
where
    I: IdempotencyStore,
    T: TenantDirectory,
    M: MessageStore,
    W: WebhookSender,
    P: UnroutableStore,
{
    pub fn new(
        idempotency: I,
        tenants: T,
        messages: M,
        sender: W,
        parking: P,
        config: ForwardConfig,
    ) -> Self {
        Forwarder {
            idempotency,
            tenants,
            messages,
            sender,
            parking,
            config,
        }
    }

    /// Forwards `event` at unix time `now`; `random` in [0, 1) drives the jitter. `Err` means
    /// a dependency failed: try again later.
    ///
    /// The attempt number comes from the failed attempts recorded under the event's id, not
    /// from the queue's receive count: a receive that only found another worker's claim, or a
    /// dependency down, is no delivery attempt and must not bring the DLQ closer.
    pub async fn forward(&self, event: &Event, now: i64, random: f64) -> Result<Outcome, Error> {
        let key = idempotency_key(event);
        let failed_attempts = match self
            .idempotency
            .claim(&key, None, self.config.in_progress_for)
            .await?
        {
            Claim::Completed(_) => return Ok(Outcome::Duplicate),
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
        // An event redriven from the DLQ after its schedule was spent starts a new schedule.
        let attempt = failed_attempts % self.config.schedule.attempts() + 1;
        let result = self.deliver(event, attempt, now, random).await;
        let recorded = match &result {
            // A crash before this line means one duplicate later, never a loss.
            Ok(Outcome::Delivered) => {
                return self
                    .idempotency
                    .complete(&key, None, self.config.completed_for)
                    .await
                    .map(|()| Outcome::Delivered);
            }
            Ok(Outcome::Retry { after }) => {
                self.idempotency
                    .fail(&key, *after, self.config.failed_kept_for)
                    .await
            }
            Ok(Outcome::Exhausted) => {
                self.idempotency
                    .fail(&key, Duration::ZERO, self.config.failed_kept_for)
                    .await
            }
            Ok(Outcome::Duplicate | Outcome::Unroutable) | Err(_) => {
                self.idempotency.release(&key).await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(event_ref = %mask::reference(event.id.as_str()), error = %e, "could not record the attempt; the claim lapses on its own");
        }
        result
    }

    async fn deliver(
        &self,
        event: &Event,
        attempt: u32,
        now: i64,
        random: f64,
    ) -> Result<Outcome, Error> {
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
            return Ok(Outcome::Unroutable);
        };
        if !tenant.active {
            // Suspended, not forgotten: the event waits on the schedule, then in the DLQ, so a
            // redrive after reactivation delivers it.
            let next = self
                .config
                .schedule
                .retry_delay(attempt, FailureKind::Failed, None, random);
            tracing::warn!(event_ref = %mask::reference(event.id.as_str()), tenant_id = tenant.id.as_str(), attempt, "tenant suspended; delivery deferred");
            return Ok(next.map_or(Outcome::Exhausted, |after| Outcome::Retry { after }));
        }
        let secrets = tenant.signing_secrets(now);
        if secrets.is_empty() {
            return Err(Error::Internal(anyhow::anyhow!(
                "tenant {} has no webhook secret",
                tenant.id.as_str()
            )));
        }
        self.remember_inbound_media(event, &tenant).await;
        let body = render(event, tenant.format);
        let signatures = sign_delivery(&secrets, event.id.as_str(), now, &body);
        let delivery = Delivery {
            url,
            body,
            signatures,
        };
        match self.sender.deliver(&delivery).await {
            DeliveryResult::Delivered { status } => {
                tracing::info!(event_ref = %mask::reference(event.id.as_str()), tenant_id = tenant.id.as_str(), status, attempt, "delivered");
                Ok(Outcome::Delivered)
            }
            DeliveryResult::Failed {
                kind,
                status,
                retry_after,
                reason,
            } => {
                let next = self
                    .config
                    .schedule
                    .retry_delay(attempt, kind, retry_after, random);
                tracing::warn!(
                    event_ref = %mask::reference(event.id.as_str()),
                    tenant_id = tenant.id.as_str(),
                    status,
                    attempt,
                    reason = %reason,
                    retry_in_secs = next.map(|d| d.as_secs_f64()),
                    "delivery failed"
                );
                Ok(match next {
                    Some(after) => Outcome::Retry { after },
                    None => Outcome::Exhausted,
                })
            }
        }
    }

    /// Media in an inbound event (a message, an echo, a history thread, a standby message)
    /// is the routed tenant's to fetch through `GET /v1/media/{id}`.
    async fn remember_inbound_media(&self, event: &Event, tenant: &Tenant) {
        if event.kind == EventKind::Status {
            return;
        }
        for media_id in media_ids(event.item.get()) {
            if let Err(e) = self
                .tenants
                .record_owner(OwnerKind::Media, &media_id, &tenant.id)
                .await
            {
                tracing::warn!(event_ref = %mask::reference(event.id.as_str()), error = %e, "could not record the media's owner");
            }
        }
    }

    /// The tenant and URL for `event`: a status of a message sent with a `callback_url` goes
    /// there; otherwise the owner of the phone number, or of the WABA.
    async fn route(&self, event: &Event, now: i64) -> Result<Option<(Tenant, String)>, Error> {
        if event.kind == EventKind::Status
            && let (Some(wamid), Some(status)) = (&event.wamid, &event.status)
        {
            let at = event
                .status_timestamp
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or(now);
            let record = self.messages.record_status(wamid, status, at).await?;
            if let Some(record) = record
                && let Some(callback) = record.callback_url
                && let Some(tenant) = self.tenants.tenant(&record.tenant_id).await?
            {
                return Ok(Some((tenant, callback)));
            }
        }
        let owner = match &event.phone_number_id {
            Some(phone) => self.tenants.owner(OwnerKind::Phone, phone).await?,
            None => None,
        };
        let owner = match owner {
            Some(id) => Some(id),
            None => self.tenants.owner(OwnerKind::Waba, &event.waba_id).await?,
        };
        let Some(id) = owner else { return Ok(None) };
        Ok(self.tenants.tenant(&id).await?.map(|t| {
            let url = t.webhook_url.clone();
            (t, url)
        }))
    }
}

#[cfg(test)]
mod tests;
