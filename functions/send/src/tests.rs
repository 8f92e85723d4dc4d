//! The send handler over the memory ports, driven by API Gateway v2 events checked in under
//! `fixtures/` (no emulator): what the tenant gets back, in which shape, and what Meta was
//! sent.

use gateway_core::memory::{GraphAnswer, MemoryPorts};
use gateway_core::signature::Secret;
use lambda_http::http::{HeaderValue, Method};
use serde_json::{Value, json};

use super::*;

/// Tenant `a` owns the fixtures' phone number (key `gw_test_key_a`); `b` owns another.
async fn world() -> (MemoryPorts, SendApp<MemoryPorts>) {
    let ports = MemoryPorts::default();
    ports
        .add_tenant("a", &["106540352242922"], "gw_test_key_a")
        .await;
    ports
        .add_tenant("b", &["106540352242999"], "gw_test_key_b")
        .await;
    let app = SendApp::new(&ports, Secret::new("meta-token")).unwrap();
    (ports, app)
}

fn event(name: &str) -> Request {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    lambda_http::request::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path} is no API Gateway v2 event: {e}"))
}

fn with_key(mut req: Request, key: Option<&str>) -> Request {
    match key {
        Some(key) => req.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        ),
        None => req.headers_mut().remove("authorization"),
    };
    req
}

fn json_of(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}",
            String::from_utf8_lossy(response.body().as_ref())
        )
    })
}

fn sent_by_meta() -> GraphAnswer {
    GraphAnswer::Json(
        200,
        json!({"messaging_product": "whatsapp",
               "contacts": [{"input": "4915112345678", "wa_id": "4915112345678"}],
               "messages": [{"id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjQ2QkE3"}]}),
    )
}

#[tokio::test]
async fn a_v1_send_reaches_meta_for_the_tenants_number_and_answers_the_wamid() {
    let (ports, app) = world().await;
    ports.graph.answer(sent_by_meta());
    let response = handle(&app, event("send_v1_messages.json")).await;
    assert_eq!(response.status(), 202, "{}", json_of(&response));
    assert_eq!(
        json_of(&response)["id"],
        "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjQ2QkE3"
    );
    assert_eq!(ports.graph.paths(), ["/v23.0/106540352242922/messages"]);
    let calls = ports.graph.calls.lock().unwrap();
    let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(sent["to"], "4915112345678");
    assert_eq!(
        sent["text"]["body"],
        "Gr\u{fc}\u{df}e aus M\u{fc}nchen \u{1f600}"
    );
}

#[tokio::test]
async fn a_graph_send_passes_metas_answer_back_unchanged() {
    let (ports, app) = world().await;
    ports.graph.answer(sent_by_meta());
    let response = handle(&app, event("send_graph_messages.json")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(&response)["messages"][0]["id"],
        "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjQ2QkE3"
    );
    let calls = ports.graph.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert!(String::from_utf8_lossy(&calls[0].body).contains(r"<b>aus</b>"));
}

#[tokio::test]
async fn another_tenants_key_on_the_number_is_refused_in_metas_shape_and_nothing_is_sent() {
    let (ports, app) = world().await;
    for fixture in ["send_graph_messages.json", "send_v1_messages.json"] {
        let response = handle(&app, with_key(event(fixture), Some("gw_test_key_b"))).await;
        assert_eq!(response.status(), 403, "{fixture}");
        let body = json_of(&response);
        match fixture {
            "send_graph_messages.json" => {
                assert_eq!(body["error"]["type"], "OAuthException");
                assert_eq!(body["error"]["code"], 200);
                assert!(
                    body["error"]["fbtrace_id"]
                        .as_str()
                        .is_some_and(|t| t.len() == 16)
                );
            }
            _ => assert_eq!(body["error"]["code"], "forbidden"),
        }
    }
    assert!(ports.graph.paths().is_empty(), "Meta was sent nothing");
}

#[tokio::test]
async fn no_key_or_an_unknown_key_is_a_401_with_a_bearer_challenge() {
    let (ports, app) = world().await;
    for key in [None, Some("gw_test_key_c")] {
        let response = handle(&app, with_key(event("send_graph_messages.json"), key)).await;
        assert_eq!(response.status(), 401, "{key:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(json_of(&response)["error"]["code"], 190);
    }
    assert!(ports.graph.paths().is_empty());
}

#[tokio::test]
async fn the_tenants_delivery_log_is_listed_in_the_gateways_shape() {
    let (_, app) = world().await;
    let response = handle(&app, event("send_v1_events.json")).await;
    assert_eq!(response.status(), 200, "{}", json_of(&response));
    assert!(json_of(&response)["data"].is_array());
    let mut bad = event("send_v1_events.json");
    *bad.uri_mut() = "https://abc123.example/v1/events?status=failed&limit=lots"
        .parse()
        .unwrap();
    let response = handle(&app, bad).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_of(&response)["error"]["field"],
        "limit",
        "{}",
        json_of(&response)
    );
}

#[tokio::test]
async fn a_method_the_webhook_path_does_not_take_gets_the_webhooks_refusal() {
    let (_, app) = world().await;
    let mut put = event("send_v1_messages.json");
    *put.method_mut() = Method::PUT;
    *put.uri_mut() = "https://abc123.example/webhook".parse().unwrap();
    let response = handle(&app, put).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn time_is_the_ports_clock_a_token_expires_counted_from_it() {
    let (ports, app) = world().await;
    // 2023-11-14T22:13:20Z, far from the wall clock: only the ports' clock can give it.
    ports
        .clock
        .advance_ms(1_700_000_000_000 - ports.clock.now_ms());
    let mut mint = event("send_v1_messages.json");
    *mint.uri_mut() = "https://abc123.example/v1/realtime/tokens".parse().unwrap();
    *mint.body_mut() = Body::from(r#"{"expires_in": 600}"#);
    let response = handle(&app, mint).await;
    assert_eq!(response.status(), 201, "{}", json_of(&response));
    assert_eq!(json_of(&response)["expires_at"], "2023-11-14T22:23:20Z");
}
