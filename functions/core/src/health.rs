//! Endpoint health: a circuit breaker per destination (tenant and URL). After `threshold`
//! consecutive failures the breaker opens: deliveries fail at once, without calling the
//! endpoint, until `probe_every` has passed; then one delivery, the probe, is let through. A
//! 2xx closes it. The state lives in the Tenants table (`HEALTH#...`), shared by every worker.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::tenant::TenantId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// How long it stays open before the next probe.
    pub probe_every: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            threshold: 5,
            probe_every: Duration::from_secs(60),
        }
    }
}

/// One destination's state, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Consecutive failures since the last 2xx.
    pub failure_streak: u32,
    /// While in the future, deliveries are deferred without a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_until_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at_ms: Option<i64>,
}

/// The breaker's state as a tenant reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    /// Open, and the next delivery may probe.
    HalfOpen,
}

impl Health {
    pub fn state(&self, now_ms: i64) -> BreakerState {
        match self.open_until_ms {
            Some(until) if until > now_ms => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
            None => BreakerState::Closed,
        }
    }
}

/// A failed delivery, as the breaker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at_ms: i64,
    pub status: Option<u16>,
    pub error: String,
}

/// The key of a destination's health: the tenant and a hash of the URL (URLs may be long and
/// carry secrets in their query; the key is never shown).
pub fn destination_key(tenant: &TenantId, url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    format!("HEALTH#{}#{}", tenant.as_str(), hex::encode(&digest[..16]))
}

pub trait EndpointHealth: Send + Sync {
    /// The stored state; `Health::default()` (closed) for a destination never seen failing.
    fn health(
        &self,
        tenant: &TenantId,
        url: &str,
    ) -> impl Future<Output = Result<Health, Error>> + Send;
    /// One more failure; answers the state after it.
    fn record_failure(
        &self,
        tenant: &TenantId,
        url: &str,
        failure: &Failure,
    ) -> impl Future<Output = Result<Health, Error>> + Send;
    /// Opens the breaker until `until_ms`, if it is not open (or half-open) already.
    fn open(
        &self,
        tenant: &TenantId,
        url: &str,
        until_ms: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Takes the probe of a half-open breaker (seen open until `seen_until_ms`), holding it
    /// open until `until_ms`; `false` when another worker took it first.
    fn take_probe(
        &self,
        tenant: &TenantId,
        url: &str,
        seen_until_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// A 2xx: the streak ends and the breaker closes.
    fn record_success(
        &self,
        tenant: &TenantId,
        url: &str,
        at_ms: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// What the forwarder may do with a delivery to a destination in `health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Closed: deliver.
    Deliver,
    /// Half-open: try to take the probe, then deliver if taken.
    Probe { seen_until_ms: i64 },
    /// Open: fail the attempt at once; the breaker allows a probe in this long.
    Deferred { opens_in: Duration },
}

pub fn gate(health: &Health, now_ms: i64) -> Gate {
    match health.open_until_ms {
        Some(until) if until > now_ms => Gate::Deferred {
            opens_in: Duration::from_millis((until - now_ms) as u64),
        },
        Some(until) => Gate::Probe {
            seen_until_ms: until,
        },
        None => Gate::Deliver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_follows_the_open_until_time() {
        let closed = Health::default();
        assert_eq!(gate(&closed, 1_000), Gate::Deliver);
        assert_eq!(closed.state(1_000), BreakerState::Closed);
        let open = Health {
            open_until_ms: Some(5_000),
            ..Health::default()
        };
        assert_eq!(
            gate(&open, 1_000),
            Gate::Deferred {
                opens_in: Duration::from_millis(4_000)
            }
        );
        assert_eq!(open.state(1_000), BreakerState::Open);
        assert_eq!(
            gate(&open, 5_000),
            Gate::Probe {
                seen_until_ms: 5_000
            }
        );
        assert_eq!(open.state(5_000), BreakerState::HalfOpen);
    }

    #[test]
    fn destinations_are_keyed_per_tenant_and_never_by_the_raw_url() {
        let a = TenantId("a".into());
        let b = TenantId("b".into());
        let url = "https://hooks.example.com/wa?token=secret";
        assert_ne!(destination_key(&a, url), destination_key(&b, url));
        assert_ne!(
            destination_key(&a, url),
            destination_key(&a, "https://hooks.example.com/other")
        );
        assert!(!destination_key(&a, url).contains("secret"));
    }
}
