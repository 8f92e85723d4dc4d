//! The gateway-aws adapters against the emulator, over the real AWS protocol.

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_aws::Clients;
use gateway_aws::blob::EventsBucket;
use gateway_aws::dynamo::{DynamoIdempotency, DynamoMessages, DynamoTenants, OwnershipError};
use gateway_aws::queue::SqsEventQueue;
use gateway_core::event::ClaimCheck;
use gateway_core::ports::{
    Claim, EventQueue, IdempotencyStore, MessageRecord, MessageStore, OwnerKind,
};
use gateway_core::retry::RetrySchedule;
use gateway_core::split::split_events;
use gateway_core::tenant::TenantId;
use gateway_local::emulator;
use gateway_local::provision::{Resources, provision};
use gateway_local::stack::default_template;
use gateway_tests::{emulator_endpoint, unique_prefix};

async fn provisioned(name: &str) -> (Clients, Resources) {
    let clients = Clients::new(&emulator::sdk_config(&emulator_endpoint()).await);
    let resources = provision(&clients, &default_template(), &unique_prefix(name))
        .await
        .expect("tables and queues are created from template.yaml");
    (clients, resources)
}

#[tokio::test]
async fn a_conditional_claim_fails_the_second_time_until_released_or_completed() {
    let (clients, r) = provisioned("claim").await;
    let store = DynamoIdempotency::new(clients.dynamodb.clone(), &r.idempotency_table);
    let hold = Duration::from_secs(60);
    assert_eq!(
        store.claim("EVENT#a", None, hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    assert_eq!(
        store.claim("EVENT#a", None, hold).await.unwrap(),
        Claim::InProgress
    );
    store.release("EVENT#a").await.unwrap();
    assert_eq!(
        store.claim("EVENT#a", None, hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    store
        .complete("EVENT#a", Some("stored"), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        store.claim("EVENT#a", None, hold).await.unwrap(),
        Claim::Completed(Some("stored".into()))
    );
    // Releasing a completed record leaves it in place.
    store.release("EVENT#a").await.unwrap();
    assert_eq!(
        store.claim("EVENT#a", None, hold).await.unwrap(),
        Claim::Completed(Some("stored".into()))
    );
}

#[tokio::test]
async fn failed_attempts_are_counted_by_the_store_not_by_receives() {
    let (clients, r) = provisioned("attempts").await;
    let store = DynamoIdempotency::new(clients.dynamodb.clone(), &r.idempotency_table);
    let hold = Duration::from_secs(60);
    let keep = Duration::from_secs(3600);
    for n in 0..3 {
        assert_eq!(
            store.claim("EVENT#n", None, hold).await.unwrap(),
            Claim::Acquired { failed_attempts: n }
        );
        // Another worker's receive while the claim is held counts for nothing.
        assert_eq!(
            store.claim("EVENT#n", None, hold).await.unwrap(),
            Claim::InProgress
        );
        store.fail("EVENT#n", Duration::ZERO, keep).await.unwrap();
    }
    // A release (nothing was attempted) keeps the count.
    assert_eq!(
        store.claim("EVENT#n", None, hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 3 }
    );
    store.release("EVENT#n").await.unwrap();
    assert_eq!(
        store.claim("EVENT#n", None, hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 3 }
    );
    store.complete("EVENT#n", None, keep).await.unwrap();
    // Failing or releasing a completed record changes nothing.
    store.fail("EVENT#n", Duration::ZERO, keep).await.unwrap();
    assert_eq!(
        store.claim("EVENT#n", None, hold).await.unwrap(),
        Claim::Completed(None)
    );
}

#[tokio::test]
async fn a_second_copy_of_an_event_waits_for_the_failed_attempts_retry_time() {
    let (clients, r) = provisioned("notyet").await;
    let store = DynamoIdempotency::new(clients.dynamodb.clone(), &r.idempotency_table);
    let hold = Duration::from_secs(60);
    let keep = Duration::from_secs(3600);
    assert_eq!(
        store.claim("EVENT#d", None, hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    store
        .fail("EVENT#d", Duration::from_secs(300), keep)
        .await
        .unwrap();
    // A duplicate POST's copy of the event is received at once: it must not jump the wait.
    match store.claim("EVENT#d", None, hold).await.unwrap() {
        Claim::NotYet(wait) => assert!(
            wait > Duration::from_secs(290) && wait <= Duration::from_secs(300),
            "{wait:?}"
        ),
        other => panic!("expected NotYet, got {other:?}"),
    }
    assert_eq!(
        store.claim("EVENT#e", None, hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    store
        .fail("EVENT#e", Duration::from_millis(2_500), keep)
        .await
        .unwrap();
    assert!(matches!(
        store.claim("EVENT#e", None, hold).await.unwrap(),
        Claim::NotYet(_)
    ));
    // Within a second of the retry time counts as due: SQS hides messages for whole seconds.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    assert_eq!(
        store.claim("EVENT#e", None, hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 1 }
    );
}

#[tokio::test]
async fn an_event_too_large_for_sqs_is_queued_as_a_claim_check_and_read_back_whole() {
    let (clients, r) = provisioned("claimcheck").await;
    let queue = SqsEventQueue::new(
        clients.sqs.clone(),
        &r.events_queue_url,
        EventsBucket::new(clients.s3.clone(), &r.events_bucket),
    );
    let text = "\\u00e4".repeat(200 * 1024);
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"P"}},"messages":[{{"from":"1","id":"wamid.huge","type":"text","text":{{"body":"{text}"}}}}]}},"field":"messages"}}]}}]}}"#
    );
    let events = split_events(body.as_bytes()).unwrap();
    queue.enqueue(&events).await.unwrap();
    let received = receive_all(&clients.sqs, &r.events_queue_url, 1).await;
    let queued = received[0].body().unwrap();
    assert!(
        queued.len() < 1024,
        "the queue holds a pointer, not {} bytes",
        queued.len()
    );
    let check = ClaimCheck::from_queue_body(queued).expect("a claim check");
    assert_eq!(check.id.as_str(), "wamid.huge");
    let back = queue.read(queued).await.unwrap();
    assert_eq!(back.original_body.as_deref(), Some(body.as_str()));
    assert_eq!(back.item.get(), events[0].item.get());
}

