//! The circuit breaker, destinations, filters and kept payloads.

use super::*;

fn breaker_fixture(
    script: Vec<DeliveryResult>,
    tenant: Tenant,
) -> (TestForwarder, ScriptedSender, MemoryHealth) {
    let tenants = MemoryTenants::default();
    tenants.add(tenant, &["P"], &["W"]);
    let sender = ScriptedSender::new(script);
    let health = MemoryHealth::default();
    let ports = ForwardPorts {
        idempotency: MemoryIdempotency::default(),
        tenants,
        messages: MemoryMessages::default(),
        sender: sender.clone(),
        parking: MemoryParking::default(),
        health: health.clone(),
    };
    let config = ForwardConfig {
        breaker: BreakerPolicy {
            threshold: 3,
            probe_every: Duration::from_secs(60),
        },
        ..ForwardConfig::default()
    };
    (Forwarder::new(ports, config), sender, health)
}

fn status_event(n: u32) -> Event {
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"metadata":{{"phone_number_id":"P"}},"statuses":[{{"id":"wamid.{n}","status":"sent","timestamp":"50","recipient_id":"1"}}]}},"field":"messages"}}]}}]}}"#
    );
    split_events(body.as_bytes()).unwrap().remove(0)
}

#[tokio::test]
async fn after_the_threshold_the_breaker_defers_without_calling_then_one_probe_closes_it() {
    let t = tenant("acme", "https://acme.example/hook");
    let url = t.webhook_url.clone();
    let id = t.id.clone();
    let mut script = vec![failed(FailureKind::Failed); 3];
    script.push(ok());
    let (f, sender, health) = breaker_fixture(script, t);
    for n in 0..3 {
        let outcome = f.forward(&status_event(n), None, 1_000, 0.5).await.unwrap();
        assert!(matches!(outcome, Outcome::Retry { .. }));
    }
    assert_eq!(sender.sent.lock().unwrap().len(), 3);
    let opened = health.get(&id, &url);
    assert_eq!(opened.failure_streak, 3);
    assert_eq!(opened.open_until_ms, Some(1_060_000));
    assert_eq!(opened.last_status, Some(500));

    // Open: 50 more events cost no call, and wait at least until the probe.
    for n in 10..60 {
        match f.forward(&status_event(n), None, 1_010, 0.5).await.unwrap() {
            Outcome::Retry { after } => assert!(after >= Duration::from_secs(50), "{after:?}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sender.sent.lock().unwrap().len(), 3);

    // Half-open: one probe goes through; a 2xx closes the breaker.
    let probe = f
        .forward(&status_event(100), None, 1_061, 0.5)
        .await
        .unwrap();
    assert_eq!(probe, Outcome::Delivered);
    assert_eq!(sender.sent.lock().unwrap().len(), 4);
    let closed = health.get(&id, &url);
    assert_eq!((closed.failure_streak, closed.open_until_ms), (0, None));
    assert_eq!(closed.last_success_at_ms, Some(1_061_000));
    // The deferred ones are recorded as attempts that never called.
    let deferred = f
        .idempotency
        .log()
        .into_iter()
        .find(|r| r.event_id == "wamid.10:sent")
        .unwrap();
    assert_eq!(deferred.attempts[0].error.as_deref(), Some("circuit open"));
    assert_eq!(deferred.attempts[0].latency_ms, 0);
}

#[tokio::test]
async fn a_failed_probe_keeps_the_breaker_open_for_another_interval() {
    let t = tenant("acme", "https://acme.example/hook");
    let (url, id) = (t.webhook_url.clone(), t.id.clone());
    let (f, sender, health) = breaker_fixture(vec![failed(FailureKind::Failed)], t);
    for n in 0..3 {
        f.forward(&status_event(n), None, 1_000, 0.5).await.unwrap();
    }
    f.forward(&status_event(50), None, 1_061, 0.5)
        .await
        .unwrap();
    assert_eq!(sender.sent.lock().unwrap().len(), 4, "one probe");
    assert_eq!(health.get(&id, &url).open_until_ms, Some(1_121_000));
    f.forward(&status_event(51), None, 1_062, 0.5)
        .await
        .unwrap();
    assert_eq!(sender.sent.lock().unwrap().len(), 4, "no second probe");
}

#[tokio::test]
async fn destinations_route_statuses_and_phones_and_fields_filter() {
    let mut t = tenant("acme", "https://acme.example/hook");
    t.destinations.statuses = Some("https://acme.example/statuses".into());
    t.destinations
        .phones
        .insert("P".into(), "https://acme.example/p".into());
    let (f, sender, _) = breaker_fixture(vec![ok()], t.clone());
    f.forward(&status_event(1), None, 1_000, 0.5).await.unwrap();
    let message = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.x","type":"text","text":{"body":"hi"}}]},"field":"messages"}]}]}"#;
    f.forward(&split_events(message).unwrap().remove(0), None, 1_000, 0.5)
        .await
        .unwrap();
    let urls: Vec<String> = sender
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.url.clone())
        .collect();
    assert_eq!(
        urls,
        ["https://acme.example/statuses", "https://acme.example/p"]
    );

    t.destinations.fields = vec!["message_template_status_update".into()];
    let (f, sender, _) = breaker_fixture(vec![ok()], t);
    assert_eq!(
        f.forward(&status_event(2), None, 1_000, 0.5).await.unwrap(),
        Outcome::Filtered
    );
    assert!(sender.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_kept_payload_is_the_queue_message_as_it_was() {
    let (f, _, _) = breaker_fixture(vec![ok()], tenant("acme", "https://acme.example/hook"));
    let event = status_event(7);
    f.forward(&event, Some("{\"queued\":1}"), 1_000, 0.5)
        .await
        .unwrap();
    assert_eq!(
        f.idempotency.payload(&event.id).await.unwrap().as_deref(),
        Some("{\"queued\":1}")
    );
}
