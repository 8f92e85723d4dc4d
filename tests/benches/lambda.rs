//! Cold start and memory of the real bootstraps (`make bench`), on a local stand-in for the
//! Lambda Runtime API: the time from exec to the first `GET /runtime/invocation/next`, each
//! bootstrap's zipped size, and the peak RSS (VmHWM) after a bounded run of invocations against
//! the emulator. Release binaries come from GATEWAY_LAMBDA_BIN_DIR (target/release).

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_core::admin::TenantWriter;
use gateway_core::format::DeliveryFormat;
use gateway_core::signature::Secret;
use gateway_local::fake_graph::FakeGraph;
use gateway_local::http_server;
use gateway_tests::*;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

const COLD_STARTS: usize = 15;
const INVOCATIONS: usize = 300;
const MEDIA_BYTES: usize = 50 * 1_000_000;

/// The Runtime API: hands out queued events one by one and counts the answers.
#[derive(Default)]
struct RuntimeApi {
    events: Mutex<VecDeque<String>>,
    asked: Notify,
    first_next: Mutex<Option<Instant>>,
    answered: Mutex<usize>,
    errors: Mutex<Vec<String>>,
    /// Every invocation's response document, in order.
    responses: Mutex<Vec<String>>,
}

async fn runtime_api(api: Arc<RuntimeApi>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        api.first_next
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        api.asked.notify_waiters();
        loop {
            if let Some(event) = api.events.lock().unwrap().pop_front() {
                let id = format!("req-{}", rand::random::<u64>());
                return Response::builder()
                    .header("lambda-runtime-aws-request-id", id)
                    .header(
                        "lambda-runtime-deadline-ms",
                        (now_ms() + 30_000).to_string(),
                    )
                    .header(
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:bench",
                    )
                    .header("content-type", "application/json")
                    .body(Body::Text(event))
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    if path.ends_with("/error") {
        api.errors
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(req.body().as_ref()).into_owned());
    } else if path.ends_with("/response") {
        api.responses
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(req.body().as_ref()).into_owned());
    }
    *api.answered.lock().unwrap() += 1;
    Response::builder().status(202).body(Body::Empty).unwrap()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn bin_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("GATEWAY_LAMBDA_BIN_DIR").unwrap_or_else(|_| "target/release".into()),
    )
}

fn zipped_size(binary: &PathBuf) -> usize {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options).unwrap();
    zip.write_all(&std::fs::read(binary).unwrap()).unwrap();
    zip.finish().unwrap().into_inner().len()
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Running {
    child: tokio::process::Child,
    api: Arc<RuntimeApi>,
    server: tokio::task::JoinHandle<()>,
}

async fn exec(binary: &PathBuf, env: &[(String, String)]) -> (Running, Duration) {
    let api = Arc::new(RuntimeApi::default());
    let listener = http_server::bind(0).await.unwrap();
    let address = listener.local_addr().unwrap();
    let shared = api.clone();
    let server = tokio::spawn(http_server::serve(listener, move |req| {
        runtime_api(shared.clone(), req)
    }));
    let asked = api.asked.notified();
    let started = Instant::now();
    let child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), asked)
        .await
        .expect("bootstrap reached the Runtime API");
    let first = api.first_next.lock().unwrap().expect("first /next seen");
    (
        Running { child, api, server },
        first.duration_since(started),
    )
}

impl Running {
    /// Runs `events` and checks that every one was answered, successfully by `ok`; returns
    /// the peak RSS.
    async fn run(&mut self, events: Vec<String>, ok: impl Fn(&Value) -> bool) -> u64 {
        let n = events.len();
        let before = *self.api.answered.lock().unwrap();
        let answered_before = self.api.responses.lock().unwrap().len();
        self.api.events.lock().unwrap().extend(events);
        let deadline = Instant::now() + Duration::from_secs(300);
        while *self.api.answered.lock().unwrap() < before + n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let errors = self.api.errors.lock().unwrap();
        assert!(
            errors.is_empty(),
            "invocations failed: {:?}",
            &errors[..errors.len().min(3)]
        );
        let responses = self.api.responses.lock().unwrap();
        let mine = &responses[answered_before..];
        assert_eq!(mine.len(), n, "every invocation must be answered");
        let failed: Vec<&String> = mine
            .iter()
            .filter(|r| !serde_json::from_str::<Value>(r).is_ok_and(|v| ok(&v)))
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {n} invocations did not succeed, e.g. {:?}",
            failed.len(),
            &failed[..failed.len().min(2)]
        );
        peak_rss_kib(self.child.id().unwrap())
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.server.abort();
    }
}

fn apigw(method: &str, path: &str, headers: Value, body: &[u8]) -> String {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {"accountId": "000000000000", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench", "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0},
        "body": String::from_utf8_lossy(body), "isBase64Encoded": false
    })
    .to_string()
}

