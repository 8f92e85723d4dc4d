//! gateway-aws: the adapters behind gateway-core's ports. SQS for the events queue, DynamoDB for
//! tenants, messages and idempotency, reqwest for webhook delivery (behind the SSRF guard), and
//! configuration loaded once per cold start.

pub mod admin;
pub mod config;
pub mod dynamo;
pub mod events_bucket;
pub mod gateway;
pub mod graph;
pub mod lambda;
pub mod media;
pub mod queue;
pub mod realtime;
pub mod webhook_sender;

pub use config::{Clients, Settings};
pub use gateway::Gateway;

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Structured JSON logs for Lambda (CloudWatch), plain text elsewhere; `RUST_LOG` filters.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder.json().without_time().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
