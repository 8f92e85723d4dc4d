//! The gateway assembled on one machine: provision from template.yaml, then serve the webhook
//! and send handlers on one port (routed as the HTTP API routes them) and poll the events queue
//! for the forward handler. Used by `gateway-local` and by the end-to-end tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gateway_aws::admin::Admin;
use gateway_aws::dynamo::DynamoTenants;
use gateway_aws::realtime::ApiGatewayPoster;
use gateway_aws::{Clients, Gateway, Settings};
use gateway_core::endpoint_health::BreakerPolicy;
use gateway_core::realtime::Limits;
use gateway_core::signature::Secret;
use gateway_core::tenant::TargetPolicy;
use gateway_forward::ForwardApp;
use gateway_realtime::RealtimeApp;
use gateway_send::SendApp;
use gateway_webhook::{WEBHOOK_PATH, WebhookApp};
use tokio::task::JoinSet;

use crate::provision::{Resources, provision};
use crate::realtime::{self, LocalPoster, Registry, WS_PATH};
use crate::{emulator, http_server, poller};

/// Concurrent batches, as Lambda's event source mapping runs at first.
const POLLERS: usize = 5;

/// The template at the root of this checkout.
pub fn default_template() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
}

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The emulator's loopback endpoint.
    pub endpoint: String,
    pub template: PathBuf,
    /// Prefix of every table and queue name, so stacks can share one emulator.
    pub prefix: String,
    /// 0 for any free port.
    pub gateway_port: u16,
    /// The WebSocket route's port (`ws://127.0.0.1:<port>/ws`); 0 for any free port.
    pub realtime_port: u16,
    /// Posts frames through API Gateway's management API at this endpoint instead of to the
    /// local sockets (a test of a management API that is down sets a dead port).
    pub realtime_endpoint: Option<String>,
    /// The most live WebSocket connections of one tenant (template.yaml's
    /// `RealtimeMaxConnectionsPerTenant`: 200); tests of the bound set a few.
    pub realtime_max_connections_per_tenant: u32,
    pub app_secrets: Vec<Secret>,
    pub verify_token: Secret,
    pub access_token: Secret,
    pub graph_api_base_url: String,
    /// Shrinks the forward retry schedule (1.0 = production).
    pub retry_scale: f64,
    pub webhook_timeout: Duration,
    /// Run the forward poller (tests of ingest alone turn it off to inspect the queue).
    pub forward: bool,
    /// More template.yaml parameters for a stack `sam deploy` creates (`WebhookEndpoint`...);
    /// the local stack has no use for them.
    pub template_parameters: Vec<(String, String)>,
    /// How long tenant lookups are kept (template.yaml: 60 s); zero here, so a change made by
    /// a test or by gatewayctl takes effect at once.
    pub tenant_cache: Duration,
    /// Loopback http:// targets are allowed locally (receivers run on this machine); a test of
    /// the production default sets `PublicHttpsOnly`.
    pub target_policy: TargetPolicy,
    /// Days each event's queue message is kept for replay (template.yaml: 3).
    pub event_retention_days: u64,
    /// The circuit breaker (template.yaml: 5 failures, a probe every 60 s).
    pub breaker: BreakerPolicy,
}

impl StackOptions {
    pub fn new(endpoint: impl Into<String>, prefix: impl Into<String>) -> Self {
        StackOptions {
            endpoint: endpoint.into(),
            template: default_template(),
            prefix: prefix.into(),
            gateway_port: 0,
            realtime_port: 0,
            realtime_endpoint: None,
            realtime_max_connections_per_tenant:
                gateway_core::realtime::DEFAULT_CONNECTIONS_PER_TENANT,
            app_secrets: vec![Secret::new("local-app-secret")],
            verify_token: Secret::new("local-verify-token"),
            access_token: Secret::new("local-access-token"),
            graph_api_base_url: "http://127.0.0.1:3001".to_owned(),
            retry_scale: 1.0,
            webhook_timeout: Duration::from_secs(10),
            forward: true,
            tenant_cache: Duration::ZERO,
            template_parameters: Vec::new(),
            target_policy: TargetPolicy::AllowLoopbackHttp,
            event_retention_days: 3,
            breaker: BreakerPolicy::default(),
        }
    }
}

