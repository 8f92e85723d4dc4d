//! The webhook handler driven by API Gateway v2 events, exactly as Lambda hands them over.

use gateway_aws::Clients;
use gateway_aws::queue::SqsEventQueue;
use gateway_core::signature::Secret;
use gateway_local::emulator;
use gateway_local::provision::provision;
use gateway_local::stack::default_template;
use gateway_tests::*;
use gateway_webhook::{WebhookApp, handle};

async fn app(name: &str) -> (WebhookApp, Clients, String) {
    let clients = Clients::new(&emulator::sdk_config(&emulator_endpoint()).await);
    let r = provision(&clients, &default_template(), &unique_prefix(name))
        .await
        .unwrap();
    let app = WebhookApp::new(
        SqsEventQueue::new(
            clients.sqs.clone(),
            &r.events_queue_url,
            gateway_aws::blob::EventsBucket::new(clients.s3.clone(), &r.events_bucket),
        ),
        vec![Secret::new("rotated-out-secret"), Secret::new(APP_SECRET)],
        Secret::new(VERIFY_TOKEN),
    );
    (app, clients, r.events_queue_url)
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
/// the first entry of each batch and refuses the rest, as SQS does for a partial failure.
async fn partly_failing_sqs() -> (String, tokio::task::JoinHandle<()>) {
    let listener = gateway_local::http_server::bind(0).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(gateway_local::http_server::serve(
        listener,
        |req: lambda_http::Request| async move {
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
            let (first, rest) = ids
                .split_first()
                .map(|(f, r)| (Some(f), r))
                .unwrap_or((None, &[]));
            let answer = serde_json::json!({
                "Successful": first.map(|id| vec![serde_json::json!({
                    "Id": id, "MessageId": "m-1", "MD5OfMessageBody": "00000000000000000000000000000000"
                })]).unwrap_or_default(),
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
        },
    ));
    (url, task)
}

#[tokio::test]
async fn a_partly_refused_send_message_batch_is_answered_500_so_meta_retries() {
    let (endpoint, task) = partly_failing_sqs().await;
    let clients = Clients::new(&emulator::sdk_config(&endpoint).await);
    let app = WebhookApp::new(
        SqsEventQueue::new(
            clients.sqs.clone(),
            format!("{endpoint}/000000000000/events"),
            gateway_aws::blob::EventsBucket::new(clients.s3.clone(), "unused"),
        ),
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
    assert_eq!(response.status(), 500, "{}", body_text(&response));
    assert!(body_text(&response).contains("unavailable"));
}
