//! Real-time events end to end with a real WebSocket client: a token from
//! `POST /v1/realtime/tokens`, a connection to the URL it gives, and each signed webhook POST
//! arriving as a frame beside the tenant's webhook. Tokens that are not the tenant's own are
//! refused at the upgrade; closed connections are forgotten; a WebSocket side that fails
//! changes nothing for the webhook. The bounds (uses of a token, a tenant's connections, the
//! frame rate) are in `bounds`; the revocation is gatewayctl's (infra/ctl/tests/realtime.rs).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use gateway_aws::dynamo::DynamoConnections;
use gateway_core::format::DeliveryFormat;
use gateway_core::realtime::{Claims, ConnectionStore, mint, unverified};
use gateway_core::signature::Secret;
use gateway_core::tenant::TenantId;
use gateway_tests::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

async fn token(stack: &Stack, key: &str, body: Option<Value>) -> (u16, Value) {
    api(stack, key, "POST", "/v1/realtime/tokens", body).await
}

/// A connect URL for the tenant of `key`, checked for shape.
async fn url(stack: &Stack, key: &str, body: Option<Value>) -> String {
    let (status, answer) = token(stack, key, body).await;
    assert_eq!(status, 201, "{answer}");
    assert!(
        answer["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    answer["url"].as_str().unwrap().to_owned()
}

/// The next data frame, as JSON (pongs and keepalives skipped).
async fn next_frame(socket: &mut Socket, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        if let Message::Text(text) = message.ok()? {
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            if value["type"] != "pong" {
                return Some(value);
            }
        }
    }
}

fn message(n: usize) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"J\u00fcrgen"}},"wa_id":"49151000{n:04}"}}],"messages":[{{"from":"49151000{n:04}","id":"wamid.rt{}x{n}","timestamp":"1700000000","type":"text","text":{{"body":"Gr\u00fc\u00dfe \/ {n}"}}}}]}},"field":"messages"}}]}}]}}"#,
        rand::random::<u32>()
    )
    .into_bytes()
}

async fn tenant(stack: &Stack) -> (Receiver, gateway_core::admin::NewTenant) {
    let receiver = Receiver::start(vec![200]).await;
    let a = tenant_for_fixtures(
        stack,
        &format!("{}/hook", receiver.url),
        DeliveryFormat::Meta,
    )
    .await;
    receiver.set_secret(&a.webhook_secret);
    (receiver, a)
}

fn connections(stack: &Stack) -> DynamoConnections {
    DynamoConnections::new(
        stack.clients.dynamodb.clone(),
        &stack.resources.connections_table,
    )
}

