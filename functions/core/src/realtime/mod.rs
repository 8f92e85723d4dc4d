//! Real time: each event the forwarder delivers is also posted, with its first attempt, to the
//! tenant's live WebSocket connections as a JSON text frame. A failure here is logged, never
//! returned: the webhook delivery is not retried for it or failed with it, and the adapter
//! bounds how long the attempt's outcome can wait for it (gateway-aws `realtime::Bounded`).

use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

mod bounds;
mod service;
mod token;

pub use bounds::{
    ClientFrame, Closer, DEFAULT_CONNECTIONS_PER_TENANT, FRAME_BURST, FRAME_EVERY_SECS, FrameRate,
    Framed, Limits, MAX_USES_PER_TOKEN, REVOCATION_KEPT_SECS, Revoked, UNKNOWN_GRACE_SECS, revoke,
};
pub use service::{CONNECTION_LIFETIME, RealtimeService, Refusal, TokenRequest};
pub use token::{
    Claims, MAX_LIFETIME_SECS, MAX_TOKEN_LEN, Scope, TokenError, check_expiry, key_id, mint,
    unverified, verify,
};

use crate::Error;
use crate::format::{ascii_escape, json_string, value_object};
use crate::mask;
use crate::meta::{Event, EventKind};
use crate::signature::Secret;
use crate::tenant::TenantId;

/// How many posts of one event run at once.
const POSTS_AT_ONCE: usize = 16;
/// API Gateway refuses WebSocket messages over 128 KB: larger events are not posted at all.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

/// A WebSocket connection's id, as API Gateway (or the local stack) names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn into_string(self) -> String {
        self.0
    }

    /// As API Gateway (or the local stack) named the connection.
    pub fn new(id: impl Into<String>) -> Self {
        ConnectionId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A live connection of a tenant and what its token lets it see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub scope: Scope,
}

/// What became of one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    Sent,
    /// The connection is closed: forget it.
    Gone,
    Failed(String),
}