#[tokio::main]
async fn main() {
    let graph = FakeGraph::start(
        0,
        Secret::new("bench-token"),
        Secret::new(APP_SECRET),
        &[(WABA_ID, &[PHONE_NUMBER_ID])],
    )
    .await
    .unwrap();
    let mut options = stack_options("coldstart");
    options.forward = false;
    options.graph_api_base_url = graph.url.clone();
    let stack = spawn_stack(options).await;
    let receiver = Receiver::start(vec![200]).await;
    let tenant = tenant_for_fixtures(
        &stack,
        &format!("{}/hook", receiver.url),
        DeliveryFormat::Meta,
    )
    .await;
    receiver.set_secret(&tenant.webhook_secret);

    let r = &stack.resources;
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", emulator_endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("TENANTS_TABLE", r.tenants_table.clone()),
        ("MESSAGES_TABLE", r.messages_table.clone()),
        ("IDEMPOTENCY_TABLE", r.idempotency_table.clone()),
        ("CONNECTIONS_TABLE", r.connections_table.clone()),
        ("EVENTS_QUEUE_URL", r.events_queue_url.clone()),
        ("DEAD_LETTER_QUEUE_URL", r.dead_letter_queue_url.clone()),
        ("EVENTS_BUCKET", r.events_bucket.clone()),
        ("GRAPH_API_BASE_URL", graph.url.clone()),
        ("META_APP_SECRET", APP_SECRET.into()),
        ("META_VERIFY_TOKEN", VERIFY_TOKEN.into()),
        ("META_ACCESS_TOKEN", "bench-token".into()),
        ("ALLOW_LOOPBACK_HTTP_TARGETS", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    println!(
        "\n== cold start proxy and memory (release bootstraps from {})",
        bin_dir().display()
    );
    println!(
        "{:<10} {:>12} {:>14} {:>14} {:>22}",
        "function", "zipped", "init p50", "init max", "peak RSS after load"
    );
    for name in ["webhook", "send", "forward"] {
        let binary = bin_dir().join(name);
        let mut inits = Vec::new();
        for _ in 0..COLD_STARTS {
            let (running, init) = exec(&binary, &env).await;
            inits.push(init);
            running.stop().await;
        }
        inits.sort();
        let (mut running, _) = exec(&binary, &env).await;
        let events: Vec<String> = (0..INVOCATIONS)
            .map(|i| match name {
                "webhook" => {
                    let body = fixture("message_text.json");
                    let body = String::from_utf8(body).unwrap().replace("wamid.", &format!("wamid.b{i}"));
                    let sig = meta_signature(body.as_bytes());
                    apigw("POST", "/webhook", json!({"content-type": "application/json", "x-hub-signature-256": sig}), body.as_bytes())
                }
                "send" => apigw(
                    "POST",
                    "/v1/messages",
                    json!({"content-type": "application/json", "authorization": format!("Bearer {}", tenant.api_key)}),
                    format!(r#"{{"recipient":"49151{i:08}","type":"text","text":{{"body":"x"}}}}"#).as_bytes(),
                ),
                _ => {
                    let records: Vec<Value> = (0..10)
                        .map(|j| {
                            let body = String::from_utf8(fixture("status_delivered.json")).unwrap().replace("wamid.", &format!("wamid.f{i}x{j}"));
                            let event = gateway_core::meta::split::split_events(body.as_bytes()).unwrap().remove(0);
                            json!({"messageId": format!("m{i}-{j}"), "receiptHandle": "rh", "body": event.to_queue_body(),
                                   "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                                   "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
                        })
                        .collect();
                    json!({"Records": records}).to_string()
                }
            })
            .collect();
        // A 403 or 500 answered quickly is no measurement: every answer must be the success.
        let rss = running
            .run(events, |response| match name {
                "webhook" => response["statusCode"] == 200,
                "send" => response["statusCode"] == 202,
                _ => response["batchItemFailures"]
                    .as_array()
                    .is_some_and(|f| f.is_empty()),
            })
            .await;
        running.stop().await;
        println!(
            "{name:<10} {:>9.1} MiB {:>11.1} ms {:>11.1} ms {:>18.1} MiB",
            zipped_size(&binary) as f64 / 1_048_576.0,
            inits[inits.len() / 2].as_secs_f64() * 1000.0,
            inits[inits.len() - 1].as_secs_f64() * 1000.0,
            rss as f64 / 1024.0
        );
    }
    println!("(load: {INVOCATIONS} invocations each; forward invocations carry 10 deliveries)");

    // 50 MB of media through the send bootstrap: streamed into the bucket in parts, never held
    // whole, and the tenant redirected to the copy.
    let media: Vec<u8> = (0..MEDIA_BYTES).map(|i| (i % 251) as u8).collect();
    let media_id = graph.add_media(media.clone(), "video/mp4", PHONE_NUMBER_ID);
    stack
        .tenants()
        .add_owner(
            gateway_core::ports::OwnerKind::Media,
            &media_id,
            &gateway_core::tenant::TenantId::new(tenant.tenant_id.clone()),
        )
        .await
        .unwrap();
    let (mut running, _) = exec(&bin_dir().join("send"), &env).await;
    let download = apigw(
        "GET",
        &format!("/v1/media/{media_id}"),
        json!({"authorization": format!("Bearer {}", tenant.api_key)}),
        b"",
    );
    let rss = running
        .run(vec![download], |r| r["statusCode"] == 302)
        .await;
    let answer: Value =
        serde_json::from_str(running.api.responses.lock().unwrap().last().unwrap()).unwrap();
    running.stop().await;
    let location = answer["headers"]["location"].as_str().expect("a Location");
    let fetched = http()
        .get(location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        fetched == media,
        "the staged copy is the media ({} bytes fetched)",
        fetched.len()
    );
    println!(
        "send, {} MB media download: peak RSS {:.1} MiB (staged in the bucket, 302 to it)",
        MEDIA_BYTES / 1_000_000,
        rss as f64 / 1024.0
    );
    let delivered = receiver.received().len();
    assert_eq!(
        delivered,
        INVOCATIONS * 10,
        "every forwarded event reached the receiver"
    );
}
