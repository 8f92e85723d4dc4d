//! Reading, replaying and listing events, and the endpoint route: by their tenant, and by no
//! one else.

use super::*;

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
