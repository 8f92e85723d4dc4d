//! The gateway-aws adapters against the emulator, over the real AWS protocol: what only the
//! emulator can show (claim checks, SQS visibility and redrive, admin writes). What every
//! implementation of a port must do is in `contract.rs`.

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use gateway_aws::dynamo::{DynamoTenants, OwnershipError};
use gateway_aws::events_bucket::EventsBucket;
use gateway_aws::queue::SqsEventQueue;
use gateway_core::admin::TenantWriter;
use gateway_core::meta::ClaimCheck;
use gateway_core::meta::split::split_events;
use gateway_core::ports::{EventQueue, OwnerKind};
use gateway_core::retry::RetrySchedule;
use gateway_core::tenant::TenantId;
use gateway_tests::provisioned;

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
async fn a_phone_number_cannot_belong_to_two_tenants() {
    let (clients, r) = provisioned("owner").await;
    let tenants = DynamoTenants::new(clients.dynamodb.clone(), &r.tenants_table);
    tenants
        .add_owner(OwnerKind::Phone, "123", &TenantId::new("a"))
        .await
        .unwrap();
    let err = tenants
        .add_owner(OwnerKind::Phone, "123", &TenantId::new("b"))
        .await
        .unwrap_err();
    assert!(matches!(err, OwnershipError::Taken { .. }), "{err}");
    assert!(
        !tenants
            .remove_owner(OwnerKind::Phone, "123", &TenantId::new("b"))
            .await
            .unwrap()
    );
    assert!(
        tenants
            .remove_owner(OwnerKind::Phone, "123", &TenantId::new("a"))
            .await
            .unwrap()
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
            gateway_core::meta::Event::from_queue_body(m.body().unwrap())
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

mod webhook_sender {
    use std::time::Duration;

    use gateway_aws::webhook_sender::HttpWebhookSender;
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
