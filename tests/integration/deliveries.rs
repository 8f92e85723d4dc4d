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

#[tokio::test]
async fn events_are_read_and_replayed_by_their_tenant_and_by_no_one_else() {
    let stack = spawn_stack(stack_options("replay")).await;
    let (receiver, a) = tenant_a(&stack, 200).await;
    let body = fixture("status_delivered.json");
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    let first = receiver.wait_for(1, WAIT).await;
    let id = first[0].webhook_id.clone();
    assert!(id.contains(':'), "a status id: {id}");
    let listed = wait_listed(&stack, &a.api_key, "delivered", 1).await;
    assert_eq!(listed[0]["event_id"], id);
    assert_eq!(listed[0]["attempts"], json!([]));

    let b = other_tenant(&stack).await;
    let encoded = id.replace(':', "%3A");
    let tries = [
        ("GET", format!("/v1/events/{id}")),
        ("GET", format!("/v1/events/{encoded}")),
        ("POST", format!("/v1/events/{id}/replay")),
        ("POST", format!("/v1/events/{encoded}/replay")),
        ("GET", format!("/v1/events/EVENT%23{encoded}")),
        ("GET", format!("/v1/events/PAYLOAD%23{encoded}")),
    ];
    for (method, path) in &tries {
        let (code, answer) = api(&stack, &b.api_key, method, path, None).await;
        assert_eq!(code, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
    }
    for status in ["delivered", "pending", "failed"] {
        let (_, page) = api(
            &stack,
            &b.api_key,
            "GET",
            &format!("/v1/events?status={status}"),
            None,
        )
        .await;
        assert_eq!(page["data"], json!([]), "{status}");
    }
    let (code, _) = api(
        &stack,
        "not-a-key",
        "GET",
        "/v1/events?status=delivered",
        None,
    )
    .await;
    assert_eq!(code, 401);
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing B did reached A's endpoint"
    );

    let (code, read) = api(
        &stack,
        &a.api_key,
        "GET",
        &format!("/v1/events/{encoded}"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["status"], "delivered");
    assert_eq!(read["field"], "messages");
    assert_eq!(read["format"], "meta");
    let (code, replayed) = api(
        &stack,
        &a.api_key,
        "POST",
        &format!("/v1/events/{id}/replay"),
        None,
    )
    .await;
    assert_eq!(code, 202, "{replayed}");
    let again = receiver.wait_for(2, WAIT).await;
    assert_eq!(again[1].webhook_id, id, "the same webhook-id");
    assert_eq!(again[1].body, body, "the same bytes");
    assert!(again[1].hub_signature_ok && again[1].standard_signature_ok);
}

#[tokio::test]
async fn the_listing_pages_and_refuses_bad_queries_by_name() {
    let stack = spawn_stack(stack_options("pages")).await;
    let (_receiver, a) = tenant_a(&stack, 200).await;
    for n in 0..5 {
        assert_eq!(
            post_webhook(&stack, &message(n, PHONE_NUMBER_ID, WABA_ID))
                .await
                .status(),
            200
        );
    }
    wait_listed(&stack, &a.api_key, "delivered", 5).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/v1/events?status=delivered&limit=2&cursor={c}"),
            None => "/v1/events?status=delivered&limit=2".to_owned(),
        };
        let (code, page) = api(&stack, &a.api_key, "GET", &path, None).await;
        assert_eq!(code, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(
            data.iter()
                .map(|e| e["event_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every event once across the pages: {seen:?}");
    let b = other_tenant(&stack).await;
    if let Some(c) = &cursor {
        let (_, page) = api(
            &stack,
            &b.api_key,
            "GET",
            &format!("/v1/events?status=delivered&cursor={c}"),
            None,
        )
        .await;
        assert_eq!(page["data"], json!([]), "A's cursor shows B nothing of A's");
    }
    for (query, field) in [
        ("", "status"),
        ("status=lost", "status"),
        ("status=failed&since=yesterday", "since"),
        ("status=failed&limit=1000", "limit"),
        ("status=failed&cursor=bm90LWEtY3Vyc29y", "cursor"),
    ] {
        let (code, answer) = api(
            &stack,
            &a.api_key,
            "GET",
            &format!("/v1/events?{query}"),
            None,
        )
        .await;
        assert_eq!(code, 400, "{query}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{query}: {answer}");
    }
    let (code, answer) = api(
        &stack,
        &a.api_key,
        "POST",
        "/v1/events/recover",
        Some(json!({"since": 1})),
    )
    .await;
    assert_eq!(
        (code, answer["error"]["field"].clone()),
        (400, json!("since")),
        "{answer}"
    );
}

#[tokio::test]
async fn the_endpoint_route_shows_each_destination_and_its_breaker() {
    let mut options = stack_options("endpoint");
    with_breaker(&mut options, Duration::from_secs(300));
    let stack = spawn_stack(options).await;
    let receiver = Receiver::start(vec![500]).await;
    let statuses = Receiver::start(vec![200]).await;
    let a = tenant_for_fixtures(
        &stack,
        &format!("{}/hook", receiver.url),
        DeliveryFormat::Meta,
    )
    .await;
    receiver.set_secret(&a.webhook_secret);
    statuses.set_secret(&a.webhook_secret);
    let changes = DestinationChanges {
        statuses: Some(Some(format!("{}/statuses", statuses.url))),
        ..Default::default()
    };
    stack
        .admin()
        .set_destinations(&a.tenant_id, changes)
        .await
        .unwrap();

    for n in 0..6 {
        assert_eq!(
            post_webhook(&stack, &message(n, PHONE_NUMBER_ID, WABA_ID))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        post_webhook(&stack, &fixture("status_delivered.json"))
            .await
            .status(),
        200
    );
    let status = statuses.wait_for(1, WAIT).await;
    assert_eq!(status[0].path, "/statuses");
    assert!(status[0].webhook_id.ends_with(":delivered"));

    let deadline = tokio::time::Instant::now() + WAIT;
    let endpoint = loop {
        let (code, endpoint) = api(&stack, &a.api_key, "GET", "/v1/endpoint", None).await;
        assert_eq!(code, 200, "{endpoint}");
        if endpoint["destinations"][0]["state"] == "open" {
            break endpoint;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the breaker never opened: {endpoint}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let main = &endpoint["destinations"][0];
    assert_eq!(main["url"], format!("{}/hook", receiver.url));
    assert_eq!(main["used_for"], json!(["default"]));
    assert!(main["failure_streak"].as_u64().unwrap() >= 5, "{main}");
    assert_eq!(main["last_status"], 500);
    assert_eq!(main["last_error"], "HTTP 500");
    let side = &endpoint["destinations"][1];
    assert_eq!(side["used_for"], json!(["statuses"]));
    assert_eq!(side["state"], "closed");
    // Open: six messages on an eight-attempt schedule cost the endpoint a few calls, not 48.
    // Warm functions each see the breaker up to a second late (the health cache), so a few
    // retries of the first wave still get through; the sam target has seen 13.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        receiver.received().len() <= 18,
        "{} calls",
        receiver.received().len()
    );
    let b = other_tenant(&stack).await;
    let (_, theirs) = api(&stack, &b.api_key, "GET", "/v1/endpoint", None).await;
    assert_eq!(theirs["destinations"].as_array().unwrap().len(), 1);
    assert_eq!(
        theirs["destinations"][0]["url"],
        "https://other.example/hook"
    );
    assert_eq!(theirs["destinations"][0]["state"], "closed");
}
