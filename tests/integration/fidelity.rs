//! Inbound fidelity end to end: every field Meta sends reaches the right tenant once, through
//! gateway-local (or the Lambda bootstraps), the emulator's queue and bucket, and a receiver on
//! loopback. The cases of the report that opened this work are tested one by one.

use std::collections::HashMap;
use std::time::Duration;

use gateway_aws::admin::{ParkedFilter, unroutable_list, unroutable_replay};
use gateway_aws::events_bucket::EventsBucket;
use gateway_aws::queue::SqsEventQueue;
use gateway_core::admin::TenantWriter;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::{OwnerKind, TenantDirectory};
use gateway_core::tenant::TenantId;
use gateway_tests::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const OTHER_PHONE: &str = "106540352249999";
const OTHER_WABA: &str = "102290129349999";

fn field_fixture(name: &str) -> Vec<u8> {
    fixture(&format!("fields/{name}"))
}

/// A stack with tenant A (the fixtures' phone number and WABA) and tenant B (another phone
/// number and WABA), each with its own receiver.
async fn two_tenants(name: &str) -> (Stack, Receiver, Receiver, String, String) {
    let stack = spawn_stack(stack_options(name)).await;
    let a = Receiver::start(vec![200]).await;
    let b = Receiver::start(vec![200]).await;
    let ta = tenant_for_fixtures(&stack, &a.url, DeliveryFormat::Meta).await;
    let tb = tenant_owning(
        &stack.admin(),
        OTHER_PHONE,
        OTHER_WABA,
        &b.url,
        DeliveryFormat::Meta,
    )
    .await;
    a.set_secret(&ta.webhook_secret);
    b.set_secret(&tb.webhook_secret);
    (stack, a, b, ta.tenant_id, tb.tenant_id)
}

fn ids(received: &[Received]) -> Vec<String> {
    let mut ids: Vec<String> = received.iter().map(|r| r.webhook_id.clone()).collect();
    ids.sort();
    ids
}

/// Waits until the queue is empty and a little longer, so a stray delivery would show.
async fn settle(stack: &Stack) {
    wait_until_drained(stack, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_user_preferences_change_naming_another_tenants_phone_goes_to_that_tenant() {
    let (stack, a, b, _, _) = two_tenants("prefs").await;
    let body = String::from_utf8(field_fixture("user_preferences.json"))
        .unwrap()
        .replace(PHONE_NUMBER_ID, OTHER_PHONE);
    assert_eq!(post_webhook(&stack, body.as_bytes()).await.status(), 200);
    let got = b.wait_for(1, WAIT).await;
    assert_eq!(got[0].body, body.as_bytes());
    assert!(got[0].hub_signature_ok && got[0].standard_signature_ok);
    settle(&stack).await;
    assert!(a.received().is_empty(), "the WABA's owner must not get it");
}

#[tokio::test]
async fn the_same_account_review_under_two_wabas_reaches_both_owners() {
    let (stack, a, b, _, _) = two_tenants("review").await;
    let one = String::from_utf8(field_fixture("account_review_update.json")).unwrap();
    let notification: Value = serde_json::from_str(&one).unwrap();
    let entry = serde_json::to_string(&notification["entry"][0]).unwrap();
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{entry},{}]}}"#,
        entry.replace(WABA_ID, OTHER_WABA)
    );
    assert_eq!(post_webhook(&stack, body.as_bytes()).await.status(), 200);
    let got_a = a.wait_for(1, WAIT).await;
    let got_b = b.wait_for(1, WAIT).await;
    assert_ne!(got_a[0].webhook_id, got_b[0].webhook_id);
    settle(&stack).await;
    assert_eq!(a.received().len(), 1);
    assert_eq!(b.received().len(), 1);
}

#[tokio::test]
async fn a_template_going_approved_paused_approved_is_three_events() {
    let (stack, a, _, _, _) = two_tenants("flip").await;
    let approved = String::from_utf8(field_fixture("message_template_status_update.json")).unwrap();
    let paused =
        String::from_utf8(field_fixture("message_template_status_update_paused.json")).unwrap();
    let time: Value = serde_json::from_str(&approved).unwrap();
    let t = time["entry"][0]["time"].as_u64().expect("entry time");
    let later = approved.replacen(&t.to_string(), &(t + 86_400).to_string(), 1);
    for body in [&approved, &paused, &later] {
        assert_eq!(post_webhook(&stack, body.as_bytes()).await.status(), 200);
    }
    // Meta retrying the first POST is still one event.
    assert_eq!(
        post_webhook(&stack, approved.as_bytes()).await.status(),
        200
    );
    a.wait_for(3, WAIT).await;
    settle(&stack).await;
    let got = a.received();
    assert_eq!(got.len(), 3, "{:?}", ids(&got));
    let bodies: Vec<&[u8]> = got.iter().map(|r| r.body.as_slice()).collect();
    assert!(bodies.contains(&later.as_bytes()));
    assert!(bodies.contains(&approved.as_bytes()));
}

