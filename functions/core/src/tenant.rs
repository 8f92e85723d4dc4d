//! Tenants and the URLs they may receive on. URLs are parsed into types that can only hold
//! acceptable values: HTTPS, a host, no credentials, no blocked address literal.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::Error;
use crate::format::DeliveryFormat;
use crate::meta::{Event, EventKind};
use crate::signature::Secret;
use crate::ssrf;

pub const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// A tenant's id as the gateway issued it (gatewayctl's create) or stored it.
    pub fn new(id: impl Into<String>) -> Self {
        TenantId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A webhook signing secret; an old one keeps signing until `expires_at` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    pub secret: Secret,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub webhook_url: String,
    /// Newest first.
    pub webhook_secrets: Vec<WebhookSecret>,
    pub format: DeliveryFormat,
    pub callback_domains: Vec<String>,
    /// The phone numbers the tenant owns (mirrors the `PHONE#` keys).
    pub phone_number_ids: Vec<String>,
    pub active: bool,
    pub destinations: Destinations,
}

/// Where a tenant's events go instead of `webhook_url`, and which it wants at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destinations {
    /// Phone number id -> the URL for that number's events (overrides `webhook_url`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phones: BTreeMap<String, String>,
    /// The URL for statuses (sent, delivered, read, failed...), before any phone's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<String>,
    /// Only events of these change fields are delivered; empty means every field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl Tenant {
    /// Where `event` goes: for a status, the statuses URL; then the URL of its phone number;
    /// then `webhook_url`. `None` when the tenant's fields leave the event out.
    pub fn destination(&self, event: &Event) -> Option<String> {
        let wanted = &self.destinations.fields;
        if !wanted.is_empty() && !wanted.contains(&event.field) {
            return None;
        }
        let statuses = match event.kind {
            EventKind::Status => self.destinations.statuses.as_ref(),
            _ => None,
        };
        let phone = event
            .phone_number_id
            .as_ref()
            .and_then(|p| self.destinations.phones.get(p.as_str()));
        Some(statuses.or(phone).unwrap_or(&self.webhook_url).clone())
    }

    /// What `url` receives: `default` (the webhook URL), `statuses`, `phone:<id>`.
    pub fn uses_of(&self, url: &str) -> Vec<String> {
        let mut uses = Vec::new();
        if url == self.webhook_url {
            uses.push("default".to_owned());
        }
        if self.destinations.statuses.as_deref() == Some(url) {
            uses.push("statuses".to_owned());
        }
        for (phone, phone_url) in &self.destinations.phones {
            if phone_url == url {
                uses.push(format!("phone:{phone}"));
            }
        }
        uses
    }

    /// Every URL the tenant's events can go to, each once: `webhook_url` first.
    pub fn destination_urls(&self) -> Vec<&str> {
        let mut urls = vec![self.webhook_url.as_str()];
        let more = self
            .destinations
            .statuses
            .iter()
            .chain(self.destinations.phones.values());
        for url in more {
            if !urls.contains(&url.as_str()) {
                urls.push(url);
            }
        }
        urls
    }

    /// The secrets that sign a delivery at `now`: the newest, plus any old one not yet expired.
    pub fn signing_secrets(&self, now: i64) -> Vec<Secret> {
        self.webhook_secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| s.secret.clone())
            .collect()
    }
}

/// Whether plain-HTTP loopback targets are allowed: only the local stack sets this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetPolicy {
    #[default]
    PublicHttpsOnly,
    AllowLoopbackHttp,
}

/// A URL the gateway may deliver to, as far as can be told before resolving its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl(url::Url);

