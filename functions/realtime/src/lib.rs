//! The realtime function, behind the WebSocket API: `$connect` checks the token in the URL's
//! query and the bounds, and records the connection (a 403 refuses the upgrade, a 429 while the
//! tenant holds its most connections; a 500, when a table could not be read, refuses it too
//! and the client may try again); `$disconnect` forgets it; `$default` counts the client's
//! frames (one too fast is closed with `DeleteConnection`) and answers `{"type":"ping"}` with a
//! pong, the keepalive browsers can send (they cannot send ping frames). The same `handle`
//! serves Lambda and the tests.

use gateway_aws::Gateway;
use gateway_core::bundle::{Ports, PortsRealtime, realtime_service};
use gateway_core::realtime::{ClientFrame, ConnectionId, Poster, Refusal, is_ping};
use gateway_core::time::Clock;
use serde_json::{Value, json};

pub struct RealtimeApp<P: Ports> {
    service: PortsRealtime<P>,
    /// Answers pings and closes connections; `None` without one (then frames are not counted
    /// either: nothing could close a connection).
    poster: Option<P::Poster>,
    clock: P::Clock,
}

impl<P: Ports> RealtimeApp<P> {
    pub fn new(ports: &P) -> Self {
        RealtimeApp {
            service: realtime_service(
                ports,
                ports.config().realtime_url.as_deref().unwrap_or_default(),
            ),
            poster: ports.poster(),
            clock: ports.clock(),
        }
    }
}

impl RealtimeApp<Gateway> {
    pub fn from_gateway(gateway: &Gateway) -> Self {
        RealtimeApp::new(gateway)
    }
}

fn status(code: u16) -> Value {
    json!({ "statusCode": code })
}

/// One WebSocket API event (`requestContext.routeKey`, `.connectionId`, the query and body).
pub async fn handle<P: Ports>(app: &RealtimeApp<P>, event: &Value) -> Value {
    let context = &event["requestContext"];
    let Some(id) = context["connectionId"].as_str().map(ConnectionId::new) else {
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
            match app.service.connect(token, &id, app.clock.now_secs()).await {
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
                    status(refusal.status())
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
            let Some(poster) = &app.poster else {
                return status(200);
            };
            let now = app.clock.now_secs();
            // When the connection was opened (API Gateway gives milliseconds).
            let connected_at = context["connectedAt"].as_i64().map(|ms| ms / 1000);
            let heard = match app
                .service
                .client_frame(&id, connected_at, now, poster)
                .await
            {
                Ok(heard) => heard,
                Err(e) => {
                    // A table that cannot be read closes no one.
                    tracing::warn!(error = %e, "could not count a client frame");
                    ClientFrame::Answer
                }
            };
            let body = event["body"].as_str().unwrap_or_default();
            if heard == ClientFrame::Answer && is_ping(body) {
                let _ = poster.post(&id, br#"{"type":"pong"}"#).await;
            }
            status(200)
        }
    }
}

#[cfg(test)]
mod tests;
