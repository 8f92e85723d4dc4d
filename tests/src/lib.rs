//! Test harness: the local stack on random ports against the emulator (never AWS), a recording
//! webhook receiver on loopback, Meta-style signing and the fixtures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_aws::Clients;
use gateway_aws::admin::{NewTenant, TenantSpec, create_tenant};
use gateway_aws::dynamo::DynamoTenants;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::OwnerKind;
use gateway_core::signature::{Secret, sign_hub, verify_hub_signature, verify_standard_webhook};
use gateway_core::tenant::{TargetPolicy, TenantId};
use gateway_local::provision::Resources;
use gateway_local::{LocalStack, StackOptions, emulator, http_server};

pub mod lambda;
use lambda_http::{Body, Request, Response};
use tokio::task::JoinHandle;

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
    options
}

/// The gateway under test: gateway-local (the default), or the real Lambda bootstraps
/// deployed into the emulator when `GATEWAY_E2E_TARGET=lambda` (`make e2e-lambda`).
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
}

impl Stack {
    /// Base URL of the webhook and send routes.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn tenants(&self) -> DynamoTenants {
        DynamoTenants::new(self.clients.dynamodb.clone(), &self.resources.tenants_table)
    }

    pub fn is_lambda(&self) -> bool {
        matches!(self._running, Running::Lambda { .. })
    }
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
        Ok(other) => panic!("GATEWAY_E2E_TARGET must be `local` or `lambda`, not `{other}`"),
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

/// A second tenant owning [`OTHER_PHONE`] and [`OTHER_WABA`], with a webhook nobody serves.
pub async fn other_tenant(stack: &Stack) -> NewTenant {
    let tenants = stack.tenants();
    let other = create_tenant(
        &tenants,
        TenantSpec {
            name: "other".into(),
            webhook_url: "https://other.example/hook".into(),
            format: DeliveryFormat::Meta,
            callback_domains: vec![],
        },
        TargetPolicy::AllowLoopbackHttp,
    )
    .await
    .expect("the other tenant is created");
    let id = TenantId(other.tenant_id.clone());
    for (kind, owned) in [
        (OwnerKind::Phone, OTHER_PHONE),
        (OwnerKind::Waba, OTHER_WABA),
    ] {
        tenants
            .add_owner(kind, owned, &id)
            .await
            .expect("the other tenant's account is recorded");
    }
    other
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

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs `body` to the stack's /webhook signed as Meta would.
pub async fn post_webhook(stack: &Stack, body: &[u8]) -> reqwest::Response {
    http()
        .post(format!("{}/webhook", stack.url()))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: Vec<u8>,
    pub webhook_id: String,
    pub hub_signature_ok: bool,
    pub standard_signature_ok: bool,
    pub user_agent: String,
    pub content_type: String,
}

/// A tenant's webhook on loopback: checks both signatures, records every delivery and answers
/// with the scripted statuses (the last one repeats).
pub struct Receiver {
    pub url: String,
    secret: Arc<Mutex<Secret>>,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts answering with `statuses`; `set_secret` tells it the tenant's secret.
    pub async fn start(statuses: Vec<u16>) -> Receiver {
        let listener = http_server::bind(0).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(statuses));
        let secret = Arc::new(Mutex::new(Secret::new("unset")));
        let shared_secret = secret.clone();
        let log = received.clone();
        let task = tokio::spawn(http_server::serve(listener, move |req: Request| {
            let log = log.clone();
            let script = script.clone();
            let secret = shared_secret.lock().unwrap().clone();
            async move {
                let header = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let body = req.body().as_ref().to_vec();
                let entry = Received {
                    path: req.uri().path().to_owned(),
                    webhook_id: header("webhook-id"),
                    hub_signature_ok: verify_hub_signature(
                        std::slice::from_ref(&secret),
                        &body,
                        Some(&header("x-hub-signature-256")),
                    )
                    .is_ok(),
                    standard_signature_ok: verify_standard_webhook(
                        &secret,
                        &header("webhook-id"),
                        &header("webhook-timestamp"),
                        &body,
                        &header("webhook-signature"),
                    ),
                    user_agent: header("user-agent"),
                    content_type: header("content-type"),
                    body,
                };
                log.lock().unwrap().push(entry);
                let status = {
                    let mut s = script.lock().unwrap();
                    if s.len() > 1 { s.remove(0) } else { s[0] }
                };
                Response::builder()
                    .status(status)
                    .body(Body::Empty)
                    .unwrap()
            }
        }));
        Receiver {
            url,
            secret,
            received,
            task,
        }
    }

    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = Secret::new(secret);
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries arrived (or panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} deliveries, got {}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates a tenant owning the fixtures' phone number and WABA, delivering to `url`.
pub async fn tenant_for_fixtures(stack: &Stack, url: &str, format: DeliveryFormat) -> NewTenant {
    tenant_owning(&stack.tenants(), PHONE_NUMBER_ID, WABA_ID, url, format).await
}

/// Creates a tenant owning `phone` and `waba`, delivering to `url`.
pub async fn tenant_owning(
    tenants: &DynamoTenants,
    phone: &str,
    waba: &str,
    url: &str,
    format: DeliveryFormat,
) -> NewTenant {
    let created = create_tenant(
        tenants,
        TenantSpec {
            name: "acme".into(),
            webhook_url: url.into(),
            format,
            callback_domains: vec!["localhost".into()],
        },
        TargetPolicy::AllowLoopbackHttp,
    )
    .await
    .unwrap();
    let id = TenantId(created.tenant_id.clone());
    tenants
        .add_owner(OwnerKind::Phone, phone, &id)
        .await
        .unwrap();
    tenants.add_owner(OwnerKind::Waba, waba, &id).await.unwrap();
    created
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
