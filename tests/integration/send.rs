//! The send API end to end: HTTP into gateway-local, the fake Graph API on loopback, the
//! emulator's tables, and the status webhooks the fake posts back.

use std::time::Duration;

use gateway_aws::admin::NewTenant;
use gateway_core::format::DeliveryFormat;
use gateway_core::tenant::TargetPolicy;
use gateway_local::fake_graph::FakeGraph;
use gateway_tests::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

struct World {
    stack: Stack,
    graph: FakeGraph,
    receiver: Receiver,
    tenant: NewTenant,
    other: NewTenant,
}

async fn world(name: &str) -> World {
    let (stack, graph) = stack_with_fake_graph(name).await;
    let receiver = Receiver::start(vec![200]).await;
    let tenant = tenant_for_fixtures(
        &stack,
        &format!("{}/hook", receiver.url),
        DeliveryFormat::Meta,
    )
    .await;
    receiver.set_secret(&tenant.webhook_secret);
    let other = other_tenant(&stack).await;
    World {
        stack,
        graph,
        receiver,
        tenant,
        other,
    }
}

impl World {
    /// Uploads `image` as a PNG on the fixtures' phone number, as an SDK's multipart upload.
    async fn upload_png(&self, key: &str, image: &[u8]) -> (u16, Value) {
        let boundary = "gatewayboundary";
        let mut multipart = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
        multipart.extend_from_slice(image);
        multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let upload = http()
            .post(self.url(&format!("/v23.0/{PHONE_NUMBER_ID}/media")))
            .bearer_auth(key)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart)
            .send()
            .await
            .unwrap();
        status_and_json(upload).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.url())
    }

    async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let r = http()
            .post(self.url(path))
            .bearer_auth(key)
            .json_body(body)
            .send()
            .await
            .unwrap();
        status_and_json(r).await
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        status_and_json(
            http()
                .get(self.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    fn sends_to(&self, recipient: &str) -> usize {
        self.graph
            .seen()
            .iter()
            .filter(|r| {
                r.path.ends_with("/messages")
                    && String::from_utf8_lossy(&r.body).contains(recipient)
            })
            .count()
    }
}

trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}

async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn text_to(recipient: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient, "type": "text", "text": {"body": "Hallo \u{00e4}"}})
}

fn messages_path(phone: &str) -> String {
    format!("/v23.0/{phone}/messages")
}

#[tokio::test]
async fn a_graph_send_passes_through_with_the_real_token_and_records_the_message() {
    let w = world("graph-send").await;
    let (status, body) = w
        .post(
            &messages_path(PHONE_NUMBER_ID),
            &w.tenant.api_key,
            &text_to("4915112345678"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["contacts"][0]["wa_id"], "4915112345678");
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let seen = w.graph.seen();
    let sent = seen
        .iter()
        .find(|r| r.path == messages_path(PHONE_NUMBER_ID))
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&sent.body).unwrap(),
        text_to("4915112345678")
    );
    let (status, record) = w
        .get(&format!("/v1/messages/{wamid}"), &w.tenant.api_key)
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["recipient"], "4915112345678");
    assert_eq!(record["phone_number_id"], PHONE_NUMBER_ID);
}

#[tokio::test]
async fn mark_as_read_with_a_typing_indicator_passes_through_as_meta_answers_it() {
    let w = world("mark-read").await;
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.HBgLMTY1MDU1NTAxMDEVAgASGBQ1MTJDQ0MyQzcyNzE0ODUwQ0VENQA=", "typing_indicator": {"type": "text"}});
    let (status, body) = w
        .post(&messages_path(PHONE_NUMBER_ID), &w.tenant.api_key, &read)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"success": true}));
    let seen = w.graph.seen();
    let sent = seen
        .iter()
        .find(|r| r.path == messages_path(PHONE_NUMBER_ID))
        .expect("forwarded to Meta");
    assert_eq!(serde_json::from_slice::<Value>(&sent.body).unwrap(), read);
    // Meta's own check: no messaging_product, Meta's (#100).
    let (status, body) = w
        .post(
            &messages_path(PHONE_NUMBER_ID),
            &w.tenant.api_key,
            &json!({"status": "read", "message_id": "wamid.X"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], 100);
}

