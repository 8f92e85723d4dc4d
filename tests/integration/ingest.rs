//! Ingest end to end: HTTP into gateway-local, events out of the emulator's queue.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_sqs::types::Message;
use gateway_core::meta::{Event, MAX_WEBHOOK_BYTES};
use gateway_tests::*;

async fn ingest_only(name: &str) -> Stack {
    let mut options = stack_options(name);
    options.forward = false;
    spawn_stack(options).await
}

/// Drains the events queue until `expected` messages arrived or a few empty polls in a row.
async fn drain(stack: &Stack, expected: usize) -> Vec<Event> {
    let mut out: Vec<Message> = Vec::new();
    let mut empty_polls = 0;
    while out.len() < expected || empty_polls < 1 {
        let got = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&stack.resources.events_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(300)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            empty_polls += 1;
            if empty_polls > 5 {
                break;
            }
        }
        out.extend(got);
    }
    out.iter()
        .map(|m| Event::from_queue_body(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn verification_answers_the_challenge_only_for_the_right_token() {
    let stack = ingest_only("verify").await;
    let url = |token: &str| {
        format!(
            "{}/webhook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            stack.url()
        )
    };
    let ok = http().get(url(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.text().await.unwrap(), "1158201444");

    let wrong = http().get(url("guess")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    let body = wrong.text().await.unwrap();
    assert!(
        !body.contains("1158201444") && !body.contains("guess"),
        "input echoed: {body}"
    );
}

#[tokio::test]
async fn a_batch_of_updates_gives_one_queue_message_per_event_with_its_id() {
    let stack = ingest_only("batch").await;
    let body = fixture("batch_multi.json");
    let response = post_webhook(&stack, &body).await;
    assert_eq!(response.status(), 200);
    let events = drain(&stack, 6).await;
    let ids: BTreeSet<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(events.len(), 6, "{ids:?}");
    assert_eq!(ids.len(), 6, "no event queued twice: {ids:?}");
    let statuses: Vec<&String> = ids
        .iter()
        .filter(|id| id.contains(':') && id.starts_with("wamid."))
        .collect();
    assert_eq!(statuses.len(), 3);
    for suffix in [":sent", ":delivered", ":read"] {
        assert!(
            statuses.iter().any(|id| id.ends_with(suffix)),
            "{suffix} missing from {ids:?}"
        );
    }
    assert_eq!(
        ids.iter()
            .filter(|id| id.starts_with("message_template_status_update:"))
            .count(),
        1
    );
    assert!(events.iter().all(|e| e.original_body.is_none()));
}

#[tokio::test]
async fn a_hundred_message_post_is_queued_completely() {
    let stack = ingest_only("hundred").await;
    let items: Vec<String> = (0..100).map(|i| format!(r#"{{"from":"4915112345678","id":"wamid.n{i}","timestamp":"1","type":"text","text":{{"body":"m{i}"}}}}"#)).collect();
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{PHONE_NUMBER_ID}"}},"messages":[{}]}},"field":"messages"}}]}}]}}"#,
        items.join(",")
    );
    assert_eq!(post_webhook(&stack, body.as_bytes()).await.status(), 200);
    // Sorted, not deduplicated: an event queued twice shows as a repeat here.
    let mut ids: Vec<String> = drain(&stack, 100)
        .await
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("wamid.n{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn every_fixture_is_accepted_and_queued_with_its_exact_bytes() {
    let stack = ingest_only("fixtures").await;
    for name in fixture_names() {
        let body = fixture(&name);
        let response = post_webhook(&stack, &body).await;
        assert_eq!(response.status(), 200, "{name}");
        let events = drain(&stack, 1).await;
        assert!(!events.is_empty(), "{name} queued nothing");
        let text = String::from_utf8(body.clone()).unwrap();
        for event in &events {
            assert!(
                text.contains(event.item.get()),
                "{name}: item bytes changed"
            );
            assert_eq!(event.waba_id, WABA_ID, "{name}");
        }
        if events.len() == 1 {
            assert_eq!(
                events[0].original_body.as_deref(),
                Some(text.as_str()),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_refused_and_queues_nothing() {
    let stack = ingest_only("badsig").await;
    let body = fixture("message_text.json");
    let client = http();
    let post = |sig: Option<String>| {
        let mut req = client
            .post(format!("{}/webhook", stack.url()))
            .body(body.clone());
        if let Some(sig) = sig {
            req = req.header("x-hub-signature-256", sig);
        }
        req.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(format!("sha256={}", "0".repeat(64))))
            .await
            .unwrap()
            .status(),
        403
    );
    let good = meta_signature(&body);
    assert_eq!(
        post(Some(good[..good.len() - 2].to_owned()))
            .await
            .unwrap()
            .status(),
        403
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let resp = client
        .post(format!("{}/webhook", stack.url()))
        .header("x-hub-signature-256", good)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(drain(&stack, 0).await.is_empty());
}

#[tokio::test]
async fn signed_bodies_that_are_not_whatsapp_notifications_get_400_and_queue_nothing() {
    let stack = ingest_only("notjson").await;
    for body in [
        &b"{truncated"[..],
        br#"{"object":"page","entry":[]}"#,
        b"[]",
    ] {
        let response = post_webhook(&stack, body).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        let error: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(error["error"]["code"], "invalid_payload");
    }
    assert!(drain(&stack, 0).await.is_empty());
}

#[tokio::test]
async fn a_body_over_three_megabytes_is_refused_with_413() {
    let stack = ingest_only("large").await;
    let body = vec![b' '; MAX_WEBHOOK_BYTES + 1];
    assert_eq!(post_webhook(&stack, &body).await.status(), 413);
    assert!(drain(&stack, 0).await.is_empty());
}

#[tokio::test]
async fn an_sqs_outage_answers_500_and_metas_retry_later_succeeds() {
    let stack = ingest_only("outage").await;
    let sqs = &stack.clients.sqs;
    let url = stack.resources.events_queue_url.clone();
    let name = url.rsplit('/').next().unwrap().to_owned();
    sqs.delete_queue().queue_url(&url).send().await.unwrap();

    let body = fixture("message_image.json");
    let during = post_webhook(&stack, &body).await;
    assert_eq!(
        during.status(),
        500,
        "an event that is not queued must not get a 200"
    );

    // The queue comes back (same name, same URL); Meta retries the same POST.
    let mut recreated = None;
    for _ in 0..20 {
        match sqs.create_queue().queue_name(&name).send().await {
            Ok(out) => {
                recreated = out.queue_url;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    assert_eq!(recreated.as_deref(), Some(url.as_str()));
    let retry = post_webhook(&stack, &body).await;
    assert_eq!(retry.status(), 200);
    let events = drain(&stack, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].wamid.as_deref().map(|w| w.starts_with("wamid.")),
        Some(true)
    );
}

#[tokio::test]
async fn other_methods_and_paths_are_refused() {
    let stack = ingest_only("methods").await;
    let put = http()
        .put(format!("{}/webhook", stack.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    assert!(drain(&stack, 0).await.is_empty());
}
