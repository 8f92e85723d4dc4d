//! The delivery log, the requeue and endpoint health in memory, for unit tests of the
//! forwarder and the deliveries service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{MemoryIdempotency, Record};
use crate::Error;
use crate::deliveries::{
    Attempt, AttemptNote, DeliveryLog, DeliveryState, EventPage, EventRecord, Reopen, Requeue,
    event_key,
};
use crate::event::EventId;
use crate::health::{EndpointHealth, Failure, Health, destination_key};
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
    }
}

impl MemoryIdempotency {
    /// Every record, for assertions.
    pub fn log(&self) -> Vec<EventRecord> {
        self.log.lock().unwrap().values().cloned().collect()
    }
}

impl DeliveryLog for MemoryIdempotency {
    async fn delivered(&self, id: &EventId, note: &AttemptNote, _: Duration) -> Result<(), Error> {
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
        r.attempts = previous.map(|p| p.attempts).unwrap_or_default();
        r.delivered = Some(note.attempt.clone());
        log.insert(id.as_str().to_owned(), r);
        Ok(())
    }

    async fn failed(
        &self,
        id: &EventId,
        note: &AttemptNote,
        state: DeliveryState,
        _: Duration,
        _: Duration,
    ) -> Result<(), Error> {
        let key = event_key(id);
        let mut records = self.records.lock().unwrap();
        if let Some(Record::Busy(n)) = records.get(&key).cloned() {
            records.insert(key, Record::Failed(n + 1));
        }
        let mut log = self.log.lock().unwrap();
        let mut attempts: Vec<Attempt> = log
            .remove(id.as_str())
            .map(|p| p.attempts)
            .unwrap_or_default();
        attempts.push(note.attempt.clone());
        let mut r = record(id, note, state);
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
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let events: Vec<EventRecord> = found.iter().skip(start).take(limit).cloned().collect();
        let next = (start + limit < found.len()).then(|| (start + limit).to_string());
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
        if matches!(records.get(&key), Some(Record::Busy(_))) || r.replay_queued {
            return Ok(Reopen::Busy);
        }
        records.insert(key, Record::Failed(0));
        r.status = DeliveryState::Pending;
        r.replay_queued = true;
        Ok(Reopen::Reopened)
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

/// Queue messages put back, in order.
#[derive(Clone, Default)]
pub struct MemoryRequeue {
    pub bodies: Arc<Mutex<Vec<String>>>,
}

impl Requeue for MemoryRequeue {
    async fn requeue(&self, body: &str) -> Result<(), Error> {
        self.bodies.lock().unwrap().push(body.to_owned());
        Ok(())
    }
}

#[derive(Clone, Default)]
pub struct MemoryHealth {
    states: Arc<Mutex<HashMap<String, Health>>>,
}

impl MemoryHealth {
    pub fn get(&self, tenant: &TenantId, url: &str) -> Health {
        let key = destination_key(tenant, url);
        self.states
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }
}

impl EndpointHealth for MemoryHealth {
    async fn health(&self, tenant: &TenantId, url: &str) -> Result<Health, Error> {
        Ok(self.get(tenant, url))
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        url: &str,
        failure: &Failure,
    ) -> Result<Health, Error> {
        let mut states = self.states.lock().unwrap();
        let h = states.entry(destination_key(tenant, url)).or_default();
        h.failure_streak += 1;
        h.last_error = Some(failure.error.clone());
        h.last_status = failure.status;
        h.last_failure_at_ms = Some(failure.at_ms);
        Ok(h.clone())
    }

    async fn open(&self, tenant: &TenantId, url: &str, until_ms: i64) -> Result<(), Error> {
        let mut states = self.states.lock().unwrap();
        states
            .entry(destination_key(tenant, url))
            .or_default()
            .open_until_ms = Some(until_ms);
        Ok(())
    }

    async fn take_probe(
        &self,
        tenant: &TenantId,
        url: &str,
        seen_until_ms: i64,
        until_ms: i64,
    ) -> Result<bool, Error> {
        let mut states = self.states.lock().unwrap();
        let h = states.entry(destination_key(tenant, url)).or_default();
        if h.open_until_ms != Some(seen_until_ms) {
            return Ok(false);
        }
        h.open_until_ms = Some(until_ms);
        Ok(true)
    }

    async fn record_success(&self, tenant: &TenantId, url: &str, at_ms: i64) -> Result<(), Error> {
        let mut states = self.states.lock().unwrap();
        let h = states.entry(destination_key(tenant, url)).or_default();
        h.failure_streak = 0;
        h.open_until_ms = None;
        h.last_success_at_ms = Some(at_ms);
        Ok(())
    }
}
