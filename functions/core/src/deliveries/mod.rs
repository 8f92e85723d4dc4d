//! Deliveries a tenant can see and steer: every failed attempt per event, the final success,
//! replay of one event and recovery of everything that failed since a time. The attempt log
//! rides on the forward idempotency record (`EVENT#<id>`): a failed attempt is written by the
//! same update that gives the claim up, a success by the one that completes it.
//!
//! Replay and recovery never multiply work: an event is queued again only when no copy of it
//! is on the queue (it is `failed` or `delivered`, or its replay copy never came). The copy a
//! replay queues carries a mark (`replay_mark`) that the record holds too; only the attempt of
//! that very copy ends the replay's hold, so other copies of the event cannot reopen it early.

mod service;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub(crate) use service::rfc3339;
pub use service::{DeliveriesService, EventsQuery};

use crate::Error;
use crate::meta::EventId;
use crate::tenant::TenantId;

/// The idempotency key of an event's forward record.
pub fn event_key(id: &EventId) -> String {
    format!("EVENT#{}", id.as_str())
}

/// A replay or recovery whose copy has not been attempted holds the event this long; an older
/// hold is stale (its queue send failed, or the copy was dropped unattempted: filtered out).
pub const REPLAY_HOLD_MS: i64 = 15 * 60 * 1000;

/// How a replay copy's mark ends its queue body: `,"gateway_replay":"<32 hex>"}`.
const MARK_OPEN: &str = r#","gateway_replay":""#;
const MARK_CLOSE: &str = "\"}";
const MARK_LEN: usize = 32;

/// The mark of the replay of `id` at `now_ms`: one event is reopened at most once per
/// millisecond (a reopen holds it), so no two replays of an event share one.
pub fn new_replay_mark(id: &EventId, now_ms: i64) -> String {
    let digest = Sha256::digest(format!("{now_ms}\n{}", id.as_str()).as_bytes());
    hex::encode(&digest[..MARK_LEN / 2])
}

/// The queue body before its mark, and the mark, when `body` carries one.
fn split_mark(body: &str) -> Option<(&str, &str)> {
    let cut = body
        .len()
        .checked_sub(MARK_OPEN.len() + MARK_LEN + MARK_CLOSE.len())?;
    let mark = body
        .get(cut..)?
        .strip_prefix(MARK_OPEN)?
        .strip_suffix(MARK_CLOSE)?;
    let valid = mark.len() == MARK_LEN && mark.bytes().all(|b| b.is_ascii_hexdigit());
    match valid {
        true => Some((&body[..cut], mark)),
        false => None,
    }
}

/// The replay mark a queue body carries: `None` for every copy but a replay's.
pub fn replay_mark(queue_body: &str) -> Option<&str> {
    split_mark(queue_body).map(|(_, mark)| mark)
}

/// The queue body without a replay mark.
pub fn unmarked(queue_body: &str) -> String {
    match split_mark(queue_body) {
        Some((head, _)) => format!("{head}}}"),
        None => queue_body.to_owned(),
    }
}

/// The queue body of a replay copy: the event's queue body (a JSON object: the event or its
/// claim check, whose readers ignore a member they do not know) with `mark` as its last
/// member, replacing any earlier mark.
pub fn marked(queue_body: &str, mark: &str) -> String {
    let plain = unmarked(queue_body);
    let valid = mark.len() == MARK_LEN && mark.bytes().all(|b| b.is_ascii_hexdigit());
    match plain.strip_suffix('}') {
        Some(head) if valid => format!("{head}{MARK_OPEN}{mark}{MARK_CLOSE}"),
        _ => plain,
    }
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
    /// When the replay or recovery whose copy has not been attempted yet was queued, even
    /// when that was longer ago than the hold.
    #[serde(skip)]
    pub reopened_at_ms: Option<i64>,
    /// The mark that copy carries (see `marked`).
    #[serde(skip)]
    pub replay_mark: Option<String>,
}

/// Why an event is not queued again now: a copy of it is on the queue already, or is being
/// delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// `pending`: its own next attempt is on the queue (see `next_retry_at`).
    RetryScheduled,
    /// A replay or recovery of it is on the queue and not attempted yet.
    ReplayQueued,
    /// Being delivered right now.
    InProgress,
}

impl Held {
    pub fn as_str(self) -> &'static str {
        match self {
            Held::RetryScheduled => "retry_scheduled",
            Held::ReplayQueued => "replay_queued",
            Held::InProgress => "in_progress",
        }
    }
}

