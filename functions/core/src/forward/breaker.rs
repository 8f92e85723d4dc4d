//! The forwarder's side of the circuit breaker (`endpoint_health`): read the gate before a delivery,
//! record the result after it. A failure to read the state is a dependency down (retry
//! later); a failure to record one is logged and the delivery's outcome stands.
//!
//! The breaker is keyed on an [`Endpoint`]: a configured URL, or the callback domain of any
//! other (a callback URL), always per tenant. The stored state only learns of a failure
//! when the call ends, a whole webhook timeout later for a hanging endpoint; so each forwarder
//! also bounds the calls it has under way to an endpoint not known healthy (no 2xx seen here
//! in the last probe interval, or a failure stored or seen since): at most as many trial calls
//! at once as failures are left before the breaker opens, `threshold` less the streak (the
//! stored one or the one this process counted, the larger; at least one). Each failure is
//! counted before its slot is free, so failures counted plus trials under way never exceed
//! `threshold`. The other deliveries wait for a trial to end: a 2xx lets them all go, the
//! failure that opens the breaker defers them without a call. One forwarder (every batch of
//! the process, however many deliveries run at once) thus calls an endpoint not known
//! healthy at most `threshold` times before the breaker opens, then one probe per interval
//! (taken by a conditional write, across forwarders). Forwarders running at once each have
//! their own budget: before the breaker opens, at most `threshold` each, fewer as the
//! failures they store reach each other's reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::channel::oneshot;

use super::Forwarder;
use crate::Error;
use crate::deliveries::DeliveryLog;
use crate::endpoint_health::{Endpoint, EndpointHealth, Failure, Gate, destination_key, gate};
use crate::ports::{
    IdempotencyStore, MessageStore, TenantDirectory, UnroutableStore, WebhookSender,
};
use crate::tenant::{Tenant, TenantId};

/// What the breaker lets a delivery do.
pub(super) enum Passage {
    /// Call the endpoint; hand the pass back with the result.
    Go(Pass),
    /// Fail at once; a probe may go in this long.
    Deferred(Duration),
}

/// A delivery the breaker let through.
pub(super) struct Pass {
    endpoint: Endpoint,
    /// The stored key, also the key of the `Trials`.
    key: String,
    /// The stored state has something to reset.
    seen_failing: bool,
    /// Held until the result is recorded, so that those waiting for it see the result.
    _trial: Option<Trial>,
}

/// Endpoints this process keeps track of at most; past this, the idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

/// Calls under way to endpoints not known healthy, and the last 2xx seen from each endpoint,
/// in this process: shared by every delivery of the forwarder.
#[derive(Default)]
pub(super) struct Trials {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

#[derive(Default)]
struct Slot {
    /// Trial calls under way.
    in_flight: u32,
    /// Failures this process recorded since its last 2xx from the endpoint: counted before a
    /// trial's slot is free, so the budget never rests on a stored state read a moment late.
    failures: u32,
    /// When this process last had a 2xx from the endpoint, with no failure since.
    ok_at_ms: Option<i64>,
    /// Until when this process knows the breaker open (it opened it, or saw it open when it
    /// recorded a failure): deferred without a read, however late the stored state is seen.
    open_until_ms: Option<i64>,
    /// Deliveries waiting for a trial to end: dropping a sender wakes its delivery.
    waiting: Vec<oneshot::Sender<()>>,
}

/// What a delivery to an endpoint the stored state calls closed may do.
enum Admission {
    /// Known healthy: call, without a trial slot.
    Free,
    /// Call, holding one of the trial slots.
    Trial(Trial),
    /// Every slot is taken: wait for one of them to end, then look again.
    Wait(oneshot::Receiver<()>),
}

fn lock(slots: &Mutex<HashMap<String, Slot>>) -> MutexGuard<'_, HashMap<String, Slot>> {
    slots.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The slot of `key`, made if need be; when too many are kept, the idle ones are forgotten
/// first.
fn slot_of<'a>(slots: &'a mut HashMap<String, Slot>, key: &str) -> &'a mut Slot {
    if slots.len() >= MAX_TRACKED && !slots.contains_key(key) {
        slots.retain(|_, s| s.in_flight > 0 || !s.waiting.is_empty());
    }
    slots.entry(key.to_owned()).or_default()
}

impl Trials {
    /// How long the breaker stays open as far as this process knows, if it is.
    fn open_for(&self, key: &str, now_ms: i64) -> Option<Duration> {
        let slots = lock(&self.slots);
        let until = slots.get(key)?.open_until_ms?;
        (until > now_ms).then(|| Duration::from_millis((until - now_ms) as u64))
    }

    /// Lets a delivery through when the endpoint is known healthy (`clean`: nothing failing
    /// stored; no failure here since a 2xx seen here at or after `healthy_since_ms`), or when
    /// fewer trials are under way than the failures left before the breaker opens:
    /// `threshold` less the streak (the stored one or the one seen here, the larger).
    fn admit(
        &self,
        key: &str,
        clean: bool,
        healthy_since_ms: i64,
        threshold: u32,
        stored_streak: u32,
    ) -> Admission {
        let mut slots = lock(&self.slots);
        let slot = slot_of(&mut slots, key);
        if clean && slot.ok_at_ms.is_some_and(|at| at >= healthy_since_ms) {
            return Admission::Free;
        }
        let streak = stored_streak.max(slot.failures);
        let budget = threshold.saturating_sub(streak).max(1);
        if slot.in_flight < budget {
            slot.in_flight += 1;
            Admission::Trial(Trial {
                slots: self.slots.clone(),
                key: key.to_owned(),
            })
        } else {
            let (wake, woken) = oneshot::channel();
            slot.waiting.push(wake);
            Admission::Wait(woken)
        }
    }

