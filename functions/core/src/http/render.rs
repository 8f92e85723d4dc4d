//! The one place an [`Error`] becomes an answer, in the shape the route speaks: the gateway's
//! own (`/v1`), Meta's (the Graph-compatible routes, so WhatsApp SDKs parse it) or the webhook's
//! (a queue failure is a 500 Meta retries). Internals never reach a body: `Internal` and
//! `Unavailable` answer a fixed message and are logged here, once.

use serde_json::{Value, json};

use super::ApiResponse;
use crate::Error;

/// The shape of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape<'a> {
    /// `{"error":{"code","message"[,"field"]}}`: the `/v1` routes and the webhook's refusals.
    Gateway,
    /// Meta's `{"error":{"message","type","code","fbtrace_id"}}` for the Graph-compatible
    /// routes; `trace_id` is also logged.
    Graph { trace_id: &'a str },
    /// `POST /webhook`: the gateway's shape, but a queue that could not take the events is a
    /// 500, which Meta retries for up to 7 days.
    Webhook,
    /// `GET /webhook`, Meta's subscription check: plain text that echoes nothing of the input.
    Subscription,
}

/// The message of the webhook's 500.
const NOT_QUEUED: &str = "events could not be queued, retry";

/// The answer to `err` in `shape`, with its headers (`WWW-Authenticate` on a 401 of the tenant
/// API, `Retry-After` on a 429, `Allow` on a 405).
pub fn render(err: &Error, shape: Shape<'_>) -> ApiResponse {
    log(err, shape);
    if shape == Shape::Subscription {
        return ApiResponse::new(err.status(), "text/plain", "forbidden");
    }
    let (status, body) = match (shape, err) {
        (Shape::Webhook, Error::Unavailable { .. }) => (
            500,
            json!({"error": {"code": "unavailable", "message": NOT_QUEUED}}).to_string(),
        ),
        (Shape::Graph { trace_id }, _) => (err.status(), graph_body(err, trace_id)),
        (_, _) => (err.status(), gateway_body(err)),
    };
    let mut response = ApiResponse::new(status, "application/json", body);
    if status == 401 && !matches!(shape, Shape::Webhook) {
        response.headers.push(("www-authenticate", "Bearer".into()));
    }
    if let Some(after) = err.retry_after() {
        response
            .headers
            .push(("retry-after", after.as_secs().max(1).to_string()));
    }
    if let Error::MethodNotAllowed(_) = err {
        // The one path with methods of its own is `/webhook`.
        response.headers.push(("allow", "GET, POST".into()));
    }
    response
}

/// The tenant API's refusals are logged here, once; the webhook logs its own outcomes (with
/// their duration), so only a bug is logged here for it.
fn log(err: &Error, shape: Shape<'_>) {
    let trace_id = match shape {
        Shape::Graph { trace_id } => trace_id,
        Shape::Gateway => "",
        Shape::Webhook | Shape::Subscription => {
            if let Error::Internal(e) = err {
                tracing::error!(error = ?e, "internal error");
            }
            return;
        }
    };
    match err {
        Error::Internal(e) => tracing::error!(error = ?e, trace_id, "internal error"),
        Error::Unavailable { context, .. } => {
            tracing::error!(context, trace_id, "dependency unavailable")
        }
        other => tracing::info!(
            status = other.status(),
            code = other.code(),
            trace_id,
            "request refused"
        ),
    }
}

/// The gateway's own error body: `{"error":{"code","message"[,"field"]}}`.
pub fn gateway_body(err: &Error) -> String {
    let mut error = json!({"code": err.code(), "message": err.public_message()});
    if let Error::InvalidInput {
        field: Some(field), ..
    } = err
    {
        error["field"] = Value::String(field.clone());
    }
    json!({ "error": error }).to_string()
}

/// Meta's error shape.
fn graph_body(err: &Error, trace_id: &str) -> String {
    let (kind, code) = match err {
        Error::Unauthorized(_) => ("OAuthException", 190),
        Error::Forbidden(_) => ("OAuthException", 200),
        Error::InvalidInput { .. } | Error::PayloadTooLarge { .. } | Error::Unprocessable(_) => {
            ("OAuthException", 100)
        }
        Error::NotFound(_) | Error::MethodNotAllowed(_) => ("GraphMethodException", 100),
        Error::Conflict(_) | Error::OutcomeUnknown(_) => ("OAuthException", 100),
        Error::RateLimited { .. } => ("OAuthException", 4),
        Error::Unavailable { .. }
        | Error::Unreachable
        | Error::Upstream { .. }
        | Error::Internal(_) => ("OAuthException", 2),
    };
    json!({"error": {
        "message": err.public_message(),
        "type": kind,
        "code": code,
        "fbtrace_id": trace_id,
    }})
    .to_string()
}

/// Meta's refusal on a `/v1` route: Meta's status, the gateway's shape, Meta's `error` object
/// inside as `meta`.
pub fn meta_inside_gateway(status: u16, meta_body: &[u8]) -> ApiResponse {
    let meta: Value = serde_json::from_slice(meta_body).unwrap_or(Value::Null);
    let message = meta["error"]["message"]
        .as_str()
        .unwrap_or("Meta refused the request")
        .to_owned();
    ApiResponse::json(
        status,
        &json!({"error": {"code": "meta_error", "message": message, "meta": meta["error"]}}),
    )
}

#[cfg(test)]
#[path = "render/tests.rs"]
mod tests;
