//! Delivery to tenants' webhooks over HTTPS, behind the SSRF guard: the host is resolved once,
//! every address is checked, and the connection goes to a checked address (no second lookup).
//! Redirects are not followed; only 2xx is success.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gateway_core::ports::{Delivery, DeliveryResult, WebhookSender};
use gateway_core::retry::{FailureKind, parse_retry_after};
use gateway_core::ssrf;
use gateway_core::tenant::{TargetPolicy, TargetUrl};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub const USER_AGENT: &str = concat!("whatsapp-passthrough-gateway/", env!("CARGO_PKG_VERSION"));

/// Resolves like the system does, then drops every address the guard forbids.
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    policy: TargetPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses")]
struct Blocked(String);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| {
                    !ssrf::is_forbidden(a.ip())
                        || (policy == TargetPolicy::AllowLoopbackHttp && a.ip().is_loopback())
                })
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Blocked(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[derive(Clone, Debug)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
    policy: TargetPolicy,
}

/// An HTTP client whose every connection passes the SSRF guard: no redirects, bounded time,
/// keep-alive. Built once per cold start.
pub fn guarded_client(timeout: Duration, policy: TargetPolicy) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(60))
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .no_proxy()
        .build()?)
}

impl HttpWebhookSender {
    /// `timeout` bounds a whole delivery (10 s in production).
    pub fn new(timeout: Duration, policy: TargetPolicy) -> anyhow::Result<Self> {
        Ok(HttpWebhookSender {
            client: guarded_client(timeout, policy)?,
            policy,
        })
    }
}

fn failed(kind: FailureKind, reason: impl Into<String>) -> DeliveryResult {
    DeliveryResult::Failed {
        kind,
        status: None,
        retry_after: None,
        reason: reason.into(),
    }
}

impl WebhookSender for HttpWebhookSender {
    async fn deliver(&self, delivery: &Delivery) -> DeliveryResult {
        // Address literals never reach the resolver: the URL check covers them.
        let url = match TargetUrl::parse(&delivery.url, self.policy) {
            Ok(url) => url,
            Err(why) => return failed(FailureKind::Failed, format!("target refused: URL {why}")),
        };
        let sig = &delivery.signatures;
        let response = self
            .client
            .post(url.url().clone())
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &sig.hub)
            .header("webhook-id", &sig.webhook_id)
            .header("webhook-timestamp", &sig.webhook_timestamp)
            .header("webhook-signature", &sig.webhook_signature)
            .body(delivery.body.clone())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => DeliveryResult::Delivered {
                status: r.status().as_u16(),
            },
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let kind = if status == 429 {
                    FailureKind::Throttled
                } else {
                    FailureKind::Failed
                };
                DeliveryResult::Failed {
                    kind,
                    status: Some(status),
                    retry_after,
                    reason: format!("HTTP {status}"),
                }
            }
            Err(e) if e.is_timeout() => failed(FailureKind::Throttled, "timed out"),
            Err(e) => {
                // The URL is the tenant's and may carry a secret in its query: never in a log.
                let e = e.without_url();
                let mut reason = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    reason = format!("{reason}: {inner}");
                    source = inner.source();
                }
                failed(FailureKind::Failed, reason)
            }
        }
    }
}
