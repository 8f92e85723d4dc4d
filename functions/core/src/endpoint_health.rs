//! Endpoint health: a circuit breaker per endpoint of a tenant. A URL the tenant configured
//! (its webhook URL, statuses URL or a phone number's URL) is an endpoint of its own; any other
//! URL, the `callback_url` of a sent message, belongs to the endpoint of its scheme, host and
//! port, so a varied path or query never gets a fresh breaker. After `threshold` consecutive
//! failures the breaker opens: deliveries fail at once, without calling the endpoint, until
//! `probe_every` has passed; then one delivery, the probe, is let through. A 2xx closes it. The
//! state lives in the Tenants table (`HEALTH#...`), shared by every worker; each forwarder also
//! bounds the calls it has under way to an endpoint not known healthy (forward::breaker).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::tenant::{Tenant, TenantId};

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

/// One endpoint's state, as stored.
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

/// What one breaker covers: the endpoint a delivery's URL belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A URL the tenant configured (webhook URL, statuses URL, a phone number's URL): few and
    /// fixed, each listed by `GET /v1/endpoint` with its own breaker, keyed by the URL as given.
    Configured(String),
    /// Any other URL (a message's `callback_url`): its [`site`], the callback domain of the
    /// tenant's list it is on or under. Every callback URL there shares this breaker, whatever
    /// its subdomain, port, scheme, path or query: a tenant cannot mint fresh breakers by
    /// varying any of them. A tenant that wants two breakers lists two domains.
    Host(String),
}

impl Endpoint {
    /// The endpoint of a delivery of `tenant` to `url`.
    pub fn of(tenant: &Tenant, url: &str) -> Endpoint {
        if tenant.destination_urls().contains(&url) {
            Endpoint::Configured(url.to_owned())
        } else {
            Endpoint::Host(site(tenant, url))
        }
    }

    /// What [`EndpointHealth`] is given and [`destination_key`] hashes: a configured URL as it
    /// is (the key such a breaker always had), a site as `host <site>` (no URL starts so: a
    /// site never shares a configured URL's state).
    pub fn name(&self) -> String {
        match self {
            Endpoint::Configured(url) => url.clone(),
            Endpoint::Host(origin) => format!("host {origin}"),
        }
    }

    /// What a log line may show: the scheme, host and port, or the site, never a path or a
    /// query (they may carry secrets).
    pub fn label(&self) -> String {
        match self {
            Endpoint::Configured(url) => origin(url),
            Endpoint::Host(site) => site.clone(),
        }
    }
}

/// The site of a callback URL: the longest of the tenant's callback domains its host is or is
/// under (lowercase, no trailing dot), else its host alone (a URL accepted under a domain the
/// tenant has since removed).
pub fn site(tenant: &Tenant, url: &str) -> String {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    tenant
        .callback_domains
        .iter()
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| host == *d || host.ends_with(&format!(".{d}")))
        .max_by_key(String::len)
        .unwrap_or(host)
}

/// `scheme://host:port` of `url`, normalised: a lowercase host without a trailing dot, an IPv6
/// address in brackets, the default port made explicit (`https://Hooks.Example.com./a?b` is
/// `https://hooks.example.com:443`). A URL that does not parse (none passes the checks a
/// callback URL is held to) is `unparsable`: all such share one breaker.
pub fn origin(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return "unparsable".to_owned();
    };
    let host = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        None => String::new(),
    };
    let port = parsed.port_or_known_default().unwrap_or(0);
    format!("{}://{host}:{port}", parsed.scheme())
}

/// The key of an endpoint's health: the tenant and a hash of [`Endpoint::name`] (URLs may be
/// long and carry secrets in their query; the key is never shown). Per tenant: one tenant's
/// failing host never opens the breaker of another tenant's deliveries to the same host.
pub fn destination_key(tenant: &TenantId, name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("HEALTH#{}#{}", tenant.as_str(), hex::encode(&digest[..16]))
}

