//! In-memory ports, for unit tests of the services only. Integration and end-to-end tests use
//! the real adapters against the emulator.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::meta::{ClaimCheck, Event, MAX_QUEUE_BODY_BYTES};
use crate::ports::*;
use crate::tenant::{Tenant, TenantId};

pub mod contract;
mod idempotency;
pub use idempotency::MemoryIdempotency;
use idempotency::Record;

mod log;
pub use log::{MemoryHealth, MemoryRequeue};

mod ports;
pub use ports::{MemoryBatch, MemoryPorts};

mod realtime;
pub use realtime::{MemoryConnections, MemoryPoster, MemoryTokenKey};

mod tenants;
pub use tenants::MemoryTenants;

/// Ingest's queue in memory, as SQS and the bucket hold it: each event's queue body, or, for
/// one longer than a queue message may be, a claim check and its body in `bucket` (which the
/// bundle shares with [`MemoryBatch`]).
#[derive(Clone, Default)]
pub struct MemoryQueue {
    bodies: Arc<Mutex<Vec<String>>>,
    pub(crate) bucket: Bucket,
    failing: Arc<Mutex<bool>>,
}

/// Object keys and the queue bodies stored under them.
pub(crate) type Bucket = Arc<Mutex<HashMap<String, String>>>;

impl MemoryQueue {
    pub fn fail(&self, on: bool) {
        *self.failing.lock().unwrap() = on;
    }