/// The live connections, per tenant.
pub trait ConnectionStore: Send + Sync {
    /// Records `connection` of `tenant`, made at unix time `now`, until `expires_at` (a
    /// cleanup bound; a connection closed earlier is removed on `$disconnect` or on its first
    /// `Gone`).
    fn add(
        &self,
        tenant: &TenantId,
        connection: &Connection,
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Forgets a connection by its id alone (`$disconnect` knows nothing else).
    fn remove(&self, id: &ConnectionId) -> impl Future<Output = Result<(), Error>> + Send;
    /// Forgets a connection a post found gone, unless it was recorded in the last few
    /// seconds: API Gateway answers `Gone` to posts while `$connect` is still running.
    fn forget(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    fn live(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<Connection>, Error>> + Send;
    /// Forgets `tenant`'s connection `id` however young: one the gateway closed itself.
    fn delete(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// How many connections of `tenant` are recorded and not expired at `now`; the count may
    /// stop once it reaches `at_most`. Not atomic with `add`: connects racing each other can
    /// each see room for one more.
    fn count(
        &self,
        tenant: &TenantId,
        now: i64,
        at_most: usize,
    ) -> impl Future<Output = Result<usize, Error>> + Send;
    /// Counts one connection opened with `tenant`'s token `nonce` (atomically; the count is
    /// kept until the token's `expires_at`): `false`, counting nothing, once the token has
    /// opened `max`.
    fn use_token(
        &self,
        tenant: &TenantId,
        nonce: &str,
        max: u32,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Counts one client frame of connection `id`, at `now`, against `rate` (atomically).
    fn frame(
        &self,
        id: &ConnectionId,
        now: i64,
        rate: FrameRate,
    ) -> impl Future<Output = Result<Framed, Error>> + Send;
    /// Records that `tenant`'s tokens minted at or before `at` no longer connect, until
    /// `expires_at`. An earlier revocation never replaces a later one.
    fn revoke(
        &self,
        tenant: &TenantId,
        at: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// The unix second of `tenant`'s latest revocation still kept, if any.
    fn revoked_at(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<i64>, Error>> + Send;
}

/// The key tokens are signed with: the gateway's own, never shown to anyone.
pub trait TokenKey: Send + Sync {
    /// The key; with `create`, one is made when there is none yet (the token route); with
    /// `fresh`, it is read again rather than taken from what the function kept (a token names
    /// a key this function does not hold).
    fn key(
        &self,
        create: bool,
        fresh: bool,
    ) -> impl Future<Output = Result<Option<Secret>, Error>> + Send;
}

/// Posts one frame to one connection (API Gateway's `PostToConnection`).
pub trait Poster: Send + Sync {
    fn post(&self, id: &ConnectionId, frame: &[u8]) -> impl Future<Output = Posted> + Send;
}

/// The forwarder's view of real time: posts `event` to `tenant`'s live connections. Boxed, so
/// the forwarder can hold any implementation, or none.
pub trait Publish: Send + Sync {
    fn publish<'a>(
        &'a self,
        tenant: &'a TenantId,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// The frame's `type`: Whatomate's names for messages and statuses, else the change field.
pub fn frame_type(event: &Event) -> &str {
    match event.kind {
        EventKind::Message => "message:new",
        EventKind::Status => "message:status",
        EventKind::Item | EventKind::Field => event.field.as_str(),
    }
}

/// `{"type","event_id","phone_number_id","payload"}`, ASCII with `\u` escapes like Meta's.
pub fn frame(event: &Event) -> Vec<u8> {
    let phone = event
        .phone_number_id
        .as_deref()
        .map(json_string)
        .unwrap_or_else(|| "null".to_owned());
    let json = format!(
        r#"{{"type":{},"event_id":{},"phone_number_id":{phone},"payload":{}}}"#,
        json_string(frame_type(event)),
        json_string(event.id.as_str()),
        value_object(event),
    );
    ascii_escape(&json).into_bytes()
}

/// A client's keepalive: `{"type":"ping"}` (any spacing), answered `{"type":"pong"}`.
pub fn is_ping(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("ping"))
}

/// Fans events out over a store of connections and a poster.
pub struct Fanout<S, P> {
    store: S,
    poster: P,
}

impl<S: ConnectionStore, P: Poster> Fanout<S, P> {
    pub fn new(store: S, poster: P) -> Self {
        Fanout { store, poster }
    }

    /// Posts `event` to every live connection of `tenant` whose scope admits it; forgets the
    /// gone ones. Returns how many were sent to. Each post settles its own connection (forgot,
    /// logged) as it ends, so a caller that stops waiting keeps what was done.
    pub async fn fan_out(&self, tenant: &TenantId, event: &Event) -> usize {
        let too_large = || {
            tracing::info!(tenant_id = tenant.as_str(), event_ref = %mask::reference(event.id.as_str()), "event too large for a WebSocket frame; not posted");
            0
        };
        if event.item.get().len() > MAX_FRAME_BYTES {
            return too_large();
        }
        let connections = match self.store.live(tenant).await {
            Ok(connections) => connections,
            Err(e) => {
                tracing::warn!(tenant_id = tenant.as_str(), error = %e, "could not list live connections");
                return 0;
            }
        };
        let field = event.field.as_str();
        let phone = event.phone_number_id.as_deref();
        let wanted: Vec<_> = connections
            .into_iter()
            .filter(|c| c.scope.admits(field, phone))
            .collect();
        if wanted.is_empty() {
            return 0;
        }
        let frame = frame(event);
        if frame.len() > MAX_FRAME_BYTES {
            return too_large();
        }
        futures::stream::iter(wanted)
            .map(|connection| {
                let frame = &frame;
                async move { self.post_one(tenant, event, &connection.id, frame).await }
            })
            .buffer_unordered(POSTS_AT_ONCE)
            .filter(|sent| futures::future::ready(*sent))
            .count()
            .await
    }

    async fn post_one(
        &self,
        tenant: &TenantId,
        event: &Event,
        id: &ConnectionId,
        frame: &[u8],
    ) -> bool {
        match self.poster.post(id, frame).await {
            Posted::Sent => true,
            Posted::Gone => {
                if let Err(e) = self.store.forget(tenant, id).await {
                    tracing::warn!(tenant_id = tenant.as_str(), error = %e, "could not forget a gone connection");
                }
                false
            }
            Posted::Failed(reason) => {
                tracing::warn!(
                    tenant_id = tenant.as_str(),
                    event_ref = %mask::reference(event.id.as_str()),
                    reason = %reason,
                    "real-time post failed"
                );
                false
            }
        }
    }
}

impl<S: ConnectionStore, P: Poster> Publish for Fanout<S, P> {
    fn publish<'a>(
        &'a self,
        tenant: &'a TenantId,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let sent = self.fan_out(tenant, event).await;
            if sent > 0 {
                tracing::info!(tenant_id = tenant.as_str(), event_ref = %mask::reference(event.id.as_str()), connections = sent, "posted in real time");
            }
        })
    }
}

#[cfg(test)]
mod tests;
