//! Posting frames to WebSocket connections through API Gateway's management API
//! (`PostToConnection`). A connection that is gone answers 410 (`GoneException`).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use gateway_core::realtime::{ConnectionId, Posted, Poster};

/// One post gives up after this long: the webhook delivery beside it never waits longer.
const POST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct ApiGatewayPoster {
    client: Client,
}

impl ApiGatewayPoster {
    /// `endpoint` is the API's stage URL over HTTPS (`https://<api>.execute-api.<region>.
    /// amazonaws.com/<stage>`; on the emulator, its `/_aws/execute-api/<api>/<stage>` path).
    pub fn new(sdk: &SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(POST_TIMEOUT)
                    .build(),
            )
            .build();
        ApiGatewayPoster {
            client: Client::from_conf(config),
        }
    }
}

impl Poster for ApiGatewayPoster {
    async fn post(&self, id: &ConnectionId, frame: &[u8]) -> Posted {
        let result = self
            .client
            .post_to_connection()
            .connection_id(id.as_str())
            .data(Blob::new(frame))
            .send()
            .await;
        match result {
            Ok(_) => Posted::Sent,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Posted::Gone,
            Err(e) => Posted::Failed(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e)
                    .to_string()
                    .chars()
                    .take(200)
                    .collect(),
            ),
        }
    }
}
