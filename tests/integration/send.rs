//! The send API end to end: HTTP into gateway-local, the fake Graph API on loopback, the
//! emulator's tables, and the status webhooks the fake posts back.

use std::time::Duration;

use gateway_core::admin::TenantChanges;
use gateway_tests::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

pub(crate) async fn world(name: &str) -> World {
    World::start(name).await
}

pub(crate) trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}

pub(crate) fn text_to(recipient: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient, "type": "text", "text": {"body": "Hallo \u{00e4}"}})
}

pub(crate) fn messages_path(phone: &str) -> String {
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
    let suspend = |active| TenantChanges {
        active: Some(active),
        ..Default::default()
    };
    let admin = w.stack.admin();
    let id = &w.tenant.tenant_id;
    admin.update(id, suspend(false)).await.unwrap();
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
    admin.update(id, suspend(true)).await.unwrap();
    assert_eq!(w.get(&templates, key).await.0, 200);
}

#[tokio::test]
async fn another_tenants_ids_are_forbidden_and_reveal_nothing() {
    let w = world("ownership").await;
    let a = w.a();
    let b1 = a
        .post(&messages_path(OTHER_PHONE), &text_to("4915112345678"), 403)
        .await;
    let b2 = a
        .post(&messages_path("123456789"), &text_to("4915112345678"), 403)
        .await;
    assert_eq!(
        b1["error"]["message"], b2["error"]["message"],
        "an existing number must look like a missing one"
    );
    let templates = format!("/v23.0/{OTHER_WABA}/message_templates");
    a.get(&templates, 403).await;
    a.post("/v23.0/777777", &json!({"components": []}), 403)
        .await;
    a.get("/v23.0/888888", 403).await;
    let create =
        json!({"name": "stolen", "language": "en_US", "category": "UTILITY", "components": []});
    a.post(&templates, &create, 403).await;
    a.delete(&format!("{templates}?name=hello_world"), 403)
        .await;
    let foreign = json!({"recipient": "4915112345678", "type": "text", "text": {"body": "x"}, "phone_number_id": OTHER_PHONE});
    let body = a.post("/v1/messages", &foreign, 403).await;
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        w.graph.seen().is_empty(),
        "nothing may reach Meta: {:?}",
        w.graph.seen()
    );
    // The positive control: the same calls with B's own key reach Meta.
    w.b().get(&templates, 200).await;
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
