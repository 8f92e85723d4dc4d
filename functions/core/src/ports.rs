//! The ports: what the services need from the outside world. Adapters in gateway-aws implement
//! them over SQS, DynamoDB and HTTP; `memory` implements them for unit tests only.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;
pub use crate::ids::{MessageStatus, PhoneNumberId, WabaId, Wamid};
use crate::meta::Event;
use crate::retry::FailureKind;
use crate::signature::DeliverySignatures;
use crate::tenant::{Tenant, TenantId};

/// The durable queue between ingest and forward.
pub trait EventQueue: Send + Sync {
    /// Succeeds only when every event is durably queued.
    fn enqueue(&self, events: &[Event]) -> impl Future<Output = Result<(), Error>> + Send;
}

/// What a claim on an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller owns the key now and must complete, fail or release it. `failed_attempts`
    /// counts the earlier attempts recorded with `fail`: delivery attempts, not queue receives.
    Acquired { failed_attempts: u32 },
    /// The work was done before; the stored result, if any, comes along.
    Completed(Option<String>),
    /// Someone else is doing it right now.
    InProgress,
    /// An attempt failed and the next is not due for this long (another copy of the same
    /// event, from a duplicate POST, must not jump the schedule).
    NotYet(Duration),
}

/// Idempotency records: IN_PROGRESS with an expiry, then COMPLETED, expiring after a TTL.
pub trait IdempotencyStore: Send + Sync {
    /// Conditional put of IN_PROGRESS at unix milliseconds `now_ms`, held for
    /// `in_progress_for` (a claim whose holder died is taken over once that has passed);
    /// `fingerprint` tells a different request under the same key apart (a mismatch is
    /// `Error::Unprocessable`). Contract: `memory::contract` (claims, attempts, retry times,
    /// lapses), run against the fake and the DynamoDB adapter.
    fn claim(
        &self,
        key: &str,
        fingerprint: Option<&str>,
        in_progress_for: Duration,
        now_ms: i64,
    ) -> impl Future<Output = Result<Claim, Error>> + Send;
    /// Marks the key COMPLETED with an optional stored result, kept for `keep_for`.
    fn complete(
        &self,
        key: &str,
        result: Option<&str>,
        keep_for: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Gives an IN_PROGRESS key up so the next attempt can claim it at once; nothing was
    /// attempted, so the count of failed attempts stays as it was.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// Gives an IN_PROGRESS key up after a failed attempt, counting it: the next claim's
    /// `failed_attempts` is one higher, and claims before `retry_after` has passed get
    /// `NotYet`. Kept for `keep_for`. `now_ms`: when the attempt failed.
    fn fail(
        &self,
        key: &str,
        retry_after: Duration,
        keep_for: Duration,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// What a tenant can own; each is a key of the Tenants table (`PHONE#<id>` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    Phone,
    Waba,
    /// The SHA-256 of an API key.
    ApiKey,
    /// A message template created or listed through the gateway.
    Template,
    /// A media object uploaded through the gateway or received on the tenant's number.
    Media,
    /// A WhatsApp Flow created or listed through the gateway.
    Flow,
}

impl OwnerKind {
    /// The kinds a Meta object id can be recorded as.
    pub const OBJECTS: [OwnerKind; 5] = [
        OwnerKind::Phone,
        OwnerKind::Waba,
        OwnerKind::Template,
        OwnerKind::Flow,
        OwnerKind::Media,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            OwnerKind::Phone => "PHONE",
            OwnerKind::Waba => "WABA",
            OwnerKind::ApiKey => "KEY",
            OwnerKind::Template => "TEMPLATE",
            OwnerKind::Media => "MEDIA",
            OwnerKind::Flow => "FLOW",
        }
    }
}

/// Events no tenant owns, kept (14 days) until `gatewayctl unroutable replay` delivers them.
pub trait UnroutableStore: Send + Sync {
    /// Succeeds only when the event is durably kept.
    fn park(&self, event: &Event) -> impl Future<Output = Result<(), Error>> + Send;
}

pub trait TenantDirectory: Send + Sync {
    fn tenant(&self, id: &TenantId) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send;
    /// The tenant that owns `id`, if any.
    fn owner(
        &self,
        kind: OwnerKind,
        id: &str,
    ) -> impl Future<Output = Result<Option<TenantId>, Error>> + Send;
    /// Every tenant that holds `id` as one of `kinds`. A Meta id is one object, so an id held
    /// by anyone else as any kind is not this tenant's to use.
    fn holders(
        &self,
        id: &str,
        kinds: &[OwnerKind],
    ) -> impl Future<Output = Result<Vec<(OwnerKind, TenantId)>, Error>> + Send {
        async move {
            let mut found = Vec::new();
            for &kind in kinds {
                if let Some(owner) = self.owner(kind, id).await? {
                    found.push((kind, owner));
                }
            }
            Ok(found)
        }
    }
    /// Records that `tenant` owns `id` (templates and media, learnt from Meta's answers);
    /// `Ok(false)` when another tenant already owns it.
    fn record_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// A message the gateway sent, and what Meta has said of it since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub wamid: Wamid,
    pub tenant_id: TenantId,
    pub phone_number_id: PhoneNumberId,
    pub recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<MessageStatus>,
    /// Status name -> unix seconds it was first reported.
    #[serde(default)]
    pub statuses: std::collections::BTreeMap<String, i64>,
}

pub trait MessageStore: Send + Sync {
    fn put(&self, record: &MessageRecord) -> impl Future<Output = Result<(), Error>> + Send;
    fn get(&self, wamid: &str)
    -> impl Future<Output = Result<Option<MessageRecord>, Error>> + Send;
    /// Records `status` at `timestamp` (first report wins) and moves `last_status` forward
    /// only ([`MessageStatus::moves_on_from`]); returns the record, or `None` when the gateway
    /// never sent this wamid.
    fn record_status(
        &self,
        wamid: &str,
        status: &MessageStatus,
        timestamp: i64,
    ) -> impl Future<Output = Result<Option<MessageRecord>, Error>> + Send;
}

/// One signed delivery to a tenant.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    pub body: Vec<u8>,
    pub signatures: DeliverySignatures,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    /// A 2xx.
    Delivered { status: u16 },
    Failed {
        kind: FailureKind,
        status: Option<u16>,
        retry_after: Option<Duration>,
        reason: String,
    },
}

