//! Sends: Meta's checks and refusals by recipient, and the status webhooks after a send.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gateway_core::signature::sign_hub;
use lambda_http::{Body, Response};
use serde_json::{Value, json};

use super::{State, json_response, meta_error};

pub(super) fn send_message(
    state: &Arc<State>,
    phone_number_id: &str,
    body: &[u8],
) -> Response<Body> {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return meta_error(
                400,
                100,
                "(#100) Invalid parameter",
                Some("the body is not JSON"),
            );
        }
    };
    if request.get("callback_url").is_some() {
        return meta_error(400, 100, "(#100) Param callback_url is not valid", None);
    }
    if request["messaging_product"] != "whatsapp" {
        return meta_error(
            400,
            100,
            "(#100) The parameter messaging_product is required.",
            None,
        );
    }
    // Mark as read (optionally with a typing indicator): no `to`, a `message_id`.
    if request["status"] == "read" {
        return match request["message_id"].as_str() {
            Some(_) => json_response(200, json!({"success": true})),
            None => meta_error(
                400,
                100,
                "(#100) The parameter message_id is required.",
                None,
            ),
        };
    }
    let Some(to) = request["to"]
        .as_str()
        .map(|t| t.trim_start_matches('+').to_owned())
    else {
        return meta_error(400, 100, "(#100) The parameter to is required.", None);
    };
    if to.ends_with("131047") {
        return meta_error(
            400,
            131_047,
            "(#131047) Re-engagement message",
            Some(
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            ),
        );
    }
    // Meta answers its throughput limit with HTTP 400 and code 130429 (error-code reference).
    if to.ends_with("130429") && state.throttled.lock().unwrap().insert(to.clone()) {
        return meta_error(
            400,
            130_429,
            "(#130429) Rate limit hit",
            Some("Cloud API message throughput has been reached."),
        );
    }
    if to.ends_with("500") {
        return meta_error(500, 1, "An unknown error has occurred.", None);
    }
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    let wamid = format!(
        "wamid.FAKE{n:012}{}",
        hex::encode(rand::random::<[u8; 6]>()).to_uppercase()
    );
    let webhook = state.webhook_url.lock().unwrap().clone();
    if let Some(webhook) = webhook {
        tokio::spawn(post_statuses(
            state.clone(),
            webhook,
            phone_number_id.to_owned(),
            wamid.clone(),
            to.clone(),
        ));
    }
    json_response(
        200,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": request["to"], "wa_id": to}],
            "messages": [{"id": wamid}],
        }),
    )
}

/// Posts `sent`, `delivered` and `read` for `wamid`, signed with the app secret as Meta signs.
async fn post_statuses(
    state: Arc<State>,
    webhook: String,
    phone_number_id: String,
    wamid: String,
    recipient: String,
) {
    for status in ["sent", "delivered", "read"] {
        tokio::time::sleep(state.status_delay).await;
        let timestamp = gateway_core_now();
        let mut item = json!({"id": wamid, "status": status, "timestamp": timestamp.to_string(), "recipient_id": recipient});
        if status != "read" {
            item["conversation"] = json!({"id": "CONVERSATION_ID", "origin": {"type": "service"}});
            item["pricing"] =
                json!({"billable": true, "pricing_model": "PMP", "category": "service"});
        }
        let waba_id = &state.phones[&phone_number_id];
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{"value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
            "statuses": [item]
        }, "field": "messages"}]}]})
        .to_string();
        let signature = sign_hub(&state.app_secret, body.as_bytes());
        let sent = state
            .http
            .post(&webhook)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "fake Graph API could not post a status webhook");
        }
    }
}

fn gateway_core_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
