//! The forward handler over the memory ports, driven by an SQS event checked in under
//! `fixtures/` (no emulator). Its bodies are queue bodies as an earlier version wrote them
//! (`tests/fixtures/queue`), so these tests also show that what is on a queue today is still
//! delivered.

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use gateway_core::memory::{MemoryPorts, ScriptedSender};
use gateway_core::ports::DeliveryResult;
use gateway_core::retry::{FailureKind, RetrySchedule};

use super::*;

fn batch() -> SqsEvent {
    let path = format!("{}/fixtures/sqs_batch.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path} is no SQS event: {e}"))
}

fn failing() -> DeliveryResult {
    DeliveryResult::Failed {
        kind: FailureKind::Failed,
        status: Some(500),
        retry_after: None,
        reason: "HTTP 500".into(),
    }
}

/// Tenant `a` owns the fixture's phone number.
async fn world(answer: DeliveryResult) -> (MemoryPorts, ForwardApp<MemoryPorts>) {
    let ports = MemoryPorts {
        sender: ScriptedSender::new(vec![answer]),
        ..MemoryPorts::default()
    };
    ports.add_tenant("a", &["106540352242922"], "key-a").await;
    let app = ForwardApp::new(&ports).unwrap();
    (ports, app)
}

#[tokio::test]
async fn a_batch_is_delivered_to_the_owner_and_nothing_is_given_back() {
    let (ports, app) = world(DeliveryResult::Delivered { status: 200 }).await;
    let response = handle(&app, batch()).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = ports.sender.sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    for delivery in sent.iter() {
        assert_eq!(delivery.url, "https://a.example/hook");
    }
    let bodies: Vec<String> = sent
        .iter()
        .map(|d| String::from_utf8_lossy(&d.body).into_owned())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains(r"Gr\u00fc\u00dfe aus M\u00fcnchen")),
        "Meta's escapes are kept"
    );
    assert!(bodies.iter().any(|b| b.contains(r#""status": "failed""#)));
}

#[tokio::test]
async fn failed_deliveries_are_given_back_with_their_retry_delay() {
    let (ports, app) = world(failing()).await;
    let response = handle(&app, batch()).await;
    let mut again: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    again.sort();
    assert_eq!(
        again,
        [
            "059f36b4-87a3-44ab-83d2-661620a0b0c1",
            "059f36b4-87a3-44ab-83d2-661621a0b0c1"
        ]
    );
    let delays = ports.batch.delays.lock().unwrap();
    assert_eq!(
        delays.len(),
        2,
        "one delay per failed message, set by receipt"
    );
    assert!(
        delays
            .iter()
            .all(|(receipt, delay)| { receipt.starts_with("AQEB") && *delay > Duration::ZERO })
    );
    assert!(ports.batch.dead_letters.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_event_whose_attempts_are_spent_moves_to_the_dlq_as_it_was_queued() {
    let (ports, app) = world(failing()).await;
    let attempts = RetrySchedule::default().attempts();
    let longest_delay = || {
        let delays = std::mem::take(&mut *ports.batch.delays.lock().unwrap());
        delays
            .into_iter()
            .map(|(_, d)| d.as_secs() as i64)
            .max()
            .unwrap()
    };
    let mut now = 1_796_378_400;
    handle_at(&app, batch(), now).await;
    for attempt in 2..=attempts {
        let due = now + longest_delay();
        // Offered again before its retry is due (a duplicate's copy): no attempt is spent.
        let early = handle_at(&app, batch(), now + 1).await;
        assert_eq!(early.batch_item_failures.len(), 2);
        longest_delay();
        assert!(
            ports.batch.dead_letters.lock().unwrap().is_empty(),
            "not before attempt {attempt}"
        );
        now = due;
        handle_at(&app, batch(), now).await;
    }
    // Fewer sends than attempts: once the endpoint's breaker opens, attempts are deferred
    // without a call (and still counted).
    assert!(ports.sender.sent.lock().unwrap().len() as u32 <= 2 * attempts);
    let dead = ports.batch.dead_letters.lock().unwrap().clone();
    let fixture = batch();
    let queued: Vec<String> = fixture.records.into_iter().filter_map(|r| r.body).collect();
    assert_eq!(dead.len(), 2);
    for body in &dead {
        assert!(queued.contains(body), "moved byte for byte");
    }
}

#[tokio::test]
async fn an_unreadable_body_is_given_back_for_the_redrive_policy() {
    let (ports, app) = world(DeliveryResult::Delivered { status: 200 }).await;
    let mut event = batch();
    event.records[0].body = Some("{not json".into());
    event.records[1].body = None;
    let response = handle(&app, event).await;
    assert_eq!(response.batch_item_failures.len(), 2);
    assert!(ports.sender.sent.lock().unwrap().is_empty());
    assert!(
        ports.batch.delays.lock().unwrap().is_empty(),
        "the queue's default visibility applies"
    );
}
