//! The idempotency store in memory, keeping the same contract as the DynamoDB adapter
//! (`contract.rs`): claims held until they lapse, failed attempts counted, and a claim before
//! the next attempt is due told to wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Error;
use crate::ports::{Claim, IdempotencyStore};

/// Key -> state, as the Idempotency table keeps it: `Done(result)`; `Busy` with the failed
/// attempts so far and the unix second its claim lapses; `Failed` with the attempts and the
/// unix millisecond the next is due.
#[derive(Clone)]
pub(super) enum Record {
    Done(Option<String>),
    Busy { failed: u32, until_s: i64 },
    Failed { failed: u32, retry_at_ms: i64 },
}

/// As the DynamoDB adapter: an attempt up to a second early is on time (SQS hides messages
/// for whole seconds).
const RETRY_SLACK_MS: i64 = 1_000;

type IdempotencyRecords = HashMap<String, Record>;

#[derive(Clone, Default)]
pub struct MemoryIdempotency {
    pub(super) records: Arc<Mutex<IdempotencyRecords>>,
    pub(super) fingerprints: Arc<Mutex<HashMap<String, String>>>,
    pub(super) failing_completes: Arc<Mutex<bool>>,
    /// Delivery records by event id, and kept payloads (see `log`).
    pub(super) log: Arc<Mutex<HashMap<String, crate::deliveries::EventRecord>>>,
    pub(super) payloads: Arc<Mutex<HashMap<String, String>>>,
    /// Calls counted per tenant, kind and rate window (see `log`).
    pub(super) calls: Arc<Mutex<HashMap<String, u32>>>,
}

impl MemoryIdempotency {
    /// One more failed attempt on a held key, the next due at `retry_at_ms`.
    pub(super) fn failed_attempt(&self, key: &str, retry_at_ms: i64) {
        let mut records = self.records.lock().unwrap();
        if let Some(Record::Busy { failed, .. }) = records.get(key).cloned() {
            records.insert(
                key.to_owned(),
                Record::Failed {
                    failed: failed + 1,
                    retry_at_ms,
                },
            );
        }
    }

    /// Makes `complete` fail (the store is down after the work was done).
    pub fn fail_completes(&self, on: bool) {
        *self.failing_completes.lock().unwrap() = on;
    }
}

impl IdempotencyStore for MemoryIdempotency {
    async fn claim(
        &self,
        key: &str,
        fingerprint: Option<&str>,
        hold: Duration,
        now_ms: i64,
    ) -> Result<Claim, Error> {
        let mut records = self.records.lock().unwrap();
        let (now_s, until_s) = (now_ms / 1000, now_ms / 1000 + hold.as_secs() as i64);
        let acquire = |failed: u32, records: &mut IdempotencyRecords| {
            records.insert(key.to_owned(), Record::Busy { failed, until_s });
            Claim::Acquired {
                failed_attempts: failed,
            }
        };
        let claim = match records.get(key).cloned() {
            Some(Record::Done(result)) => Claim::Completed(result),
            Some(Record::Busy { failed, until_s }) if until_s < now_s => {
                acquire(failed, &mut records)
            }
            Some(Record::Busy { .. }) => Claim::InProgress,
            Some(Record::Failed { retry_at_ms, .. }) if retry_at_ms > now_ms + RETRY_SLACK_MS => {
                Claim::NotYet(Duration::from_millis((retry_at_ms - now_ms) as u64))
            }
            Some(Record::Failed { failed, .. }) => acquire(failed, &mut records),
            None => acquire(0, &mut records),
        };
        // As the table: a claim taken writes its request's fingerprint (or none); one not
        // taken is told apart from another request under the same key.
        let mut known = self.fingerprints.lock().unwrap();
        if let Claim::Acquired { .. } = claim {
            match fingerprint {
                Some(fingerprint) => known.insert(key.to_owned(), fingerprint.to_owned()),
                None => known.remove(key),
            };
        } else if let (Some(expected), Some(stored)) = (fingerprint, known.get(key))
            && expected != stored
        {
            return Err(Error::Unprocessable(
                "this Idempotency-Key was used with a different request",
            ));
        }
        Ok(claim)
    }

    async fn complete(&self, key: &str, result: Option<&str>, _: Duration) -> Result<(), Error> {
        if *self.failing_completes.lock().unwrap() {
            return Err(Error::unavailable("idempotency store down"));
        }
        self.records
            .lock()
            .unwrap()
            .insert(key.to_owned(), Record::Done(result.map(str::to_owned)));
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), Error> {
        let mut records = self.records.lock().unwrap();
        if let Some(Record::Busy { failed, .. }) = records.get(key).cloned() {
            records.insert(
                key.to_owned(),
                Record::Failed {
                    failed,
                    retry_at_ms: 0,
                },
            );
        }
        Ok(())
    }

    async fn fail(
        &self,
        key: &str,
        retry_after: Duration,
        _: Duration,
        now_ms: i64,
    ) -> Result<(), Error> {
        self.failed_attempt(key, now_ms + retry_after.as_millis() as i64);
        Ok(())
    }
}
