//! The memory fakes as one [`Ports`] bundle, for the handlers' offline tests. Every getter hands
//! out a clone sharing the same state, so a test arranges and inspects through the fields.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::bundle::{AppConfig, Ports};
use crate::forward::{BatchQueue, ForwardConfig};
use crate::meta::ClaimCheck;
use crate::realtime::{Fanout, Limits, Publish};
use crate::signature::Secret;
use crate::tenant::TargetPolicy;
use crate::time::{Clock, FixedClock, SystemClock};

/// The forwarder's queue in memory: inline queue bodies, claim checks read from `bucket`;
/// what went to the DLQ and the delays set are kept for the test to read.
#[derive(Clone, Default)]
pub struct MemoryBatch {
    /// Claim-check object keys and the queue bodies stored under them.
    pub bucket: Bucket,
    /// The DLQ's bodies; a claim check is moved on a copy of its object, as the adapter does.
    pub dead_letters: Arc<Mutex<Vec<String>>>,
    /// (receipt, delay) of each redelivery delayed.
    pub delays: Arc<Mutex<Vec<(String, Duration)>>>,
}

impl BatchQueue for MemoryBatch {
    async fn read(&self, body: &str) -> anyhow::Result<Event> {
        let body = match ClaimCheck::from_queue_body(body) {
            Some(check) => self
                .bucket
                .lock()
                .unwrap()
                .get(&check.claim_check)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no object {}", check.claim_check))?,
            None => body.to_owned(),
        };
        Ok(Event::from_queue_body(&body)?)
    }

    async fn dead_letter(&self, body: &str) -> Result<(), Error> {
        let moved = match ClaimCheck::from_queue_body(body) {
            Some(check) => {
                let mut bucket = self.bucket.lock().unwrap();
                let stored = bucket
                    .get(&check.claim_check)
                    .cloned()
                    .ok_or_else(|| Error::unavailable("no such object"))?;
                // Renewed by a count, not the clock: each move gets its own object.
                let renewed = check.renewed(bucket.len() as i64);
                bucket.insert(renewed.claim_check.clone(), stored);
                renewed.to_queue_body()
            }
            None => body.to_owned(),
        };
        self.dead_letters.lock().unwrap().push(moved);
        Ok(())
    }

    async fn delay_redeliveries(&self, delays: &[(&str, Duration)]) -> Result<usize, Error> {
        self.delays
            .lock()
            .unwrap()
            .extend(delays.iter().map(|(r, d)| (r.to_string(), *d)));
        Ok(0)
    }
}

/// Every fake, shared.
#[derive(Clone)]
pub struct MemoryPorts {
    pub queue: MemoryQueue,
    pub batch: MemoryBatch,
    pub requeue: MemoryRequeue,
    pub tenants: MemoryTenants,
    pub messages: MemoryMessages,
    pub idempotency: MemoryIdempotency,
    pub health: MemoryHealth,
    pub graph: ScriptedGraph,
    pub sender: ScriptedSender,
    pub parking: MemoryParking,
    pub connections: MemoryConnections,
    pub token_key: MemoryTokenKey,
    pub poster: MemoryPoster,
    pub config: AppConfig,
    /// Starts at the wall clock's time; a test moves it with `advance_ms`.
    pub clock: FixedClock,
}

impl Default for MemoryPorts {
    /// Every endpoint answers 200; real-time tokens name `wss://realtime.example/live`.
    fn default() -> Self {
        let queue = MemoryQueue::default();
        // One bucket: what ingest stores as a claim check, the forwarder reads.
        let batch = MemoryBatch {
            bucket: queue.bucket.clone(),
            ..MemoryBatch::default()
        };
        MemoryPorts {
            queue,
            batch,
            requeue: MemoryRequeue::default(),
            tenants: MemoryTenants::default(),
            messages: MemoryMessages::default(),
            idempotency: MemoryIdempotency::default(),
            health: MemoryHealth::default(),
            graph: ScriptedGraph::default(),
            sender: ScriptedSender::new(vec![DeliveryResult::Delivered { status: 200 }]),
            parking: MemoryParking::default(),
            connections: MemoryConnections::default(),
            token_key: MemoryTokenKey::default(),
            poster: MemoryPoster::default(),
            config: AppConfig {
                forward: ForwardConfig::default(),
                target_policy: TargetPolicy::PublicHttpsOnly,
                graph_api_version: "v23.0".to_owned(),
                realtime_url: Some("wss://realtime.example/live".to_owned()),
                realtime_limits: Limits::default(),
            },
            clock: FixedClock::at_ms(SystemClock.now_ms()),
        }
    }
}

