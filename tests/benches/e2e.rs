//! End-to-end throughput on the local stack (`make bench`): signed webhook POSTs into
//! gateway-local, through the emulator's queue, to a receiver on loopback; /v1 sends through the
//! fake Graph API; and the emulator's own SQS ceiling beside them, since every event crosses it.
//! Bounded in count; loopback only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gateway_core::format::DeliveryFormat;
use gateway_core::signature::Secret;
use gateway_local::fake_graph::FakeGraph;
use gateway_local::http_server;
use gateway_tests::*;
use lambda_http::{Body, Response};

const WEBHOOKS: usize = 600;
const SENDS: usize = 200;
const SQS_CALLS: usize = 600;
const CONCURRENCY: usize = 16;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(name: &str, count: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{name:<44} {:>8.1}/s   p50 {:>7.1} ms   p99 {:>7.1} ms   (n={count})",
        count as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}

fn webhook(i: usize) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"K"}},"wa_id":"4915112345678"}}],"messages":[{{"from":"4915112345678","id":"wamid.bench{i:06}","timestamp":"1700000000","type":"text","text":{{"body":"Termin am Dienstag?"}}}}]}},"field":"messages"}}]}}]}}"#
    )
    .into_bytes()
}

async fn emulator_ceiling(stack: &Stack) {
    let sqs = stack.clients.sqs.clone();
    let url = stack.resources.dead_letter_queue_url.clone();
    let started = Instant::now();
    let latencies: Vec<Duration> = futures::stream::iter(0..SQS_CALLS)
        .map(|i| {
            let (sqs, url) = (sqs.clone(), url.clone());
            async move {
                let t = Instant::now();
                sqs.send_message()
                    .queue_url(url)
                    .message_body(format!("ceiling {i}"))
                    .send()
                    .await
                    .unwrap();
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    summary(
        "emulator ceiling: SQS SendMessage",
        SQS_CALLS,
        started.elapsed(),
        latencies,
    );
}

#[tokio::main]
async fn main() {
    let mut options = stack_options("bench");
    let graph = FakeGraph::start(
        0,
        Secret::new("bench-token"),
        Secret::new(APP_SECRET),
        &[(WABA_ID, &[PHONE_NUMBER_ID])],
    )
    .await
    .unwrap();
    options.graph_api_base_url = graph.url.clone();
    options.access_token = Secret::new("bench-token");
    let stack = spawn_stack(options).await;
    graph.set_webhook_url(format!("{}/webhook", stack.url()));

    // The receiver notes when each event arrived.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let listener = http_server::bind(0).await.unwrap();
    let receiver_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let log = arrivals.clone();
    tokio::spawn(http_server::serve(
        listener,
        move |req: lambda_http::Request| {
            let log = log.clone();
            async move {
                let id = req
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().unwrap().entry(id).or_insert_with(Instant::now);
                Response::builder().status(200).body(Body::Empty).unwrap()
            }
        },
    ));
    let tenant = tenant_for_fixtures(&stack, &receiver_url, DeliveryFormat::Meta).await;

    println!(
        "\n== end to end on the local stack ({} emulator, {CONCURRENCY} concurrent clients)",
        std::env::var("EMULATOR").unwrap_or_else(|_| "ministack".into())
    );
    emulator_ceiling(&stack).await;

    let client = http();
    let posted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let ingest: Vec<Duration> = futures::stream::iter(0..WEBHOOKS)
        .map(|i| {
            let (client, posted, url) = (client.clone(), posted.clone(), stack.url());
            async move {
                let body = webhook(i);
                let t = Instant::now();
                posted
                    .lock()
                    .unwrap()
                    .insert(format!("wamid.bench{i:06}"), t);
                let r = client
                    .post(format!("{url}/webhook"))
                    .header("x-hub-signature-256", meta_signature(&body))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let ingest_elapsed = started.elapsed();
    summary(
        "webhook POST -> 200 (verified and queued)",
        WEBHOOKS,
        ingest_elapsed,
        ingest,
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while arrivals.lock().unwrap().len() < WEBHOOKS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered_elapsed = started.elapsed();
    let arrivals = arrivals.lock().unwrap().clone();
    let posted = posted.lock().unwrap().clone();
    let end_to_end: Vec<Duration> = posted
        .iter()
        .filter_map(|(id, t)| arrivals.get(id).map(|a| a.duration_since(*t)))
        .collect();
    assert_eq!(
        end_to_end.len(),
        WEBHOOKS,
        "every accepted webhook must arrive"
    );
    summary(
        "webhook POST -> tenant receiver (sustained)",
        WEBHOOKS,
        delivered_elapsed,
        end_to_end,
    );

    let started = Instant::now();
    let sends: Vec<Duration> = futures::stream::iter(0..SENDS)
        .map(|i| {
            let (client, url, key) = (client.clone(), stack.url(), tenant.api_key.clone());
            async move {
                let t = Instant::now();
                let r = client
                    .post(format!("{url}/v1/messages"))
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"recipient":"49151{i:08}","type":"text","text":{{"body":"Ihr Termin"}}}}"#))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    summary(
        "POST /v1/messages -> 202 (Meta faked)",
        SENDS,
        started.elapsed(),
        sends,
    );
}
