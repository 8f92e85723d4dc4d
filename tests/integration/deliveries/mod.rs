//! The tenant's delivery API end to end: `/v1/events` (list, read, replay, recover) and
//! `/v1/endpoint`, against the stack and the emulator's tables and queue; tenant B never sees,
//! replays or recovers tenant A's events, whichever way it asks.

use gateway_core::admin::{DestinationChanges, NewTenant};
use std::time::Duration;

use gateway_core::format::DeliveryFormat;
use gateway_tests::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// Tenant A, owning the fixtures' number, with a receiver answering `status`.
async fn tenant_a(stack: &Stack, status: u16) -> (Receiver, NewTenant) {
    let receiver = Receiver::start(vec![status]).await;
    let url = format!("{}/hook", receiver.url);
    let a = tenant_for_fixtures(stack, &url, DeliveryFormat::Meta).await;
    receiver.set_secret(&a.webhook_secret);
    (receiver, a)
}

/// `n` text messages to the fixtures' phone number, each its own POST.
fn message(n: usize, phone: &str, waba: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{waba}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{phone}"}},"contacts":[{{"profile":{{"name":"C"}},"wa_id":"4915100000{n:02}"}}],"messages":[{{"from":"4915100000{n:02}","id":"wamid.dl{phone}x{n}","timestamp":"1700000000","type":"text","text":{{"body":"Gr\u00fc\u00df {n}"}}}}]}},"field":"messages"}}]}}]}}"#
    )
    .into_bytes()
}

/// Waits until the tenant's `status` listing holds `n` events.
async fn wait_listed(stack: &Stack, key: &str, status: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (code, page) = api(
            stack,
            key,
            "GET",
            &format!("/v1/events?status={status}&limit=100"),
            None,
        )
        .await;
        assert_eq!(code, 200, "{page}");
        let data = page["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= n {
            return data;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{status}: {} of {n}: {page}",
            data.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn after_an_outage_recover_delivers_exactly_the_failed_events_once_each() {
    const N: usize = 4;
    let stack = spawn_stack(stack_options("recover")).await;
    let (receiver, a) = tenant_a(&stack, 503).await;
    let before = (gateway_aws::now_ms() - 1_000) as i64;
    for n in 0..N {
        assert_eq!(
            post_webhook(&stack, &message(n, PHONE_NUMBER_ID, WABA_ID))
                .await
                .status(),
            200
        );
    }
    // Every attempt of the (scaled) schedule fails: each event ends in the DLQ.
    let failed = wait_listed(&stack, &a.api_key, "failed", N).await;
    wait_until_drained(&stack, WAIT).await;
    assert_eq!(
        queue_depth(&stack.clients.sqs, &stack.resources.dead_letter_queue_url).await,
        N
    );
    for event in &failed {
        assert_eq!(event["destination"], format!("{}/hook", receiver.url));
        let attempts = event["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 8, "{event}");
        assert!(
            attempts
                .iter()
                .all(|a| a["status"] == 503 && a["error"] == "HTTP 503")
        );
        assert!(
            attempts[7]["next_retry_at"].is_null(),
            "the last attempt has no next one"
        );
    }
    let b = other_tenant(&stack).await;
    let since = time_text(before);
    let (code, theirs) = api(
        &stack,
        &b.api_key,
        "POST",
        "/v1/events/recover",
        Some(json!({"since": since})),
    )
    .await;
    assert_eq!(
        (code, theirs["recovered"].clone()),
        (202, json!(0)),
        "{theirs}"
    );

    receiver.clear();
    receiver.set_statuses(vec![200]);
    let (code, recovered) = api(
        &stack,
        &a.api_key,
        "POST",
        "/v1/events/recover",
        Some(json!({"since": since})),
    )
    .await;
    assert_eq!(code, 202, "{recovered}");
    assert_eq!(recovered["recovered"], N, "{recovered}");
    assert_eq!(recovered["complete"], true);
    let got = receiver.wait_for(N, WAIT).await;
    wait_until_drained(&stack, WAIT).await;
    let mut ids: Vec<String> = receiver
        .received()
        .into_iter()
        .map(|r| r.webhook_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "each recovered event once: {got:?}");
    assert_eq!(receiver.received().len(), N, "and nothing twice");
    let delivered = wait_listed(&stack, &a.api_key, "delivered", N).await;
    assert!(delivered.iter().all(|e| e["delivered"]["status"] == 200));
    // Recovering again finds nothing left to recover.
    let (_, again) = api(
        &stack,
        &a.api_key,
        "POST",
        "/v1/events/recover",
        Some(json!({"since": since})),
    )
    .await;
    assert_eq!(again["recovered"], 0, "{again}");
}

#[tokio::test]
async fn recoveries_and_replays_of_pending_events_add_no_copies_to_the_queue() {
    const N: usize = 5;
    let mut options = stack_options("no-copies");
    // The real schedule: after its second attempt each event's retry waits on the queue for
    // minutes, so the queue holds exactly one message per event.
    options.retry_scale = 1.0;
    let stack = spawn_stack(options).await;
    let (_receiver, a) = tenant_a(&stack, 503).await;
    let before = gateway_aws::now_ms() - 1_000;
    for n in 0..N {
        assert_eq!(
            post_webhook(&stack, &message(n, PHONE_NUMBER_ID, WABA_ID))
                .await
                .status(),
            200
        );
    }
    let pending = wait_listed(&stack, &a.api_key, "pending", N).await;
    let ids: Vec<String> = pending
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    let queue = &stack.resources.events_queue_url;
    let since = time_text(before);
    // A recovery and a replay every 1.5 s while the retries come round (5 s after the first
    // attempt) and fail again: their attempts used to end the hold.
    for id in &ids {
        let (code, recovered) = api(
            &stack,
            &a.api_key,
            "POST",
            "/v1/events/recover",
            Some(json!({"since": since})),
        )
        .await;
        assert_eq!(code, 202, "{recovered}");
        assert_eq!(recovered["recovered"], 0, "{recovered}");
        let (code, refused) = api(
            &stack,
            &a.api_key,
            "POST",
            &format!("/v1/events/{id}/replay"),
            None,
        )
        .await;
        assert_eq!(code, 409, "{refused}");
        assert_eq!(refused["error"]["code"], "conflict");
        assert!(queue_depth(&stack.clients.sqs, queue).await <= N);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    assert_eq!(
        queue_depth(&stack.clients.sqs, queue).await,
        N,
        "one copy per event: its own retry"
    );

    // Recoveries beyond 6 a minute are refused with Retry-After (at most 13 calls reach a
    // seventh in one minute, however the minutes fall).
    let mut limited = None;
    for _ in 0..13 {
        let answer = http()
            .post(format!("{}/v1/events/recover", stack.url()))
            .bearer_auth(&a.api_key)
            .header("content-type", "application/json")
            .body(json!({"since": since}).to_string())
            .send()
            .await
            .unwrap();
        let code = answer.status().as_u16();
        let retry_after = answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let text = answer.text().await.unwrap_or_default();
        if code == 429 {
            let refused: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(refused["error"]["code"], "rate_limited", "{text}");
            limited = Some(retry_after.expect("a 429 says when to come back"));
            break;
        }
        assert_eq!(code, 202, "{text}");
    }
    let after = limited.expect("the seventh recovery in a minute is refused");
    assert!((1..=60).contains(&after), "Retry-After: {after}");
    assert_eq!(queue_depth(&stack.clients.sqs, queue).await, N);
}

fn time_text(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

mod reading;
