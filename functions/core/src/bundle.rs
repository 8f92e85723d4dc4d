//! Every port the gateway's services are built from, in one bundle: the handlers are generic
//! over one `P: Ports`, the AWS adapters are one implementation (`gateway_aws::Gateway`, the
//! composition root) and the memory fakes another ([`crate::memory::MemoryPorts`], for the
//! handlers' offline tests). Static dispatch throughout: associated types, no boxes, so the
//! bootstraps stay as small and as quick to start as before.
//!
//! The traits themselves stay next to the records they speak of (`ports`, `deliveries`,
//! `endpoint_health`, `realtime`, `forward::batch`); this module only points at them, so the module
//! graph keeps no circle.

use std::sync::Arc;

use crate::deliveries::{DeliveriesService, DeliveryLog, Requeue};
use crate::endpoint_health::EndpointHealth;
use crate::forward::{BatchQueue, ForwardConfig, Forwarder};
use crate::ports::{
    EventQueue, GraphApi, IdempotencyStore, MessageStore, TenantDirectory, UnroutableStore,
    WebhookSender,
};
use crate::realtime::{
    Closer, ConnectionStore, Limits, Poster, Publish, RealtimeService, TokenKey,
};
use crate::send::SendService;
use crate::signature::Secret;
use crate::tenant::TargetPolicy;
use crate::time::Clock;

/// What the services are configured with, beside their ports.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub forward: ForwardConfig,
    /// Where webhooks and callback URLs may point (public HTTPS only, but on the local stack).
    pub target_policy: TargetPolicy,
    /// The Graph API version `/v1` sends use.
    pub graph_api_version: String,
    /// Where real-time clients connect; `None`: no real-time tokens.
    pub realtime_url: Option<String>,
    pub realtime_limits: Limits,
}

/// The ports, and how to get each. Each getter is called once per cold start, by the app
/// that needs it; stores that keep state in memory (the tenant cache) are built per app.
pub trait Ports: Send + Sync {
    /// Ingest's queue.
    type Queue: EventQueue + 'static;
    /// The forwarder's view of the same queue and its DLQ.
    type Batch: BatchQueue + 'static;
    /// Replay and recover put events back on the queue.
    type Requeue: Requeue + 'static;
    type Tenants: TenantDirectory + 'static;
    type Messages: MessageStore + 'static;
    /// Idempotency keys and the delivery log share one table.
    type Idempotency: IdempotencyStore + DeliveryLog + 'static;
    type Health: EndpointHealth + 'static;
    type Graph: GraphApi + 'static;
    type Sender: WebhookSender + 'static;
    type Parking: UnroutableStore + 'static;
    type Connections: ConnectionStore + 'static;
    type TokenKey: TokenKey + 'static;
    /// Posts to one live connection and closes it (pong, a client too fast).
    type Poster: Poster + Closer + 'static;
    /// What "now" is for the handlers: the wall clock deployed, a clock the tests set.
    type Clock: Clock + Clone + 'static;

    fn queue(&self) -> Self::Queue;
    fn batch(&self) -> Self::Batch;
    fn requeue(&self) -> Self::Requeue;
    fn tenants(&self) -> Self::Tenants;
    fn messages(&self) -> Self::Messages;
    fn idempotency(&self) -> Self::Idempotency;
    fn health(&self) -> Self::Health;
    /// The Graph API, calling Meta with `access_token` (and only Meta's hosts).
    fn graph(&self, access_token: Secret) -> anyhow::Result<Self::Graph>;
    fn sender(&self) -> anyhow::Result<Self::Sender>;
    fn parking(&self) -> Self::Parking;
    fn connections(&self) -> Self::Connections;
    fn token_key(&self) -> Self::TokenKey;
    /// `None` where no connection can be posted to (no management endpoint).
    fn poster(&self) -> Option<Self::Poster>;
    /// The forwarder's posts of each event to the tenant's live connections; `None`: none.
    fn publish(&self) -> Option<Arc<dyn Publish>>;
    fn config(&self) -> &AppConfig;
    fn clock(&self) -> Self::Clock;
}

/// The services over one bundle's ports, named once.
pub type PortsForwarder<P> = Forwarder<
    <P as Ports>::Idempotency,
    <P as Ports>::Tenants,
    <P as Ports>::Messages,
    <P as Ports>::Sender,
    <P as Ports>::Parking,
    <P as Ports>::Health,
>;
pub type PortsSend<P> = SendService<
    <P as Ports>::Tenants,
    <P as Ports>::Messages,
    <P as Ports>::Idempotency,
    <P as Ports>::Graph,
>;
pub type PortsDeliveries<P> =
    DeliveriesService<<P as Ports>::Idempotency, <P as Ports>::Requeue, <P as Ports>::Health>;
pub type PortsRealtime<P> =
    RealtimeService<<P as Ports>::Tenants, <P as Ports>::Connections, <P as Ports>::TokenKey>;

/// The real-time service as the send function (tokens) and the realtime function
/// (`$connect`...) both build it: clients connect at `url`.
pub fn realtime_service<P: Ports>(ports: &P, url: &str) -> PortsRealtime<P> {
    RealtimeService::new(ports.tenants(), ports.connections(), ports.token_key(), url)
        .with_limits(ports.config().realtime_limits)
}