#[tokio::test]
async fn two_participants_reading_a_group_message_are_two_statuses() {
    let (stack, a, _, _, _) = two_tenants("group").await;
    let body = field_fixture("messages_status_group_read.json");
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    let got = a.wait_for(2, WAIT).await;
    let ids = ids(&got);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.contains(":read:")), "{ids:?}");
}

/// A single-event `history` POST of about `size` bytes, in Meta's wire format.
fn history_of(size: usize) -> Vec<u8> {
    let base = String::from_utf8(field_fixture("history.json")).unwrap();
    let piece = "Gr\\u00fc\\u00dfe \\/ ";
    let filler = piece.repeat(size / piece.len());
    let key = base.find("\"history\"").expect("a history array");
    let at = key + base[key..].find('[').expect("a history array") + 1;
    let pad = format!(
        r#"{{"metadata":{{"phase":0,"chunk_order":9,"progress":50}},"threads":[{{"id":"16505550199","messages":[{{"from":"16505550199","id":"wamid.padding","timestamp":"1718870000","type":"text","text":{{"body":"{filler}"}}}}]}}]}},"#
    );
    let mut body = base;
    body.insert_str(at, &pad);
    body.into_bytes()
}

#[tokio::test]
async fn a_large_history_change_is_answered_200_and_delivered_byte_identical() {
    let (stack, a, _, _, _) = two_tenants("history").await;
    for size in [1_200_000, 3 * 1024 * 1024 - 4096] {
        let body = history_of(size);
        assert!(body.len() > size - 100 && body.len() <= 3 * 1024 * 1024);
        assert_eq!(
            post_webhook(&stack, &body).await.status(),
            200,
            "{} bytes",
            body.len()
        );
        let got = a.wait_for(1, WAIT).await;
        assert_eq!(got.last().unwrap().body.len(), body.len());
        assert!(got.last().unwrap().body == body, "delivered byte-identical");
        assert!(got.last().unwrap().hub_signature_ok);
        wait_until_drained(&stack, WAIT).await;
        a.clear();
    }
}

#[tokio::test]
async fn an_odd_value_in_one_change_does_not_stop_another_tenants_message() {
    let (stack, a, b, _, _) = two_tenants("lenient").await;
    let odd: Value = serde_json::from_slice(&field_fixture("messages_numeric_wa_id.json")).unwrap();
    let good: Value = serde_json::from_slice(&fixture("message_text.json")).unwrap();
    let good_change = serde_json::to_string(&good["entry"][0]["changes"][0])
        .unwrap()
        .replace(PHONE_NUMBER_ID, OTHER_PHONE);
    let odd_change = serde_json::to_string(&odd["entry"][0]["changes"][0]).unwrap();
    // Half a change of garbage types too: `messages` is a string, `metadata` a number.
    let broken = r#"{"value":{"messaging_product":"whatsapp","metadata":7,"messages":"x"},"field":"messages"}"#;
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","changes":[{odd_change},{broken},{good_change}]}}]}}"#
    );
    assert_eq!(post_webhook(&stack, body.as_bytes()).await.status(), 200);
    let got_b = b.wait_for(1, WAIT).await;
    assert!(got_b[0].webhook_id.starts_with("wamid."));
    // The odd message and the broken change both reach the WABA's owner.
    let got_a = a.wait_for(2, WAIT).await;
    assert_eq!(got_a.len(), 2, "{:?}", ids(&got_a));
}