    fn succeeded(&self, key: &str, at_ms: i64) {
        let mut slots = lock(&self.slots);
        let slot = slot_of(&mut slots, key);
        slot.failures = 0;
        slot.ok_at_ms = Some(at_ms);
        slot.open_until_ms = None;
    }

    fn failed(&self, key: &str, open_until_ms: Option<i64>) {
        let mut slots = lock(&self.slots);
        let slot = slot_of(&mut slots, key);
        slot.failures = slot.failures.saturating_add(1);
        slot.ok_at_ms = None;
        if open_until_ms.is_some() {
            slot.open_until_ms = open_until_ms;
        }
    }
}

/// One trial call under way: when it ends (is dropped) its slot is free again and every
/// delivery waiting for one looks at the state again.
struct Trial {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
    key: String,
}

impl Drop for Trial {
    fn drop(&mut self) {
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get_mut(&self.key) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.waiting.clear();
        }
    }
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
    /// Whether this delivery of `tenant` to `url` may call: the breaker is closed and the
    /// endpoint known healthy or a trial slot free (else it waits for one), or it took the
    /// probe of a half-open breaker.
    pub(super) async fn breaker_gate(
        &self,
        tenant: &Tenant,
        url: &str,
        now_ms: i64,
    ) -> Result<Passage, Error> {
        let policy = self.config.breaker;
        let probe_every_ms = policy.probe_every.as_millis() as i64;
        let endpoint = Endpoint::of(tenant, url);
        let name = endpoint.name();
        let key = destination_key(&tenant.id, &name);
        // Each wait ends with a trial ending; without a 2xx each lowers the budget, so a
        // delivery waits about one call. Past this many it gives up for this attempt.
        let mut waits = 0u32;
        loop {
            if let Some(opens_in) = self.trials.open_for(&key, now_ms) {
                return Ok(Passage::Deferred(opens_in));
            }
            let health = self.health.health(&tenant.id, &name).await?;
            let seen_failing = health.failure_streak > 0 || health.open_until_ms.is_some();
            let trial = match gate(&health, now_ms) {
                Gate::Deferred { opens_in } => return Ok(Passage::Deferred(opens_in)),
                Gate::Probe { seen_until_ms } => {
                    let until = now_ms + probe_every_ms;
                    if !self
                        .health
                        .take_probe(&tenant.id, &name, seen_until_ms, until)
                        .await?
                    {
                        return Ok(Passage::Deferred(policy.probe_every));
                    }
                    tracing::info!(
                        tenant_id = tenant.id.as_str(),
                        endpoint = %endpoint.label(),
                        "circuit half-open: probing"
                    );
                    None
                }
                Gate::Deliver => {
                    let admission = self.trials.admit(
                        &key,
                        !seen_failing,
                        now_ms - probe_every_ms,
                        policy.threshold,
                        health.failure_streak,
                    );
                    match admission {
                        Admission::Free => None,
                        Admission::Trial(trial) => Some(trial),
                        Admission::Wait(woken) => {
                            waits += 1;
                            if waits > policy.threshold {
                                return Ok(Passage::Deferred(Duration::ZERO));
                            }
                            // A dropped sender is the wake-up: the answer does not matter.
                            let _ = woken.await;
                            continue;
                        }
                    }
                }
            };
            return Ok(Passage::Go(Pass {
                endpoint,
                key,
                seen_failing,
                _trial: trial,
            }));
        }
    }

    /// A 2xx: known healthy here from now on. Only an endpoint seen failing has anything
    /// stored to reset: no write per success.
    pub(super) async fn breaker_success(&self, tenant: &TenantId, pass: Pass, now_ms: i64) {
        self.trials.succeeded(&pass.key, now_ms);
        if pass.seen_failing
            && let Err(e) = self
                .health
                .record_success(tenant, &pass.endpoint.name(), now_ms)
                .await
        {
            tracing::warn!(tenant_id = tenant.as_str(), endpoint = %pass.endpoint.label(), error = %e, "could not close the circuit");
        }
        // `pass` ends here: its trial slot, if any, is free and the deliveries waiting wake.
    }

    pub(super) async fn breaker_failure(&self, tenant: &TenantId, pass: Pass, failure: &Failure) {
        let policy = self.config.breaker;
        let label = pass.endpoint.label();
        let name = pass.endpoint.name();
        let health = match self.health.record_failure(tenant, &name, failure).await {
            Ok(h) => h,
            Err(e) => {
                self.trials.failed(&pass.key, None);
                tracing::warn!(tenant_id = tenant.as_str(), endpoint = %label, error = %e, "could not record the failure for the circuit");
                return;
            }
        };
        let open_until = health.open_until_ms.filter(|&u| u > failure.at_ms);
        if health.failure_streak >= policy.threshold && open_until.is_none() {
            let until = failure.at_ms + policy.probe_every.as_millis() as i64;
            match self.health.open(tenant, &name, until).await {
                Ok(()) => {
                    self.trials.failed(&pass.key, Some(until));
                    tracing::warn!(
                        tenant_id = tenant.as_str(),
                        endpoint = %label,
                        failure_streak = health.failure_streak,
                        "circuit opened: deliveries to this destination are deferred"
                    );
                }
                Err(e) => {
                    self.trials.failed(&pass.key, None);
                    tracing::warn!(tenant_id = tenant.as_str(), endpoint = %label, error = %e, "could not open the circuit")
                }
            }
        } else {
            self.trials.failed(&pass.key, open_until);
        }
        // `pass` ends here, after the state is recorded: those waiting for its slot see it.
    }
}
