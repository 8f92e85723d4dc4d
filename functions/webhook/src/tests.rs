//! The webhook handler over the memory ports, driven by API Gateway v2 events checked in under
//! `tests/fixtures/apigw` (no emulator): what Meta gets back and what was queued.

use gateway_core::memory::MemoryPorts;
use gateway_core::signature::Secret;
use lambda_http::http::Method;

use super::*;

fn app(ports: &MemoryPorts) -> WebhookApp<MemoryPorts> {
    WebhookApp::new(
        ports,
        vec![
            Secret::new("rotated-out-secret"),
            Secret::new("test-app-secret"),
        ],
        Secret::new("test-verify-token"),
    )
}

fn event(name: &str) -> Request {
    let path = format!(
        "{}/../../tests/fixtures/apigw/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    lambda_http::request::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path} is no API Gateway v2 event: {e}"))
}

fn text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

#[tokio::test]
async fn a_verification_event_gets_the_challenge_as_plain_text() {
    let ports = MemoryPorts::default();
    let response = handle(&app(&ports), event("webhook_verify.json")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(text(&response), "1158201444");
}

#[tokio::test]
async fn a_verification_with_another_token_is_refused_and_echoes_nothing() {
    let ports = MemoryPorts::default();
    let app = WebhookApp::new(&ports, vec![], Secret::new("another-token"));
    let response = handle(&app, event("webhook_verify.json")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(text(&response), "forbidden");
}

#[tokio::test]
async fn a_signed_post_is_queued_event_by_event_plain_or_base64() {
    for fixture in ["webhook_post.json", "webhook_post_base64.json"] {
        let ports = MemoryPorts::default();
        let response = handle(&app(&ports), event(fixture)).await;
        assert_eq!(response.status(), 200, "{fixture}: {}", text(&response));
        assert_eq!(text(&response), "OK");
        assert_eq!(ports.queue.ids().len(), 6, "{fixture}");
    }
}

#[tokio::test]
async fn a_wrong_signature_is_refused_and_nothing_is_queued() {
    let ports = MemoryPorts::default();
    let response = handle(&app(&ports), event("webhook_post_bad_signature.json")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(ports.queue.ids().is_empty());
}

#[tokio::test]
async fn a_queue_that_cannot_take_the_events_is_the_500_meta_retries() {
    let ports = MemoryPorts::default();
    ports.queue.fail(true);
    let response = handle(&app(&ports), event("webhook_post.json")).await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        text(&response),
        r#"{"error":{"code":"unavailable","message":"events could not be queued, retry"}}"#
    );
}

#[tokio::test]
async fn other_methods_and_paths_are_refused_in_the_gateways_shape() {
    let ports = MemoryPorts::default();
    let mut put = event("webhook_post.json");
    *put.method_mut() = Method::PUT;
    let response = handle(&app(&ports), put).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    let mut elsewhere = event("webhook_verify.json");
    *elsewhere.uri_mut() = "https://abc123.example/webhooks".parse().unwrap();
    let response = handle(&app(&ports), elsewhere).await;
    assert_eq!(response.status(), 404);
    assert!(text(&response).contains(r#""code":"not_found""#));
    assert!(ports.queue.ids().is_empty());
}
