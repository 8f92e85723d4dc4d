//! Meta's Graph API over HTTPS with the gateway's access token. Retries only where Meta provably
//! did not accept the request: the connection never carried it (refused, DNS, TLS), or Meta
//! answered a 4xx carrying 130429/131056 (Meta uses 400 for them), while the deadline allows.
//! A 5xx after sending is returned.

use std::time::{Duration, Instant};

use gateway_core::Error;
use gateway_core::ports::{GraphApi, GraphRequest, GraphResponse, HttpMethod};
use gateway_core::retry::parse_retry_after;
use gateway_core::send::is_retryable_meta_throttle;
use gateway_core::signature::Secret;
use gateway_core::tenant::{TargetPolicy, TargetUrl};

use crate::webhook_sender::guarded_client;

#[derive(Clone, Debug)]
pub struct HttpGraphApi {
    client: reqwest::Client,
    base_url: String,
    access_token: Secret,
    policy: TargetPolicy,
    /// The hosts a media URL may name for the token to go there (`*.` for subdomains).
    media_hosts: Vec<String>,
    /// Retries stop once this much time has gone by since the first try.
    deadline: Duration,
    /// Where media too large for a response is copied; `None`: such media is refused.
    staging: Option<crate::media::MediaStaging>,
}

/// The most an inline media download reads (the core asks only for media up to
/// `INLINE_MEDIA_BYTES`).
const INLINE_DOWNLOAD_CAP: u64 = gateway_core::send::INLINE_MEDIA_BYTES + 64 * 1024;

/// How long a staged copy may take to stream in (the send function has 29 s).
const STAGING_DEADLINE: Duration = Duration::from_secs(25);

/// Whether `host` is one of `allowed` (`*.example.com` matches subdomains of example.com).
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| match a.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == *a,
    })
}

const FIRST_BACKOFF: Duration = Duration::from_millis(250);

impl HttpGraphApi {
    pub fn new(
        base_url: &str,
        access_token: Secret,
        timeout: Duration,
        policy: TargetPolicy,
        media_hosts: &[String],
    ) -> anyhow::Result<Self> {
        let base = TargetUrl::parse(base_url, policy)
            .map_err(|why| anyhow::anyhow!("GRAPH_API_BASE_URL {why}"))?;
        let mut media_hosts = media_hosts.to_vec();
        // A recorder or the fake Graph API serves its media itself.
        media_hosts.extend(base.url().host_str().map(str::to_ascii_lowercase));
        Ok(HttpGraphApi {
            client: guarded_client(timeout, policy)?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            access_token,
            policy,
            media_hosts,
            deadline: Duration::from_secs(8),
            staging: None,
        })
    }

    /// Media too large for a response is staged in `staging`.
    pub fn with_staging(mut self, staging: crate::media::MediaStaging) -> Self {
        self.staging = Some(staging);
        self
    }

    /// A GET of a media URL Meta handed out, with the token, only when the URL passes the SSRF
    /// guard and names one of Meta's media hosts.
    fn media_request(&self, url: &str) -> Result<reqwest::RequestBuilder, Error> {
        let target = TargetUrl::parse(url, self.policy).map_err(|why| Error::Upstream {
            status: 502,
            message: format!("media URL {why}"),
        })?;
        let host = target.url().host_str().unwrap_or_default();
        if !host_allowed(host, &self.media_hosts) {
            tracing::warn!(
                host,
                "media URL on a host that is not Meta's; the token is not sent"
            );
            return Err(Error::Upstream {
                status: 502,
                message: "Meta's media URL names a host that is not one of Meta's media hosts"
                    .to_owned(),
            });
        }
        Ok(self
            .client
            .get(target.url().clone())
            .bearer_auth(self.access_token.expose()))
    }

    async fn once(
        &self,
        url: &str,
        request: &GraphRequest,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .client
            .request(method, url)
            .bearer_auth(self.access_token.expose());
        if let Some(ct) = &request.content_type {
            builder = builder.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body.clone());
        }
        builder.send().await
    }
}