async fn wait_live(stack: &Stack, tenant: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let store = connections(stack);
    loop {
        let live = store.live(&TenantId::new(tenant)).await.unwrap().len();
        if live == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{live} live connections, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_signed_webhook_post_arrives_as_a_frame_within_a_second() {
    let stack = spawn_stack(stack_options("rt-frame")).await;
    let (receiver, a) = tenant(&stack).await;
    let mut socket = connect(&url(&stack, &a.api_key, None).await).await;
    let mut latencies = Vec::new();
    for n in 0..3 {
        let body = message(n);
        assert_eq!(post_webhook(&stack, &body).await.status(), 200);
        let answered = Instant::now();
        let frame = next_frame(&mut socket, WAIT).await.expect("a frame");
        latencies.push(answered.elapsed());
        assert_eq!(frame["type"], "message:new");
        assert_eq!(frame["phone_number_id"], PHONE_NUMBER_ID);
        let text = &frame["payload"]["messages"][0]["text"]["body"];
        assert_eq!(text.as_str().unwrap(), format!("Grüße / {n}"));
        assert_eq!(frame["payload"]["contacts"][0]["profile"]["name"], "Jürgen");
        // The frame's id is the webhook's `webhook-id`: a client dedupes across the two.
        let delivered = receiver.wait_for(n + 1, WAIT).await;
        assert_eq!(
            frame["event_id"].as_str(),
            Some(delivered[n].webhook_id.as_str())
        );
    }
    latencies.sort();
    eprintln!("real-time frame after the POST's 200: {latencies:?}");
    assert!(
        latencies[1] < Duration::from_secs(1),
        "median {:?} is over a second",
        latencies[1]
    );
    // A status is a `message:status`; the keepalive is answered.
    let status = fixture("status_read.json");
    assert_eq!(post_webhook(&stack, &status).await.status(), 200);
    let frame = next_frame(&mut socket, WAIT).await.expect("a status frame");
    assert_eq!(frame["type"], "message:status");
    socket
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    let pong = tokio::time::timeout(WAIT, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong.into_text().unwrap().as_str(), r#"{"type":"pong"}"#);
    socket
        .send(Message::Ping(b"k".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(WAIT, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(pong, Message::Pong(_)), "{pong:?}");
}

#[tokio::test]
async fn tokens_that_are_not_the_tenants_own_are_refused() {
    let stack = spawn_stack(stack_options("rt-refuse")).await;
    let (_receiver, a) = tenant(&stack).await;
    let b = other_tenant(&stack).await;
    let good = url(&stack, &a.api_key, None).await;
    let (base, token_a) = good.split_once("?token=").unwrap();
    let claims = unverified(token_a).unwrap();
    let with = |token: &str| format!("{base}?token={token}");

    // Expired: a one-second token, a little later.
    let short = url(&stack, &a.api_key, Some(json!({"expires_in": 1}))).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(refused(&short).await, 403, "expired");
    // Forged: an edited signature, B's tenant id under A's signature, A's claims signed with
    // A's own webhook secret (which A's systems know: it must not open A's live traffic) and
    // with B's, B's claims with a secret nobody has, and no token at all.
    // The signature's first character carries six whole bits of its first byte: changed, the
    // tag still decodes (the last character would sometimes make bad base64 instead, refused
    // for another reason) and no longer matches.
    let (claims_part, tag) = token_a.rsplit_once('.').unwrap();
    let first = tag.chars().next().unwrap();
    let edited = format!(
        "{claims_part}.{}{}",
        if first == 'A' { 'B' } else { 'A' },
        &tag[1..]
    );
    let as_b = Claims {
        tenant: TenantId::new(b.tenant_id.clone()),
        ..claims.clone()
    };
    let (signed_b, _) = mint(&Secret::new("x"), &as_b)
        .rsplit_once('.')
        .map(|(s, t)| (s.to_owned(), t.to_owned()))
        .unwrap();
    let (_, tag_a) = token_a.rsplit_once('.').unwrap();
    for (why, token) in [
        ("an edited signature", edited),
        (
            "B's claims under A's signature",
            format!("{signed_b}.{tag_a}"),
        ),
        (
            "A's claims signed with A's webhook secret",
            mint(&Secret::new(&a.webhook_secret), &claims),
        ),
        (
            "A's claims signed with B's webhook secret",
            mint(&Secret::new(&b.webhook_secret), &claims),
        ),
        (
            "B's claims signed with a made-up secret",
            mint(&Secret::new("made-up"), &as_b),
        ),
        ("garbage", "v1.e30.AAAA".to_owned()),
        ("empty", String::new()),
    ] {
        assert_eq!(refused(&with(&token)).await, 403, "{why}");
    }
    assert_eq!(refused(base).await, 403, "no token");
    for (why, query) in [
        (
            "a good token, then a bad one",
            format!("token={token_a}&token=v1.e30.AAAA"),
        ),
        (
            "a bad token, then a good one",
            format!("token=v1.e30.AAAA&token={token_a}"),
        ),
    ] {
        assert_eq!(refused(&format!("{base}?{query}")).await, 403, "{why}");
    }
    wait_live(&stack, &a.tenant_id, 0).await;

    // B's own token connects as B and sees none of A's events; B cannot scope to A's number.
    let (status, answer) = token(
        &stack,
        &b.api_key,
        Some(json!({"phone_numbers": [PHONE_NUMBER_ID]})),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("phone_numbers")),
        "{answer}"
    );
    let mut socket_b = connect(&url(&stack, &b.api_key, None).await).await;
    let mut socket_a = connect(&good).await;
    assert_eq!(post_webhook(&stack, &message(1)).await.status(), 200);
    assert!(next_frame(&mut socket_a, WAIT).await.is_some());
    assert_eq!(
        next_frame(&mut socket_b, Duration::from_secs(2)).await,
        None,
        "B saw A's event"
    );
    // The control: B's socket does get B's own events.
    let for_b = String::from_utf8(message(2))
        .unwrap()
        .replace(PHONE_NUMBER_ID, OTHER_PHONE)
        .replace(WABA_ID, OTHER_WABA);
    assert_eq!(post_webhook(&stack, for_b.as_bytes()).await.status(), 200);
    let frame = next_frame(&mut socket_b, WAIT)
        .await
        .expect("B's socket gets B's event");
    assert_eq!(frame["phone_number_id"], OTHER_PHONE, "{frame}");
    // Bad requests name their field; no key is a 401.
    for (body, field) in [
        (json!({"expires_in": 0}), "expires_in"),
        (json!({"fields": "messages"}), "fields"),
        (json!({"tenant": b.tenant_id}), "tenant"),
    ] {
        let (status, answer) = token(&stack, &a.api_key, Some(body)).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let r = http()
        .post(format!("{}/v1/realtime/tokens", stack.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_closed_connection_is_cleaned_up() {
    let stack = spawn_stack(stack_options("rt-close")).await;
    let (_receiver, a) = tenant(&stack).await;
    let mut closed = connect(&url(&stack, &a.api_key, None).await).await;
    let dropped = connect(&url(&stack, &a.api_key, None).await).await;
    wait_live(&stack, &a.tenant_id, 2).await;
    closed.close(None).await.unwrap();
    wait_live(&stack, &a.tenant_id, 1).await;
    // A client that vanishes without a close frame is forgotten too.
    drop(dropped);
    wait_live(&stack, &a.tenant_id, 0).await;
}

#[tokio::test]
async fn a_hundred_connections_of_one_tenant_each_get_the_event() {
    let stack = spawn_stack(stack_options("rt-hundred")).await;
    let (_receiver, a) = tenant(&stack).await;
    // A token opens ten connections: ten tokens, ten connections each.
    let mut urls = Vec::new();
    for _ in 0..10 {
        urls.push(url(&stack, &a.api_key, Some(json!({"fields": ["messages"]}))).await);
    }
    let sockets = futures::future::join_all(
        urls.iter()
            .flat_map(|url| std::iter::repeat_n(url, 10))
            .map(|url| connect(url.as_str())),
    )
    .await;
    wait_live(&stack, &a.tenant_id, 100).await;
    let body = message(7);
    assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    let frames = futures::future::join_all(
        sockets
            .into_iter()
            .map(|mut s| async move { next_frame(&mut s, WAIT).await }),
    )
    .await;
    // Every socket got this very event: its id is the message's wamid.
    let wamid = serde_json::from_slice::<Value>(&body).unwrap()["entry"][0]["changes"][0]["value"]
        ["messages"][0]["id"]
        .clone();
    assert!(wamid.is_string());
    let ids: Vec<_> = frames
        .iter()
        .map(|f| f.as_ref().map(|f| f["event_id"].clone()))
        .collect();
    assert!(ids.iter().all(|id| *id == Some(wamid.clone())), "{ids:?}");
}

mod adapters;
mod bounds;
mod faults;
