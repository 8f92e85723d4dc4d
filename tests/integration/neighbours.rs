//! Noisy neighbours: tenant A's endpoint hangs (10 s, the production timeout) with 1,000 of
//! its events queued. The deliveries already on their way to A when it hangs hold their
//! pollers for one timeout (the first wave); then A's breaker opens, A's attempts cost no
//! call, and tenant B's events are delivered with their normal latency. The test prints the
//! numbers docs/PERFORMANCE.md quotes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gateway_core::format::DeliveryFormat;
use gateway_tests::*;

const A_EVENTS: usize = 1_000;
const PER_POST: usize = 10;
const B_EVENTS: usize = 40;
const HANG: Duration = Duration::from_secs(10);

/// `count` text messages to `phone` in one POST, ids `wamid.<tag><n>`.
fn messages(tag: &str, from: usize, count: usize, phone: &str, waba: &str) -> Vec<u8> {
    let items: Vec<String> = (from..from + count)
        .map(|n| format!(r#"{{"from":"491510000000","id":"wamid.{tag}{n}","timestamp":"1700000000","type":"text","text":{{"body":"n{n}"}}}}"#))
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{waba}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{phone}"}},"contacts":[{{"profile":{{"name":"C"}},"wa_id":"491510000000"}}],"messages":[{}]}},"field":"messages"}}]}}]}}"#,
        items.join(",")
    )
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Posts B's events one by one, `gap` apart; answers each event's latency to B's receiver.
async fn b_latencies(
    stack: &Stack,
    b: &Receiver,
    tag: &str,
    n: usize,
    gap: Duration,
) -> Vec<Duration> {
    let mut posted = HashMap::new();
    for i in 0..n {
        let body = messages(tag, i, 1, OTHER_PHONE, OTHER_WABA);
        posted.insert(format!("wamid.{tag}{i}"), Instant::now());
        assert_eq!(post_webhook(stack, &body).await.status(), 200);
        tokio::time::sleep(gap).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Vec<Received> = b
            .received()
            .into_iter()
            .filter(|r| r.webhook_id.starts_with(&format!("wamid.{tag}")))
            .collect();
        if got.len() >= n {
            assert_eq!(got.len(), n, "each of B's events once");
            let mut latencies: Vec<Duration> = got
                .iter()
                .map(|r| r.arrived.duration_since(posted[&r.webhook_id]))
                .collect();
            latencies.sort();
            return latencies;
        }
        assert!(Instant::now() < deadline, "B got {} of {n}", got.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn breaker_open(stack: &Stack, key: &str) -> bool {
    let text = http()
        .get(format!("{}/v1/endpoint", stack.url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let endpoint: serde_json::Value = serde_json::from_str(&text).unwrap();
    endpoint["destinations"][0]["state"] == "open"
}

#[tokio::test]
async fn a_hanging_tenant_does_not_delay_another_tenants_deliveries() {
    let mut options = stack_options("neighbours");
    // As deployed: the 10 s timeout, the breaker's 60 s probe, tenant lookups kept 60 s.
    options.webhook_timeout = HANG;
    options.tenant_cache = Duration::from_secs(60);
    with_breaker(&mut options, Duration::from_secs(60));
    let stack = spawn_stack(options).await;
    let a_receiver = Receiver::start(vec![200]).await;
    a_receiver.set_delay(HANG);
    let a = tenant_for_fixtures(
        &stack,
        &format!("{}/hook", a_receiver.url),
        DeliveryFormat::Meta,
    )
    .await;
    a_receiver.set_secret(&a.webhook_secret);
    let b_receiver = Receiver::start(vec![200]).await;
    let b = tenant_owning(
        &stack.tenants(),
        OTHER_PHONE,
        OTHER_WABA,
        &format!("{}/hook", b_receiver.url),
        DeliveryFormat::Meta,
    )
    .await;
    b_receiver.set_secret(&b.webhook_secret);

    // B alone: its normal latency on this machine, in this run.
    let alone = b_latencies(&stack, &b_receiver, "alone", 10, Duration::from_millis(100)).await;

    let queued_at = Instant::now();
    for post in 0..A_EVENTS / PER_POST {
        let body = messages("a", post * PER_POST, PER_POST, PHONE_NUMBER_ID, WABA_ID);
        assert_eq!(post_webhook(&stack, &body).await.status(), 200);
    }
    let queued_in = queued_at.elapsed();
    // The first wave: deliveries already on their way to A hold their pollers for one
    // timeout; then A's breaker opens.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !breaker_open(&stack, &a.api_key).await {
        assert!(Instant::now() < deadline, "A's breaker never opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_wave = queued_at.elapsed();
    let noisy = b_latencies(
        &stack,
        &b_receiver,
        "noisy",
        B_EVENTS,
        Duration::from_millis(250),
    )
    .await;
    let a_calls = a_receiver.received().len();

    let (p50_alone, p50_noisy) = (percentile(&alone, 0.5), percentile(&noisy, 0.5));
    let p95_noisy = percentile(&noisy, 0.95);
    let max_noisy = *noisy.last().unwrap();
    println!(
        "neighbours: A {A_EVENTS} events queued in {queued_in:?}, breaker open after {first_wave:?}, A's endpoint called {a_calls} times; \
         B alone p50 {p50_alone:?}; B beside A p50 {p50_noisy:?} p95 {p95_noisy:?} max {max_noisy:?} ({B_EVENTS} events)"
    );
    // A's backlog cost its endpoint the first wave (5 pollers x 10) and a probe or two, not
    // one call per event.
    assert!(a_calls < 200, "A's endpoint was called {a_calls} times");
    // B's median stays far below one hang: B never queues behind A's timeouts.
    assert!(
        p50_noisy < HANG / 5,
        "B's median latency {p50_noisy:?} beside a hanging A"
    );
}
