//! The forwarder's side of the circuit breaker (`health`): read the gate before a delivery,
//! record the result after it. A failure to read the state is a dependency down (retry
//! later); a failure to record one is logged and the delivery's outcome stands.

use std::time::Duration;

use super::Forwarder;
use crate::Error;
use crate::deliveries::DeliveryLog;
use crate::health::{EndpointHealth, Failure, Gate, gate};
use crate::ports::{
    IdempotencyStore, MessageStore, TenantDirectory, UnroutableStore, WebhookSender,
};
use crate::tenant::TenantId;

/// What the breaker lets a delivery do.
pub(super) enum Passage {
    /// Call the endpoint; `seen_failing` when the stored state has something to reset.
    Go { seen_failing: bool },
    /// Fail at once; a probe may go in this long.
    Deferred(Duration),
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
    /// Whether this delivery may call the destination: closed, or it took the probe.
    pub(super) async fn breaker_gate(
        &self,
        tenant: &TenantId,
        url: &str,
        now_ms: i64,
    ) -> Result<Passage, Error> {
        let probe_every = self.config.breaker.probe_every;
        let health = self.health.health(tenant, url).await?;
        let seen_failing = health.failure_streak > 0 || health.open_until_ms.is_some();
        match gate(&health, now_ms) {
            Gate::Deliver => Ok(Passage::Go { seen_failing }),
            Gate::Deferred { opens_in } => Ok(Passage::Deferred(opens_in)),
            Gate::Probe { seen_until_ms } => {
                let until = now_ms + probe_every.as_millis() as i64;
                match self
                    .health
                    .take_probe(tenant, url, seen_until_ms, until)
                    .await?
                {
                    true => {
                        tracing::info!(tenant_id = tenant.as_str(), "circuit half-open: probing");
                        Ok(Passage::Go { seen_failing })
                    }
                    false => Ok(Passage::Deferred(probe_every)),
                }
            }
        }
    }

    /// Only a destination seen failing has anything to reset: no write per success.
    pub(super) async fn breaker_success(
        &self,
        tenant: &TenantId,
        url: &str,
        now_ms: i64,
        seen_failing: bool,
    ) {
        if seen_failing && let Err(e) = self.health.record_success(tenant, url, now_ms).await {
            tracing::warn!(tenant_id = tenant.as_str(), error = %e, "could not close the circuit");
        }
    }

    pub(super) async fn breaker_failure(&self, tenant: &TenantId, url: &str, failure: &Failure) {
        let policy = self.config.breaker;
        let health = match self.health.record_failure(tenant, url, failure).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(tenant_id = tenant.as_str(), error = %e, "could not record the failure for the circuit");
                return;
            }
        };
        let open = health.open_until_ms.is_some_and(|u| u > failure.at_ms);
        if health.failure_streak >= policy.threshold && !open {
            let until = failure.at_ms + policy.probe_every.as_millis() as i64;
            match self.health.open(tenant, url, until).await {
                Ok(()) => tracing::warn!(
                    tenant_id = tenant.as_str(),
                    failure_streak = health.failure_streak,
                    "circuit opened: deliveries to this destination are deferred"
                ),
                Err(e) => {
                    tracing::warn!(tenant_id = tenant.as_str(), error = %e, "could not open the circuit")
                }
            }
        }
    }
}
