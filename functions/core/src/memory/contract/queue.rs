//! The queue's contract: what ingest queues is what the forwarder reads, byte for byte, however
//! large, and what it moves to the dead-letter queue still reads as the same event.

use crate::forward::BatchQueue;
use crate::meta::split::split_events;
use crate::meta::{ClaimCheck, Event, MAX_QUEUE_BODY_BYTES};
use crate::ports::EventQueue;

/// A notification of two messages: a short one, and one whose text is longer than a queue
/// message may be (Meta's payloads reach 3 MB), so it is queued as a claim check.
fn two_messages(prefix: &str) -> Vec<Event> {
    let long = "\\u00e4".repeat(MAX_QUEUE_BODY_BYTES / 6 + 1_000);
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"P"}},"messages":[{{"from":"1","id":"wamid.{prefix}short","type":"text","text":{{"body":"hi"}}}},{{"from":"1","id":"wamid.{prefix}long","type":"text","text":{{"body":"{long}"}}}}]}},"field":"messages"}}]}}]}}"#
    );
    split_events(body.as_bytes()).expect("the notification splits")
}

/// `queued` and `dead` give the bodies the queue and its dead-letter queue hold now.
pub async fn round_trip<Q: EventQueue, B: BatchQueue>(
    queue: &Q,
    batch: &B,
    queued: impl AsyncFn() -> Vec<String>,
    dead: impl AsyncFn() -> Vec<String>,
    prefix: &str,
) {
    let events = two_messages(prefix);
    let (short, long) = (&events[0], &events[1]);
    assert!(long.to_queue_body().len() > MAX_QUEUE_BODY_BYTES);
    queue.enqueue(&events).await.expect("queued");
    let mut bodies = queued().await;
    assert_eq!(bodies.len(), 2, "both events are queued");
    bodies.sort_by_key(|b| ClaimCheck::from_queue_body(b).is_some());
    let (inline, check) = (&bodies[0], &bodies[1]);
    assert_eq!(
        inline,
        &short.to_queue_body(),
        "a short event is queued as it is"
    );
    let pointer = ClaimCheck::from_queue_body(check).expect("a long event is a claim check");
    assert_eq!(
        (pointer.id.as_str(), pointer.field.as_str()),
        (long.id.as_str(), "messages")
    );
    for (body, event) in [(inline, short), (check, long)] {
        let read = batch.read(body).await.expect("read back");
        assert_eq!(read.to_queue_body(), event.to_queue_body(), "{}", event.id);
    }
    // The DLQ takes each body on; the long one on a copy of its object, under another key.
    for body in [inline, check] {
        batch.dead_letter(body).await.expect("dead-lettered");
    }
    let mut letters = dead().await;
    assert_eq!(letters.len(), 2, "both bodies reach the dead-letter queue");
    letters.sort_by_key(|b| ClaimCheck::from_queue_body(b).is_some());
    assert_eq!(&letters[0], inline, "an inline body moves unchanged");
    let moved = ClaimCheck::from_queue_body(&letters[1]).expect("still a claim check");
    assert_ne!(
        moved.claim_check, pointer.claim_check,
        "the DLQ's copy has its own object"
    );
    assert_eq!(moved.id, pointer.id);
    let read = batch.read(&letters[1]).await.expect("the DLQ's copy reads");
    assert_eq!(read.to_queue_body(), long.to_queue_body());
}
