//! The delivery log, the requeue and endpoint health in memory, for unit tests of the
//! forwarder and the deliveries service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{MemoryIdempotency, Record};
use crate::Error;
use crate::deliveries::{
    Attempt, AttemptNote, DeliveryLog, DeliveryState, EventPage, EventRecord, Held, Reopen,
    Requeue, event_key, held, marked,
};
use crate::endpoint_health::{EndpointHealth, Failure, Health, destination_key};
use crate::meta::EventId;
use crate::tenant::TenantId;

fn record(id: &EventId, note: &AttemptNote, state: DeliveryState) -> EventRecord {
    EventRecord {
        event_id: id.as_str().to_owned(),
        tenant_id: note.tenant_id.clone(),
        status: state,
        field: note.field.clone(),
        phone_number_id: note.phone_number_id.clone(),
        destination: note.destination.clone(),
        format: note.format.to_owned(),
        updated_at_ms: note.attempt.at_ms,
        attempts: Vec::new(),
        delivered: None,
        replay_queued: false,
        reopened_at_ms: None,
        replay_mark: None,
    }
}

/// The replay hold of `previous` stays on `r` unless `replay` is the copy it waits for.
fn carry_hold(r: &mut EventRecord, previous: &EventRecord, replay: Option<&str>) {
    let ends = replay.is_some() && previous.replay_mark.as_deref() == replay;
    if !ends {
        r.replay_queued = previous.replay_queued;
        r.reopened_at_ms = previous.reopened_at_ms;
        r.replay_mark = previous.replay_mark.clone();
    }
}

/// Where a listing goes on: after this record, in its order (newest first).
fn list_cursor(r: &EventRecord) -> String {
    format!("{}\n{}", r.updated_at_ms, r.event_id)
}

impl MemoryIdempotency {
    /// Every record, for assertions.
    pub fn log(&self) -> Vec<EventRecord> {
        self.log.lock().unwrap().values().cloned().collect()
    }
}

impl DeliveryLog for MemoryIdempotency {
    async fn delivered(
        &self,
        id: &EventId,
        note: &AttemptNote,
        replay: Option<&str>,
        _: Duration,
    ) -> Result<(), Error> {
        if *self.failing_completes.lock().unwrap() {
            return Err(Error::unavailable("idempotency store down"));
        }
        self.records
            .lock()
            .unwrap()
            .insert(event_key(id), Record::Done(None));
        let mut log = self.log.lock().unwrap();
        let previous = log.remove(id.as_str());
        let mut r = record(id, note, DeliveryState::Delivered);
        if let Some(p) = &previous {
            carry_hold(&mut r, p, replay);
        }
        r.attempts = previous.map(|p| p.attempts).unwrap_or_default();
        r.delivered = Some(note.attempt.clone());
        log.insert(id.as_str().to_owned(), r);
        Ok(())
    }

    async fn failed(
        &self,
        id: &EventId,
        note: &AttemptNote,
        replay: Option<&str>,
        state: DeliveryState,
        retry_after: Duration,
        _: Duration,
    ) -> Result<(), Error> {
        // The attempt's own time: the DynamoDB adapter's write follows it by the delivery.
        self.failed_attempt(
            &event_key(id),
            note.attempt.at_ms + retry_after.as_millis() as i64,
        );
        let mut log = self.log.lock().unwrap();
        let previous = log.remove(id.as_str());
        let mut r = record(id, note, state);
        if let Some(p) = &previous {
            carry_hold(&mut r, p, replay);
        }
        let mut attempts: Vec<Attempt> = previous.map(|p| p.attempts).unwrap_or_default();
        attempts.push(note.attempt.clone());
        r.attempts = attempts;
        log.insert(id.as_str().to_owned(), r);
        Ok(())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        state: DeliveryState,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<EventPage, Error> {
        let mut found: Vec<EventRecord> = self
            .log
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.tenant_id == tenant && r.status == state)
            .filter(|r| (since_ms..=until_ms).contains(&r.updated_at_ms))
            .cloned()
            .collect();
        found.sort_by(|a, b| (b.updated_at_ms, &b.event_id).cmp(&(a.updated_at_ms, &a.event_id)));
        // Like the table's, the cursor is a position, not an offset: a record that moves (a
        // reopen) does not shift the rest.
        let after = match cursor {
            Some(c) => {
                let (at, id) = c
                    .split_once('\n')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                    .ok_or_else(|| {
                        Error::invalid(
                            "invalid_field",
                            "cursor",
                            "`cursor` is not one this API handed out",
                        )
                    })?;
                Some((at, id))
            }
            None => None,
        };
        let rest: Vec<EventRecord> = found
            .into_iter()
            .filter(|r| match &after {
                Some((at, id)) => (r.updated_at_ms, &r.event_id) < (*at, id),
                None => true,
            })
            .collect();
        let events: Vec<EventRecord> = rest.iter().take(limit).cloned().collect();
        let next = match rest.len() > limit {
            true => events.last().map(list_cursor),
            false => None,
        };
        Ok(EventPage { events, next })
    }

    async fn get(&self, id: &EventId) -> Result<Option<EventRecord>, Error> {
        Ok(self.log.lock().unwrap().get(id.as_str()).cloned())
    }

