//! The breaker sees hosts, not URLs: callback URLs share their host's breaker, a concurrent
//! first wave to a dead host is bounded by the threshold, and other tenants go on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;
use futures::future::join_all;

use super::*;
use crate::endpoint_health::Endpoint;

/// A webhook sender by URL (compared in lowercase): a URL containing `failing` fails (as a
/// timeout), any other is answered 200; one containing `hanging` is answered only once
/// released (an endpoint that holds every call until the gateway's timeout). Records every URL
/// called.
#[derive(Clone)]
struct HostSender {
    failing: Option<&'static str>,
    hanging: Option<&'static str>,
    called: Arc<Mutex<Vec<String>>>,
    held: Arc<Mutex<Vec<oneshot::Sender<()>>>>,
}

impl HostSender {
    fn new(failing: Option<&'static str>, hanging: Option<&'static str>) -> Self {
        HostSender {
            failing,
            hanging,
            called: Arc::default(),
            held: Arc::default(),
        }
    }

    /// The URLs called that contain `part`.
    fn calls(&self, part: &str) -> Vec<String> {
        let called = self.called.lock().unwrap();
        called
            .iter()
            .filter(|u| u.to_ascii_lowercase().contains(part))
            .cloned()
            .collect()
    }

    /// Answers every call held so far.
    fn release(&self) {
        // A dropped sender wakes its call.
        self.held.lock().unwrap().clear();
    }
}

impl WebhookSender for HostSender {
    async fn deliver(&self, delivery: &Delivery) -> DeliveryResult {
        self.called.lock().unwrap().push(delivery.url.clone());
        let url = delivery.url.to_ascii_lowercase();
        if self.hanging.is_some_and(|h| url.contains(h)) {
            let (answer, answered) = oneshot::channel::<()>();
            self.held.lock().unwrap().push(answer);
            let _ = answered.await;
        }
        match self.failing {
            Some(f) if url.contains(f) => DeliveryResult::Failed {
                kind: FailureKind::Failed,
                status: None,
                retry_after: None,
                reason: "timed out".into(),
            },
            _ => DeliveryResult::Delivered { status: 200 },
        }
    }
}

type HostForwarder = Forwarder<
    MemoryIdempotency,
    MemoryTenants,
    MemoryMessages,
    HostSender,
    MemoryParking,
    MemoryHealth,
>;

/// Tenants acme (phone P, WABA W) and globex (phone Q, WABA V), the breaker at `threshold`
/// with a probe every 60 s.
fn fixture(sender: HostSender, threshold: u32) -> (HostForwarder, MemoryMessages, MemoryHealth) {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "https://acme.example/hook"), &["P"], &["W"]);
    tenants.add(
        tenant("globex", "https://globex.example/hook"),
        &["Q"],
        &["V"],
    );
    let messages = MemoryMessages::default();
    let health = MemoryHealth::default();
    let ports = ForwardPorts {
        idempotency: MemoryIdempotency::default(),
        tenants,
        messages: messages.clone(),
        sender,
        parking: MemoryParking::default(),
        health: health.clone(),
    };
    let config = ForwardConfig {
        breaker: BreakerPolicy {
            threshold,
            probe_every: Duration::from_secs(60),
        },
        ..ForwardConfig::default()
    };
    (Forwarder::new(ports, config), messages, health)
}

/// A `sent` status of `wamid` on `phone` of `waba`.
fn status(wamid: &str, phone: &str, waba: &str) -> Event {
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{waba}","changes":[{{"value":{{"metadata":{{"phone_number_id":"{phone}"}},"statuses":[{{"id":"{wamid}","status":"sent","timestamp":"50","recipient_id":"1"}}]}},"field":"messages"}}]}}]}}"#
    );
    split_events(body.as_bytes()).unwrap().remove(0)
}

/// `wamid` was sent by `tenant` with `callback_url`; answers the status event for it.
async fn sent_with_callback(
    messages: &MemoryMessages,
    tenant: &str,
    wamid: &str,
    callback_url: &str,
) -> Event {
    messages
        .put(&MessageRecord {
            wamid: crate::ids::Wamid::from_meta(wamid),
            tenant_id: TenantId::new(tenant),
            phone_number_id: crate::ids::PhoneNumberId::from_meta("P"),
            recipient: "1".into(),
            callback_url: Some(callback_url.into()),
            created_at: 1,
            last_status: None,
            statuses: Default::default(),
        })
        .await
        .unwrap();
    status(wamid, "P", "W")
}

