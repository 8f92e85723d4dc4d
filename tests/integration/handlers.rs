//! The webhook handler driven by API Gateway v2 events, exactly as Lambda hands them over.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gateway_aws::config::Resources;
use gateway_aws::{Clients, Gateway, Settings};
use gateway_core::signature::Secret;
use gateway_local::emulator;
use gateway_local::provision::provision;
use gateway_local::stack::default_template;
use gateway_tests::*;
use gateway_webhook::{WebhookApp, handle};

async fn app(name: &str) -> (WebhookApp<Gateway>, Clients, String) {
    let sdk = emulator::sdk_config(&emulator_endpoint()).await;
    let clients = Clients::new(&sdk);
    let r = provision(&clients, &default_template(), &unique_prefix(name))
        .await
        .unwrap();
    let queue_url = r.events_queue_url.clone();
    let app = WebhookApp::new(
        &Gateway::new(sdk, Settings::new(r)),
        vec![Secret::new("rotated-out-secret"), Secret::new(APP_SECRET)],
        Secret::new(VERIFY_TOKEN),
    );
    (app, clients, queue_url)
}

fn event(name: &str) -> lambda_http::Request {
    let path = format!("{}/fixtures/apigw/{name}", env!("CARGO_MANIFEST_DIR"));
    lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("a valid API Gateway v2 event")
}

async fn queued(clients: &Clients, url: &str) -> usize {
    let mut n = 0;
    for _ in 0..3 {
        let got = clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(300)
            .send()
            .await
            .unwrap();
        n += got.messages.unwrap_or_default().len();
    }
    n
}

fn body_text(response: &lambda_http::Response<lambda_http::Body>) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

#[tokio::test]
async fn an_api_gateway_verification_event_gets_the_challenge() {
    let (app, _, _) = app("apigw-verify").await;
    let response = handle(&app, event("webhook_verify.json")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(&response), "1158201444");
}

#[tokio::test]
async fn an_api_gateway_post_with_a_plain_body_is_queued() {
    let (app, clients, url) = app("apigw-plain").await;
    let response = handle(&app, event("webhook_post.json")).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert_eq!(queued(&clients, &url).await, 6);
}

#[tokio::test]
async fn an_api_gateway_post_with_a_base64_body_is_decoded_verified_and_queued() {
    let (app, clients, url) = app("apigw-b64").await;
    let response = handle(&app, event("webhook_post_base64.json")).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert_eq!(queued(&clients, &url).await, 6);
}

#[tokio::test]
async fn an_api_gateway_post_with_a_wrong_signature_queues_nothing() {
    let (app, clients, url) = app("apigw-bad").await;
    let response = handle(&app, event("webhook_post_bad_signature.json")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(queued(&clients, &url).await, 0);
}

/// An SQS endpoint on loopback speaking the SQS JSON protocol whose SendMessageBatch accepts
/// the first entry of each batch and, when `partly`, refuses the rest, as SQS does for a
/// partial failure. It counts the entries it was sent.
async fn sqs_stand_in(partly: bool) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = gateway_local::http_server::bind(0).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let entries = Arc::new(AtomicUsize::new(0));
    let counted = entries.clone();
    let task = tokio::spawn(gateway_local::http_server::serve(
        listener,
        move |req: lambda_http::Request| {
            let counted = counted.clone();
            async move {
                let request: serde_json::Value =
                    serde_json::from_slice(req.body().as_ref()).unwrap_or_default();
                let ids: Vec<String> = request["Entries"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .map(|e| e["Id"].as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                counted.fetch_add(ids.len(), Ordering::SeqCst);
                let split = if partly { ids.len().min(1) } else { ids.len() };
                let (accepted, rest) = ids.split_at(split);
                let answer = serde_json::json!({
                    "Successful": accepted.iter().map(|id| serde_json::json!({
                        "Id": id, "MessageId": format!("m-{id}"), "MD5OfMessageBody": "00000000000000000000000000000000"
                    })).collect::<Vec<_>>(),
                    "Failed": rest.iter().map(|id| serde_json::json!({
                        "Id": id, "SenderFault": false, "Code": "InternalError", "Message": "try again"
                    })).collect::<Vec<_>>(),
                });
                lambda_http::Response::builder()
                    .status(200)
                    .header("content-type", "application/x-amz-json-1.0")
                    .header("x-amzn-requestid", "r-1")
                    .body(lambda_http::Body::Text(answer.to_string()))
                    .unwrap()
            }
        },
    ));
    (url, entries, task)
}

async fn post_batch_through(partly: bool) -> (u16, String, usize) {
    let (endpoint, entries, task) = sqs_stand_in(partly).await;
    let unused = || "unused".to_owned();
    let resources = Resources {
        events_queue_url: format!("{endpoint}/000000000000/events"),
        tenants_table: unused(),
        messages_table: unused(),
        idempotency_table: unused(),
        connections_table: unused(),
        dead_letter_queue_url: unused(),
        events_bucket: unused(),
    };
    let gateway = Gateway::new(
        emulator::sdk_config(&endpoint).await,
        Settings::new(resources),
    );
    let app = WebhookApp::new(
        &gateway,
        vec![Secret::new(APP_SECRET)],
        Secret::new(VERIFY_TOKEN),
    );
    let body = fixture("batch_multi.json");
    let request = http::Request::builder()
        .method("POST")
        .uri("/webhook")
        .header("x-hub-signature-256", meta_signature(&body))
        .body(lambda_http::Body::Binary(body))
        .unwrap();
    let response = handle(&app, request).await;
    task.abort();
    (
        response.status().as_u16(),
        body_text(&response),
        entries.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn a_partly_refused_send_message_batch_is_answered_500_so_meta_retries() {
    let (status, body, entries) = post_batch_through(true).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("unavailable"));
    assert!(
        entries > 1,
        "the batch reached the stand-in ({entries} entries)"
    );
    // The control: the same stand-in accepting every entry gets Meta its 200, so the 500
    // above comes from the refused entries, not from the stand-in.
    let (status, body, accepted) = post_batch_through(false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(accepted, entries);
}
