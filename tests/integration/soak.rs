//! Faults and abuse over many events: a receiver that fails at random (5xx, timeouts, resets,
//! slow answers), a tenant whose endpoint never recovers, duplicate POSTs from "Meta", and the
//! gateway killed and restarted mid-run. At the end every event that got a 200 was delivered at
//! least once, none twice unless a kill fell between its delivery and the COMPLETED write, and
//! the DLQ holds exactly the events of the endpoint that never recovered.
//!
//! `SOAK_EVENTS` sets the count (`make test`: 200; `make soak`: 3000). Loopback only, bounded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gateway_core::format::DeliveryFormat;
use gateway_core::signature::{Secret, verify_hub_signature};
use gateway_local::{LocalStack, http_server};
use gateway_tests::*;
use lambda_http::{Body, Request, Response};

const DEAD_PHONE: &str = "555000111";
/// Failed answers the flaky receiver gives one event at most (the gateway makes 8 attempts;
/// a connection the receiver reset can fail one more without reaching it).
const FLAKY_FAILURES: usize = 4;
const DEAD_WABA: &str = "555000222";

/// One answered delivery: which event, when, whether the receiver said 2xx, and whether its
/// signature verified (recorded, not asserted in the handler, where a panic would be lost).
#[derive(Clone)]
struct Seen {
    id: String,
    at: Instant,
    ok: bool,
    signed: bool,
}

fn soak_events() -> usize {
    std::env::var("SOAK_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

fn body(i: usize, dead: bool) -> Vec<u8> {
    let (phone, waba) = if dead {
        (DEAD_PHONE, DEAD_WABA)
    } else {
        (PHONE_NUMBER_ID, WABA_ID)
    };
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{waba}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"1555","phone_number_id":"{phone}"}},"messages":[{{"from":"4915100000000","id":"wamid.soak{i:06}","timestamp":"1700000000","type":"text","text":{{"body":"n{i}"}}}}]}},"field":"messages"}}]}}]}}"#
    )
    .into_bytes()
}

/// The flaky receiver: each delivery fails with probability 0.3, in one of four ways, at most
/// `FLAKY_FAILURES` times per event.
async fn flaky(
    secret: Arc<Mutex<Secret>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    req: Request,
) -> Response<Body> {
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let signature = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let secret = secret.lock().unwrap().clone();
    let signed = verify_hub_signature(&[secret], req.body().as_ref(), Some(&signature)).is_ok();
    // At most FLAKY_FAILURES failed answers per event: a live event then never spends its 8
    // attempts by chance, so one in the DLQ is the gateway's fault, never the dice's.
    let failed_before = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.id == id && !s.ok)
        .count();
    let roll: f64 = if failed_before >= FLAKY_FAILURES {
        1.0
    } else {
        rand::random()
    };
    let status = match roll {
        r if r < 0.10 => 503,
        r if r < 0.17 => {
            // Twice the stack's webhook timeout (the same constant): the gateway gave up, so
            // this 200 was never seen by it and does not count as a delivery.
            tokio::time::sleep(WEBHOOK_TIMEOUT * 2).await;
            seen.lock().unwrap().push(Seen {
                id,
                at: Instant::now(),
                ok: false,
                signed,
            });
            return Response::builder().status(200).body(Body::Empty).unwrap();
        }
        r if r < 0.24 => {
            // A reset: the connection ends without an answer.
            seen.lock().unwrap().push(Seen {
                id,
                at: Instant::now(),
                ok: false,
                signed,
            });
            let mut reset = Response::new(Body::Empty);
            reset.extensions_mut().insert(http_server::ResetConnection);
            return reset;
        }
        r if r < 0.30 => 429,
        r if r < 0.40 => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            200
        }
        _ => 200,
    };
    seen.lock().unwrap().push(Seen {
        id,
        at: Instant::now(),
        ok: status == 200,
        signed,
    });
    Response::builder()
        .status(status)
        .body(Body::Empty)
        .unwrap()
}

async fn start(options: &gateway_local::StackOptions) -> LocalStack {
    LocalStack::start(options.clone())
        .await
        .expect("gateway-local starts")
}

