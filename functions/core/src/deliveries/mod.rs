//! Deliveries a tenant can see and steer: every failed attempt per event, the final success,
//! replay of one event and recovery of everything that failed since a time. The attempt log
//! rides on the forward idempotency record (`EVENT#<id>`): a failed attempt is written by the
//! same update that gives the claim up, a success by the one that completes it.

mod service;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

pub(crate) use service::rfc3339;
pub use service::{DeliveriesService, EventsQuery};

use crate::Error;
use crate::event::EventId;
use crate::tenant::TenantId;

/// The idempotency key of an event's forward record.
pub fn event_key(id: &EventId) -> String {
    format!("EVENT#{}", id.as_str())
}

/// Where an event's delivery stands, as its tenant sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Attempted and not delivered yet; another attempt is scheduled (or a replay queued).
    Pending,
    /// Every attempt of its schedule failed: it is in the dead-letter queue.
    Failed,
    /// A 2xx came back.
    Delivered,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Failed,
        DeliveryState::Delivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Failed => "failed",
            DeliveryState::Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// One delivery attempt: when, what came back, how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub at_ms: i64,
    /// The HTTP status, when the endpoint answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed without a 2xx: `HTTP 500`, `timed out`, `circuit open`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
    /// When the next attempt is due; none after a success or the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_at_ms: Option<i64>,
}

/// What the forwarder knows of an attempt beyond its result: whose it was and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptNote {
    pub tenant_id: TenantId,
    pub destination: String,
    pub format: &'static str,
    pub field: String,
    pub phone_number_id: Option<String>,
    pub attempt: Attempt,
}

/// One event's delivery record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    pub event_id: String,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub status: DeliveryState,
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    pub destination: String,
    pub format: String,
    /// When it last changed state.
    pub updated_at_ms: i64,
    /// Failed attempts, oldest first.
    pub attempts: Vec<Attempt>,
    /// The attempt that was answered 2xx.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Attempt>,
    /// A replay or recovery is queued and not yet attempted.
    pub replay_queued: bool,
}

/// A page of one tenant's events in one state, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventPage {
    pub events: Vec<EventRecord>,
    /// Opaque; hand it back as `cursor` for the next page.
    pub next: Option<String>,
}

/// What a reopen for replay found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopen {
    /// The event can be claimed at once; the caller queues it.
    Reopened,
    /// Being delivered right now, or a replay of it was queued in the last 15 minutes.
    Busy,
    /// No such event of this tenant (in the states asked for).
    NotFound,
}

/// The delivery log and the retained payloads, on the idempotency table.
pub trait DeliveryLog: Send + Sync {
    /// COMPLETED, with the successful attempt, in the write that completes the claim.
    fn delivered(
        &self,
        id: &EventId,
        note: &AttemptNote,
        keep_for: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// One more failed attempt, in the write that gives the claim up (see
    /// `IdempotencyStore::fail`): `Pending` while the schedule goes on, `Failed` at its end.
    fn failed(
        &self,
        id: &EventId,
        note: &AttemptNote,
        state: DeliveryState,
        retry_after: Duration,
        keep_for: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// One tenant's events in `state` that changed within [since_ms, until_ms].
    fn list(
        &self,
        tenant: &TenantId,
        state: DeliveryState,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<EventPage, Error>> + Send;
    fn get(&self, id: &EventId) -> impl Future<Output = Result<Option<EventRecord>, Error>> + Send;
    /// Makes the tenant's event claimable at once with a fresh schedule, if it is in one of
    /// `states`, not being delivered and not reopened in the last 15 minutes; marks it
    /// `replay_queued` until it is attempted (or the mark goes stale).
    fn reopen(
        &self,
        id: &EventId,
        tenant: &TenantId,
        states: &[DeliveryState],
        keep_for: Duration,
    ) -> impl Future<Output = Result<Reopen, Error>> + Send;
    /// Keeps the event's queue message (its bytes, or its claim check) for `keep_for`.
    fn keep_payload(
        &self,
        id: &EventId,
        queue_body: &str,
        keep_for: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    fn payload(&self, id: &EventId) -> impl Future<Output = Result<Option<String>, Error>> + Send;
}

/// Puts a queue message back on the events queue, exactly as it was.
pub trait Requeue: Send + Sync {
    fn requeue(&self, queue_body: &str) -> impl Future<Output = Result<(), Error>> + Send;
}