impl Ports for MemoryPorts {
    type Queue = MemoryQueue;
    type Batch = MemoryBatch;
    type Requeue = MemoryRequeue;
    type Tenants = MemoryTenants;
    type Messages = MemoryMessages;
    type Idempotency = MemoryIdempotency;
    type Health = MemoryHealth;
    type Graph = ScriptedGraph;
    type Sender = ScriptedSender;
    type Parking = MemoryParking;
    type Connections = MemoryConnections;
    type TokenKey = MemoryTokenKey;
    type Poster = MemoryPoster;
    type Clock = FixedClock;

    fn queue(&self) -> MemoryQueue {
        self.queue.clone()
    }
    fn batch(&self) -> MemoryBatch {
        self.batch.clone()
    }
    fn requeue(&self) -> MemoryRequeue {
        self.requeue.clone()
    }
    fn tenants(&self) -> MemoryTenants {
        self.tenants.clone()
    }
    fn messages(&self) -> MemoryMessages {
        self.messages.clone()
    }
    fn idempotency(&self) -> MemoryIdempotency {
        self.idempotency.clone()
    }
    fn health(&self) -> MemoryHealth {
        self.health.clone()
    }
    fn graph(&self, _access_token: Secret) -> anyhow::Result<ScriptedGraph> {
        Ok(self.graph.clone())
    }
    fn sender(&self) -> anyhow::Result<ScriptedSender> {
        Ok(self.sender.clone())
    }
    fn parking(&self) -> MemoryParking {
        self.parking.clone()
    }
    fn connections(&self) -> MemoryConnections {
        self.connections.clone()
    }
    fn token_key(&self) -> MemoryTokenKey {
        self.token_key.clone()
    }
    fn poster(&self) -> Option<MemoryPoster> {
        Some(self.poster.clone())
    }
    fn publish(&self) -> Option<Arc<dyn Publish>> {
        Some(Arc::new(Fanout::new(
            self.connections.clone(),
            self.poster.clone(),
        )))
    }
    fn config(&self) -> &AppConfig {
        &self.config
    }

    fn clock(&self) -> FixedClock {
        self.clock.clone()
    }
}

impl MemoryPorts {
    /// Tenant `id`, delivering to `https://{id}.example/hook` in Meta's format, owning `phones`
    /// and reached with the API key `api_key`.
    pub async fn add_tenant(&self, id: &str, phones: &[&str], api_key: &str) -> Tenant {
        let tenant = Tenant {
            id: TenantId::new(id),
            name: id.into(),
            webhook_url: format!("https://{id}.example/hook"),
            webhook_secrets: vec![crate::tenant::WebhookSecret {
                secret: Secret::new(format!("whsec_{id}")),
                expires_at: None,
            }],
            format: crate::format::DeliveryFormat::Meta,
            callback_domains: vec![format!("{id}.example")],
            phone_number_ids: phones.iter().map(|p| p.to_string()).collect(),
            active: true,
            destinations: Default::default(),
        };
        self.tenants.add(tenant.clone(), phones, &[]);
        let hash = crate::ids::ApiKey::new(api_key).hash();
        self.tenants
            .record_owner(OwnerKind::ApiKey, hash.as_str(), &tenant.id)
            .await
            .expect("memory never fails");
        tenant
    }
}
