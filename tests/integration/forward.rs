//! Forwarding end to end: Meta's POST into gateway-local, through the emulator's queue, to a
//! receiver on loopback that checks both signatures.

use std::time::Duration;

use gateway_aws::dynamo::DynamoMessages;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::{MessageRecord, MessageStore};
use gateway_core::tenant::TenantId;
use gateway_tests::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

async fn stack_with_tenant(
    name: &str,
    statuses: Vec<u16>,
    format: DeliveryFormat,
) -> (Stack, Receiver, String) {
    let stack = spawn_stack(stack_options(name)).await;
    let receiver = Receiver::start(statuses).await;
    let tenant = tenant_for_fixtures(&stack, &format!("{}/hook", receiver.url), format).await;
    receiver.set_secret(&tenant.webhook_secret);
    (stack, receiver, tenant.tenant_id)
}

fn assert_signed(received: &Received) {
    assert!(
        received.hub_signature_ok,
        "X-Hub-Signature-256 does not verify: {received:?}"
    );
    assert!(
        received.standard_signature_ok,
        "webhook-signature does not verify: {received:?}"
    );
    assert_eq!(received.content_type, "application/json");
    assert!(
        received
            .user_agent
            .starts_with("whatsapp-passthrough-gateway/")
    );
}

fn three_messages() -> Vec<u8> {
    let items: Vec<String> = ["491511111111", "491522222222", "491533333333"]
        .iter()
        .enumerate()
        .map(|(i, from)| format!(r#"{{"from":"{from}","id":"wamid.three{i}","timestamp":"1700000000","type":"text","text":{{"body":"Gr\u00fc\u00df {i}"}}}}"#))
        .collect();
    let contacts: Vec<String> = ["491511111111", "491522222222", "491533333333"]
        .iter()
        .map(|wa| format!(r#"{{"profile":{{"name":"C{wa}"}},"wa_id":"{wa}"}}"#))
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{}],"messages":[{}]}},"field":"messages"}}]}}]}}"#,
        contacts.join(","),
        items.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn a_single_event_post_is_forwarded_byte_identical_and_signed_both_ways() {
    let (stack, receiver, _) = stack_with_tenant("single", vec![200], DeliveryFormat::Meta).await;
    let body = fixture("message_text_unicode.json");
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].body, body);
    assert_eq!(got[0].path, "/hook");
    assert!(got[0].webhook_id.starts_with("wamid."));
    assert_signed(&got[0]);
}

#[tokio::test]
async fn a_three_event_batch_is_forwarded_as_three_meta_envelopes() {
    let (stack, receiver, _) = stack_with_tenant("three", vec![200], DeliveryFormat::Meta).await;
    assert_eq!(post_webhook(&stack, &three_messages()).await.status(), 200);
    let mut got = receiver.wait_for(3, WAIT).await;
    got.sort_by(|a, b| a.webhook_id.cmp(&b.webhook_id));
    for (i, delivery) in got.iter().enumerate() {
        assert_signed(delivery);
        assert!(delivery.body.is_ascii(), "delivery must stay ASCII");
        let v: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(v["object"], "whatsapp_business_account");
        assert_eq!(v["entry"][0]["id"], WABA_ID);
        let value = &v["entry"][0]["changes"][0]["value"];
        assert_eq!(v["entry"][0]["changes"][0]["field"], "messages");
        assert_eq!(value["metadata"]["phone_number_id"], PHONE_NUMBER_ID);
        assert_eq!(value["messages"].as_array().unwrap().len(), 1);
        assert_eq!(value["messages"][0]["id"], format!("wamid.three{i}"));
        assert_eq!(value["messages"][0]["text"]["body"], format!("Grüß {i}"));
        assert_eq!(value["contacts"][0]["wa_id"], value["messages"][0]["from"]);
        assert_eq!(delivery.webhook_id, format!("wamid.three{i}"));
    }
}

