//! The bounds of real time: how many connections a token opens, how many a tenant holds, how
//! fast a client may send frames, and the revocation of a tenant's tokens and connections.

use std::future::Future;

use futures::StreamExt;
use serde::Serialize;

use super::{ConnectionId, ConnectionStore, MAX_LIFETIME_SECS};
use crate::Error;
use crate::tenant::TenantId;

/// Connections one token opens over its whole life.
pub const MAX_USES_PER_TOKEN: u32 = 10;
/// Live connections of one tenant unless configured otherwise
/// (`REALTIME_MAX_CONNECTIONS_PER_TENANT`).
pub const DEFAULT_CONNECTIONS_PER_TENANT: u32 = 200;
/// Client frames: this many at once...
pub const FRAME_BURST: u32 = 3;
/// ...then one every this many seconds.
pub const FRAME_EVERY_SECS: i64 = 60;
/// A connection the gateway has no record of, open longer than this, is closed by its next
/// frame (its record was removed: revoked, or found gone). Younger ones may just not be in the
/// `ByConnection` index yet.
pub const UNKNOWN_GRACE_SECS: i64 = 30;
/// How long a revocation is kept: every token minted before it has expired by then.
pub const REVOCATION_KEPT_SECS: i64 = MAX_LIFETIME_SECS + 60;
/// Closes of one revocation that run at once.
const CLOSES_AT_ONCE: usize = 16;
/// Listings of one revocation: a `$connect` that checked before the revocation was recorded
/// may record its connection after the first listing.
const REVOKE_PASSES: usize = 2;

/// How fast a client may send frames: `burst` at once, then one every `every_secs` (a token
/// bucket of `burst` that refills one frame per `every_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    pub burst: u32,
    pub every_secs: i64,
}

impl Default for FrameRate {
    fn default() -> Self {
        FrameRate {
            burst: FRAME_BURST,
            every_secs: FRAME_EVERY_SECS,
        }
    }
}

impl FrameRate {
    /// How far past `now` a connection's allowance may already be spent and still take a frame.
    pub fn tolerance(self) -> i64 {
        (i64::from(self.burst.max(1)) - 1) * self.every_secs
    }

    /// The connection's allowance is spent until `spent_until` (none yet: `None`); after one
    /// more frame at `now` it is spent until the answer, or `None` when that frame is one too
    /// many. (The generic cell rate algorithm: the adapters store the one number.)
    pub fn spend(self, spent_until: Option<i64>, now: i64) -> Option<i64> {
        match spent_until {
            Some(until) if until >= now => {
                (until - now <= self.tolerance()).then_some(until + self.every_secs)
            }
            _ => Some(now + self.every_secs),
        }
    }
}

/// The bounds one realtime service applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections one token opens over its life.
    pub uses_per_token: u32,
    /// Live connections of one tenant; a connection beyond is refused (429).
    pub connections_per_tenant: u32,
    /// Client frames; a connection sending faster is closed.
    pub frames: FrameRate,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            uses_per_token: MAX_USES_PER_TOKEN,
            connections_per_tenant: DEFAULT_CONNECTIONS_PER_TENANT,
            frames: FrameRate::default(),
        }
    }
}

/// What counting one client frame found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    Allowed,
    /// One frame too many: the connection, of this tenant, is to be closed.
    TooFast(TenantId),
    /// No record of the connection (not yet in the index, or removed).
    Unknown,
}

/// What `$default` does after a client frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFrame {
    /// Answer it (a ping gets its pong).
    Answer,
    /// The connection was closed: nothing more to send.
    Closed,
}

/// Closes a WebSocket connection from the server's side (API Gateway's `DeleteConnection`).
/// A connection that is already gone counts as closed.
pub trait Closer: Send + Sync {
    fn close(&self, id: &ConnectionId) -> impl Future<Output = Result<(), Error>> + Send;
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Revoked {
    /// Tokens minted at or before this unix second no longer connect.
    pub revoked_at: i64,
    /// Live connections closed (their records removed).
    pub closed: usize,
    /// Live connections whose close failed: their records are removed all the same, so they
    /// get no more events, and their next frame closes them.
    pub failed: usize,
}

/// Ends `tenant`'s real time at `now`: tokens minted until then no longer connect, and every
/// live connection is closed through `closer` and forgotten.
pub async fn revoke<S: ConnectionStore, C: Closer>(
    store: &S,
    closer: &C,
    tenant: &TenantId,
    now: i64,
) -> Result<Revoked, Error> {
    store
        .revoke(tenant, now, now + REVOCATION_KEPT_SECS)
        .await?;
    let mut done = Revoked {
        revoked_at: now,
        ..Revoked::default()
    };
    for _ in 0..REVOKE_PASSES {
        let live = store.live(tenant).await?;
        if live.is_empty() {
            break;
        }
        let outcomes: Vec<Result<bool, Error>> = futures::stream::iter(live)
            .map(|connection| async move {
                let closed = match closer.close(&connection.id).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(
                            tenant_id = tenant.as_str(),
                            error = %e,
                            "could not close a revoked connection"
                        );
                        false
                    }
                };
                store.delete(tenant, &connection.id).await.map(|()| closed)
            })
            .buffer_unordered(CLOSES_AT_ONCE)
            .collect()
            .await;
        for outcome in outcomes {
            if outcome? {
                done.closed += 1;
            } else {
                done.failed += 1;
            }
        }
    }
    tracing::info!(
        tenant_id = tenant.as_str(),
        closed = done.closed,
        failed = done.failed,
        "real time revoked"
    );
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_frames_at_once_then_one_a_minute() {
        let rate = FrameRate::default();
        let mut spent = None;
        for _ in 0..3 {
            spent = Some(rate.spend(spent, 1_000).expect("within the burst"));
        }
        assert_eq!(spent, Some(1_180));
        assert_eq!(rate.spend(spent, 1_000), None, "the fourth at once");
        assert_eq!(rate.spend(spent, 1_059), None, "a minute has not passed");
        let spent = rate.spend(spent, 1_060);
        assert_eq!(spent, Some(1_240), "a minute gives one back");
        assert_eq!(rate.spend(spent, 1_060), None);
        // Idle long enough, the whole burst is back.
        assert_eq!(rate.spend(spent, 5_000), Some(5_060));
        // One a minute, on time, goes on forever.
        let mut spent = None;
        for minute in 0..100 {
            spent = rate.spend(spent, minute * 60);
            assert!(spent.is_some(), "minute {minute}");
        }
        // A burst of one allows no frame ahead of its minute.
        let strict = FrameRate {
            burst: 1,
            every_secs: 60,
        };
        assert_eq!(strict.spend(None, 0), Some(60));
        assert_eq!(strict.spend(Some(60), 59), None);
        assert_eq!(strict.spend(Some(60), 60), Some(120));
    }
}