/// What the record says of the event's copies at `now_ms`: `Some` when one is on the queue.
/// A `pending` record without a replay hold has its own retry queued; one whose hold is stale
/// has none (the replay copy never came), and may be queued again, as may a `failed` (in the
/// dead-letter queue) or `delivered` one without a live hold. A delivery in progress does not
/// show in the record: `reopen` finds it.
pub fn held(record: &EventRecord, now_ms: i64) -> Option<Held> {
    match record.reopened_at_ms {
        Some(at) if at > now_ms - REPLAY_HOLD_MS => Some(Held::ReplayQueued),
        Some(_) => None,
        None if record.status == DeliveryState::Pending => Some(Held::RetryScheduled),
        None => None,
    }
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
    /// A copy of it is queued already, or it is being delivered right now.
    Busy(Held),
    /// No such event of this tenant (in the states asked for).
    NotFound,
}

/// The delivery log and the retained payloads, on the idempotency table.
pub trait DeliveryLog: Send + Sync {
    /// COMPLETED, with the successful attempt, in the write that completes the claim.
    /// `replay` is the mark of the queue copy attempted: when it is the one the record's
    /// replay hold waits for, the same write ends the hold; any other copy leaves it.
    fn delivered(
        &self,
        id: &EventId,
        note: &AttemptNote,
        replay: Option<&str>,
        keep_for: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// One more failed attempt, in the write that gives the claim up (see
    /// `IdempotencyStore::fail`): `Pending` while the schedule goes on, `Failed` at its end.
    /// `replay` as for `delivered`.
    fn failed(
        &self,
        id: &EventId,
        note: &AttemptNote,
        replay: Option<&str>,
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
    /// `states`, not being delivered and not `held` at `now_ms` (one check and write);
    /// holds it as `replay_queued` under `mark` until the copy carrying `mark` is attempted,
    /// or the hold goes stale.
    fn reopen(
        &self,
        id: &EventId,
        tenant: &TenantId,
        states: &[DeliveryState],
        mark: &str,
        now_ms: i64,
        keep_for: Duration,
    ) -> impl Future<Output = Result<Reopen, Error>> + Send;
    /// The replay copy carrying `mark` was taken off the queue without an attempt of its own
    /// (another copy had delivered the event): the hold ends if it still waits for `mark`.
    fn replay_done(
        &self,
        id: &EventId,
        mark: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Counts one call of `kind` by `tenant` in the rate window starting at `window_start_ms`:
    /// `false`, and not counted, once `limit` calls are counted there. Shared by every
    /// instance (a conditional write), so the limit holds however many serve the tenant.
    fn count_call(
        &self,
        tenant: &TenantId,
        kind: &str,
        window_start_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Keeps the event's queue message (its bytes, or its claim check) for `keep_for`.
    fn keep_payload(
        &self,
        id: &EventId,
        queue_body: &str,
        keep_for: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    fn payload(&self, id: &EventId) -> impl Future<Output = Result<Option<String>, Error>> + Send;
}

/// Puts a queue message back on the events queue as it was, carrying the replay's mark (see
/// `marked`).
pub trait Requeue: Send + Sync {
    fn requeue(
        &self,
        queue_body: &str,
        mark: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

#[cfg(test)]
mod mark_tests {
    use super::*;

    #[test]
    fn a_mark_rides_at_the_end_of_the_queue_body_and_replaces_an_earlier_one() {
        let id = EventId::from_header("wamid.1");
        let mark = new_replay_mark(&id, 5);
        assert_eq!(mark.len(), MARK_LEN);
        assert_ne!(mark, new_replay_mark(&id, 6));
        let body = r#"{"id":"wamid.1","item":{"a":"}"}}"#;
        assert_eq!(replay_mark(body), None);
        let once = marked(body, &mark);
        assert_eq!(replay_mark(&once), Some(mark.as_str()));
        assert_eq!(unmarked(&once), body);
        let value: serde_json::Value = serde_json::from_str(&once).unwrap();
        assert_eq!(value["id"], "wamid.1");
        let other = new_replay_mark(&id, 6);
        let twice = marked(&once, &other);
        assert_eq!(replay_mark(&twice), Some(other.as_str()));
        assert_eq!(unmarked(&twice), body);
        // Not a JSON object: sent as it is.
        assert_eq!(marked("QUEUED", &mark), "QUEUED");
        // A string member that merely looks like a mark is none.
        let lookalike = format!(r#"{{"a":"\",\"gateway_replay\":\"{mark}"}}"#);
        assert_eq!(replay_mark(&lookalike), None);
    }
}