#[tokio::test]
async fn under_faults_and_a_restart_every_accepted_event_is_delivered_or_dead_lettered() {
    if std::env::var_os("SOAK_LOG").is_some() {
        gateway_aws::init_logging();
    }
    let n = soak_events();
    let dead_every = 10; // every 10th event belongs to the tenant whose endpoint never recovers
    let options = stack_options("soak");
    let stack = start(&options).await;
    // Messages the killed process held come back after the queue's visibility timeout; the
    // template's 180 s is scaled down here as the retry schedule is.
    stack
        .clients
        .sqs
        .set_queue_attributes()
        .queue_url(&stack.resources.events_queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "10",
        )
        .send()
        .await
        .unwrap();

    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let secret = Arc::new(Mutex::new(Secret::new("unset")));
    let listener = http_server::bind(0).await.unwrap();
    let receiver_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (s, l) = (secret.clone(), seen.clone());
    let receiver = tokio::spawn(http_server::serve(listener, move |req| {
        flaky(s.clone(), l.clone(), req)
    }));
    let dead = Receiver::start(vec![500]).await;

    let flaky_tenant = tenant_owning(
        &stack.admin(),
        PHONE_NUMBER_ID,
        WABA_ID,
        &receiver_url,
        DeliveryFormat::Meta,
    )
    .await;
    *secret.lock().unwrap() = Secret::new(flaky_tenant.webhook_secret);
    let dead_url = format!("{}/hook", dead.url);
    let dead_tenant = tenant_owning(
        &stack.admin(),
        DEAD_PHONE,
        DEAD_WABA,
        &dead_url,
        DeliveryFormat::Meta,
    )
    .await;
    dead.set_secret(&dead_tenant.webhook_secret);

    // "Meta": posts every event, some twice, retrying anything but a 200 (as Meta does).
    let url = Arc::new(RwLock::new(stack.url()));
    let accepted: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let client = http();
    let meta = {
        let (url, accepted, client) = (url.clone(), accepted.clone(), client.clone());
        tokio::spawn(async move {
            futures::stream::iter(0..n)
                .for_each_concurrent(8, |i| {
                    let (url, accepted, client) = (url.clone(), accepted.clone(), client.clone());
                    async move {
                        let payload = body(i, i % dead_every == 0);
                        let copies = if i % 7 == 0 { 2 } else { 1 };
                        for _ in 0..copies {
                            let deadline = Instant::now() + Duration::from_secs(120);
                            loop {
                                let target = format!("{}/webhook", url.read().unwrap());
                                let sent = client
                                    .post(target)
                                    .header("x-hub-signature-256", meta_signature(&payload))
                                    .body(payload.clone())
                                    .send()
                                    .await;
                                if sent.is_ok_and(|r| r.status() == 200) {
                                    accepted.lock().unwrap().insert(i);
                                    break;
                                }
                                assert!(Instant::now() < deadline, "event {i} never accepted");
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                })
                .await;
        })
    };

    // Kill the gateway mid-run (in-flight deliveries die with it), then bring it back.
    while accepted.lock().unwrap().len() < n / 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed_at = Instant::now();
    stack.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stack = start(&options).await;
    *url.write().unwrap() = stack.url();
    meta.await.unwrap();
    assert_eq!(
        accepted.lock().unwrap().len(),
        n,
        "every event was accepted in the end"
    );

    // Let the retries and the dead tenant's schedule run out.
    let queue = stack.resources.events_queue_url.clone();
    // Generous for a 2-core machine: a minute plus 150 ms per event.
    let deadline = Instant::now() + Duration::from_secs(60) + Duration::from_millis(150) * n as u32;
    loop {
        let depth = queue_depth(&stack.clients.sqs, &queue).await;
        if depth == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events queue did not drain: {depth} left"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let seen = seen.lock().unwrap().clone();
    let mut first_ok: HashMap<String, Instant> = HashMap::new();
    let mut duplicates = Vec::new();
    for s in seen.iter().filter(|s| s.ok) {
        match first_ok.get(&s.id) {
            None => {
                first_ok.insert(s.id.clone(), s.at);
            }
            Some(first) => duplicates.push((s.id.clone(), *first)),
        }
    }
    let live: Vec<usize> = (0..n).filter(|i| i % dead_every != 0).collect();
    let undelivered: Vec<&usize> = live
        .iter()
        .filter(|i| !first_ok.contains_key(&format!("wamid.soak{i:06}")))
        .collect();
    // A duplicate is explained only by the kill: its first delivery landed while that
    // process could still have been between the 2xx and the COMPLETED write.
    let window = options.webhook_timeout + Duration::from_secs(1);
    let unexplained: Vec<&(String, Instant)> = duplicates
        .iter()
        .filter(|(_, first)| {
            !(*first <= killed_at + Duration::from_millis(100)
                && killed_at.saturating_duration_since(*first) <= window)
        })
        .collect();

    let dlq = stack.clients.sqs.clone();
    let mut dead_lettered = HashSet::new();
    for _ in 0..40 {
        let got = dlq
            .receive_message()
            .queue_url(&stack.resources.dead_letter_queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() && dead_lettered.len() >= n / dead_every {
            break;
        }
        for m in messages {
            let event = gateway_core::meta::Event::from_queue_body(m.body().unwrap()).unwrap();
            dead_lettered.insert(event.id.to_string());
        }
    }
    let expected_dead: HashSet<String> = (0..n)
        .filter(|i| i % dead_every == 0)
        .map(|i| format!("wamid.soak{i:06}"))
        .collect();

    println!(
        "soak: {n} events ({} duplicate POSTs), {} deliveries answered, {} failed on purpose, {} duplicates after the kill ({} unexplained), {} dead-lettered, {} unsigned",
        (0..n).filter(|i| i % 7 == 0).count(),
        seen.len(),
        seen.iter().filter(|s| !s.ok).count(),
        duplicates.len(),
        unexplained.len(),
        dead_lettered.len(),
        seen.iter().filter(|s| !s.signed).count()
    );
    assert!(
        seen.iter().all(|s| s.signed),
        "every delivery carries a valid X-Hub-Signature-256"
    );
    for i in &undelivered {
        let id = format!("wamid.soak{i:06}");
        let history: Vec<(bool, u128)> = seen
            .iter()
            .filter(|s| s.id == id)
            .map(|s| (s.ok, s.at.saturating_duration_since(killed_at).as_millis()))
            .collect();
        println!(
            "undelivered {id}: answered {} times (ok, ms after the kill): {history:?}; in the DLQ: {}",
            history.len(),
            dead_lettered.contains(&id)
        );
    }
    assert!(
        undelivered.is_empty(),
        "accepted but never delivered: {undelivered:?}"
    );
    assert!(
        unexplained.is_empty(),
        "delivered twice without a crash to explain it: {unexplained:?}"
    );
    assert_eq!(
        dead_lettered, expected_dead,
        "the DLQ must hold exactly the dead endpoint's events"
    );
    assert!(
        dead.received().len() >= expected_dead.len() * 8,
        "the dead endpoint got every attempt"
    );
    receiver.abort();
}