    async fn reopen(
        &self,
        id: &EventId,
        tenant: &TenantId,
        states: &[DeliveryState],
        mark: &str,
        now_ms: i64,
        _: Duration,
    ) -> Result<Reopen, Error> {
        let key = event_key(id);
        let mut records = self.records.lock().unwrap();
        let mut log = self.log.lock().unwrap();
        let Some(r) = log.get_mut(id.as_str()) else {
            return Ok(Reopen::NotFound);
        };
        if &r.tenant_id != tenant || !states.contains(&r.status) {
            return Ok(Reopen::NotFound);
        }
        // A held claim is busy; one whose holder died (lapsed) is not.
        if matches!(records.get(&key), Some(Record::Busy { until_s, .. }) if *until_s >= now_ms / 1000)
        {
            return Ok(Reopen::Busy(Held::InProgress));
        }
        if let Some(why) = held(r, now_ms) {
            return Ok(Reopen::Busy(why));
        }
        records.insert(
            key,
            Record::Failed {
                failed: 0,
                retry_at_ms: 0,
            },
        );
        r.status = DeliveryState::Pending;
        r.updated_at_ms = now_ms;
        r.replay_queued = true;
        r.reopened_at_ms = Some(now_ms);
        r.replay_mark = Some(mark.to_owned());
        Ok(Reopen::Reopened)
    }

    async fn replay_done(&self, id: &EventId, mark: &str) -> Result<(), Error> {
        let mut log = self.log.lock().unwrap();
        if let Some(r) = log.get_mut(id.as_str())
            && r.replay_mark.as_deref() == Some(mark)
        {
            r.replay_queued = false;
            r.reopened_at_ms = None;
            r.replay_mark = None;
        }
        Ok(())
    }

    async fn count_call(
        &self,
        tenant: &TenantId,
        kind: &str,
        window_start_ms: i64,
        limit: u32,
    ) -> Result<bool, Error> {
        let key = format!("{}#{kind}#{window_start_ms}", tenant.as_str());
        let mut calls = self.calls.lock().unwrap();
        let counted = calls.entry(key).or_insert(0);
        if *counted >= limit {
            return Ok(false);
        }
        *counted += 1;
        Ok(true)
    }

    async fn keep_payload(&self, id: &EventId, body: &str, _: Duration) -> Result<(), Error> {
        self.payloads
            .lock()
            .unwrap()
            .insert(id.as_str().to_owned(), body.to_owned());
        Ok(())
    }

    async fn payload(&self, id: &EventId) -> Result<Option<String>, Error> {
        Ok(self.payloads.lock().unwrap().get(id.as_str()).cloned())
    }
}

/// Queue messages put back, in order, as the queue holds them (marked).
#[derive(Clone, Default)]
pub struct MemoryRequeue {
    pub bodies: Arc<Mutex<Vec<String>>>,
}

impl Requeue for MemoryRequeue {
    async fn requeue(&self, body: &str, mark: &str) -> Result<(), Error> {
        self.bodies.lock().unwrap().push(marked(body, mark));
        Ok(())
    }
}

/// Endpoint health in memory, keyed as the Tenants table keys it.
#[derive(Clone, Default)]
pub struct MemoryHealth {
    states: Arc<Mutex<HashMap<String, Health>>>,
}

impl MemoryHealth {
    /// The state of the endpoint `name` ([`crate::endpoint_health::Endpoint::name`]).
    pub fn get(&self, tenant: &TenantId, name: &str) -> Health {
        let key = destination_key(tenant, name);
        self.states
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }
}

impl EndpointHealth for MemoryHealth {
    async fn health(&self, tenant: &TenantId, name: &str) -> Result<Health, Error> {
        Ok(self.get(tenant, name))
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        name: &str,
        failure: &Failure,
    ) -> Result<Health, Error> {
        let mut states = self.states.lock().unwrap();
        let h = states.entry(destination_key(tenant, name)).or_default();
        h.failure_streak += 1;
        h.last_error = Some(failure.error.clone());
        h.last_status = failure.status;
        h.last_failure_at_ms = Some(failure.at_ms);
        Ok(h.clone())
    }

    async fn open(&self, tenant: &TenantId, name: &str, until_ms: i64) -> Result<(), Error> {
        let mut states = self.states.lock().unwrap();
        let h = states.entry(destination_key(tenant, name)).or_default();
        // As the table does: another worker's opening, or a probe's hold, stands.
        if h.open_until_ms.is_none() {
            h.open_until_ms = Some(until_ms);
        }
        Ok(())
    }

    async fn take_probe(
        &self,
        tenant: &TenantId,
        name: &str,
        seen_until_ms: i64,
        until_ms: i64,
    ) -> Result<bool, Error> {
        let mut states = self.states.lock().unwrap();
        let h = states.entry(destination_key(tenant, name)).or_default();
        if h.open_until_ms != Some(seen_until_ms) {
            return Ok(false);
        }
        h.open_until_ms = Some(until_ms);
        Ok(true)
    }

    async fn record_success(&self, tenant: &TenantId, name: &str, at_ms: i64) -> Result<(), Error> {
        let mut states = self.states.lock().unwrap();
        let h = states.entry(destination_key(tenant, name)).or_default();
        h.failure_streak = 0;
        h.open_until_ms = None;
        h.last_success_at_ms = Some(at_ms);
        Ok(())
    }
}
