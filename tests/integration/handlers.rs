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
