//! Meta's answers and failures on a send, end to end: errors passed through, throttling
//! retried, 5xx and timeouts returned, and an Idempotency-Key that never sends twice.

use std::time::Duration;

use gateway_core::format::DeliveryFormat;
use gateway_tests::*;
use serde_json::json;

use crate::send::{JsonBody, messages_path, text_to, world};

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
