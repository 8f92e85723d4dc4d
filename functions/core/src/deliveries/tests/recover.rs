//! Recovery: each failed event queued again once, pending events left with their one copy,
//! and the per-call budget with the cursor it hands on.

use super::*;
use crate::deliveries::service::MAX_RECOVER;
use crate::forward::Outcome;
use crate::meta::EventId;

/// Forwards `event`, each attempt when it is due, until its schedule is spent: it is in the
/// dead-letter queue.
async fn exhaust(f: &Fixture, event: &Event, queued: &str) {
    let mut at = 1_000;
    for _ in 0..8 {
        match f
            .forwarder
            .forward(event, Some(queued), at, 0.5)
            .await
            .unwrap()
        {
            Outcome::Exhausted => return,
            Outcome::Retry { after } => at += after.as_secs() as i64,
            other => panic!("{other:?}"),
        }
    }
    panic!("the schedule was never spent");
}

#[tokio::test]
async fn recovery_requeues_each_failed_event_once() {
    let f = fixture(vec![down()]);
    let (event, queued) = message(1);
    exhaust(&f, &event, &queued).await;
    let a = tenant("a");
    let recover = |since: &'static str, now_ms: i64| {
        let body = format!(r#"{{"since":"{since}"}}"#);
        let service = &f.service;
        let a = a.clone();
        async move { service.recover(&a, body.as_bytes(), now_ms).await }
    };
    // Its last attempt was at 100,305 s (1,000 s and the 27.6 hours of the schedule).
    // Changed before `since`: not recovered.
    assert_eq!(
        body(&recover("1970-01-02T04:00:00Z", 200_000_000).await.unwrap())["recovered"],
        0
    );
    let first = body(&recover("1970-01-01T00:00:00Z", 200_000_000).await.unwrap());
    assert_eq!(first["recovered"], 1);
    assert_eq!(first["event_ids"][0], "wamid.m1");
    assert_eq!(first["complete"], true);
    assert_eq!(first["next_cursor"], Value::Null);
    assert_eq!(copies(&f).len(), 1);
    // Its copy is on the queue: a second recovery skips it, saying why.
    let again = body(&recover("1970-01-01T00:00:00Z", 200_000_500).await.unwrap());
    assert_eq!(again["recovered"], 0, "{again}");
    assert_eq!(again["skipped"], 1);
    assert_eq!(
        again["skipped_events"],
        serde_json::json!([{"event_id": "wamid.m1", "reason": "replay_queued"}])
    );
    assert_eq!(copies(&f).len(), 1);
}

#[tokio::test]
async fn five_pending_events_keep_one_copy_each_through_recoveries_and_replays() {
    let f = fixture(vec![down()]);
    let a = tenant("a");
    let events: Vec<(Event, String)> = (0..5).map(message).collect();
    for (event, queued) in &events {
        let outcome = f
            .forwarder
            .forward(event, Some(queued), 1_000, 0.5)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Retry { .. }));
    }
    // On the queue now: the five retry copies. Recover and replay every 4 s, while the
    // retries come round and fail again (their attempts used to end the hold).
    let mut now_ms = 2_000_000;
    for round in 0..5 {
        let recovered = body(&f.service.recover(&a, SINCE_EPOCH, now_ms).await.unwrap());
        assert_eq!(recovered["recovered"], 0, "{recovered}");
        assert_eq!(recovered["skipped"], 5);
        let reasons = recovered["skipped_events"].as_array().unwrap();
        assert!(
            reasons.iter().all(|s| s["reason"] == "retry_scheduled"),
            "{recovered}"
        );
        let err = f
            .service
            .replay(&a, &format!("wamid.m{round}"), now_ms)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 409);
        assert!(crate::http::gateway_body(&err).contains("pending"));
        for (event, queued) in &events {
            f.forwarder
                .forward(event, Some(queued), 1_001 + round, 0.5)
                .await
                .unwrap();
        }
        now_ms += 4_000;
    }
    assert!(
        copies(&f).is_empty(),
        "5 copies on the queue, the retries themselves"
    );
    let pending = body(
        &f.service
            .events(&a, Some("status=pending"), now_ms)
            .await
            .unwrap(),
    );
    assert_eq!(pending["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn the_recovery_budget_counts_every_event_read_and_hands_a_cursor_on() {
    let f = fixture(vec![down()]);
    let a = tenant("a");
    // 300 failed events whose payload is no longer kept, 300 pending ones with their retry
    // on the queue: nothing to queue, but each is read.
    for n in 0..600 {
        let state = match n < 300 {
            true => DeliveryState::Failed,
            false => DeliveryState::Pending,
        };
        let note = AttemptNote {
            tenant_id: a.id.clone(),
            destination: "https://a.example/hook".into(),
            format: "meta",
            field: "messages".into(),
            phone_number_id: Some("P".into()),
            attempt: Attempt {
                at_ms: 1_000_000 + n,
                status: Some(503),
                error: Some("HTTP 503".into()),
                latency_ms: 1,
                next_retry_at_ms: None,
            },
        };
        let id = EventId::from_header(&format!("wamid.b{n}"));
        f.log
            .failed(&id, &note, None, state, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap();
    }
    let first = body(&f.service.recover(&a, SINCE_EPOCH, 2_000_000).await.unwrap());
    assert_eq!(first["recovered"], 0);
    let not_retained = first["not_retained"].as_array().unwrap();
    assert_eq!(not_retained.len(), 300);
    assert_eq!(first["skipped"], MAX_RECOVER - 300);
    assert_eq!(first["complete"], false);
    let cursor = first["next_cursor"].as_str().unwrap();
    let next = format!(r#"{{"since":"1970-01-01T00:00:00Z","cursor":"{cursor}"}}"#);
    let second = body(
        &f.service
            .recover(&a, next.as_bytes(), 2_001_000)
            .await
            .unwrap(),
    );
    assert_eq!(second["not_retained"].as_array().unwrap().len(), 0);
    assert_eq!(second["skipped"], 600 - MAX_RECOVER);
    assert_eq!(second["complete"], true);
    assert_eq!(second["next_cursor"], Value::Null);
    let mut seen: Vec<String> = not_retained
        .iter()
        .chain(
            first["skipped_events"]
                .as_array()
                .unwrap()
                .iter()
                .chain(second["skipped_events"].as_array().unwrap())
                .map(|s| &s["event_id"]),
        )
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 600, "every event read once across the calls");
    assert!(copies(&f).is_empty());
}
