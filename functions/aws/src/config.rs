//! Configuration, read once per cold start: resource names from the environment, secrets from
//! SSM Parameter Store (SecureString) in the cloud or plain variables on the local stack.

use anyhow::{Context, anyhow};
use aws_config::{BehaviorVersion, SdkConfig};
use gateway_core::endpoint_health::BreakerPolicy;
use gateway_core::signature::Secret;
use gateway_core::tenant::TargetPolicy;
use std::time::Duration;

/// The names of the stack's tables, queues and bucket (template.yaml's environment variables;
/// the local stack's `provision` creates them under a prefix).
#[derive(Debug, Clone)]
pub struct Resources {
    pub tenants_table: String,
    pub messages_table: String,
    pub idempotency_table: String,
    /// Live WebSocket connections (`CONNECTIONS_TABLE`).
    pub connections_table: String,
    pub events_queue_url: String,
    /// Where the forwarder moves an event whose delivery attempts are spent.
    pub dead_letter_queue_url: String,
    /// Events too large for SQS (claim checks) and parked unroutable events.
    pub events_bucket: String,
}

impl Resources {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Resources {
            tenants_table: env("TENANTS_TABLE")?,
            messages_table: env("MESSAGES_TABLE")?,
            idempotency_table: env("IDEMPOTENCY_TABLE")?,
            connections_table: env("CONNECTIONS_TABLE")?,
            events_queue_url: env("EVENTS_QUEUE_URL")?,
            dead_letter_queue_url: env("DEAD_LETTER_QUEUE_URL")?,
            events_bucket: env("EVENTS_BUCKET")?,
        })
    }
}

/// What the functions are configured with. Field names match template.yaml's environment
/// variables; [`Settings::new`] gives template.yaml's defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub resources: Resources,
    /// Where real-time clients connect (`REALTIME_URL`: `wss://…/<stage>`); the token route
    /// answers with it. Unset: no real-time tokens.
    pub realtime_url: Option<String>,
    /// The WebSocket API's management endpoint the forwarder posts frames to
    /// (`REALTIME_ENDPOINT`: `https://…/<stage>`). Unset: no real-time posts.
    pub realtime_endpoint: Option<String>,
    pub graph_api_base_url: String,
    pub graph_api_version: String,
    pub webhook_timeout: Duration,
    pub retry_scale: f64,
    pub target_policy: TargetPolicy,
    /// The hosts a media `url` from Meta may name: the access token goes nowhere else
    /// (`*.example.com` for any subdomain). The Graph API's own host is always allowed.
    pub media_hosts: Vec<String>,
    /// How long a warm function keeps tenant lookups (`TENANT_CACHE_SECONDS`; 0 = none).
    pub tenant_cache: Duration,
    /// How long each event's queue message is kept for replay (`EVENT_RETENTION_DAYS`; 0 =
    /// none, replay only from the DLQ).
    pub event_retention: Duration,
    /// The circuit breaker (`BREAKER_THRESHOLD`, `BREAKER_PROBE_SECONDS`).
    pub breaker: BreakerPolicy,
}