fn host(tenant: &str, site: &str, health: &MemoryHealth) -> crate::endpoint_health::Health {
    let name = Endpoint::Host(site.into()).name();
    health.get(&TenantId::new(tenant), &name)
}

/// Drives `work` while releasing the held calls again and again, each time after every
/// delivery had the chance to reach its call or its wait, until `work` is done.
async fn with_releases<F: std::future::Future>(work: F, sender: &HostSender) -> F::Output {
    let finished = AtomicBool::new(false);
    let finished = &finished;
    let work = async move {
        let out = work.await;
        finished.store(true, Ordering::SeqCst);
        out
    };
    let release = async move {
        let mut rounds = 0;
        while !finished.load(Ordering::SeqCst) {
            rounds += 1;
            assert!(rounds < 1_000, "the deliveries never ended");
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            sender.release();
        }
    };
    let (out, ()) = futures::join!(work, release);
    out
}

fn circuit_open(f: &HostForwarder) -> usize {
    f.idempotency
        .log()
        .iter()
        .filter(|r| {
            r.attempts
                .iter()
                .any(|a| a.error.as_deref() == Some("circuit open"))
        })
        .count()
}

#[tokio::test]
async fn forty_callback_urls_on_one_failing_host_cost_the_threshold_and_the_probes() {
    let sender = HostSender::new(Some("dead.acme.example"), None);
    let (f, messages, health) = fixture(sender.clone(), 3);
    let mut events = Vec::new();
    for n in 0..40 {
        // Another path and query each time, and the same host written three ways.
        let url = match n % 3 {
            0 => format!("https://dead.acme.example/s/{n}?token=t{n}"),
            1 => format!("https://DEAD.acme.example:443/s/{n}?token=t{n}"),
            _ => format!("https://dead.acme.example./other/{n}"),
        };
        let wamid = format!("wamid.a{n}");
        events.push(sent_with_callback(&messages, "acme", &wamid, &url).await);
    }
    for event in &events {
        let outcome = f.forward(event, None, 1_000, 0.5).await.unwrap();
        assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    }
    assert_eq!(sender.calls("acme.example").len(), 3, "the threshold");
    let opened = host("acme", "dead.acme.example", &health);
    assert_eq!(
        (opened.failure_streak, opened.open_until_ms),
        (3, Some(1_060_000))
    );
    // Open: their next attempts cost no call.
    for event in &events {
        f.forward(event, None, 1_030, 0.5).await.unwrap();
    }
    assert_eq!(sender.calls("acme.example").len(), 3);
    // Half-open, once every event's own retry is due (the first three wait their schedule's
    // second step, 300 s; the others the probe interval and its spread): one probe among the
    // forty (the last, this time), which fails and holds the breaker open another interval.
    for event in events.iter().rev() {
        f.forward(event, None, 1_400, 0.5).await.unwrap();
    }
    let calls = sender.calls("acme.example");
    assert_eq!(calls.len(), 3 + 1, "the threshold and one probe: {calls:?}");
    let mut distinct = calls.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "four URLs, one breaker: {calls:?}");
    let probed = host("acme", "dead.acme.example", &health);
    assert_eq!(
        (probed.failure_streak, probed.open_until_ms),
        (4, Some(1_460_000))
    );
    assert!(circuit_open(&f) >= 37);

    // Another tenant's deliveries go on.
    let other = status("wamid.g1", "Q", "V");
    assert_eq!(
        f.forward(&other, None, 1_401, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(
        sender.calls("globex.example"),
        ["https://globex.example/hook"]
    );
}

#[tokio::test]
async fn a_concurrent_first_wave_to_a_dead_host_calls_it_no_more_than_the_threshold() {
    let sender = HostSender::new(Some("dead.acme.example"), Some("dead.acme.example"));
    let (f, messages, health) = fixture(sender.clone(), 5);
    let mut events = Vec::new();
    for n in 0..10 {
        let url = format!("https://dead.acme.example/cb/{n}?ref={n}");
        let wamid = format!("wamid.a{n}");
        events.push(sent_with_callback(&messages, "acme", &wamid, &url).await);
    }
    // Another tenant's events in the same batch, to its own endpoint.
    for n in 0..5 {
        events.push(status(&format!("wamid.g{n}"), "Q", "V"));
    }
    let mut wave = std::pin::pin!(join_all(
        events.iter().map(|e| f.forward(e, None, 1_000, 0.5))
    ));
    assert!(futures::poll!(wave.as_mut()).is_pending());
    // Every delivery reached its call or its wait: the threshold's worth hang on the dead
    // host, the rest wait for them; the other tenant's are through already.
    assert_eq!(sender.calls("dead.acme.example").len(), 5);
    assert_eq!(sender.calls("globex.example").len(), 5);

    let outcomes = with_releases(wave, &sender).await;
    assert_eq!(
        sender.calls("dead.acme.example").len(),
        5,
        "the waiting ones found the breaker open"
    );
    assert!(
        outcomes[..10]
            .iter()
            .all(|o| matches!(o, Ok(Outcome::Retry { .. }))),
        "{outcomes:?}"
    );
    assert!(
        outcomes[10..]
            .iter()
            .all(|o| matches!(o, Ok(Outcome::Delivered))),
        "{outcomes:?}"
    );
    assert_eq!(circuit_open(&f), 5);
    let dead = host("acme", "dead.acme.example", &health);
    assert_eq!(
        (dead.failure_streak, dead.open_until_ms),
        (5, Some(1_060_000))
    );
}

#[tokio::test]
async fn a_wave_to_a_healthy_new_host_waits_for_one_answer_then_goes_at_once() {
    let sender = HostSender::new(None, Some("alive.acme.example"));
    let (f, messages, _) = fixture(sender.clone(), 5);
    let mut events = Vec::new();
    for n in 0..10 {
        let url = format!("https://alive.acme.example/cb/{n}");
        let wamid = format!("wamid.a{n}");
        events.push(sent_with_callback(&messages, "acme", &wamid, &url).await);
    }
    let mut wave = std::pin::pin!(join_all(
        events.iter().map(|e| f.forward(e, None, 1_000, 0.5))
    ));
    assert!(futures::poll!(wave.as_mut()).is_pending());
    assert_eq!(sender.calls("alive.acme.example").len(), 5, "trials first");
    let outcomes = with_releases(wave, &sender).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Outcome::Delivered))),
        "{outcomes:?}"
    );
    assert_eq!(sender.calls("alive.acme.example").len(), 10);
    assert_eq!(circuit_open(&f), 0, "none waits for the schedule");
}