#[tokio::test]
async fn missing_or_unknown_api_keys_are_refused_in_metas_error_shape() {
    let w = world("auth").await;
    let no_key = http()
        .post(w.url(&messages_path(PHONE_NUMBER_ID)))
        .json_body(&text_to("4915112345678"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(no_key).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(
        body["error"]["fbtrace_id"].is_string()
            && body["error"]["code"].is_number()
            && body["error"]["message"].is_string()
    );
    let (status, _) = w
        .post(
            &messages_path(PHONE_NUMBER_ID),
            "wgk_not-a-key",
            &text_to("4915112345678"),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = w.get("/v1/messages/wamid.X", "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    // x-api-key works as well as Bearer.
    let via_header = http()
        .get(w.url("/v23.0/102290129340398/message_templates"))
        .header("x-api-key", &w.tenant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), 200);
    assert_eq!(w.sends_to("4915112345678"), 0);
}

#[tokio::test]
async fn a_suspended_tenants_key_is_refused_on_every_route_until_it_is_resumed() {
    let w = world("suspended").await;
    let key = &w.tenant.api_key;
    let suspend = |active| gateway_aws::admin::TenantChanges {
        active: Some(active),
        ..Default::default()
    };
    let tenants = w.stack.tenants();
    let id = &w.tenant.tenant_id;
    gateway_aws::admin::update_tenant(
        &tenants,
        id,
        suspend(false),
        TargetPolicy::AllowLoopbackHttp,
    )
    .await
    .unwrap();
    let templates = format!("/v23.0/{WABA_ID}/message_templates");
    let simple = json!({"recipient": "4915112345678", "type": "text", "text": {"body": "x"}});
    assert_eq!(
        w.post(
            &messages_path(PHONE_NUMBER_ID),
            key,
            &text_to("4915112345678")
        )
        .await
        .0,
        401
    );
    assert_eq!(w.post("/v1/messages", key, &simple).await.0, 401);
    assert_eq!(w.get(&templates, key).await.0, 401);
    assert!(w.graph.seen().is_empty(), "a suspended tenant reached Meta");
    gateway_aws::admin::update_tenant(&tenants, id, suspend(true), TargetPolicy::AllowLoopbackHttp)
        .await
        .unwrap();
    assert_eq!(w.get(&templates, key).await.0, 200);
}

#[tokio::test]
async fn another_tenants_ids_are_forbidden_and_reveal_nothing() {
    let w = world("ownership").await;
    let key = &w.tenant.api_key;
    let (s1, b1) = w
        .post(&messages_path(OTHER_PHONE), key, &text_to("4915112345678"))
        .await;
    let (s2, b2) = w
        .post(&messages_path("123456789"), key, &text_to("4915112345678"))
        .await;
    assert_eq!((s1, s2), (403, 403));
    assert_eq!(
        b1["error"]["message"], b2["error"]["message"],
        "an existing number must look like a missing one"
    );
    assert_eq!(
        w.get(&format!("/v23.0/{OTHER_WABA}/message_templates"), key)
            .await
            .0,
        403
    );
    assert_eq!(
        w.post("/v23.0/777777", key, &json!({"components": []}))
            .await
            .0,
        403
    );
    assert_eq!(w.get("/v23.0/888888", key).await.0, 403);
    let templates = format!("/v23.0/{OTHER_WABA}/message_templates");
    let create =
        json!({"name": "stolen", "language": "en_US", "category": "UTILITY", "components": []});
    assert_eq!(w.post(&templates, key, &create).await.0, 403);
    let delete = http()
        .delete(w.url(&format!("{templates}?name=hello_world")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 403);
    let (status, body) = w.post("/v1/messages", key, &json!({"recipient": "4915112345678", "type": "text", "text": {"body": "x"}, "phone_number_id": OTHER_PHONE})).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        w.graph.seen().is_empty(),
        "nothing may reach Meta: {:?}",
        w.graph.seen()
    );
}

#[tokio::test]
async fn a_v1_send_is_accepted_and_its_sent_delivered_read_statuses_reach_the_tenant_and_the_record()
 {
    let w = world("v1-loop").await;
    let (status, body) = w.post("/v1/messages", &w.tenant.api_key, &json!({"recipient": "+4915112345678", "channel": "whatsapp", "type": "text", "text": {"body": "hi"}})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    let wamid = body["id"].as_str().unwrap().to_owned();
    let got = w.receiver.wait_for(3, WAIT).await;
    let ids: Vec<&str> = got.iter().map(|r| r.webhook_id.as_str()).collect();
    for status in ["sent", "delivered", "read"] {
        assert!(
            ids.contains(&format!("{wamid}:{status}").as_str()),
            "{status} missing: {ids:?}"
        );
    }
    assert!(
        got.iter()
            .all(|r| r.hub_signature_ok && r.standard_signature_ok)
    );
    wait_until_drained(&w.stack, WAIT).await;
    let (_, record) = w
        .get(&format!("/v1/messages/{wamid}"), &w.tenant.api_key)
        .await;
    assert_eq!(record["status"], "read");
    for status in ["sent", "delivered", "read"] {
        assert!(
            record["statuses"][status].is_i64(),
            "{status} missing from {record}"
        );
    }
    // The record is the sender's only.
    assert_eq!(
        w.get(&format!("/v1/messages/{wamid}"), &w.other.api_key)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_v1_message_with_invalid_fields_names_the_field_and_sends_nothing() {
    let w = world("v1-invalid").await;
    for (body, field) in [
        (json!({"type": "text", "text": {"body": "x"}}), "recipient"),
        (
            json!({"recipient": "4915112345678", "type": "text"}),
            "text",
        ),
        (
            json!({"recipient": "4915112345678", "type": "text", "text": {"body": "x"}, "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, answer) = w.post("/v1/messages", &w.tenant.api_key, &body).await;
        assert_eq!(status, 400);
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert!(w.graph.seen().is_empty());
}

#[tokio::test]
async fn a_callback_url_gets_that_messages_statuses_and_a_foreign_one_is_refused() {
    let w = world("callback").await;
    let callback = Receiver::start(vec![200]).await;
    callback.set_secret(&w.tenant.webhook_secret);
    let port = callback.url.rsplit(':').next().unwrap();
    let (status, body) = w
        .post("/v1/messages", &w.tenant.api_key, &json!({"recipient": "4915112345678", "type": "text", "text": {"body": "x"}, "callback_url": format!("http://localhost:{port}/cb")}))
        .await;
    assert_eq!(status, 202, "{body}");
    let wamid = body["id"].as_str().unwrap();
    let got = callback.wait_for(3, WAIT).await;
    assert!(
        got.iter()
            .all(|r| r.path == "/cb" && r.webhook_id.starts_with(wamid))
    );
    wait_until_drained(&w.stack, WAIT).await;
    assert!(
        w.receiver.received().is_empty(),
        "statuses went to the tenant webhook too"
    );

    // On the Graph route the extension field is taken out before Meta sees it.
    let mut graph_body = text_to("4915199999999");
    graph_body["callback_url"] = json!(format!("http://localhost:{port}/cb2"));
    let (status, body) = w
        .post(
            &messages_path(PHONE_NUMBER_ID),
            &w.tenant.api_key,
            &graph_body,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    callback.wait_for(6, WAIT).await;

    for bad in [
        "https://evil.example/cb",
        "ftp://localhost/cb",
        &format!("http://localhost:{port}/{}", "a".repeat(2100)),
    ] {
        let (status, body) = w.post("/v1/messages", &w.tenant.api_key, &json!({"recipient": "4915188888888", "type": "text", "text": {"body": "x"}, "callback_url": bad})).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "invalid_callback_url");
    }
    assert_eq!(w.sends_to("4915188888888"), 0);
}

#[tokio::test]
async fn an_idempotency_key_replays_conflicts_and_refuses_a_different_body() {
    let w = world("idempotency").await;
    let send = |key: &'static str, recipient: &'static str| {
        http()
            .post(w.url("/v1/messages"))
            .bearer_auth(&w.tenant.api_key)
            .header("idempotency-key", key)
            .json_body(&json!({"recipient": recipient, "type": "text", "text": {"body": "once"}}))
            .send()
    };
    let (s1, first) = status_and_json(send("order-1", "4915177777777").await.unwrap()).await;
    let (s2, again) = status_and_json(send("order-1", "4915177777777").await.unwrap()).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first, again);
    assert_eq!(
        w.sends_to("4915177777777"),
        1,
        "a repeat must not send again"
    );
    let (s3, body) = status_and_json(send("order-1", "4915166666666").await.unwrap()).await;
    assert_eq!(s3, 422, "{body}");
    assert_eq!(w.sends_to("4915166666666"), 0);

    // A repeat while the first is still with Meta: the fake holds ...5555 for 3 s, and the
    // repeat goes only once the fake has the first (a condition, not a guessed sleep).
    let (a, b) = tokio::join!(send("order-2", "4915155555555"), async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while w.sends_to("4915155555555") == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the first send never reached Meta"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        send("order-2", "4915155555555").await
    });
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [202, 409]);
    assert_eq!(w.sends_to("4915155555555"), 1);
}

#[tokio::test]
async fn metas_errors_pass_through_unchanged() {
    let w = world("meta-errors").await;
    let (status, body) = w
        .post(
            &messages_path(PHONE_NUMBER_ID),
            &w.tenant.api_key,
            &text_to("4915100131047"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 131047);
    assert_eq!(body["error"]["message"], "(#131047) Re-engagement message");
    assert_eq!(body["error"]["fbtrace_id"], "AFakeTraceId");
    assert!(body["error"]["error_data"]["details"].is_string());
    let (status, body) = w
        .post(
            "/v1/messages",
            &w.tenant.api_key,
            &json!({"recipient": "4915100131047", "type": "text", "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "meta_error");
    assert_eq!(body["error"]["meta"]["code"], 131047);
}

#[tokio::test]
async fn a_throughput_429_is_retried_and_then_accepted() {
    let w = world("throttle").await;
    let (status, body) = w
        .post(
            &messages_path(PHONE_NUMBER_ID),
            &w.tenant.api_key,
            &text_to("4915100130429"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["messages"][0]["id"].is_string());
    assert_eq!(w.sends_to("4915100130429"), 2);
}

/// Meta may have acted on each of these: a 500, no answer within the gateway's 10 s, and a
/// connection dropped after the request went. A repeat with the same key must not send again.
#[tokio::test]
async fn an_outcome_that_may_have_reached_meta_is_sent_once_whatever_the_repeats() {
    let w = world("idempotency-unknown").await;
    let send = |recipient: &'static str| {
        http()
            .post(w.url(&messages_path(PHONE_NUMBER_ID)))
            .bearer_auth(&w.tenant.api_key)
            .header("idempotency-key", format!("unknown-{recipient}"))
            .json_body(&text_to(recipient))
            .send()
    };
    for (recipient, first_status) in [
        ("4915100000500", 500),
        ("4915100000504", 504),
        ("4915100000666", 502),
    ] {
        let (status, body) = status_and_json(send(recipient).await.unwrap()).await;
        assert_eq!(status, first_status, "{recipient}: {body}");
        for _ in 0..2 {
            let (status, body) = status_and_json(send(recipient).await.unwrap()).await;
            assert_eq!(status, 409, "{recipient}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("may have reached Meta"),
                "{body}"
            );
        }
        assert_eq!(w.sends_to(recipient), 1, "{recipient} sent more than once");
    }
}

#[tokio::test]
async fn a_5xx_from_meta_is_returned_not_retried() {
    let w = world("server-error").await;
    let (status, body) = w
        .post(
            &messages_path(PHONE_NUMBER_ID),
            &w.tenant.api_key,
            &text_to("4915100000500"),
        )
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["message"], "An unknown error has occurred.");
    assert_eq!(w.sends_to("4915100000500"), 1);
}

#[tokio::test]
async fn meta_unreachable_is_a_502_with_a_clear_error() {
    let mut options = stack_options("unreachable");
    // A port nobody listens on: connection refused, retried until the deadline, then 502.
    let closed = http_server_closed_port().await;
    options.graph_api_base_url = format!("http://127.0.0.1:{closed}");
    let stack = spawn_stack(options).await;
    let tenant = tenant_for_fixtures(&stack, "http://127.0.0.1:9/hook", DeliveryFormat::Meta).await;
    let r = http()
        .post(format!("{}/v1/messages", stack.url()))
        .bearer_auth(&tenant.api_key)
        .json_body(&json!({"recipient": "4915112345678", "type": "text", "text": {"body": "x"}}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(r).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "upstream_unreachable");
}

async fn http_server_closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn templates_are_listed_created_edited_and_deleted_through_the_gateway() {
    let w = world("templates").await;
    let key = &w.tenant.api_key;
    let path = format!("/v23.0/{WABA_ID}/message_templates");
    let (status, list) = w.get(&format!("{path}?limit=10"), key).await;
    assert_eq!(status, 200);
    let listed = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        w.graph
            .seen()
            .iter()
            .any(|r| r.query.as_deref() == Some("limit=10"))
    );
    // A listed template is the tenant's to edit; the other tenant's key may not.
    assert_eq!(
        w.post(
            &format!("/v23.0/{listed}"),
            key,
            &json!({"category": "UTILITY"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        w.post(
            &format!("/v23.0/{listed}"),
            &w.other.api_key,
            &json!({"category": "UTILITY"})
        )
        .await
        .0,
        403
    );
    let (status, created) = w.post(&path, key, &json!({"name": "order_update", "language": "en_US", "category": "UTILITY", "components": []})).await;
    assert_eq!(status, 200);
    let new_id = created["id"].as_str().unwrap();
    assert_eq!(
        w.post(&format!("/v23.0/{new_id}"), key, &json!({"components": []}))
            .await
            .0,
        200
    );
    let deleted = http()
        .delete(w.url(&format!("{path}?name=order_update")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
}

#[tokio::test]
async fn media_is_uploaded_described_downloaded_and_deleted_only_by_its_owner() {
    let w = world("media").await;
    let key = &w.tenant.api_key;
    let image: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let (status, body) = w.upload_png(key, &image).await;
    assert_eq!(status, 200, "{body}");
    let media_id = body["id"].as_str().unwrap().to_owned();

    let (status, info) = w.get(&format!("/v23.0/{media_id}"), key).await;
    assert_eq!(status, 200);
    assert_eq!(info["mime_type"], "image/png");
    let bytes = http()
        .get(w.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.headers()["content-type"], "image/png");
    assert_eq!(bytes.bytes().await.unwrap().to_vec(), image);

    assert_eq!(
        w.get(&format!("/v23.0/{media_id}"), &w.other.api_key)
            .await
            .0,
        403
    );
    assert_eq!(
        w.get(&format!("/v1/media/{media_id}"), &w.other.api_key)
            .await
            .0,
        403
    );
    let delete = http()
        .delete(w.url(&format!("/v23.0/{media_id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 200);
}

#[tokio::test]
async fn another_tenant_cannot_reach_media_by_any_spelling_of_the_query() {
    let w = world("media-isolation").await;
    let owner = &w.tenant.api_key;
    let (status, body) = w.upload_png(owner, b"\x89PNG secret").await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (mine, theirs) = (PHONE_NUMBER_ID, OTHER_PHONE);
    let intruder = &w.other.api_key;
    // (path and query, status the gateway itself must answer; None: Meta decides and refuses;
    // either way never a 2xx)
    let rows: Vec<(String, Option<u16>)> = vec![
        (format!("/v23.0/{id}"), Some(403)),
        (format!("/v23.0/{id}?phone_number_id={mine}"), Some(403)),
        // A key named twice is refused before any owner is looked at.
        (
            format!("/v23.0/{id}?phone_number_id={theirs}&phone_number_id={mine}"),
            Some(400),
        ),
        (
            format!("/v23.0/{id}?phone_number_id={theirs}&phone%5Fnumber%5Fid={mine}"),
            Some(400),
        ),
        (format!("/{id}"), Some(403)),
        (format!("/{id}?phone_number_id={mine}"), Some(403)),
        (format!("/v23.0/{id}?phone%5fnumber%5fid={mine}"), Some(403)),
        (format!("/v23.0/{id}?phone_number_id=abc"), Some(400)),
        // Its own number does not make the owner's media its own.
        (format!("/v23.0/{id}?phone_number_id={theirs}"), Some(403)),
        (format!("/v1/media/{id}"), Some(403)),
        (
            format!("/v1/media/{id}?phone_number_id={theirs}&phone%5Fnumber%5Fid={mine}"),
            Some(400),
        ),
        (format!("/v1/media/{id}?phone_number_id={mine}"), Some(403)),
        (
            format!("/v1/media/{id}?phone_number_id={theirs}"),
            Some(403),
        ),
    ];
    let mut failures = Vec::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        for (path, expected) in &rows {
            if method == reqwest::Method::DELETE && path.starts_with("/v1/") {
                continue;
            }
            let response = http()
                .request(method.clone(), w.url(path))
                .bearer_auth(intruder)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let ok = match expected {
                Some(s) => status == *s,
                None => !(200..300).contains(&status),
            };
            if !ok || text.contains("secret") || text.contains("_media") {
                failures.push(format!("{method} {path}: {status} {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The owner still has it, and no intruder request reached Meta with the owner's number.
    assert_eq!(w.get(&format!("/v23.0/{id}"), owner).await.0, 200);
    let leaked: Vec<_> = w
        .graph
        .seen()
        .into_iter()
        .filter(|r| r.path.ends_with(&id) && r.query.as_deref().is_some_and(|q| q.contains(mine)))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}
