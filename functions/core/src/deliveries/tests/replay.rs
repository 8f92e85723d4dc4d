//! Listing, reading and replaying one event: who may see it, when a replay is refused
//! (a copy already queued, a hold not yet stale, no payload kept), and how a replay's hold ends.

use super::*;
use crate::forward::Outcome;

#[tokio::test]
async fn a_failed_attempt_is_listed_read_and_replayed_by_its_tenant_only() {
    let f = fixture(vec![down(), DeliveryResult::Delivered { status: 204 }]);
    let (event, queued) = message(1);
    let outcome = f
        .forwarder
        .forward(&event, Some(&queued), 1_000, 0.5)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Retry { .. }));

    let a = tenant("a");
    let now_ms = 2_000_000;
    let listed = f
        .service
        .events(&a, Some("status=pending"), now_ms)
        .await
        .unwrap();
    let listed = body(&listed);
    assert_eq!(listed["data"][0]["event_id"], "wamid.m1");
    let attempt = &listed["data"][0]["attempts"][0];
    assert_eq!(attempt["status"], 503);
    assert_eq!(attempt["error"], "HTTP 503");
    assert_eq!(attempt["at"], "1970-01-01T00:16:40Z");
    assert_eq!(attempt["next_retry_at"], "1970-01-01T00:16:45Z");
    assert_eq!(listed["next_cursor"], Value::Null);
    let failed = body(
        &f.service
            .events(&a, Some("status=failed"), now_ms)
            .await
            .unwrap(),
    );
    assert_eq!(failed["data"].as_array().unwrap().len(), 0);

    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["destination"], "https://a.example/hook");
    assert_eq!(read["format"], "meta");

    // Tenant b sees nothing of a's, whichever way it asks.
    let b = tenant("b");
    let theirs = body(
        &f.service
            .events(&b, Some("status=pending"), now_ms)
            .await
            .unwrap(),
    );
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        f.service.event(&b, "wamid.m1").await.unwrap_err().status(),
        404
    );
    assert_eq!(
        f.service
            .replay(&b, "wamid.m1", now_ms)
            .await
            .unwrap_err()
            .status(),
        404
    );
    let recovered = f.service.recover(&b, SINCE_EPOCH, now_ms).await.unwrap();
    assert_eq!(body(&recovered)["recovered"], 0);
    assert!(copies(&f).is_empty());

    // Pending: its own retry is on the queue, so a replay would only add a copy.
    let err = f.service.replay(&a, "wamid.m1", now_ms).await.unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(
        crate::http::gateway_body(&err).contains("pending"),
        "{}",
        crate::http::gateway_body(&err)
    );
    assert!(copies(&f).is_empty());

    // The retry delivers it; a delivered event can be replayed.
    let retried = f
        .forwarder
        .forward(&event, Some(&queued), 1_005, 0.5)
        .await
        .unwrap();
    assert_eq!(retried, Outcome::Delivered);
    let replayed = f.service.replay(&a, "wamid.m1", now_ms).await.unwrap();
    assert_eq!(replayed.status, 202);
    let queue = copies(&f);
    assert_eq!(queue.len(), 1);
    assert_eq!(unmarked(&queue[0]), queued, "the queued bytes, marked");
    assert!(replay_mark(&queue[0]).is_some());
    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["status"], "pending");
    assert_eq!(read["replay_queued"], true);
    // The replay is claimable at once and delivered; its attempt ends the hold.
    let again = f
        .forwarder
        .forward(&event, Some(&queue[0]), 1_010, 0.5)
        .await
        .unwrap();
    assert_eq!(again, Outcome::Delivered);
    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["status"], "delivered");
    assert_eq!(read["delivered"]["status"], 204);
    assert_eq!(read["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(read["replay_queued"], false);
    assert_eq!(f.sender.sent.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_delivered_event_replayed_twice_within_the_hold_is_queued_and_delivered_once() {
    let f = fixture(vec![DeliveryResult::Delivered { status: 200 }]);
    let (event, queued) = message(1);
    let first = f
        .forwarder
        .forward(&event, Some(&queued), 1_000, 0.5)
        .await
        .unwrap();
    assert_eq!(first, Outcome::Delivered);
    let a = tenant("a");
    let now_ms = 2_000_000;
    assert_eq!(status(&f.service.replay(&a, "wamid.m1", now_ms).await), 202);
    let err = f
        .service
        .replay(&a, "wamid.m1", now_ms + 1_000)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(crate::http::gateway_body(&err).contains("replay_queued"));
    assert_eq!(copies(&f).len(), 1);

    // Another copy of the event (Meta posting it again) is delivered meanwhile: it is not
    // the replay's copy, so the hold stays.
    let stray = f
        .forwarder
        .forward(&event, Some(&queued), 1_010, 0.5)
        .await
        .unwrap();
    assert_eq!(stray, Outcome::Delivered);
    assert_eq!(
        status(&f.service.replay(&a, "wamid.m1", now_ms + 2_000).await),
        409
    );
    // The replay's copy finds the event delivered: spent without a second delivery, and
    // the hold ends with it.
    let copy = copies(&f).remove(0);
    let spent = f
        .forwarder
        .forward(&event, Some(&copy), 1_020, 0.5)
        .await
        .unwrap();
    assert_eq!(spent, Outcome::Duplicate);
    assert_eq!(
        f.sender.sent.lock().unwrap().len(),
        2,
        "delivered once more, not twice"
    );
    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["replay_queued"], false);
    assert_eq!(read["status"], "delivered");

    // A replay after the hold is a new one.
    assert_eq!(
        status(&f.service.replay(&a, "wamid.m1", now_ms + 3_000).await),
        202
    );
    let copy = copies(&f).remove(1);
    let delivered = f
        .forwarder
        .forward(&event, Some(&copy), 1_030, 0.5)
        .await
        .unwrap();
    assert_eq!(delivered, Outcome::Delivered);
    assert_eq!(f.sender.sent.lock().unwrap().len(), 3);
    assert_eq!(copies(&f).len(), 2);
}

#[tokio::test]
async fn a_replay_whose_copy_never_came_is_queued_again_once_its_hold_is_stale() {
    let f = fixture(vec![DeliveryResult::Delivered { status: 200 }]);
    let (event, queued) = message(1);
    f.forwarder
        .forward(&event, Some(&queued), 1_000, 0.5)
        .await
        .unwrap();
    let a = tenant("a");
    let at = 2_000_000;
    assert_eq!(status(&f.service.replay(&a, "wamid.m1", at).await), 202);
    // The copy is lost (its send failed, or it was dropped unattempted).
    assert_eq!(
        status(
            &f.service
                .replay(&a, "wamid.m1", at + REPLAY_HOLD_MS - 1)
                .await
        ),
        409
    );
    let stale = at + REPLAY_HOLD_MS;
    let recovered = body(&f.service.recover(&a, SINCE_EPOCH, stale).await.unwrap());
    assert_eq!(recovered["recovered"], 1, "{recovered}");
    let queue = copies(&f);
    assert_eq!(queue.len(), 2);
    assert_ne!(replay_mark(&queue[0]), replay_mark(&queue[1]));
    // The lost copy's mark is not the hold's any more: only the new copy ends it.
    f.forwarder
        .forward(&event, Some(&queue[0]), 3_000, 0.5)
        .await
        .unwrap();
    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["replay_queued"], true);
    f.forwarder
        .forward(&event, Some(&queue[1]), 3_001, 0.5)
        .await
        .unwrap();
    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["replay_queued"], false);
    assert_eq!(f.sender.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn without_a_kept_payload_a_replay_says_why() {
    let f = fixture(vec![DeliveryResult::Delivered { status: 200 }]);
    let (event, _) = message(1);
    f.forwarder.forward(&event, None, 1_000, 0.5).await.unwrap();
    let err = f
        .service
        .replay(&tenant("a"), "wamid.m1", 2_000_000)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(crate::http::gateway_body(&err).contains("EventRetentionDays"));
}
