//! What the routes refuse before doing anything: calls beyond the per-tenant rate, and bad
//! queries and bodies, each naming its field.

use super::*;
use crate::deliveries::service::{RECOVERS_PER_MINUTE, REPLAYS_PER_MINUTE};

#[tokio::test]
async fn replays_and_recoveries_beyond_the_rate_are_429_with_retry_after() {
    let f = fixture(vec![DeliveryResult::Delivered { status: 200 }]);
    let (event, queued) = message(1);
    f.forwarder
        .forward(&event, Some(&queued), 1_000, 0.5)
        .await
        .unwrap();
    let a = tenant("a");
    // The minute from 1_980_000 to 2_040_000.
    let now_ms = 2_000_000;
    for n in 0..REPLAYS_PER_MINUTE {
        let answer = f
            .service
            .replay(&a, "wamid.m1", now_ms + i64::from(n))
            .await;
        assert_ne!(status(&answer), 429, "call {n}");
    }
    assert_eq!(
        copies(&f).len(),
        1,
        "the first replay queued; the rest were 409"
    );
    let err = f
        .service
        .replay(&a, "wamid.m1", now_ms + 100)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(40)));
    // Another tenant counts apart; the next minute starts afresh.
    let b = tenant("b");
    assert_eq!(status(&f.service.replay(&b, "wamid.m1", now_ms).await), 404);
    assert_ne!(
        status(&f.service.replay(&a, "wamid.m1", 2_040_000).await),
        429
    );

    for n in 0..RECOVERS_PER_MINUTE {
        let answer = f.service.recover(&a, SINCE_EPOCH, now_ms).await;
        assert_eq!(status(&answer), 202, "call {n}");
    }
    let err = f
        .service
        .recover(&a, SINCE_EPOCH, now_ms + 39_500)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    // A malformed request is refused before it is counted.
    assert_eq!(status(&f.service.recover(&a, b"[]", now_ms).await), 400);
}

#[tokio::test]
async fn bad_queries_and_bodies_name_their_field() {
    let f = fixture(vec![]);
    let a = tenant("a");
    let cases = [
        (None, "status"),
        (Some("status=lost"), "status"),
        (Some("status=failed&since=yesterday"), "since"),
        (Some("status=failed&limit=0"), "limit"),
        (Some("status=failed&limit=101"), "limit"),
        (
            Some("status=failed&since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z"),
            "until",
        ),
    ];
    for (query, field) in cases {
        let err = f.service.events(&a, query, 0).await.unwrap_err();
        assert_eq!(err.status(), 400, "{query:?}");
        assert!(
            crate::http::gateway_body(&err).contains(field),
            "{query:?}: {}",
            crate::http::gateway_body(&err)
        );
    }
    for (body, field) in [
        (&br#"{}"#[..], "since"),
        (br#"{"since":5}"#, "since"),
        (br#"{"since":"2026-12-01T00:00:00Z","until":"x"}"#, "until"),
        (br#"{"since":"2026-12-01T00:00:00Z","from":"x"}"#, "from"),
        (br#"{"since":"2026-12-01T00:00:00Z","cursor":5}"#, "cursor"),
        (
            br#"{"since":"2026-12-01T00:00:00Z","cursor":"%%%"}"#,
            "cursor",
        ),
    ] {
        let err = f.service.recover(&a, body, 0).await.unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            crate::http::gateway_body(&err).contains(field),
            "{}",
            crate::http::gateway_body(&err)
        );
    }
    assert_eq!(
        f.service.event(&a, "bad id").await.unwrap_err().status(),
        400
    );
    assert_eq!(
        f.service
            .replay(&a, "wamid.none", 0)
            .await
            .unwrap_err()
            .status(),
        404
    );
}
