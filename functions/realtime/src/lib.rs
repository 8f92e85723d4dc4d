//! The realtime function, behind the WebSocket API: `$connect` checks the token in the URL's
//! query and records the connection (a 403 refuses the upgrade; a 500, when a table could not
//! be read, refuses it too and the client may try again); `$disconnect` forgets it;
//! `$default` answers `{"type":"ping"}` with a pong, the keepalive browsers can send (they
//! cannot send ping frames). The same `handle` serves Lambda and the tests.

use gateway_aws::realtime::{ApiGatewayPoster, AwsRealtime};
use gateway_aws::{Clients, Settings};
use gateway_core::realtime::{ConnectionId, Poster, Refusal, is_ping};
use serde_json::{Value, json};

pub struct RealtimeApp {
    service: AwsRealtime,
    /// Answers pings; `None` without `REALTIME_ENDPOINT`.
    poster: Option<ApiGatewayPoster>,
}

impl RealtimeApp {
    pub fn new(sdk: &aws_config::SdkConfig, clients: &Clients, settings: &Settings) -> Self {
        RealtimeApp {
            service: gateway_aws::realtime::service(
                clients,
                settings,
                settings.realtime_url.as_deref().unwrap_or_default(),
            ),
            poster: settings
                .realtime_endpoint
                .as_deref()
                .map(|endpoint| ApiGatewayPoster::new(sdk, endpoint)),
        }
    }
}

fn status(code: u16) -> Value {
    json!({ "statusCode": code })
}

/// One WebSocket API event (`requestContext.routeKey`, `.connectionId`, the query and body).
pub async fn handle(app: &RealtimeApp, event: &Value) -> Value {
    let context = &event["requestContext"];
    let Some(id) = context["connectionId"]
        .as_str()
        .map(|id| ConnectionId(id.to_owned()))
    else {
        tracing::warn!("a WebSocket event without a connection id");
        return status(400);
    };
    match context["routeKey"].as_str().unwrap_or_default() {
        "$connect" => {
            // Two `token` parameters are none: API Gateway keeps only the last in
            // `queryStringParameters`, and guessing which was meant is no check.
            let repeated = event["multiValueQueryStringParameters"]["token"]
                .as_array()
                .is_some_and(|all| all.len() > 1);
            let token = event["queryStringParameters"]["token"]
                .as_str()
                .filter(|_| !repeated);
            match app.service.connect(token, &id, gateway_aws::now()).await {
                Ok(claims) => {
                    tracing::info!(
                        tenant_id = claims.tenant.as_str(),
                        "real-time connection opened"
                    );
                    status(200)
                }
                Err(Refusal::Unavailable(e)) => {
                    tracing::error!(error = %e, "could not record a connection");
                    status(500)
                }
                Err(refusal) => {
                    tracing::info!(reason = %refusal, "real-time connection refused");
                    status(403)
                }
            }
        }
        "$disconnect" => {
            if let Err(e) = app.service.disconnect(&id).await {
                tracing::warn!(error = %e, "could not forget a closed connection");
            }
            status(200)
        }
        _ => {
            let body = event["body"].as_str().unwrap_or_default();
            if is_ping(body)
                && let Some(poster) = &app.poster
            {
                let _ = poster.post(&id, br#"{"type":"pong"}"#).await;
            }
            status(200)
        }
    }
}