#[tokio::test]
async fn a_lapsed_in_progress_claim_can_be_taken_over() {
    let (clients, r) = provisioned("lapse").await;
    let store = DynamoIdempotency::new(clients.dynamodb.clone(), &r.idempotency_table);
    assert_eq!(
        store.claim("EVENT#b", None, Duration::ZERO).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        store
            .claim("EVENT#b", None, Duration::from_secs(60))
            .await
            .unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
}

#[tokio::test]
async fn the_same_key_with_another_fingerprint_is_unprocessable() {
    let (clients, r) = provisioned("fingerprint").await;
    let store = DynamoIdempotency::new(clients.dynamodb.clone(), &r.idempotency_table);
    let hold = Duration::from_secs(60);
    assert_eq!(
        store.claim("SEND#k", Some("body-1"), hold).await.unwrap(),
        Claim::Acquired { failed_attempts: 0 }
    );
    assert_eq!(
        store.claim("SEND#k", Some("body-1"), hold).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        store
            .claim("SEND#k", Some("body-2"), hold)
            .await
            .unwrap_err()
            .status(),
        422
    );
}

#[tokio::test]
async fn a_phone_number_cannot_belong_to_two_tenants() {
    let (clients, r) = provisioned("owner").await;
    let tenants = DynamoTenants::new(clients.dynamodb.clone(), &r.tenants_table);
    tenants
        .add_owner(OwnerKind::Phone, "123", &TenantId("a".into()))
        .await
        .unwrap();
    let err = tenants
        .add_owner(OwnerKind::Phone, "123", &TenantId("b".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, OwnershipError::Taken { .. }), "{err}");
    assert!(
        !tenants
            .remove_owner(OwnerKind::Phone, "123", &TenantId("b".into()))
            .await
            .unwrap()
    );
    assert!(
        tenants
            .remove_owner(OwnerKind::Phone, "123", &TenantId("a".into()))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_message_status_never_moves_backwards_but_every_status_is_recorded() {
    let (clients, r) = provisioned("status").await;
    let messages = DynamoMessages::new(clients.dynamodb.clone(), &r.messages_table);
    assert_eq!(
        messages
            .record_status("wamid.unknown", "sent", 1)
            .await
            .unwrap(),
        None
    );
    messages
        .put(&MessageRecord {
            wamid: "wamid.1".into(),
            tenant_id: TenantId("t".into()),
            phone_number_id: "P".into(),
            recipient: "4915112345678".into(),
            callback_url: Some("https://cb.example.com/x".into()),
            created_at: 100,
            last_status: None,
            statuses: Default::default(),
        })
        .await
        .unwrap();
    messages
        .record_status("wamid.1", "sent", 101)
        .await
        .unwrap();
    messages
        .record_status("wamid.1", "read", 103)
        .await
        .unwrap();
    let after_late = messages
        .record_status("wamid.1", "delivered", 102)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after_late.last_status.as_deref(), Some("read"));
    // A repeated report keeps the first timestamp.
    messages
        .record_status("wamid.1", "sent", 999)
        .await
        .unwrap();
    let record = messages.get("wamid.1").await.unwrap().unwrap();
    assert_eq!(record.last_status.as_deref(), Some("read"));
    assert_eq!(record.statuses.get("sent"), Some(&101));
    assert_eq!(record.statuses.get("delivered"), Some(&102));
    assert_eq!(record.statuses.get("read"), Some(&103));
    assert_eq!(
        record.callback_url.as_deref(),
        Some("https://cb.example.com/x")
    );
}

fn batch_of(n: usize) -> Vec<u8> {
    let items: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"from":"1","id":"wamid.{i}","type":"text"}}"#))
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"P"}},"messages":[{}]}},"field":"messages"}}]}}]}}"#,
        items.join(",")
    )
    .into_bytes()
}

