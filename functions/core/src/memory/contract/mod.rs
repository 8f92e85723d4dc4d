//! The port contracts: what every implementation of a port must do, checked the same way
//! against the memory fakes (core's unit tests) and against the AWS adapters on the emulator
//! (`tests/integration/contract.rs`). A fake that passes can stand in for its adapter in a
//! unit test; a fake that drifts fails here first.
//!
//! Time is passed in, as the services pass it, so the same steps hold on both sides without
//! sleeping. Each contract takes the store and a key prefix of its own.
//!
//! The queue and its bucket: [`queue::round_trip`].
//!
//! Not covered, so the fakes may differ there: idempotency records expiring by the table's
//! TTL (a key older than its `keep_for` is free again and its attempts start over; the fakes
//! keep records for the test's life); the time a failed delivery's retry is due
//! (`DeliveryLog::failed`: the table takes the wall clock at the write, the fake the attempt's
//! own time); a requeue (replay, recover) of a claim check, which the adapter moves on a copy
//! of its object and the fake passes as it is; and a queue batch failing partway, which SQS
//! can do and the fake cannot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::admin::TenantWriter;
use crate::ids::{MessageStatus, PhoneNumberId, Wamid};
use crate::ports::{
    Claim, IdempotencyStore, MessageRecord, MessageStore, OwnerKind, TenantDirectory,
};
use crate::tenant::TenantId;

const HOLD: Duration = Duration::from_secs(60);
const KEEP: Duration = Duration::from_secs(3600);

