//! The test doubles tell the truth. The fake Graph API checks what Meta checks and answers with Meta's codes and statuses, so a
//! test passing against it says something about Meta. Called directly, without the gateway:
//! the gateway refuses most of these before they would reach Meta.

use gateway_core::signature::Secret;
use gateway_local::fake_graph::FakeGraph;
use gateway_tests::*;
use serde_json::{Value, json};

const TOKEN: &str = "fake-graph-token";

async fn call(
    graph: &FakeGraph,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = http()
        .request(method, format!("{}{path}", graph.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// A request to the fake and Meta's answer to it: name, method, path, body, status, (code, subcode).
type Row = (&'static str, &'static str, String, Value, u16, (i64, i64));

fn code(answer: &Value) -> (i64, i64) {
    (
        answer["error"]["code"].as_i64().unwrap_or(-1),
        answer["error"]["error_subcode"].as_i64().unwrap_or(0),
    )
}

#[tokio::test]
async fn the_fake_graph_api_refuses_what_meta_refuses_with_metas_codes() {
    let graph = FakeGraph::start(
        0,
        Secret::new(TOKEN),
        Secret::new(APP_SECRET),
        &[(WABA_ID, &[PHONE_NUMBER_ID])],
    )
    .await
    .unwrap();
    let pn = PHONE_NUMBER_ID;
    let text = json!({"messaging_product": "whatsapp", "to": "4915112345678", "type": "text", "text": {"body": "x"}});
    let rows: Vec<Row> = vec![
        (
            "wrong token",
            "POST",
            format!("/v23.0/{pn}/messages"),
            text.clone(),
            401,
            (190, 0),
        ),
        (
            "a number the token cannot see",
            "POST",
            "/v23.0/555000111/messages".into(),
            text.clone(),
            400,
            (100, 33),
        ),
        (
            "a WABA the token cannot see",
            "GET",
            "/v23.0/555000222/message_templates".into(),
            json!({}),
            400,
            (100, 33),
        ),
        (
            "no messaging_product",
            "POST",
            format!("/v23.0/{pn}/messages"),
            json!({"to": "4915112345678", "type": "text", "text": {"body": "x"}}),
            400,
            (100, 0),
        ),
        (
            "no recipient",
            "POST",
            format!("/v23.0/{pn}/messages"),
            json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
            400,
            (100, 0),
        ),
        (
            "read without message_id",
            "POST",
            format!("/v23.0/{pn}/messages"),
            json!({"messaging_product": "whatsapp", "status": "read"}),
            400,
            (100, 0),
        ),
        (
            "a closed 24-hour window",
            "POST",
            format!("/v23.0/{pn}/messages"),
            json!({"messaging_product": "whatsapp", "to": "4915100131047", "type": "text", "text": {"body": "x"}}),
            400,
            (131_047, 0),
        ),
        (
            "throughput, as Meta answers it",
            "POST",
            format!("/v23.0/{pn}/messages"),
            json!({"messaging_product": "whatsapp", "to": "4915100130429", "type": "text", "text": {"body": "x"}}),
            400,
            (130_429, 0),
        ),
        (
            "template delete without a name",
            "DELETE",
            format!("/v23.0/{WABA_ID}/message_templates"),
            json!({}),
            400,
            (100, 0),
        ),
        (
            "template delete of an unknown name",
            "DELETE",
            format!("/v23.0/{WABA_ID}/message_templates?name=nope"),
            json!({}),
            400,
            (100, 0),
        ),
        (
            "edit of a template nobody created",
            "POST",
            "/v23.0/777000111".into(),
            json!({}),
            400,
            (100, 33),
        ),
        (
            "profile update without messaging_product",
            "POST",
            format!("/v23.0/{pn}/whatsapp_business_profile"),
            json!({"about": "x"}),
            400,
            (100, 0),
        ),
    ];
    let token_for = |name: &str| {
        if name == "wrong token" {
            "not-the-token"
        } else {
            TOKEN
        }
    };
    let mut failures = Vec::new();
    for (name, method, path, body, status, expected) in rows {
        let (got, answer) = call(&graph, token_for(name), method, &path, body).await;
        if got != status || code(&answer) != expected || !answer["error"]["message"].is_string() {
            failures.push(format!("{name}: {got} {answer}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // What Meta accepts, it accepts: the throttled recipient on the retry, read receipts,
    // a template created, listed and deleted by name.
    let (status, _) = call(&graph, TOKEN, "POST", &format!("/v23.0/{pn}/messages"), json!({"messaging_product": "whatsapp", "to": "4915100130429", "type": "text", "text": {"body": "x"}})).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &graph,
        TOKEN,
        "POST",
        &format!("/v23.0/{pn}/messages"),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}),
    )
    .await;
    assert_eq!(status, 200);
    let templates = format!("/v23.0/{WABA_ID}/message_templates");
    let (status, created) = call(&graph, TOKEN, "POST", &templates, json!({"name": "order_update", "language": "en_US", "category": "UTILITY", "components": []})).await;
    assert_eq!(status, 200, "{created}");
    let (_, listed) = call(&graph, TOKEN, "GET", &templates, json!({})).await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == created["id"])
    );
    assert_eq!(listed["summary"]["total_count"], 2);
    let (status, _) = call(
        &graph,
        TOKEN,
        "DELETE",
        &format!("{templates}?name=order_update"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, listed) = call(&graph, TOKEN, "GET", &templates, json!({})).await;
    assert_eq!(listed["summary"]["total_count"], 1);
}

#[tokio::test]
async fn the_fake_graph_api_keeps_media_to_the_number_it_was_uploaded_on() {
    let graph = FakeGraph::start(
        0,
        Secret::new(TOKEN),
        Secret::new(APP_SECRET),
        &[(WABA_ID, &[PHONE_NUMBER_ID, "106540352242999"])],
    )
    .await
    .unwrap();
    let id = graph.add_media(b"PNG".to_vec(), "image/png", PHONE_NUMBER_ID);
    let (status, answer) = call(
        &graph,
        TOKEN,
        "GET",
        &format!("/v23.0/{id}?phone_number_id=106540352242999"),
        json!({}),
    )
    .await;
    assert_eq!((status, code(&answer).0), (400, 100), "{answer}");
    let (status, answer) = call(
        &graph,
        TOKEN,
        "GET",
        &format!("/v23.0/{id}?phone_number_id={PHONE_NUMBER_ID}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    for field in ["url", "mime_type", "sha256", "id"] {
        assert!(answer[field].is_string(), "{field} in {answer}");
    }
    assert_eq!(answer["messaging_product"], "whatsapp");
    assert_eq!(answer["file_size"], 3);
}

#[tokio::test]
async fn a_panicking_test_handler_is_answered_500_and_counted_never_swallowed() {
    let listener = gateway_local::http_server::bind(0).await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    let before = gateway_local::http_server::handler_panics();
    let task = tokio::spawn(gateway_local::http_server::serve(
        listener,
        |_req: lambda_http::Request| async move {
            assert_eq!(1, 2, "an assertion inside a receiver");
            lambda_http::Response::new(lambda_http::Body::Empty)
        },
    ));
    let answer = http().get(&url).send().await.unwrap();
    task.abort();
    assert_eq!(answer.status(), 500);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("an assertion inside a receiver")
    );
    assert!(gateway_local::http_server::handler_panics() > before);
}