#[tokio::test]
async fn one_tenants_failing_host_opens_no_breaker_for_another_tenant_on_that_host() {
    // The shared host fails acme's calls only (acme's account there is broken).
    let sender = HostSender::new(Some("/acme/"), None);
    let (f, messages, health) = fixture(sender.clone(), 3);
    for n in 0..10 {
        let url = format!("https://hooks.shared.example/acme/{n}");
        let event = sent_with_callback(&messages, "acme", &format!("wamid.a{n}"), &url).await;
        f.forward(&event, None, 1_000, 0.5).await.unwrap();
    }
    assert_eq!(sender.calls("/acme/").len(), 3);
    for n in 0..10 {
        let url = format!("https://hooks.shared.example/globex/{n}?k={n}");
        let event = sent_with_callback(&messages, "globex", &format!("wamid.g{n}"), &url).await;
        assert_eq!(
            f.forward(&event, None, 1_000, 0.5).await.unwrap(),
            Outcome::Delivered
        );
    }
    assert_eq!(sender.calls("/globex/").len(), 10);
    let origin = "hooks.shared.example";
    assert!(host("acme", origin, &health).open_until_ms.is_some());
    assert_eq!(
        host("globex", origin, &health),
        crate::endpoint_health::Health::default()
    );
}

#[tokio::test]
async fn a_configured_url_keeps_its_own_breaker_beside_callbacks_to_its_host() {
    // Callbacks to acme's own host fail; its webhook URL there answers.
    let sender = HostSender::new(Some("acme.example/cb/"), None);
    let (f, messages, health) = fixture(sender.clone(), 3);
    for n in 0..5 {
        let url = format!("https://acme.example/cb/{n}");
        let event = sent_with_callback(&messages, "acme", &format!("wamid.a{n}"), &url).await;
        f.forward(&event, None, 1_000, 0.5).await.unwrap();
    }
    assert_eq!(sender.calls("/cb/").len(), 3);
    assert!(
        host("acme", "acme.example", &health)
            .open_until_ms
            .is_some()
    );
    // A status of a message sent without a callback goes to the webhook URL, on that host.
    let event = status("wamid.plain", "P", "W");
    assert_eq!(
        f.forward(&event, None, 1_000, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(sender.calls("/hook"), ["https://acme.example/hook"]);
    let hook = health.get(
        &TenantId::new("acme"),
        &Endpoint::Configured("https://acme.example/hook".into()).name(),
    );
    assert_eq!(hook, crate::endpoint_health::Health::default());
}