/// Unix milliseconds now: records expire by the wall clock, so the contracts start there.
fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A claim is exclusive until it is released (attempts unchanged) or completed (the stored
/// result answers every later claim); releasing a completed key changes nothing; the same
/// key with another fingerprint is 422.
pub async fn exclusive_claims<S: IdempotencyStore>(store: &S, prefix: &str) {
    let key = format!("{prefix}EVENT#a");
    let t = wall_ms();
    let claim = |at: i64| store.claim(&key, None, HOLD, at);
    assert_eq!(
        claim(t).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    assert_eq!(claim(t).await.unwrap(), Claim::InProgress);
    store.release(&key).await.unwrap();
    assert_eq!(
        claim(t).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    store.complete(&key, Some("stored"), KEEP).await.unwrap();
    assert_eq!(
        claim(t).await.unwrap(),
        Claim::Completed(Some("stored".into()))
    );
    store.release(&key).await.unwrap();
    assert_eq!(
        claim(t).await.unwrap(),
        Claim::Completed(Some("stored".into()))
    );

    let send = format!("{prefix}SEND#k");
    let fingerprinted = |fp: &'static str| store.claim(&send, Some(fp), HOLD, t);
    assert_eq!(
        fingerprinted("body-1").await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    assert_eq!(fingerprinted("body-1").await.unwrap(), Claim::InProgress);
    assert_eq!(fingerprinted("body-2").await.unwrap_err().status(), 422);
    // A key given up before anything was sent is free for another request, which then owns it.
    store.release(&send).await.unwrap();
    assert_eq!(
        fingerprinted("body-2").await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    assert_eq!(fingerprinted("body-1").await.unwrap_err().status(), 422);
    store.complete(&send, Some("sent"), KEEP).await.unwrap();
    assert_eq!(
        fingerprinted("body-2").await.unwrap(),
        Claim::Completed(Some("sent".into()))
    );
    assert_eq!(fingerprinted("body-1").await.unwrap_err().status(), 422);
}

/// Failed attempts are counted by the store (a receive that finds the claim held counts for
/// nothing), a release keeps the count, and failing a completed key changes nothing.
pub async fn counted_attempts<S: IdempotencyStore>(store: &S, prefix: &str) {
    let key = format!("{prefix}EVENT#n");
    let t = wall_ms();
    for n in 0..3 {
        assert_eq!(
            store.claim(&key, None, HOLD, t).await.unwrap(),
            Claim::Acquired { failed_attempts: n }
        );
        assert_eq!(
            store.claim(&key, None, HOLD, t).await.unwrap(),
            Claim::InProgress
        );
        store.fail(&key, Duration::ZERO, KEEP, t).await.unwrap();
    }
    assert_eq!(
        store.claim(&key, None, HOLD, t).await.unwrap(),
        Claim::Acquired { failed_attempts: 3 }
    );
    store.release(&key).await.unwrap();
    assert_eq!(
        store.claim(&key, None, HOLD, t).await.unwrap(),
        Claim::Acquired { failed_attempts: 3 }
    );
    store.complete(&key, None, KEEP).await.unwrap();
    store.fail(&key, Duration::ZERO, KEEP, t).await.unwrap();
    assert_eq!(
        store.claim(&key, None, HOLD, t).await.unwrap(),
        Claim::Completed(None)
    );
}

/// After a failed attempt, a claim before its retry time is told how long to wait (another
/// copy of the event must not jump the schedule); within a second of it, it is due (SQS hides
/// messages for whole seconds).
pub async fn retry_times<S: IdempotencyStore>(store: &S, prefix: &str) {
    let key = format!("{prefix}EVENT#d");
    let t = wall_ms();
    assert_eq!(
        store.claim(&key, None, HOLD, t).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    store
        .fail(&key, Duration::from_secs(300), KEEP, t)
        .await
        .unwrap();
    match store.claim(&key, None, HOLD, t + 5_000).await.unwrap() {
        Claim::NotYet(wait) => assert!(
            wait > Duration::from_secs(290) && wait <= Duration::from_secs(295),
            "{wait:?}"
        ),
        other => panic!("expected NotYet, got {other:?}"),
    }
    assert_eq!(
        store.claim(&key, None, HOLD, t + 299_500).await.unwrap(),
        Claim::Acquired { failed_attempts: 1 }
    );

    let soon = format!("{prefix}EVENT#e");
    assert_eq!(
        store.claim(&soon, None, HOLD, t).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    store
        .fail(&soon, Duration::from_millis(2_500), KEEP, t)
        .await
        .unwrap();
    assert!(matches!(
        store.claim(&soon, None, HOLD, t + 1_000).await.unwrap(),
        Claim::NotYet(_)
    ));
    assert_eq!(
        store.claim(&soon, None, HOLD, t + 1_700).await.unwrap(),
        Claim::Acquired { failed_attempts: 1 }
    );
}

/// A claim whose holder died is taken over once it lapses, not before.
pub async fn lapsed_claims<S: IdempotencyStore>(store: &S, prefix: &str) {
    let key = format!("{prefix}EVENT#b");
    let t = wall_ms();
    assert_eq!(
        store
            .claim(&key, None, Duration::from_secs(10), t)
            .await
            .unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    assert_eq!(
        store.claim(&key, None, HOLD, t + 5_000).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        store.claim(&key, None, HOLD, t + 12_000).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    assert_eq!(
        store.claim(&key, None, HOLD, t + 13_000).await.unwrap(),
        Claim::InProgress
    );
}

/// A mapping set to expire (a rotated-out API key) works until then and is no one's after;
/// an expiry is only ever brought forward.
pub async fn expiring_owners<T: TenantWriter>(tenants: &T, prefix: &str) {
    let (a, now) = (TenantId::new(format!("{prefix}a")), wall_ms() / 1000);
    let key = format!("{prefix}hash-1");
    tenants
        .add_owner(OwnerKind::ApiKey, &key, &a)
        .await
        .unwrap();
    let owner = async || tenants.owner(OwnerKind::ApiKey, &key).await.unwrap();
    tenants
        .expire_owner(OwnerKind::ApiKey, &key, now + 3600)
        .await
        .unwrap();
    assert_eq!(owner().await, Some(a.clone()), "works until it expires");
    tenants
        .expire_owner(OwnerKind::ApiKey, &key, now - 1)
        .await
        .unwrap();
    assert_eq!(owner().await, None, "no one's once expired");
    tenants
        .expire_owner(OwnerKind::ApiKey, &key, now + 7200)
        .await
        .unwrap();
    assert_eq!(owner().await, None, "an expiry is never pushed back");
}

/// One owner per phone number: the first to record it keeps it.
pub async fn one_owner<T: TenantDirectory>(tenants: &T, prefix: &str) {
    let phone = format!("{prefix}123");
    let (a, b) = (
        TenantId::new(format!("{prefix}a")),
        TenantId::new(format!("{prefix}b")),
    );
    assert!(
        tenants
            .record_owner(OwnerKind::Phone, &phone, &a)
            .await
            .unwrap()
    );
    assert!(
        !tenants
            .record_owner(OwnerKind::Phone, &phone, &b)
            .await
            .unwrap()
    );
    assert!(
        tenants
            .record_owner(OwnerKind::Phone, &phone, &a)
            .await
            .unwrap()
    );
    assert_eq!(
        tenants.owner(OwnerKind::Phone, &phone).await.unwrap(),
        Some(a)
    );
    assert_eq!(
        tenants
            .owner(OwnerKind::Phone, &format!("{prefix}456"))
            .await
            .unwrap(),
        None
    );
}

/// A message's status never moves back, every status keeps its first report, and a wamid the
/// gateway never sent has no record.
pub async fn forward_only_statuses<M: MessageStore>(messages: &M, prefix: &str) {
    use MessageStatus::{Delivered, Read, Sent};
    let wamid = format!("wamid.{prefix}1");
    assert_eq!(
        messages
            .record_status(&format!("wamid.{prefix}unknown"), &Sent, 1)
            .await
            .unwrap(),
        None
    );
    messages
        .put(&MessageRecord {
            wamid: Wamid::from_meta(wamid.clone()),
            tenant_id: TenantId::new("t"),
            phone_number_id: PhoneNumberId::from_meta("P"),
            recipient: "4915112345678".into(),
            callback_url: Some("https://cb.example.com/x".into()),
            created_at: 100,
            last_status: None,
            statuses: Default::default(),
        })
        .await
        .unwrap();
    messages.record_status(&wamid, &Sent, 101).await.unwrap();
    messages.record_status(&wamid, &Read, 103).await.unwrap();
    let after_late = messages
        .record_status(&wamid, &Delivered, 102)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after_late.last_status, Some(Read));
    messages.record_status(&wamid, &Sent, 999).await.unwrap();
    let record = messages.get(&wamid).await.unwrap().unwrap();
    assert_eq!(record.last_status, Some(Read));
    assert_eq!(record.statuses.get("sent"), Some(&101));
    assert_eq!(record.statuses.get("delivered"), Some(&102));
    assert_eq!(record.statuses.get("read"), Some(&103));
    assert_eq!(
        record.callback_url.as_deref(),
        Some("https://cb.example.com/x")
    );
}

pub mod queue;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryIdempotency, MemoryMessages, MemoryPorts, MemoryTenants};

    #[tokio::test]
    async fn the_memory_idempotency_store_keeps_the_contract() {
        let store = MemoryIdempotency::default();
        exclusive_claims(&store, "").await;
        counted_attempts(&store, "").await;
        retry_times(&store, "").await;
        lapsed_claims(&store, "").await;
    }

    #[tokio::test]
    async fn the_memory_tenants_and_messages_keep_the_contract() {
        one_owner(&MemoryTenants::default(), "").await;
        expiring_owners(&MemoryTenants::default(), "").await;
        forward_only_statuses(&MemoryMessages::default(), "").await;
    }

    #[tokio::test]
    async fn the_memory_queue_and_bucket_keep_the_contract() {
        let ports = MemoryPorts::default();
        let (queue, batch) = (ports.queue.clone(), ports.batch.clone());
        queue::round_trip(
            &ports.queue,
            &ports.batch,
            async || queue.bodies(),
            async || batch.dead_letters.lock().unwrap().clone(),
            "",
        )
        .await;
    }
}