pub struct LocalStack {
    pub addr: SocketAddr,
    /// Where real-time clients connect: `ws://<realtime_addr>/ws?token=…`.
    pub realtime_addr: SocketAddr,
    pub resources: Resources,
    pub clients: Clients,
    pub settings: Settings,
    /// The composition root the apps were built from; gives the tenant use cases too.
    gateway: Gateway<LocalPoster>,
    /// Serving and polling; dropping the stack aborts them.
    tasks: JoinSet<()>,
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        emulator::ensure_loopback(&options.endpoint)?;
        let sdk = emulator::sdk_config(&options.endpoint).await;
        let clients = Clients::new(&sdk);
        let resources = provision(&clients, &options.template, &options.prefix).await?;
        let realtime_listener = http_server::bind(options.realtime_port).await?;
        let realtime_addr = realtime_listener.local_addr()?;
        let mut settings = Settings::new(resources.clone());
        settings.realtime_url = Some(format!("ws://{realtime_addr}{WS_PATH}"));
        settings.graph_api_base_url = options.graph_api_base_url.clone();
        settings.webhook_timeout = options.webhook_timeout;
        settings.retry_scale = options.retry_scale;
        // The one place loopback http:// targets are allowed: receivers run on this machine.
        settings.target_policy = options.target_policy;
        settings.tenant_cache = options.tenant_cache;
        settings.event_retention = Duration::from_secs(options.event_retention_days * 86_400);
        settings.breaker = options.breaker;
        let registry = Registry::default();
        // The stack's own sockets take the realtime handler's posts (pongs, closes) and,
        // unless a test points the forwarder at a management API, the forwarder's.
        let gateway = Gateway::new(sdk.clone(), settings.clone())
            .with_poster(LocalPoster::Sockets(registry.clone()))
            .with_realtime_limits(Limits {
                connections_per_tenant: options.realtime_max_connections_per_tenant,
                ..Limits::default()
            });
        let webhook = Arc::new(WebhookApp::new(
            &gateway,
            options.app_secrets.clone(),
            options.verify_token.clone(),
        ));
        let send = Arc::new(SendApp::new(&gateway, options.access_token.clone())?);
        let forward = Arc::new(match &options.realtime_endpoint {
            Some(endpoint) => ForwardApp::new(
                &Gateway::new(sdk.clone(), settings.clone())
                    .with_poster(LocalPoster::Api(ApiGatewayPoster::new(&sdk, endpoint))),
            )?,
            None => ForwardApp::new(&gateway)?,
        });
        let connect = Arc::new(RealtimeApp::new(&gateway));

        let listener = http_server::bind(options.gateway_port).await?;
        let addr = listener.local_addr()?;
        let mut tasks = JoinSet::new();
        tasks.spawn(realtime::serve(realtime_listener, connect, registry));
        tasks.spawn(http_server::serve(
            listener,
            move |req: lambda_http::Request| {
                let webhook = webhook.clone();
                let send = send.clone();
                async move {
                    if req.uri().path() == WEBHOOK_PATH {
                        gateway_webhook::handle(&webhook, req).await
                    } else {
                        gateway_send::handle(&send, req).await
                    }
                }
            },
        ));
        if options.forward {
            // Lambda's SQS event source mapping starts with five concurrent batches; one batch
            // waits for its slowest delivery, so a single poller would understate throughput.
            for _ in 0..POLLERS {
                tasks.spawn(poller::run(
                    clients.sqs.clone(),
                    resources.events_queue_url.clone(),
                    forward.clone(),
                ));
            }
        }
        Ok(LocalStack {
            addr,
            realtime_addr,
            resources,
            clients,
            settings,
            gateway,
            tasks,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn tenants(&self) -> DynamoTenants {
        self.gateway.tenant_store()
    }

    /// The tenant use cases, with the stack's URL policy (loopback receivers allowed).
    pub fn admin(&self) -> Admin {
        self.gateway.admin()
    }

    /// Stops serving and polling.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}
