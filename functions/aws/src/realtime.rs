//! Posting frames to WebSocket connections through API Gateway's management API
//! (`PostToConnection`), and closing them (`DeleteConnection`). A connection that is gone
//! answers 410 (`GoneException`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use gateway_core::meta::Event;
use gateway_core::realtime::{
    Closer, ConnectionId, DEFAULT_CONNECTIONS_PER_TENANT, Limits, Posted, Poster, Publish,
};
use gateway_core::tenant::TenantId;

/// The variable that bounds a tenant's live connections (template parameter
/// `RealtimeMaxConnectionsPerTenant`).
pub const MAX_CONNECTIONS_PER_TENANT_VAR: &str = "REALTIME_MAX_CONNECTIONS_PER_TENANT";

/// The most live connections a tenant may be allowed: the forwarder lists no more of a
/// tenant's connections for one event (template.yaml's `MaxValue` says the same).
pub const MAX_CONNECTIONS_PER_TENANT: u32 = 2_000;

/// The realtime function's bounds: `REALTIME_MAX_CONNECTIONS_PER_TENANT` (default 200, 1 to
/// 2,000) live connections per tenant; the uses of a token and the frame rate are fixed.
pub fn limits_from_env() -> anyhow::Result<Limits> {
    let raw = std::env::var(MAX_CONNECTIONS_PER_TENANT_VAR)
        .unwrap_or_else(|_| DEFAULT_CONNECTIONS_PER_TENANT.to_string());
    let connections_per_tenant = raw
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_CONNECTIONS_PER_TENANT).contains(n))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{MAX_CONNECTIONS_PER_TENANT_VAR} must be a whole number from 1 to {MAX_CONNECTIONS_PER_TENANT}, not `{raw}`"
            )
        })?;
    Ok(Limits {
        connections_per_tenant,
        ..Limits::default()
    })
}

/// One post gives up after this long: the webhook delivery beside it never waits longer.
const POST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct ApiGatewayPoster {
    client: Client,
}

impl ApiGatewayPoster {
    /// `endpoint` is the API's stage URL over HTTPS (`https://<api>.execute-api.<region>.
    /// amazonaws.com/<stage>`; on the emulator, its `/_aws/execute-api/<api>/<stage>` path).
    pub fn new(sdk: &SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(POST_TIMEOUT)
                    .build(),
            )
            .build();
        ApiGatewayPoster {
            client: Client::from_conf(config),
        }
    }
}

impl Poster for ApiGatewayPoster {
    async fn post(&self, id: &ConnectionId, frame: &[u8]) -> Posted {
        let result = self
            .client
            .post_to_connection()
            .connection_id(id.as_str())
            .data(Blob::new(frame))
            .send()
            .await;
        match result {
            Ok(_) => Posted::Sent,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Posted::Gone,
            Err(e) => Posted::Failed(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e)
                    .to_string()
                    .chars()
                    .take(200)
                    .collect(),
            ),
        }
    }
}

impl Closer for ApiGatewayPoster {
    async fn close(&self, id: &ConnectionId) -> Result<(), gateway_core::Error> {
        let result = self
            .client
            .delete_connection()
            .connection_id(id.as_str())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Ok(()),
            Err(e) => {
                tracing::warn!(
                    error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e),
                    "DeleteConnection failed"
                );
                Err(gateway_core::Error::unavailable("closing a connection"))
            }
        }
    }
}

/// How long one event's real-time posts may hold up its delivery's outcome, in all: listing
/// the connections, every post and forgetting the gone ones.
pub const PUBLISH_BUDGET: Duration = Duration::from_secs(3);

/// Bounds a publisher: past `budget`, the rest of the posts are dropped (and logged), so a
/// slow table or management API never holds a delivery's outcome (and its batch) longer.
pub struct Bounded<P> {
    inner: P,
    budget: Duration,
}

impl<P> Bounded<P> {
    pub fn new(inner: P, budget: Duration) -> Self {
        Bounded { inner, budget }
    }
}

impl<P: Publish> Publish for Bounded<P> {
    fn publish<'a>(
        &'a self,
        tenant: &'a TenantId,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if tokio::time::timeout(self.budget, self.inner.publish(tenant, event))
                .await
                .is_err()
            {
                tracing::warn!(
                    tenant_id = tenant.as_str(),
                    event_ref = %gateway_core::mask::reference(event.id.as_str()),
                    budget_ms = self.budget.as_millis() as u64,
                    "real-time posts cut short"
                );
            }
        })
    }
}

/// A DynamoDB client whose calls give up after `timeout`, for the real-time side of a
/// delivery.
pub fn quick_dynamodb(
    client: &aws_sdk_dynamodb::Client,
    timeout: Duration,
) -> aws_sdk_dynamodb::Client {
    let config = client
        .config()
        .to_builder()
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_timeout(timeout)
                .build(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
