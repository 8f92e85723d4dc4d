//! The composition root: the AWS adapters wired into one [`Ports`] bundle, from the
//! environment (the Lambda mains) or from given settings (the local stack, tests, gatewayctl).
//! Every function builds its app from a `Gateway`; nothing else constructs adapters for them.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use gateway_core::admin::TenantAdmin;
use gateway_core::bundle::{AppConfig, Ports};
use gateway_core::cache::CachedTenants;
use gateway_core::forward::ForwardConfig;
use gateway_core::realtime::{Closer, Fanout, Limits, Poster, Publish};
use gateway_core::retry::RetrySchedule;
use gateway_core::signature::Secret;
use gateway_core::time::SystemClock;

use crate::admin::{Admin, OsEntropy};
use crate::config::{Clients, Settings, sdk_config};
use crate::dynamo::{
    DynamoConnections, DynamoHealth, DynamoIdempotency, DynamoMessages, DynamoTenants,
    DynamoTokenKey,
};
use crate::events_bucket::EventsBucket;
use crate::graph::HttpGraphApi;
use crate::queue::{SqsBatch, SqsEventQueue};
use crate::realtime::{ApiGatewayPoster, Bounded, PUBLISH_BUDGET, quick_dynamodb};
use crate::webhook_sender::HttpWebhookSender;

/// Calls to Meta stay well inside the send function's 29 s.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(10);
/// One connections-table call of the real-time side of a delivery gives up after this long.
const QUICK_TABLE_CALL: Duration = Duration::from_secs(1);

/// The AWS side of the gateway, built once per cold start. `Po` posts to live connections:
/// the WebSocket API's management API, or the local stack's in-process sockets.
pub struct Gateway<Po = ApiGatewayPoster> {
    pub sdk: SdkConfig,
    pub clients: Clients,
    pub settings: Settings,
    config: AppConfig,
    /// `None`: no connection can be posted to (no `REALTIME_ENDPOINT`).
    poster: Option<Po>,
}

impl Gateway {
    /// The Lambda functions' root: settings from the environment, AWS from the default chain
    /// (`AWS_ENDPOINT_URL` points it at an emulator). The realtime function adds its limits
    /// ([`crate::realtime::limits_from_env`]); no other function reads them.
    pub async fn from_env() -> anyhow::Result<Self> {
        Ok(Gateway::new(sdk_config().await, Settings::from_env()?))
    }

    pub fn new(sdk: SdkConfig, settings: Settings) -> Self {
        let config = AppConfig {
            forward: ForwardConfig {
                schedule: RetrySchedule::scaled(settings.retry_scale),
                // A claim outlives one delivery attempt (HTTP timeout) with room to spare.
                in_progress_for: settings.webhook_timeout * 3,
                payload_retention: settings.event_retention,
                breaker: settings.breaker,
                ..ForwardConfig::default()
            },
            target_policy: settings.target_policy,
            graph_api_version: settings.graph_api_version.clone(),
            realtime_url: settings.realtime_url.clone(),
            realtime_limits: Limits::default(),
        };
        let poster = settings
            .realtime_endpoint
            .as_deref()
            .map(|endpoint| ApiGatewayPoster::new(&sdk, endpoint));
        Gateway {
            clients: Clients::new(&sdk),
            sdk,
            settings,
            config,
            poster,
        }
    }
}

impl<Po> Gateway<Po> {
    /// Live connections are posted to (and closed) through `poster`, by the forwarder and by
    /// the realtime app alike.
    pub fn with_poster<Q>(self, poster: Q) -> Gateway<Q> {
        Gateway {
            sdk: self.sdk,
            clients: self.clients,
            settings: self.settings,
            config: self.config,
            poster: Some(poster),
        }
    }

    pub fn with_realtime_limits(mut self, limits: Limits) -> Self {
        self.config.realtime_limits = limits;
        self
    }

    /// A secret by name (see [`Clients::secret`]).
    pub async fn secret(&self, name: &str) -> anyhow::Result<Secret> {
        self.clients.secret(name).await
    }

    /// A comma-separated list of secrets (see [`Clients::secrets`]).
    pub async fn secrets(&self, name: &str) -> anyhow::Result<Vec<Secret>> {
        self.clients.secrets(name).await
    }

    /// The tenant use cases, over the Tenants table itself: an operator reads and writes what
    /// is stored, not a function's cache of it.
    pub fn admin(&self) -> Admin {
        TenantAdmin::new(
            self.tenant_store(),
            self.settings.target_policy,
            SystemClock,
            OsEntropy,
        )
    }