    /// The queue bodies, in the order they were queued.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// The ids of the events queued, in order.
    pub fn ids(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .map(|body| match ClaimCheck::from_queue_body(body) {
                Some(check) => check.id.to_string(),
                None => Event::from_queue_body(body)
                    .map(|e| e.id.to_string())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

impl EventQueue for MemoryQueue {
    async fn enqueue(&self, events: &[Event]) -> Result<(), Error> {
        if *self.failing.lock().unwrap() {
            return Err(Error::unavailable("queue down"));
        }
        for event in events {
            let body = event.to_queue_body();
            let body = match body.len() <= MAX_QUEUE_BODY_BYTES {
                true => body,
                false => {
                    let check = ClaimCheck::for_body(event, &body);
                    let key = check.claim_check.clone();
                    self.bucket.lock().unwrap().insert(key, body);
                    check.to_queue_body()
                }
            };
            self.bodies.lock().unwrap().push(body);
        }
        Ok(())
    }
}

#[derive(Clone, Default)]
pub struct MemoryMessages {
    records: Arc<Mutex<BTreeMap<String, MessageRecord>>>,
}

impl MessageStore for MemoryMessages {
    async fn put(&self, record: &MessageRecord) -> Result<(), Error> {
        self.records
            .lock()
            .unwrap()
            .insert(record.wamid.to_string(), record.clone());
        Ok(())
    }
    async fn get(&self, wamid: &str) -> Result<Option<MessageRecord>, Error> {
        Ok(self.records.lock().unwrap().get(wamid).cloned())
    }
    async fn record_status(
        &self,
        wamid: &str,
        status: &MessageStatus,
        at: i64,
    ) -> Result<Option<MessageRecord>, Error> {
        let mut records = self.records.lock().unwrap();
        let Some(record) = records.get_mut(wamid) else {
            return Ok(None);
        };
        record.statuses.entry(status.to_string()).or_insert(at);
        if status.moves_on_from(record.last_status.as_ref()) {
            record.last_status = Some(status.clone());
        }
        Ok(Some(record.clone()))
    }
}

/// Answers each delivery with the next scripted result (the last one repeats), recording what
/// it was sent.
#[derive(Clone)]
pub struct ScriptedSender {
    script: Arc<Mutex<Vec<DeliveryResult>>>,
    pub sent: Arc<Mutex<Vec<Delivery>>>,
}

impl ScriptedSender {
    pub fn new(script: Vec<DeliveryResult>) -> Self {
        ScriptedSender {
            script: Arc::new(Mutex::new(script)),
            sent: Arc::default(),
        }
    }
}

impl WebhookSender for ScriptedSender {
    async fn deliver(&self, delivery: &Delivery) -> DeliveryResult {
        self.sent.lock().unwrap().push(delivery.clone());
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script[0].clone()
        }
    }
}

/// Parked unroutable events, in memory.
#[derive(Clone, Default)]
pub struct MemoryParking {
    pub parked: Arc<Mutex<Vec<Event>>>,
    fail: Arc<Mutex<bool>>,
}

impl MemoryParking {
    pub fn fail(&self, fail: bool) {
        *self.fail.lock().unwrap() = fail;
    }
}

impl UnroutableStore for MemoryParking {
    async fn park(&self, event: &Event) -> Result<(), Error> {
        if *self.fail.lock().unwrap() {
            return Err(Error::unavailable("parking"));
        }
        self.parked.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// What the scripted Graph API answers a call with.
#[derive(Clone, Debug)]
pub enum GraphAnswer {
    Json(u16, serde_json::Value),
    /// The request never left (`Error::Unreachable`).
    Unreachable,
    /// The request left and no answer came in time (`Error::Upstream` 504).
    Timeout,
}

/// A Graph API that answers calls from a script (then `200 {}`) and downloads with
/// `download_answer`, recording every request.
#[derive(Clone)]
pub struct ScriptedGraph {
    script: Arc<Mutex<std::collections::VecDeque<GraphAnswer>>>,
    download: Arc<Mutex<GraphResponse>>,
    pub calls: Arc<Mutex<Vec<GraphRequest>>>,
    pub downloads: Arc<Mutex<Vec<String>>>,
    /// `(url, content type)` of every staged media copy.
    pub staged: Arc<Mutex<Vec<(String, String)>>>,
}

impl Default for ScriptedGraph {
    fn default() -> Self {
        ScriptedGraph {
            script: Arc::default(),
            download: Arc::new(Mutex::new(GraphResponse {
                status: 200,
                content_type: Some("image/png".to_owned()),
                body: b"PNG".to_vec(),
            })),
            calls: Arc::default(),
            downloads: Arc::default(),
            staged: Arc::default(),
        }
    }
}

impl ScriptedGraph {
    pub fn answer(&self, answer: GraphAnswer) -> &Self {
        self.script.lock().unwrap().push_back(answer);
        self
    }

    pub fn download_answer(&self, response: GraphResponse) {
        *self.download.lock().unwrap() = response;
    }

    pub fn paths(&self) -> Vec<String> {
        let calls = self.calls.lock().unwrap();
        calls.iter().map(|c| c.path_and_query.clone()).collect()
    }
}

impl GraphApi for ScriptedGraph {
    async fn call(&self, request: GraphRequest) -> Result<GraphResponse, Error> {
        self.calls.lock().unwrap().push(request);
        let next = self.script.lock().unwrap().pop_front();
        match next.unwrap_or(GraphAnswer::Json(200, serde_json::json!({}))) {
            GraphAnswer::Json(status, body) => Ok(GraphResponse {
                status,
                content_type: Some("application/json".to_owned()),
                body: body.to_string().into_bytes(),
            }),
            GraphAnswer::Unreachable => Err(Error::Unreachable),
            GraphAnswer::Timeout => Err(Error::Upstream {
                status: 504,
                message: "Meta did not answer in time".to_owned(),
            }),
        }
    }

    async fn download(&self, url: &str) -> Result<GraphResponse, Error> {
        self.downloads.lock().unwrap().push(url.to_owned());
        Ok(self.download.lock().unwrap().clone())
    }

    async fn stage_media(&self, url: &str, content_type: &str) -> Result<String, Error> {
        let mut staged = self.staged.lock().unwrap();
        staged.push((url.to_owned(), content_type.to_owned()));
        Ok(format!("https://staged.example/{}", staged.len()))
    }
}
