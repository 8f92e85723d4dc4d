//! Idempotency-Key: replayed, scoped per tenant, never sent twice when Meta may have it.

use serde_json::json;

use super::*;
use crate::memory::GraphAnswer;

#[tokio::test]
async fn an_idempotency_key_replays_and_is_scoped_to_its_tenant() {
    let w = world().await;
    w.graph
        .answer(sent("wamid.K1", None))
        .answer(sent("wamid.K2", None));
    let first = w.send_with_key(&w.a, "order-1", TEXT).await.unwrap();
    let again = w.send_with_key(&w.a, "order-1", TEXT).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(w.calls(), 1);
    // The same key from another tenant is another key.
    let b = w
        .send_with_key(
            &w.b,
            "order-1",
            TEXT.replace("}}", "},\"phone_number_id\":\"222\"}")
                .as_str(),
        )
        .await;
    assert_eq!(body_json(&b.unwrap())["id"], "wamid.K2");
    assert_eq!(w.calls(), 2);
    let other_body = TEXT.replace("hi", "hello");
    assert_eq!(
        w.send_with_key(&w.a, "order-1", &other_body)
            .await
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(
        IDEMPOTENCY_WINDOW.as_secs(),
        86_400,
        "docs/API.md promises 24 hours"
    );
}

#[tokio::test]
async fn an_idempotency_key_must_be_1_to_255_printable_characters() {
    let w = world().await;
    let longest = "k".repeat(255);
    w.graph.answer(sent("wamid.L", None));
    w.send_with_key(&w.a, &longest, TEXT).await.unwrap();
    for bad in ["", "has space", "tab\t", "k".repeat(256).as_str()] {
        let err = w.send_with_key(&w.a, bad, TEXT).await.unwrap_err();
        assert_eq!(err.status(), 400, "{bad:?}");
    }
    assert_eq!(w.calls(), 1);
}

#[tokio::test]
async fn an_outcome_that_may_have_reached_meta_is_never_sent_twice() {
    for answer in [
        GraphAnswer::Json(500, json!({"error": {"code": 1}})),
        GraphAnswer::Timeout,
    ] {
        let w = world().await;
        w.graph.answer(answer.clone());
        let first = w.send_with_key(&w.a, "k", TEXT).await;
        assert!(
            first.as_ref().map_or(true, |r| r.status >= 500),
            "{first:?}"
        );
        for _ in 0..2 {
            let err = w.send_with_key(&w.a, "k", TEXT).await.unwrap_err();
            assert_eq!(
                (err.status(), err.code()),
                (409, "idempotency_outcome_unknown"),
                "{answer:?}"
            );
        }
        assert_eq!(w.calls(), 1, "{answer:?}");
    }
}

#[tokio::test]
async fn a_send_that_never_reached_meta_frees_its_key() {
    let w = world().await;
    w.graph
        .answer(GraphAnswer::Unreachable)
        .answer(sent("wamid.R", None));
    assert_eq!(
        w.send_with_key(&w.a, "k", TEXT).await.unwrap_err().status(),
        502
    );
    let r = w.send_with_key(&w.a, "k", TEXT).await.unwrap();
    assert_eq!(body_json(&r)["id"], "wamid.R");
    // A refusal before sending (another tenant's number) frees it as well.
    let foreign = TEXT.replace("}}", "},\"phone_number_id\":\"222\"}");
    assert_eq!(
        w.send_with_key(&w.a, "k2", &foreign)
            .await
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(
        w.send_with_key(&w.a, "k2", &foreign)
            .await
            .unwrap_err()
            .status(),
        403,
        "not 409: the key was freed"
    );
    assert_eq!(w.calls(), 2);
}

#[tokio::test]
async fn a_store_failure_after_meta_accepted_answers_and_still_blocks_a_second_send() {
    let w = world().await;
    w.idempotency.fail_completes(true);
    w.graph.answer(sent("wamid.S", None));
    let r = w.send_with_key(&w.a, "k", TEXT).await.unwrap();
    assert_eq!(r.status, 202, "the tenant gets the send that happened");
    w.idempotency.fail_completes(false);
    assert_eq!(
        w.send_with_key(&w.a, "k", TEXT).await.unwrap_err().status(),
        409
    );
    assert_eq!(w.calls(), 1);
}

#[tokio::test]
async fn a_throughput_refusal_meta_never_accepted_frees_the_key() {
    let w = world().await;
    let throttled = GraphAnswer::Json(
        400,
        json!({"error": {"code": 130429, "message": "Rate limit hit"}}),
    );
    w.graph.answer(throttled).answer(sent("wamid.T", None));
    let first = w.send_with_key(&w.a, "k", TEXT).await.unwrap();
    assert_eq!(first.status, 400);
    let again = w.send_with_key(&w.a, "k", TEXT).await.unwrap();
    assert_eq!(
        again.status, 202,
        "sent on the repeat, not the throttle replayed"
    );
    assert_eq!(w.calls(), 2);
}
