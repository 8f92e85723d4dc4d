//! How the local stack and the tests reach the AWS emulator: only ever a loopback endpoint,
//! with throwaway credentials, so nothing local can touch a real AWS account.

use anyhow::{Context, ensure};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The emulator's endpoint from `AWS_ENDPOINT_URL`, refused unless it is on loopback.
pub fn endpoint_from_env() -> anyhow::Result<String> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").context(
        "AWS_ENDPOINT_URL is not set: start the emulator first (`make run` and `make test` do)",
    )?;
    ensure_loopback(&endpoint)?;
    Ok(endpoint)
}

pub fn ensure_loopback(endpoint: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(endpoint)
        .with_context(|| format!("AWS endpoint `{endpoint}` is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    ensure!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "AWS endpoint `{endpoint}` is not on loopback; the local stack only talks to a local emulator"
    );
    Ok(())
}

/// SDK configuration for the emulator at `endpoint`.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "local-emulator",
        ))
        .load()
        .await
}
