//! The demo tenant's webhook: checks both signatures of every delivery and prints one line per
//! event, so `make run` shows the whole loop.

use std::sync::Arc;

use gateway_core::signature::{Secret, verify_hub_signature, verify_standard_webhook};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

fn header<'a>(req: &'a Request, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// One line describing a Meta-format delivery: the statuses or message types it holds.
pub fn describe(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return "unparseable body".to_owned();
    };
    let mut parts = Vec::new();
    for change in value["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
    {
        let v = &change["value"];
        for s in v["statuses"].as_array().into_iter().flatten() {
            parts.push(format!(
                "status {} for {}",
                s["status"].as_str().unwrap_or("?"),
                s["id"].as_str().unwrap_or("?")
            ));
        }
        for m in v["messages"].as_array().into_iter().flatten() {
            parts.push(format!(
                "message {} {}",
                m["type"].as_str().unwrap_or("?"),
                m["id"].as_str().unwrap_or("?")
            ));
        }
        if v["statuses"].is_null() && v["messages"].is_null() {
            parts.push(format!("field {}", change["field"].as_str().unwrap_or("?")));
        }
    }
    if let Some(event) = value["event"].as_str() {
        parts.push(format!("envelope event {event}"));
    }
    parts.join(", ")
}

pub async fn handle(secret: Arc<Secret>, req: Request) -> Response<Body> {
    let body: &[u8] = req.body().as_ref();
    let hub_ok = verify_hub_signature(
        std::slice::from_ref(&secret),
        body,
        Some(header(&req, "x-hub-signature-256")),
    )
    .is_ok();
    let std_ok = verify_standard_webhook(
        &secret,
        header(&req, "webhook-id"),
        header(&req, "webhook-timestamp"),
        body,
        header(&req, "webhook-signature"),
    );
    let verdict = if hub_ok && std_ok {
        "signatures ok"
    } else {
        "SIGNATURE MISMATCH"
    };
    println!(
        "receiver: {} [{verdict}] {}",
        header(&req, "webhook-id"),
        describe(body)
    );
    let status = if hub_ok && std_ok { 200 } else { 401 };
    Response::builder()
        .status(status)
        .body(Body::Empty)
        .expect("valid response")
}