    /// The Tenants table, uncached.
    pub fn tenant_store(&self) -> DynamoTenants {
        DynamoTenants::new(
            self.clients.dynamodb.clone(),
            &self.settings.resources.tenants_table,
        )
    }

    /// The events bucket: claim checks and parked events.
    pub fn events_bucket(&self) -> EventsBucket {
        EventsBucket::new(
            self.clients.s3.clone(),
            &self.settings.resources.events_bucket,
        )
    }

    fn sqs_queue(&self, url: &str) -> SqsEventQueue {
        SqsEventQueue::new(self.clients.sqs.clone(), url, self.events_bucket())
    }

    /// Bounded twice: each table call and the whole of one event's posts.
    fn fanout<P: Poster + 'static>(&self, poster: P) -> Arc<dyn Publish> {
        let quick = quick_dynamodb(&self.clients.dynamodb, QUICK_TABLE_CALL);
        let connections = DynamoConnections::new(quick, &self.settings.resources.connections_table);
        Arc::new(Bounded::new(
            Fanout::new(connections, poster),
            PUBLISH_BUDGET,
        ))
    }
}

impl<Po: Poster + Closer + Clone + 'static> Ports for Gateway<Po> {
    type Queue = SqsEventQueue;
    type Batch = SqsBatch;
    type Requeue = SqsEventQueue;
    type Tenants = CachedTenants<DynamoTenants>;
    type Messages = DynamoMessages;
    type Idempotency = DynamoIdempotency;
    type Health = DynamoHealth;
    type Graph = HttpGraphApi;
    type Sender = HttpWebhookSender;
    type Parking = EventsBucket;
    type Connections = DynamoConnections;
    type TokenKey = DynamoTokenKey;
    type Poster = Po;
    type Clock = SystemClock;

    fn queue(&self) -> SqsEventQueue {
        self.sqs_queue(&self.settings.resources.events_queue_url)
    }

    fn batch(&self) -> SqsBatch {
        SqsBatch {
            queue: self.sqs_queue(&self.settings.resources.events_queue_url),
            dead_letters: self.sqs_queue(&self.settings.resources.dead_letter_queue_url),
        }
    }

    fn requeue(&self) -> SqsEventQueue {
        self.queue()
    }

    fn tenants(&self) -> CachedTenants<DynamoTenants> {
        CachedTenants::new(self.tenant_store(), self.settings.tenant_cache)
    }

    fn messages(&self) -> DynamoMessages {
        DynamoMessages::new(
            self.clients.dynamodb.clone(),
            &self.settings.resources.messages_table,
        )
    }

    fn idempotency(&self) -> DynamoIdempotency {
        DynamoIdempotency::new(
            self.clients.dynamodb.clone(),
            &self.settings.resources.idempotency_table,
        )
    }

    fn health(&self) -> DynamoHealth {
        DynamoHealth::new(
            self.clients.dynamodb.clone(),
            &self.settings.resources.tenants_table,
        )
    }

    fn graph(&self, access_token: Secret) -> anyhow::Result<HttpGraphApi> {
        Ok(HttpGraphApi::new(
            &self.settings.graph_api_base_url,
            access_token,
            GRAPH_TIMEOUT,
            self.settings.target_policy,
            &self.settings.media_hosts,
        )?
        .with_staging(crate::media::MediaStaging::new(
            self.clients.s3.clone(),
            &self.settings.resources.events_bucket,
        )))
    }

    fn sender(&self) -> anyhow::Result<HttpWebhookSender> {
        HttpWebhookSender::new(self.settings.webhook_timeout, self.settings.target_policy)
    }

    fn parking(&self) -> EventsBucket {
        self.events_bucket()
    }

    fn connections(&self) -> DynamoConnections {
        DynamoConnections::new(
            self.clients.dynamodb.clone(),
            &self.settings.resources.connections_table,
        )
    }

    fn token_key(&self) -> DynamoTokenKey {
        DynamoTokenKey::new(
            self.clients.dynamodb.clone(),
            &self.settings.resources.tenants_table,
        )
    }

    fn poster(&self) -> Option<Po> {
        self.poster.clone()
    }

    fn publish(&self) -> Option<Arc<dyn Publish>> {
        Some(self.fanout(self.poster()?))
    }

    fn config(&self) -> &AppConfig {
        &self.config
    }

    fn clock(&self) -> SystemClock {
        SystemClock
    }
}