async fn receive_all(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    expected: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    for _ in 0..50 {
        if out.len() >= expected {
            break;
        }
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        out.extend(got.messages.unwrap_or_default());
    }
    out
}

#[tokio::test]
async fn queued_events_are_received_deleted_and_can_be_made_visible_again() {
    let (clients, r) = provisioned("queue").await;
    let queue = SqsEventQueue::new(
        clients.sqs.clone(),
        &r.events_queue_url,
        EventsBucket::new(clients.s3.clone(), &r.events_bucket),
    );
    let events = split_events(&batch_of(23)).unwrap();
    queue.enqueue(&events).await.unwrap();

    let received = receive_all(&clients.sqs, &r.events_queue_url, 23).await;
    let mut ids: Vec<String> = received
        .iter()
        .map(|m| {
            gateway_core::event::Event::from_queue_body(m.body().unwrap())
                .unwrap()
                .id
                .to_string()
        })
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..23).map(|i| format!("wamid.{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected);

    // One is made visible again at once; the rest are deleted.
    let (again, rest) = received.split_first().unwrap();
    queue
        .delay_redeliveries(&[(again.receipt_handle().unwrap(), Duration::ZERO)])
        .await
        .unwrap();
    for m in rest {
        clients
            .sqs
            .delete_message()
            .queue_url(&r.events_queue_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    let redelivered = receive_all(&clients.sqs, &r.events_queue_url, 1).await;
    assert_eq!(redelivered.len(), 1);
    assert_eq!(redelivered[0].body(), again.body());
    let count = redelivered[0]
        .attributes()
        .unwrap()
        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
        .unwrap();
    assert_eq!(count, "2");
}

#[tokio::test]
async fn a_message_goes_to_the_dead_letter_queue_after_max_receive_count() {
    let (clients, r) = provisioned("redrive").await;
    let queue = SqsEventQueue::new(
        clients.sqs.clone(),
        &r.events_queue_url,
        EventsBucket::new(clients.s3.clone(), &r.events_bucket),
    );
    queue
        .enqueue(&split_events(&batch_of(1)).unwrap())
        .await
        .unwrap();
    let max_receives = RetrySchedule::default().receive_backstop();
    for attempt in 1..=max_receives {
        let got = receive_all(&clients.sqs, &r.events_queue_url, 1).await;
        assert_eq!(
            got.len(),
            1,
            "receive {attempt} should still find the message"
        );
        queue
            .delay_redeliveries(&[(got[0].receipt_handle().unwrap(), Duration::ZERO)])
            .await
            .unwrap();
    }
    // The next receive exceeds maxReceiveCount: the message moves to the DLQ.
    let mut beyond = Vec::new();
    for _ in 0..3 {
        beyond.extend(
            clients
                .sqs
                .receive_message()
                .queue_url(&r.events_queue_url)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default(),
        );
    }
    assert!(
        beyond.is_empty(),
        "the message should have left the events queue"
    );
    let dead = receive_all(&clients.sqs, &r.dead_letter_queue_url, 1).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body().unwrap().contains("wamid.0"));
}

mod webhook_client {
    use std::time::Duration;

    use gateway_aws::webhook_client::HttpWebhookSender;
    use gateway_core::ports::{Delivery, DeliveryResult, WebhookSender};
    use gateway_core::retry::FailureKind;
    use gateway_core::signature::{Secret, sign_delivery};
    use gateway_core::tenant::TargetPolicy;
    use gateway_tests::Receiver;

    fn delivery(url: &str) -> Delivery {
        Delivery {
            url: url.to_owned(),
            body: b"{}".to_vec(),
            signatures: sign_delivery(&[Secret::new("whsec_c2VjcmV0")], "id", 1, b"{}"),
        }
    }

    fn sender(policy: TargetPolicy) -> HttpWebhookSender {
        HttpWebhookSender::new(Duration::from_secs(2), policy).unwrap()
    }

    fn failure_reason(result: DeliveryResult) -> String {
        match result {
            DeliveryResult::Failed { reason, .. } => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_hostname_that_resolves_to_loopback_is_refused_after_resolution() {
        let receiver = Receiver::start(vec![200]).await;
        let port = receiver.url.rsplit(':').next().unwrap();
        let reason = failure_reason(
            sender(TargetPolicy::PublicHttpsOnly)
                .deliver(&delivery(&format!("https://localhost:{port}/x")))
                .await,
        );
        assert!(reason.contains("non-public"), "{reason}");
        assert!(receiver.received().is_empty());
    }

    #[tokio::test]
    async fn address_literals_and_plain_http_are_refused_before_connecting() {
        let receiver = Receiver::start(vec![200]).await;
        let s = sender(TargetPolicy::PublicHttpsOnly);
        for url in [
            receiver.url.clone() + "/x",
            receiver.url.replace("http://", "https://") + "/x",
            "https://[::ffff:169.254.169.254]/latest".to_owned(),
        ] {
            let reason = failure_reason(s.deliver(&delivery(&url)).await);
            assert!(reason.starts_with("target refused"), "{url}: {reason}");
        }
        assert!(receiver.received().is_empty());
    }

    #[tokio::test]
    async fn a_3xx_is_a_failure_and_only_a_2xx_is_delivered() {
        let receiver = Receiver::start(vec![302, 200]).await;
        let s = sender(TargetPolicy::AllowLoopbackHttp);
        let url = receiver.url.replace("127.0.0.1", "localhost") + "/x";
        assert!(matches!(
            s.deliver(&delivery(&url)).await,
            DeliveryResult::Failed {
                status: Some(302),
                ..
            }
        ));
        assert_eq!(
            s.deliver(&delivery(&url)).await,
            DeliveryResult::Delivered { status: 200 }
        );
        assert_eq!(receiver.received().len(), 2);
    }

    /// A receiver answering every request with a 302 to `location`.
    async fn redirecting_to(location: String) -> (String, tokio::task::JoinHandle<()>) {
        let listener = gateway_local::http_server::bind(0).await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let task = tokio::spawn(gateway_local::http_server::serve(listener, move |_req| {
            let location = location.clone();
            async move {
                lambda_http::Response::builder()
                    .status(302)
                    .header("location", location)
                    .body(lambda_http::Body::Empty)
                    .unwrap()
            }
        }));
        (url, task)
    }

    #[tokio::test]
    async fn a_redirect_with_a_location_is_a_failure_and_is_never_followed() {
        // Followed, this would be a 2xx from the second receiver.
        let target = Receiver::start(vec![200]).await;
        let s = sender(TargetPolicy::AllowLoopbackHttp);
        for location in [
            format!("{}/stolen", target.url),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ] {
            let (url, task) = redirecting_to(location.clone()).await;
            match s.deliver(&delivery(&url)).await {
                DeliveryResult::Failed {
                    status: Some(302), ..
                } => {}
                other => panic!("a 302 to {location} must fail as a 302, got {other:?}"),
            }
            task.abort();
        }
        assert!(target.received().is_empty(), "the redirect was followed");
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out_as_throttled() {
        // Accepted by the kernel's backlog, never answered.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", silent.local_addr().unwrap());
        match sender(TargetPolicy::AllowLoopbackHttp)
            .deliver(&delivery(&url))
            .await
        {
            DeliveryResult::Failed { kind, .. } => assert_eq!(kind, FailureKind::Throttled),
            other => panic!("expected a timeout, got {other:?}"),
        }
        drop(silent);
    }
}