impl TargetUrl {
    pub fn parse(raw: &str, policy: TargetPolicy) -> Result<Self, String> {
        if raw.len() > MAX_URL_LEN {
            return Err(format!("is longer than {MAX_URL_LEN} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("is not a valid URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".to_owned());
        }
        let host = url.host().ok_or("has no host")?;
        let literal: Option<IpAddr> = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        let loopback_allowed = policy == TargetPolicy::AllowLoopbackHttp
            && (literal.is_some_and(|ip| ip.is_loopback()) || url.host_str() == Some("localhost"));
        match url.scheme() {
            "https" => {}
            "http" if loopback_allowed => {}
            _ => return Err("must use https".to_owned()),
        }
        if let Some(ip) = literal
            && ssrf::is_forbidden(ip)
            && !loopback_allowed
        {
            return Err(format!("points at a non-public address ({ip})"));
        }
        Ok(TargetUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

/// A per-message `callback_url`: a target whose host is one of the tenant's whitelisted
/// domains or under one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(TargetUrl);

impl CallbackUrl {
    pub fn parse(
        raw: &str,
        allowed_domains: &[String],
        policy: TargetPolicy,
    ) -> Result<Self, Error> {
        let refuse = |why: String| {
            Error::invalid(
                "invalid_callback_url",
                "callback_url",
                format!("callback_url {why}"),
            )
        };
        let target = TargetUrl::parse(raw, policy).map_err(refuse)?;
        let host = target.host().trim_end_matches('.').to_ascii_lowercase();
        let allowed = allowed_domains.iter().any(|domain| {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            host == domain || host.ends_with(&format!(".{domain}"))
        });
        if !allowed {
            return Err(refuse(format!(
                "host `{host}` is not one of the tenant's callback domains"
            )));
        }
        Ok(CallbackUrl(target))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_of_exactly_the_limit_passes_and_keeps_its_text() {
        let base = "https://example.com/";
        let url = format!("{base}{}", "a".repeat(MAX_URL_LEN - base.len()));
        let target = TargetUrl::parse(&url, TargetPolicy::default()).unwrap();
        assert_eq!(target.as_str(), url);
        assert!(TargetUrl::parse("https://:pw@example.com/", TargetPolicy::default()).is_err());
        let callback = CallbackUrl::parse(
            "https://hooks.acme.example/s",
            &["acme.example".to_owned()],
            TargetPolicy::default(),
        )
        .unwrap();
        assert_eq!(callback.as_str(), "https://hooks.acme.example/s");
        assert_eq!(TenantId::new("t-1").as_str(), "t-1");
    }

    #[test]
    fn https_public_targets_are_accepted() {
        assert!(TargetUrl::parse("https://hooks.example.com/wa", TargetPolicy::default()).is_ok());
        assert!(TargetUrl::parse("https://8.8.8.8/x", TargetPolicy::default()).is_ok());
    }

    #[test]
    fn plain_http_and_blocked_literals_are_refused() {
        let cases = [
            ("http://hooks.example.com/", "https"),
            ("http://127.0.0.1:8080/", "https"),
            ("https://127.0.0.1/", "non-public"),
            ("https://[::ffff:169.254.169.254]/", "non-public"),
            ("https://[fd00:ec2::254]/", "non-public"),
            ("https://user:pw@example.com/", "credentials"),
            ("ftp://example.com/", "https"),
            ("not a url", "valid URL"),
        ];
        for (url, why) in cases {
            let err = TargetUrl::parse(url, TargetPolicy::default()).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(TargetUrl::parse(&long, TargetPolicy::default()).is_err());
    }

    #[test]
    fn only_the_local_policy_allows_loopback_http() {
        let local = TargetPolicy::AllowLoopbackHttp;
        assert!(TargetUrl::parse("http://127.0.0.1:3002/hook", local).is_ok());
        assert!(TargetUrl::parse("http://localhost:3002/hook", local).is_ok());
        assert!(TargetUrl::parse("http://10.0.0.1/hook", local).is_err());
        assert!(TargetUrl::parse("http://example.com/hook", local).is_err());
    }

    #[test]
    fn callback_urls_must_be_under_a_whitelisted_domain() {
        let domains = vec!["example.com".to_owned()];
        let p = TargetPolicy::default();
        assert!(CallbackUrl::parse("https://example.com/cb", &domains, p).is_ok());
        assert!(CallbackUrl::parse("https://api.EXAMPLE.com/cb", &domains, p).is_ok());
        for bad in [
            "https://evilexample.com/cb",
            "https://example.com.evil.io/cb",
            "http://example.com/cb",
        ] {
            let err = CallbackUrl::parse(bad, &domains, p).unwrap_err();
            assert_eq!(err.code(), "invalid_callback_url", "{bad}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn an_expired_secret_no_longer_signs() {
        let tenant = Tenant {
            id: TenantId::new("t"),
            name: "n".into(),
            webhook_url: "https://example.com".into(),
            webhook_secrets: vec![
                WebhookSecret {
                    secret: Secret::new("new"),
                    expires_at: None,
                },
                WebhookSecret {
                    secret: Secret::new("old"),
                    expires_at: Some(100),
                },
            ],
            format: DeliveryFormat::Meta,
            callback_domains: vec![],
            phone_number_ids: vec![],
            active: true,
            destinations: Destinations::default(),
        };
        assert_eq!(tenant.signing_secrets(99).len(), 2);
        assert_eq!(tenant.signing_secrets(100), vec![Secret::new("new")]);
    }
}
