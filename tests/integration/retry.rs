//! The forward handler's retry delay, seen on the emulator's queue: a tenant's 429 with
//! `Retry-After` lengthens the wait, and the delay is written back to the message itself.
//! The handler runs in process on a batch received here, so the test owns the receive.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::QueueAttributeName;
use gateway_aws::dynamo::DynamoIdempotency;
use gateway_aws::{Gateway, Settings};
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::{Claim, IdempotencyStore};
use gateway_core::tenant::TargetPolicy;
use gateway_forward::{ForwardApp, handle};
use gateway_local::http_server;
use gateway_tests::*;

const RETRY_AFTER_SECS: u64 = 3600;

/// A tenant webhook that answers every delivery `429 Retry-After: 3600`, counting them.
async fn throttling_receiver() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = http_server::bind(0).await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let task = tokio::spawn(http_server::serve(listener, move |_req| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            lambda_http::Response::builder()
                .status(429)
                .header("retry-after", RETRY_AFTER_SECS.to_string())
                .body(lambda_http::Body::Empty)
                .unwrap()
        }
    }));
    (url, hits, task)
}

#[tokio::test]
async fn a_tenants_429_retry_after_is_the_delay_written_back_to_the_queue() {
    let mut options = stack_options("retry-after");
    options.forward = false;
    let stack = spawn_stack(options).await;
    if stack.is_lambda() {
        eprintln!("SKIPPED: this test drives the forward handler in process");
        return;
    }
    let (url, hits, receiver) = throttling_receiver().await;
    tenant_for_fixtures(&stack, &url, DeliveryFormat::Meta).await;
    let r = &stack.resources;
    let app = forward_app(&stack).await;
    assert_eq!(
        post_webhook(&stack, &fixture("message_text.json"))
            .await
            .status(),
        200
    );

    let sqs = &stack.clients.sqs;
    let queue = &r.events_queue_url;
    // Received with a 1 s visibility: without a delay written back, it is offered again in 1 s.
    let received = sqs
        .receive_message()
        .queue_url(queue)
        .wait_time_seconds(5)
        .visibility_timeout(1)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let mut record = SqsMessage::default();
    record.message_id = received[0].message_id.clone();
    record.receipt_handle = received[0].receipt_handle.clone();
    record.body = received[0].body.clone();
    let mut batch = SqsEvent::default();
    batch.records = vec![record];
    let response = handle(&app, batch).await;
    assert_eq!(response.batch_item_failures.len(), 1, "left for redelivery");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let again = sqs
        .receive_message()
        .queue_url(queue)
        .wait_time_seconds(4)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(
        again.is_empty(),
        "offered again before the tenant's Retry-After"
    );
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let in_flight = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
        .cloned();
    assert_eq!(
        in_flight.as_deref(),
        Some("1"),
        "still on the queue, waiting"
    );

    // The failed attempt is recorded with the tenant's wait: another copy waits as long.
    let event = gateway_core::meta::Event::from_queue_body(received[0].body().unwrap()).unwrap();
    let store = DynamoIdempotency::new(stack.clients.dynamodb.clone(), &r.idempotency_table);
    match store
        .claim(
            &format!("EVENT#{}", event.id),
            None,
            Duration::from_secs(30),
            gateway_aws::now_ms(),
        )
        .await
        .unwrap()
    {
        Claim::NotYet(wait) => assert!(
            wait > Duration::from_secs(RETRY_AFTER_SECS - 60),
            "the next attempt is due in {wait:?}, not after the tenant's Retry-After"
        ),
        other => panic!("expected the attempt to wait for the tenant, got {other:?}"),
    }
    receiver.abort();
}

/// The forward function as template.yaml configures it, on the production schedule.
async fn forward_app(stack: &Stack) -> ForwardApp<Gateway> {
    let mut settings = Settings::new(stack.resources.clone());
    settings.graph_api_base_url = "http://127.0.0.1:9".into();
    settings.webhook_timeout = Duration::from_secs(2);
    settings.target_policy = TargetPolicy::AllowLoopbackHttp;
    settings.tenant_cache = Duration::ZERO;
    let sdk = gateway_local::emulator::sdk_config(&emulator_endpoint()).await;
    ForwardApp::new(&Gateway::new(sdk, settings)).unwrap()
}

/// The one message on `queue`, received so that it is visible again at once.
async fn receive_one(stack: &Stack) -> SqsMessage {
    let received = stack
        .clients
        .sqs
        .receive_message()
        .queue_url(&stack.resources.events_queue_url)
        .wait_time_seconds(5)
        .visibility_timeout(30)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "the event is on the queue");
    let mut record = SqsMessage::default();
    record.message_id = received[0].message_id.clone();
    record.receipt_handle = received[0].receipt_handle.clone();
    record.body = received[0].body.clone();
    record
}

/// The bug behind a soak failure: receives that only found another worker's claim were
/// counted as delivery attempts, so a live event reached the DLQ before it was tried 8 times.
#[tokio::test]
async fn receives_that_only_find_another_workers_claim_never_bring_the_dlq_closer() {
    let mut options = stack_options("held-claim");
    options.forward = false;
    let stack = spawn_stack(options).await;
    if stack.is_lambda() {
        eprintln!("SKIPPED: this test drives the forward handler in process");
        return;
    }
    let receiver = Receiver::start(vec![200]).await;
    let tenant = tenant_for_fixtures(
        &stack,
        &format!("{}/hook", receiver.url),
        DeliveryFormat::Meta,
    )
    .await;
    receiver.set_secret(&tenant.webhook_secret);
    let app = forward_app(&stack).await;
    assert_eq!(
        post_webhook(&stack, &fixture("message_text.json"))
            .await
            .status(),
        200
    );
    let first = receive_one(&stack).await;
    let event = gateway_core::meta::Event::from_queue_body(first.body.as_deref().unwrap()).unwrap();
    // Another worker holds the event (its claim outlives this whole test).
    let store = DynamoIdempotency::new(
        stack.clients.dynamodb.clone(),
        &stack.resources.idempotency_table,
    );
    let key = format!("EVENT#{}", event.id);
    assert!(matches!(
        store
            .claim(&key, None, Duration::from_secs(600), gateway_aws::now_ms())
            .await
            .unwrap(),
        Claim::Acquired { .. }
    ));
    let sqs = &stack.clients.sqs;
    let attempts = gateway_core::retry::RetrySchedule::default().attempts();
    let mut record = first;
    for receive in 1..=attempts + 4 {
        let mut batch = SqsEvent::default();
        batch.records = vec![record.clone()];
        let response = handle(&app, batch).await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "receive {receive}: left on the queue"
        );
        // Offered again at once, as if the claim's wait had passed.
        sqs.change_message_visibility()
            .queue_url(&stack.resources.events_queue_url)
            .receipt_handle(record.receipt_handle.clone().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        record = receive_one(&stack).await;
    }
    assert!(
        receiver.received().is_empty(),
        "the holder is still delivering"
    );
    let dead = sqs
        .get_queue_attributes()
        .queue_url(&stack.resources.dead_letter_queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let dead = dead
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(
        dead.as_deref(),
        Some("0"),
        "nothing dead-lettered after {} receives",
        attempts + 4
    );
    // The holder gives up without attempting: the next receive delivers, as attempt 1.
    store.release(&key).await.unwrap();
    let mut batch = SqsEvent::default();
    batch.records = vec![record];
    let response = handle(&app, batch).await;
    assert!(response.batch_item_failures.is_empty(), "delivered");
    assert_eq!(receiver.received().len(), 1);
}