#[tokio::test]
async fn every_field_fixture_reaches_its_tenant_once_with_the_manifests_ids() {
    let (stack, a, _, tenant_a, _) = two_tenants("allfields").await;
    let manifest: Vec<Value> = serde_json::from_slice(&field_fixture("manifest.json")).unwrap();
    let mut expected = 0;
    let mut literal_ids = Vec::new();
    for case in &manifest {
        let body = field_fixture(case["file"].as_str().unwrap());
        assert_eq!(
            post_webhook(&stack, &body).await.status(),
            200,
            "{}",
            case["file"]
        );
        for event in case["events"].as_array().unwrap() {
            expected += 1;
            if event["id"] != "hash" {
                literal_ids.push(event["id"].as_str().unwrap().to_owned());
            }
        }
    }
    a.wait_for(expected, Duration::from_secs(60)).await;
    settle(&stack).await;
    let got = a.received();
    let counts = got.iter().fold(HashMap::<&str, usize>::new(), |mut m, r| {
        *m.entry(r.webhook_id.as_str()).or_default() += 1;
        m
    });
    assert_eq!(got.len(), expected, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "each once: {counts:?}");
    for id in &literal_ids {
        assert!(counts.contains_key(id.as_str()), "{id} was not delivered");
    }
    assert!(
        got.iter()
            .all(|r| r.hub_signature_ok && r.standard_signature_ok)
    );
    // Media named in messages, echoes, history and standby is the tenant's to fetch.
    let tenants = stack.tenants();
    let media: Vec<String> = manifest
        .iter()
        .flat_map(|c| c["media_ids"].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(media.len() >= 3);
    for id in media {
        assert_eq!(
            tenants.owner(OwnerKind::Media, &id).await.unwrap(),
            Some(TenantId::new(tenant_a.clone())),
            "media {id}"
        );
    }
}

#[tokio::test]
async fn an_unroutable_event_is_parked_and_delivered_once_its_phone_is_added() {
    let (stack, a, b, _, tenant_b) = two_tenants("parked").await;
    let body = String::from_utf8(field_fixture("user_preferences.json"))
        .unwrap()
        .replace(PHONE_NUMBER_ID, "106540352240000")
        .replace(WABA_ID, "102290129340000");
    assert_eq!(post_webhook(&stack, body.as_bytes()).await.status(), 200);
    let bucket = EventsBucket::new(stack.clients.s3.clone(), &stack.resources.events_bucket);
    let filter = ParkedFilter {
        phone: Some("106540352240000".into()),
        waba: None,
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while unroutable_list(&bucket, &filter).await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never parked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    settle(&stack).await;
    let dlq = queue_depth(&stack.clients.sqs, &stack.resources.dead_letter_queue_url).await;
    assert_eq!(dlq, 0, "parked, not retried into the DLQ");
    assert!(a.received().is_empty() && b.received().is_empty());
    let other = ParkedFilter {
        phone: Some("106540352241111".into()),
        waba: None,
    };
    assert!(unroutable_list(&bucket, &other).await.unwrap().is_empty());

    stack
        .tenants()
        .add_owner(
            OwnerKind::Phone,
            "106540352240000",
            &TenantId::new(tenant_b),
        )
        .await
        .unwrap();
    let queue = SqsEventQueue::new(
        stack.clients.sqs.clone(),
        &stack.resources.events_queue_url,
        bucket.clone(),
    );
    assert_eq!(
        unroutable_replay(&bucket, &queue, &filter).await.unwrap(),
        1
    );
    let got = b.wait_for(1, WAIT).await;
    assert_eq!(got[0].body, body.as_bytes());
    assert!(unroutable_list(&bucket, &filter).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_large_event_whose_attempts_are_spent_reaches_the_dlq_readable() {
    let stack = spawn_stack(stack_options("largedlq")).await;
    let dead = Receiver::start(vec![500]).await;
    let tenant = tenant_for_fixtures(&stack, &dead.url, DeliveryFormat::Meta).await;
    dead.set_secret(&tenant.webhook_secret);
    let body = history_of(400_000);
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    // Exactly the schedule's attempts, then the DLQ.
    dead.wait_for(8, WAIT).await;
    let dlq = &stack.resources.dead_letter_queue_url;
    let deadline = tokio::time::Instant::now() + WAIT;
    let message = loop {
        let got = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if let Some(m) = got.into_iter().next() {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered"
        );
    };
    settle(&stack).await;
    assert_eq!(dead.received().len(), 8, "8 attempts, no more");
    let queued = message.body().unwrap();
    let check = gateway_core::meta::ClaimCheck::from_queue_body(queued).expect("a claim check");
    assert!(
        check.claim_check.contains('@'),
        "renewed: {}",
        check.claim_check
    );
    let bucket = EventsBucket::new(stack.clients.s3.clone(), &stack.resources.events_bucket);
    let queue = SqsEventQueue::new(stack.clients.sqs.clone(), dlq, bucket);
    let event = queue.read(queued).await.unwrap();
    assert_eq!(
        event.original_body.as_deref().map(str::as_bytes),
        Some(body.as_slice())
    );
}