#[tokio::test]
async fn the_same_webhook_posted_twice_reaches_the_receiver_once() {
    let (stack, receiver, _) = stack_with_tenant("dupe", vec![200], DeliveryFormat::Meta).await;
    let body = fixture("status_delivered.json");
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    receiver.wait_for(1, WAIT).await;
    wait_until_drained(&stack, WAIT).await;
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    wait_until_drained(&stack, WAIT).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt_with_the_same_id() {
    let (stack, receiver, _) =
        stack_with_tenant("flaky", vec![500, 503, 200], DeliveryFormat::Meta).await;
    let body = fixture("message_location.json");
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    let got = receiver.wait_for(3, WAIT).await;
    wait_until_drained(&stack, WAIT).await;
    let got_after = receiver.received();
    assert_eq!(
        got_after.len(),
        3,
        "delivered again after success: {got_after:?}"
    );
    assert!(got.iter().all(|r| r.webhook_id == got[0].webhook_id));
    assert!(got.iter().all(|r| r.body == body));
    got.iter().for_each(assert_signed);
}

#[tokio::test]
async fn a_receiver_that_always_fails_leaves_the_event_in_the_dlq_after_the_last_attempt() {
    let (stack, receiver, _) = stack_with_tenant("dead", vec![500], DeliveryFormat::Meta).await;
    let body = fixture("message_sticker.json");
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    let attempts = gateway_core::retry::RetrySchedule::default().attempts() as usize;
    receiver.wait_for(attempts, Duration::from_secs(90)).await;
    wait_until_drained(&stack, Duration::from_secs(60)).await;
    assert_eq!(
        receiver.received().len(),
        attempts,
        "no attempt beyond the schedule"
    );
    let dlq = &stack.resources.dead_letter_queue_url;
    let dead = stack
        .clients
        .sqs
        .receive_message()
        .queue_url(dlq)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    let event = gateway_core::meta::Event::from_queue_body(dead[0].body().unwrap()).unwrap();
    assert_eq!(event.id.as_str(), receiver.received()[0].webhook_id);
}

#[tokio::test]
async fn statuses_of_a_message_with_a_callback_url_go_there_and_the_rest_to_the_tenant() {
    let (stack, tenant_receiver, tenant_id) =
        stack_with_tenant("callback", vec![200], DeliveryFormat::Meta).await;
    let callback = Receiver::start(vec![200]).await;
    let tenant = stack.tenants();
    let full =
        gateway_core::ports::TenantDirectory::tenant(&tenant, &TenantId::new(tenant_id.clone()))
            .await
            .unwrap()
            .unwrap();
    callback.set_secret(full.webhook_secrets[0].secret.expose());
    let messages = DynamoMessages::new(
        stack.clients.dynamodb.clone(),
        &stack.resources.messages_table,
    );
    let wamid = "wamid.HBgLMTY1MDU1NTAxMjYVAgARGBI3ODk3OEUwOEQ5RDFBNDBEQTgA";
    messages
        .put(&MessageRecord {
            wamid: gateway_core::ids::Wamid::from_meta(wamid),
            tenant_id: TenantId::new(tenant_id),
            phone_number_id: gateway_core::ids::PhoneNumberId::from_meta(PHONE_NUMBER_ID),
            recipient: "16505550126".into(),
            callback_url: Some(format!("{}/status-callback", callback.url)),
            created_at: gateway_aws::now(),
            last_status: None,
            statuses: Default::default(),
        })
        .await
        .unwrap();
    // batch_multi holds sent/delivered/read of that wamid, two messages and a template update.
    assert_eq!(
        post_webhook(&stack, &fixture("batch_multi.json"))
            .await
            .status(),
        200
    );
    let statuses = callback.wait_for(3, WAIT).await;
    let others = tenant_receiver.wait_for(3, WAIT).await;
    wait_until_drained(&stack, WAIT).await;
    assert_eq!(callback.received().len(), 3);
    assert_eq!(tenant_receiver.received().len(), 3);
    assert!(
        statuses
            .iter()
            .all(|r| r.path == "/status-callback" && r.webhook_id.starts_with(wamid))
    );
    assert!(others.iter().all(|r| !r.webhook_id.starts_with(wamid)));
    statuses.iter().chain(others.iter()).for_each(assert_signed);
    let record = messages.get(wamid).await.unwrap().unwrap();
    assert_eq!(
        record.last_status.as_ref().map(|s| s.as_str()),
        Some("read")
    );
    assert_eq!(record.statuses.len(), 3);
}

#[tokio::test]
async fn envelope_tenants_get_the_event_and_payload_envelope() {
    let (stack, receiver, _) =
        stack_with_tenant("envelope", vec![200], DeliveryFormat::Envelope).await;
    assert_eq!(
        post_webhook(&stack, &fixture("status_read.json"))
            .await
            .status(),
        200
    );
    assert_eq!(
        post_webhook(&stack, &fixture("template_status_update.json"))
            .await
            .status(),
        200
    );
    let got = receiver.wait_for(2, WAIT).await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let status = bodies
        .iter()
        .find(|b| b["event"] == "deliveryStatus")
        .expect("a deliveryStatus envelope");
    assert_eq!(status["payload"]["statuses"][0]["status"], "read");
    assert_eq!(
        status["payload"]["metadata"]["phone_number_id"],
        PHONE_NUMBER_ID
    );
    let template = bodies
        .iter()
        .find(|b| b["event"] == "message_template_status_update")
        .expect("a template envelope");
    assert_eq!(template["payload"]["event"], "APPROVED");
    got.iter().for_each(assert_signed);
}

#[tokio::test]
async fn an_event_no_tenant_owns_is_parked_and_acknowledged_not_retried_or_misdelivered() {
    let stack = spawn_stack(stack_options("unroutable")).await;
    // A tenant that owns another number and WABA: the event must not reach it.
    let receiver = Receiver::start(vec![200]).await;
    let other = tenant_owning(
        &stack.admin(),
        "106540352240001",
        "102290129340001",
        &receiver.url,
        DeliveryFormat::Meta,
    )
    .await;
    receiver.set_secret(&other.webhook_secret);
    assert_eq!(
        post_webhook(&stack, &fixture("message_video.json"))
            .await
            .status(),
        200
    );
    wait_until_drained(&stack, WAIT).await;
    // The retry schedule is scaled down here: a retried event would reach the DLQ in this time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.received().is_empty());
    assert_eq!(
        queue_depth(&stack.clients.sqs, &stack.resources.dead_letter_queue_url).await,
        0,
        "an unroutable event is parked, not dead-lettered"
    );
    let bucket = gateway_aws::events_bucket::EventsBucket::new(
        stack.clients.s3.clone(),
        &stack.resources.events_bucket,
    );
    let parked = gateway_aws::admin::unroutable_list(&bucket, &Default::default())
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].phone_number_id.as_deref(), Some(PHONE_NUMBER_ID));
}

#[tokio::test]
async fn under_the_production_policy_a_webhook_resolving_to_loopback_is_never_connected() {
    let mut options = stack_options("prodpolicy");
    options.target_policy = gateway_core::tenant::TargetPolicy::PublicHttpsOnly;
    // The production policy wants an https Graph API too; this test never sends.
    options.graph_api_base_url = "https://graph.facebook.com".to_owned();
    let stack = spawn_stack(options).await;
    // A TCP listener that counts connections: the guard must refuse before connecting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    // An https name (so no scheme rule refuses it) that resolves to 127.0.0.1.
    let url = format!("https://localhost:{port}/hook");
    tenant_for_fixtures(&stack, &url, DeliveryFormat::Meta).await;
    assert_eq!(
        post_webhook(&stack, &fixture("message_text.json"))
            .await
            .status(),
        200
    );
    let dlq = &stack.resources.dead_letter_queue_url;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while queue_depth(&stack.clients.sqs, dlq).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused event should spend its attempts and reach the DLQ"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the SSRF guard let a connection to loopback through"
    );
    accept.abort();
}
