//! Test harness: the local stack on random ports against the emulator (never AWS), a recording
//! webhook receiver on loopback, Meta-style signing and the fixtures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gateway_aws::Clients;
use gateway_aws::admin::{Admin, OsEntropy};
use gateway_aws::dynamo::DynamoTenants;
use gateway_core::admin::TenantAdmin;
use gateway_core::signature::{Secret, sign_hub};
use gateway_core::tenant::TargetPolicy;
use gateway_core::time::SystemClock;
use gateway_local::provision::Resources;
use gateway_local::{LocalStack, StackOptions, emulator};

pub mod lambda;
mod proxy;
mod receiver;
pub mod sam;
mod tenants;
pub mod websocket;
mod world;

pub use receiver::{Received, Receiver};
pub use tenants::{other_tenant, tenant_for_fixtures, tenant_owning};
pub use websocket::{Socket, connect, refused};
pub use world::{TenantClient, World, status_and_json};

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
/// The ids every fixture in tests/fixtures/meta uses.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const WABA_ID: &str = "102290129340398";

/// The emulator `make test` started. Without it the test fails here, loudly: it is never
/// skipped silently and never falls back to a real AWS endpoint.
pub fn emulator_endpoint() -> String {
    match emulator::endpoint_from_env() {
        Ok(endpoint) => endpoint,
        Err(e) => {
            panic!("\n\n*** this test needs the AWS emulator: {e:#}\n*** run it with `make test`\n")
        }
    }
}