fn transport_error(e: &reqwest::Error) -> Error {
    if e.is_connect() {
        Error::Unreachable
    } else if e.is_timeout() {
        Error::Upstream {
            status: 504,
            message: "Meta did not answer in time".to_owned(),
        }
    } else {
        Error::Upstream {
            status: 502,
            message: "Meta's answer was lost on the way".to_owned(),
        }
    }
}

/// Meta's answer, its body read to the end, or refused once it passes `cap` bytes.
async fn into_response(
    mut response: reqwest::Response,
    cap: Option<u64>,
) -> Result<GraphResponse, Error> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        body.extend_from_slice(&chunk);
        if cap.is_some_and(|cap| body.len() as u64 > cap) {
            return Err(Error::Upstream {
                status: 502,
                message: "Meta's media is larger than its description said".to_owned(),
            });
        }
    }
    Ok(GraphResponse {
        status,
        content_type,
        body,
    })
}

impl GraphApi for HttpGraphApi {
    async fn call(&self, request: GraphRequest) -> Result<GraphResponse, Error> {
        let url = format!("{}{}", self.base_url, request.path_and_query);
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let (wait, last) = match self.once(&url, &request).await {
                Ok(response) => {
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let response = into_response(response, None).await?;
                    if !is_retryable_meta_throttle(response.status, &response.body) {
                        return Ok(response);
                    }
                    (retry_after.unwrap_or(backoff).max(backoff), Ok(response))
                }
                // Never carried the request: safe to try again.
                Err(e) if e.is_connect() => (backoff, Err(transport_error(&e))),
                Err(e) => {
                    // Without the URL: its query is the tenant's.
                    let e = e.without_url();
                    tracing::warn!(method = request.method.as_str(), error = %e, "Graph API call failed after sending; not retried");
                    return Err(transport_error(&e));
                }
            };
            if started.elapsed() + wait > self.deadline {
                return last;
            }
            tracing::info!(
                method = request.method.as_str(),
                wait_ms = wait.as_millis() as u64,
                "Graph API did not accept the request; retrying"
            );
            tokio::time::sleep(wait).await;
            backoff *= 2;
        }
    }

    async fn download(&self, url: &str) -> Result<GraphResponse, Error> {
        // The URL comes from Meta's answer: it passes the SSRF guard like any other target.
        let response = self
            .media_request(url)?
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        // Read only as much as an inline answer may hold, whatever Meta said the size was.
        into_response(response, Some(INLINE_DOWNLOAD_CAP)).await
    }

    async fn stage_media(&self, url: &str, content_type: &str) -> Result<String, Error> {
        let Some(staging) = &self.staging else {
            return Err(Error::Upstream {
                status: 502,
                message:
                    "the media is too large for a response and no bucket is configured to stage it"
                        .to_owned(),
            });
        };
        let response = self
            .media_request(url)?
            .timeout(STAGING_DEADLINE)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        if !response.status().is_success() {
            return Err(Error::Upstream {
                status: 502,
                message: format!("Meta's media URL answered {}", response.status().as_u16()),
            });
        }
        staging
            .stage(response, content_type, gateway_core::send::MAX_MEDIA_BYTES)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_only_to_the_listed_media_hosts() {
        let allowed = crate::config::host_list(crate::config::META_MEDIA_HOSTS);
        for host in [
            "lookaside.fbsbx.com",
            "LOOKASIDE.FBSBX.COM",
            "scontent.xx.fbcdn.net",
            "mmg.whatsapp.net",
        ] {
            assert!(host_allowed(host, &allowed), "{host}");
        }
        for host in [
            "fbsbx.com.evil.example",
            "evilfbsbx.com",
            "fbcdn.net",
            "169.254.169.254",
            "example.com",
        ] {
            assert!(!host_allowed(host, &allowed), "{host}");
        }
    }
}