/// The breaker's state, shared by every forwarder. `name` is always an [`Endpoint::name`]: a
/// configured URL as it is, or `host <origin>`.
pub trait EndpointHealth: Send + Sync {
    /// The stored state; `Health::default()` (closed) for an endpoint never seen failing.
    fn health(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<Health, Error>> + Send;
    /// One more failure; answers the state after it.
    fn record_failure(
        &self,
        tenant: &TenantId,
        name: &str,
        failure: &Failure,
    ) -> impl Future<Output = Result<Health, Error>> + Send;
    /// Opens the breaker until `until_ms`, if it is not open (or half-open) already.
    fn open(
        &self,
        tenant: &TenantId,
        name: &str,
        until_ms: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Takes the probe of a half-open breaker (seen open until `seen_until_ms`), holding it
    /// open until `until_ms`; `false` when another worker took it first.
    fn take_probe(
        &self,
        tenant: &TenantId,
        name: &str,
        seen_until_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
    /// A 2xx: the streak ends and the breaker closes.
    fn record_success(
        &self,
        tenant: &TenantId,
        name: &str,
        at_ms: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// What the forwarder may do with a delivery to an endpoint in `health`.
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
        let a = TenantId::new("a");
        let b = TenantId::new("b");
        let url = "https://hooks.example.com/wa?token=secret";
        assert_ne!(destination_key(&a, url), destination_key(&b, url));
        assert_ne!(
            destination_key(&a, url),
            destination_key(&a, "https://hooks.example.com/other")
        );
        assert!(!destination_key(&a, url).contains("secret"));
    }

    #[test]
    fn an_origin_is_the_normalised_scheme_host_and_port() {
        for (url, expected) in [
            (
                "https://Hooks.Example.COM./a/b?token=secret",
                "https://hooks.example.com:443",
            ),
            (
                "HTTPS://hooks.example.com:443/x",
                "https://hooks.example.com:443",
            ),
            ("https://hooks.example.com", "https://hooks.example.com:443"),
            (
                "https://hooks.example.com:8443/x?y",
                "https://hooks.example.com:8443",
            ),
            ("http://LOCALHOST:9000/cb/1?n=1", "http://localhost:9000"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:80"),
            ("https://[::1]:8443/x", "https://[::1]:8443"),
            ("not a url", "unparsable"),
        ] {
            assert_eq!(origin(url), expected, "{url}");
        }
    }

    #[test]
    fn configured_urls_keep_their_own_breaker_and_any_other_url_shares_its_hosts() {
        let mut tenant = Tenant {
            id: TenantId::new("acme"),
            name: "acme".into(),
            webhook_url: "https://acme.example/hook".into(),
            webhook_secrets: vec![],
            format: crate::format::DeliveryFormat::Meta,
            callback_domains: vec!["acme.example".into()],
            phone_number_ids: vec!["P".into()],
            active: true,
            destinations: Default::default(),
        };
        tenant.destinations.statuses = Some("https://acme.example/statuses?key=s".into());
        let hook = Endpoint::of(&tenant, "https://acme.example/hook");
        assert_eq!(
            hook,
            Endpoint::Configured("https://acme.example/hook".into())
        );
        // The key such a breaker always had: the URL itself.
        assert_eq!(hook.name(), "https://acme.example/hook");
        let statuses = Endpoint::of(&tenant, "https://acme.example/statuses?key=s");
        assert_ne!(statuses.name(), hook.name());
        // Not configured: every path, query, port, scheme and subdomain under the callback
        // domain is one endpoint.
        let host = Endpoint::Host("acme.example".into());
        for url in [
            "https://acme.example/hook?x=1",
            "https://ACME.example:443/cb/1?token=a",
            "https://acme.example./cb/2",
            "https://acme.example:8443/cb",
            "https://a1.acme.example:1/cb",
            "https://x.y.Acme.Example/cb",
        ] {
            assert_eq!(Endpoint::of(&tenant, url), host, "{url}");
        }
        assert_eq!(host.name(), "host acme.example");
        // A tenant that lists a subdomain gets a breaker of its own for it.
        tenant.callback_domains.push("hooks.acme.example".into());
        assert_eq!(
            Endpoint::of(&tenant, "https://a.hooks.acme.example/cb"),
            Endpoint::Host("hooks.acme.example".into())
        );
        // Logs show the origin or the site only, never a path or a query.
        assert_eq!(statuses.label(), "https://acme.example:443");
        assert_eq!(host.label(), "acme.example");
        // Per tenant: the same host of another tenant is another breaker.
        let other = TenantId::new("other");
        assert_ne!(
            destination_key(&tenant.id, &host.name()),
            destination_key(&other, &host.name())
        );
    }
}