pub trait WebhookSender: Send + Sync {
    fn deliver(&self, delivery: &Delivery) -> impl Future<Output = DeliveryResult> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// One call to Meta's Graph API; the adapter adds the base URL and the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRequest {
    pub method: HttpMethod,
    /// `/v23.0/<id>/messages?...`
    pub path_and_query: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Meta's answer, passed back to the tenant unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

pub trait GraphApi: Send + Sync {
    /// Calls the Graph API, retrying only where Meta provably did not accept the request.
    /// A request that never left is `Error::Unreachable`; one sent without a usable answer is
    /// `Error::Upstream` (502, or 504 for a timeout).
    fn call(
        &self,
        request: GraphRequest,
    ) -> impl Future<Output = Result<GraphResponse, Error>> + Send;
    /// Fetches a media URL Meta handed out (it needs the access token).
    fn download(&self, url: &str) -> impl Future<Output = Result<GraphResponse, Error>> + Send;
    /// Copies a media URL Meta handed out into short-lived storage as it streams in (never
    /// whole in memory) and answers a URL the tenant can fetch the copy from, without a token.
    fn stage_media(
        &self,
        url: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_rank_in_the_order_meta_sends_them() {
        let order = ["whatever", "sent", "delivered", "read", "played"];
        let ranks: Vec<u8> = order
            .iter()
            .map(|s| MessageStatus::from_meta(s).rank())
            .collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
        assert_eq!(
            MessageStatus::Failed.rank(),
            MessageStatus::Delivered.rank()
        );
    }

    #[test]
    fn methods_are_named_as_http_names_them() {
        assert_eq!(HttpMethod::Get.as_str(), "GET");
        assert_eq!(HttpMethod::Post.as_str(), "POST");
        assert_eq!(HttpMethod::Delete.as_str(), "DELETE");
    }
}
