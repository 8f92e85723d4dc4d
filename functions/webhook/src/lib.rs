//! The webhook function: Meta's subscription check (`GET /webhook`) and ingest
//! (`POST /webhook`). The same `handle` serves Lambda and the local stack.

use std::time::Instant;

use gateway_aws::Gateway;
use gateway_aws::lambda::respond;
use gateway_core::Error;
use gateway_core::bundle::Ports;
use gateway_core::http::{ApiResponse, Route, Shape, WebhookCall, render};
use gateway_core::ingest::{Ingest, verify_subscription};
use gateway_core::mask;
use gateway_core::meta::MAX_WEBHOOK_BYTES;
use gateway_core::query::Query;
use gateway_core::signature::{HUB_SIGNATURE_HEADER, Secret};
use lambda_http::{Body, Request, Response};

pub use gateway_core::http::{WEBHOOK_METHODS, WEBHOOK_PATH};

/// Everything a request needs, built once per cold start.
pub struct WebhookApp<P: Ports> {
    ingest: Ingest<P::Queue>,
    verify_token: Secret,
}

impl<P: Ports> WebhookApp<P> {
    /// `app_secrets`: Meta's app secrets (more than one during a rotation).
    pub fn new(ports: &P, app_secrets: Vec<Secret>, verify_token: Secret) -> Self {
        WebhookApp {
            ingest: Ingest::new(ports.queue(), app_secrets),
            verify_token,
        }
    }
}

impl WebhookApp<Gateway> {
    /// `META_APP_SECRET[_PARAM]` (comma-separated during a rotation) and
    /// `META_VERIFY_TOKEN[_PARAM]`.
    pub async fn from_gateway(gateway: &Gateway) -> anyhow::Result<Self> {
        Ok(WebhookApp::new(
            gateway,
            gateway.secrets("META_APP_SECRET").await?,
            gateway.secret("META_VERIFY_TOKEN").await?,
        ))
    }
}

fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response<Body> {
    respond(ApiResponse::new(status, content_type, body))
}

fn error_response(err: &Error, shape: Shape) -> Response<Body> {
    respond(render(err, shape))
}

/// Routes on method and path, as API Gateway's `$default` route hands everything over.
pub async fn handle<P: Ports>(app: &WebhookApp<P>, req: Request) -> Response<Body> {
    match Route::parse(req.method().as_str(), req.uri().path()) {
        Ok(Route::Webhook(WebhookCall::Verify)) => verify(app, &req),
        Ok(Route::Webhook(WebhookCall::Ingest)) => ingest(app, req).await,
        Ok(Route::Webhook(WebhookCall::OtherMethod)) => {
            error_response(&Error::MethodNotAllowed(WEBHOOK_METHODS), Shape::Gateway)
        }
        Ok(Route::Tenant(_)) | Err(_) => {
            error_response(&Error::NotFound("no such route"), Shape::Gateway)
        }
    }
}

fn verify<P: Ports>(app: &WebhookApp<P>, req: &Request) -> Response<Body> {
    let query = Query::parse(req.uri().query());
    match verify_subscription(
        query.get("hub.mode"),
        query.get("hub.verify_token"),
        query.get("hub.challenge"),
        &app.verify_token,
    ) {
        Ok(challenge) => text(200, "text/plain", challenge),
        Err(e) => {
            tracing::warn!(
                outcome = "verification_refused",
                "webhook verification refused"
            );
            error_response(&e, Shape::Subscription)
        }
    }
}

async fn ingest<P: Ports>(app: &WebhookApp<P>, req: Request) -> Response<Body> {
    let started = Instant::now();
    // lambda_http has already decoded a base64 body from API Gateway.
    let signature = req
        .headers()
        .get(HUB_SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_WEBHOOK_BYTES {
        tracing::warn!(bytes = body.len(), outcome = "too_large", "webhook refused");
        return error_response(
            &Error::PayloadTooLarge {
                limit: MAX_WEBHOOK_BYTES,
            },
            Shape::Webhook,
        );
    }
    let result = app.ingest.ingest(body, signature.as_deref()).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(report) => {
            tracing::info!(
                events = report.events,
                malformed = report.malformed,
                phone_number_id = report
                    .phone_number_id
                    .as_deref()
                    .map(mask::phone)
                    .unwrap_or_default(),
                outcome = "queued",
                duration_ms,
                "webhook accepted"
            );
            text(200, "text/plain", "OK")
        }
        Err(e) => {
            tracing::warn!(outcome = e.code(), status = e.status(), duration_ms, reason = %e, "webhook not accepted");
            // Meta retries anything but a 200 for up to 7 days: a queue failure is a 500.
            error_response(&e, Shape::Webhook)
        }
    }
}

#[cfg(test)]
mod tests;