fn whole(name: &str, default: &str, range: std::ops::RangeInclusive<u64>) -> anyhow::Result<u64> {
    env_or(name, default)
        .parse()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            anyhow!(
                "{name} must be a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

/// Meta's media hosts (`META_MEDIA_HOSTS` replaces the list).
pub const META_MEDIA_HOSTS: &str = "lookaside.fbsbx.com,*.fbsbx.com,*.fbcdn.net,*.whatsapp.net";

/// A comma-separated host list.
pub fn host_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

pub fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow!("environment variable {name} is not set"))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

impl Settings {
    /// `resources` with template.yaml's defaults for everything else.
    pub fn new(resources: Resources) -> Self {
        Settings {
            resources,
            realtime_url: None,
            realtime_endpoint: None,
            graph_api_base_url: "https://graph.facebook.com".to_owned(),
            graph_api_version: "v23.0".to_owned(),
            webhook_timeout: Duration::from_secs(10),
            retry_scale: 1.0,
            target_policy: TargetPolicy::PublicHttpsOnly,
            media_hosts: host_list(META_MEDIA_HOSTS),
            tenant_cache: Duration::from_secs(60),
            event_retention: Duration::from_secs(3 * 86_400),
            breaker: BreakerPolicy::default(),
        }
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let timeout_secs: u64 = env_or("WEBHOOK_TIMEOUT_SECS", "10")
            .parse()
            .context("WEBHOOK_TIMEOUT_SECS must be a whole number of seconds")?;
        let tenant_cache: u64 = env_or("TENANT_CACHE_SECONDS", "60")
            .parse()
            .context("TENANT_CACHE_SECONDS must be a whole number of seconds")?;
        let retry_scale: f64 = env_or("RETRY_SCALE", "1")
            .parse()
            .context("RETRY_SCALE must be a number between 0 and 1")?;
        // Only the local stack sets this; template.yaml never does.
        let target_policy = match env_or("ALLOW_LOOPBACK_HTTP_TARGETS", "false").as_str() {
            "true" | "1" => TargetPolicy::AllowLoopbackHttp,
            _ => TargetPolicy::PublicHttpsOnly,
        };
        let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut settings = Settings::new(Resources::from_env()?);
        settings.realtime_url = set("REALTIME_URL");
        settings.realtime_endpoint = set("REALTIME_ENDPOINT");
        // Set but empty stays empty, and the function refuses to start on it.
        if let Ok(url) = std::env::var("GRAPH_API_BASE_URL") {
            settings.graph_api_base_url = url;
        }
        if let Ok(version) = std::env::var("GRAPH_API_VERSION") {
            settings.graph_api_version = version;
        }
        settings.webhook_timeout = Duration::from_secs(timeout_secs);
        settings.retry_scale = retry_scale;
        settings.target_policy = target_policy;
        settings.media_hosts = host_list(&env_or("META_MEDIA_HOSTS", META_MEDIA_HOSTS));
        settings.tenant_cache = Duration::from_secs(tenant_cache);
        settings.event_retention =
            Duration::from_secs(whole("EVENT_RETENTION_DAYS", "3", 0..=14)? * 86_400);
        settings.breaker = breaker_from_env()?;
        Ok(settings)
    }
}

/// The circuit breaker from `BREAKER_THRESHOLD` (1 to 1,000, default 5) and
/// `BREAKER_PROBE_SECONDS` (1 to 3,600, default 60): read the same way by the functions and by
/// the local stack.
pub fn breaker_from_env() -> anyhow::Result<BreakerPolicy> {
    Ok(BreakerPolicy {
        threshold: whole("BREAKER_THRESHOLD", "5", 1..=1_000)? as u32,
        probe_every: Duration::from_secs(whole("BREAKER_PROBE_SECONDS", "60", 1..=3_600)?),
    })
}

/// AWS configuration from the environment; `AWS_ENDPOINT_URL` points it at the emulator.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The AWS clients, built once per cold start and shared by every request.
#[derive(Clone, Debug)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            sqs: aws_sdk_sqs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            // An emulator on loopback has no per-bucket host names.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(config.endpoint_url().is_some())
                    .build(),
            ),
        }
    }

    /// A secret named `NAME`: from the SSM parameter named by `NAME_PARAM` when that is set
    /// (the deployed stack), else from the variable `NAME` itself (the local stack).
    pub async fn secret(&self, name: &str) -> anyhow::Result<Secret> {
        let param_var = format!("{name}_PARAM");
        if let Ok(parameter) = std::env::var(&param_var) {
            let out = self
                .ssm
                .get_parameter()
                .name(&parameter)
                .with_decryption(true)
                .send()
                .await
                .with_context(|| format!("reading SSM parameter {parameter} ({param_var})"))?;
            let value = out
                .parameter
                .and_then(|p| p.value)
                .ok_or_else(|| anyhow!("SSM parameter {parameter} has no value"))?;
            return Ok(Secret::new(value));
        }
        std::env::var(name)
            .map(Secret::new)
            .map_err(|_| anyhow!("neither {param_var} nor {name} is set"))
    }

    /// A comma-separated list of secrets (Meta app secrets during a rotation: new,old).
    pub async fn secrets(&self, name: &str) -> anyhow::Result<Vec<Secret>> {
        let joined = self.secret(name).await?;
        let list: Vec<Secret> = joined
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .collect();
        if list.is_empty() {
            return Err(anyhow!("{name} holds no secret"));
        }
        Ok(list)
    }
}