/// A name prefix no other test (or earlier run against the same emulator) uses.
pub fn unique_prefix(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let short: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    format!(
        "t{}-{short}-{n}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// How long test stacks wait for a tenant's webhook; receivers that play a timeout hold longer.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn stack_options(name: &str) -> StackOptions {
    let mut options = StackOptions::new(emulator_endpoint(), unique_prefix(name));
    options.app_secrets = vec![Secret::new(APP_SECRET)];
    options.verify_token = Secret::new(VERIFY_TOKEN);
    options.retry_scale = 0.0001;
    options.webhook_timeout = WEBHOOK_TIMEOUT;
    // Tests of retries fail one endpoint again and again on a compressed schedule; the
    // breaker's own tests turn it on (`with_breaker`).
    options.breaker.threshold = 1_000;
    options
}

/// The breaker as deployed (5 failures) with a probe every `probe_every`.
pub fn with_breaker(options: &mut StackOptions, probe_every: Duration) {
    options.breaker = gateway_core::endpoint_health::BreakerPolicy {
        threshold: 5,
        probe_every,
    };
}

/// The gateway under test: gateway-local (the default); the real Lambda bootstraps deployed
/// into the emulator when `GATEWAY_E2E_TARGET=lambda` (`make e2e-lambda`); or template.yaml
/// itself, built by `sam build` and deployed by `sam deploy`, when `GATEWAY_E2E_TARGET=sam`
/// (`make deploy-local`).
pub struct Stack {
    url: String,
    pub resources: Resources,
    pub clients: Clients,
    _running: Running,
}

/// Held only to be dropped with the stack: that stops what it started.
enum Running {
    Local {
        _stack: Box<LocalStack>,
    },
    Lambda {
        _deployment: Box<lambda::Deployment>,
    },
    Sam {
        _stack: Box<sam::SamStack>,
    },
}

impl Stack {
    /// Base URL of the webhook and send routes.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Where Meta posts its webhooks: `{url}/webhook`, or a deployed stack's WebhookUrl.
    pub fn webhook_url(&self) -> String {
        match &self._running {
            Running::Sam { _stack } => _stack.webhook_url.clone(),
            _ => format!("{}/webhook", self.url),
        }
    }

    pub fn tenants(&self) -> DynamoTenants {
        DynamoTenants::new(self.clients.dynamodb.clone(), &self.resources.tenants_table)
    }

    /// The tenant use cases on this stack's table; receivers on loopback are allowed.
    pub fn admin(&self) -> Admin {
        TenantAdmin::new(
            self.tenants(),
            TargetPolicy::AllowLoopbackHttp,
            SystemClock,
            OsEntropy,
        )
    }

    /// The CloudFormation stack `sam deploy` created (`GATEWAY_E2E_TARGET=sam`).
    pub fn stack_name(&self) -> Option<String> {
        match &self._running {
            Running::Sam { _stack } => Some(_stack.name().to_owned()),
            _ => None,
        }
    }

    /// The real bootstraps run by the emulator (`lambda` or `sam`), not handlers in process.
    pub fn is_lambda(&self) -> bool {
        matches!(self._running, Running::Lambda { .. } | Running::Sam { .. })
    }
}

/// The template's tables, queues and bucket on the emulator under a prefix of their own, and
/// the clients to reach them: for tests of one adapter, without a running stack.
pub async fn provisioned(name: &str) -> (Clients, Resources) {
    let clients = Clients::new(&emulator::sdk_config(&emulator_endpoint()).await);
    let resources = gateway_local::provision::provision(
        &clients,
        &gateway_local::stack::default_template(),
        &unique_prefix(name),
    )
    .await
    .expect("tables and queues are created from template.yaml");
    (clients, resources)
}

pub async fn spawn_stack(options: StackOptions) -> Stack {
    match std::env::var("GATEWAY_E2E_TARGET").as_deref() {
        Ok("lambda") => {
            let deployment = lambda::deploy(options)
                .await
                .expect("the Lambda functions deploy into the emulator");
            Stack {
                url: deployment.url.clone(),
                resources: deployment.resources.clone(),
                clients: deployment.clients.clone(),
                _running: Running::Lambda {
                    _deployment: Box::new(deployment),
                },
            }
        }
        Ok("sam") => {
            let deployed = sam::deploy(options)
                .await
                .expect("template.yaml deploys into the emulator with sam deploy");
            Stack {
                url: deployed.url.clone(),
                resources: deployed.resources.clone(),
                clients: deployed.clients.clone(),
                _running: Running::Sam {
                    _stack: Box::new(deployed),
                },
            }
        }
        Ok("local") | Err(_) => {
            let local = LocalStack::start(options)
                .await
                .expect("the local stack starts against the emulator");
            Stack {
                url: local.url(),
                resources: local.resources.clone(),
                clients: local.clients.clone(),
                _running: Running::Local {
                    _stack: Box::new(local),
                },
            }
        }
        Ok(other) => panic!("GATEWAY_E2E_TARGET must be `local`, `lambda` or `sam`, not `{other}`"),
    }
}

/// The platform token the fake Graph API accepts in tests that use [`stack_with_fake_graph`].
pub const ACCESS_TOKEN: &str = "test-access-token";
/// A second tenant's phone number and WABA, both visible to the fake Graph API's token.
pub const OTHER_PHONE: &str = "999000111";
pub const OTHER_WABA: &str = "999000222";

/// A fake Graph API whose token sees the fixtures' account and the other tenant's, and a stack
/// that calls it with [`ACCESS_TOKEN`] and receives its status webhooks.
pub async fn stack_with_fake_graph(name: &str) -> (Stack, gateway_local::fake_graph::FakeGraph) {
    let graph = gateway_local::fake_graph::FakeGraph::start(
        0,
        Secret::new(ACCESS_TOKEN),
        Secret::new(APP_SECRET),
        &[(WABA_ID, &[PHONE_NUMBER_ID]), (OTHER_WABA, &[OTHER_PHONE])],
    )
    .await
    .expect("the fake Graph API starts");
    let mut options = stack_options(name);
    options.graph_api_base_url = graph.url.clone();
    options.access_token = Secret::new(ACCESS_TOKEN);
    let stack = spawn_stack(options).await;
    graph.set_webhook_url(format!("{}/webhook", stack.url()));
    (stack, graph)
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/meta/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub fn fixture_names() -> Vec<String> {
    let dir = format!("{}/fixtures/meta", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

pub fn meta_signature(body: &[u8]) -> String {
    sign_hub(&Secret::new(APP_SECRET), body)
}

/// A test that cannot run on this target says so where it shows: on stderr, and as a line in
/// the file `GATEWAY_SKIP_LOG` names, which `make` prints after the run and takes off the
/// passed count (a skipped test never counts as passed). Call it, then return.
pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIPPED {test}: {reason}");
    if let Ok(path) = std::env::var("GATEWAY_SKIP_LOG") {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("the skip log {path}: {e}"));
        writeln!(log, "{test}: {reason}").expect("the skip log is writable");
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs `body` to the stack's /webhook signed as Meta would.
pub async fn post_webhook(stack: &Stack, body: &[u8]) -> reqwest::Response {
    http()
        .post(stack.webhook_url())
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Messages in the queue, visible or in flight.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .map(|a| {
        attrs
            .get(a)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// Waits until the events queue holds nothing, visible or in flight.
pub async fn wait_until_drained(stack: &Stack, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while queue_depth(&stack.clients.sqs, &stack.resources.events_queue_url).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "events queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tenant API call with `key`: the status and the JSON answer (`Null` when not JSON).
pub async fn api(
    stack: &Stack,
    key: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http()
        .request(method, format!("{}{path}", stack.url()))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}
