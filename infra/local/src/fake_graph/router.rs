//! The routes the fake serves, dispatched by method and path.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::time::Duration;

use gateway_core::signature::constant_time_eq;

use super::account::phone_edge;
use super::media::{media_phone_matches, sha256, upload_media};
use super::messages::send_message;
use super::webhooks::{app_subscriptions, subscribed_apps};
use super::{SeenRequest, State, json_response, meta_error, no_such_object};
use crate::http_server;

pub(super) async fn handle(state: Arc<State>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let method = req.method().as_str().to_owned();
    let body = req.body().as_ref().to_vec();
    state.seen.lock().unwrap().push(SeenRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
    });

    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let [_, app_id, "subscriptions"] = segments.as_slice() {
        return app_subscriptions(&state, &method, app_id, token, &body).await;
    }
    if !constant_time_eq(token, state.access_token.expose()) {
        return meta_error(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            None,
        );
    }
    match (method.as_str(), segments.as_slice()) {
        ("GET", [_, "me"]) => json_response(
            200,
            json!({"name": "Gateway Test System User", "id": "122100000000000001"}),
        ),
        ("GET" | "POST", [_, waba, "subscribed_apps"]) => subscribed_apps(&state, &method, waba),
        ("GET", ["_media", id]) => match state.media.lock().unwrap().get(*id) {
            Some((bytes, mime, _)) => Response::builder()
                .status(200)
                .header("content-type", mime.as_str())
                .body(Body::Binary(bytes.clone()))
                .unwrap(),
            None => meta_error(404, 100, "Media not found", None),
        },
        (
            _,
            [
                _,
                phone,
                "messages"
                | "media"
                | "whatsapp_business_profile"
                | "message_qrdls"
                | "block_users",
                ..,
            ],
        ) if !state.phones.contains_key(*phone) => no_such_object(&method.to_lowercase(), phone),
        (_, [_, waba, "phone_numbers" | "flows"])
            if !state.templates.lock().unwrap().contains_key(*waba) =>
        {
            no_such_object(&method.to_lowercase(), waba)
        }
        (
            _,
            [
                _,
                _,
                "whatsapp_business_profile" | "message_qrdls" | "block_users",
                ..,
            ],
        ) => phone_edge(&state, &method, &segments[1..], query.as_deref(), &body),
        ("GET", [_, waba, "phone_numbers"]) => {
            let data: Vec<Value> = state
                .phones
                .iter()
                .filter(|(_, w)| w == waba)
                .map(|(id, _)| json!({"verified_name": "Gateway Test", "code_verification_status": "VERIFIED", "display_phone_number": "+1 555-000-1111", "quality_rating": "GREEN", "platform_type": "CLOUD_API", "throughput": {"level": "STANDARD"}, "id": id}))
                .collect();
            json_response(
                200,
                json!({"data": data, "paging": {"cursors": {"before": "QVFIUk", "after": "QVFIUk"}}}),
            )
        }
        ("GET", [_, _, "flows"]) => json_response(
            200,
            json!({"data": [{"id": "9100000000001", "name": "appointment", "status": "DRAFT", "categories": ["APPOINTMENT_BOOKING"], "validation_errors": [], "json_version": "6.0", "data_api_version": "3.0", "updated_at": "2024-01-01T00:00:00+0000"}], "paging": {"cursors": {"before": "QVFIUk", "after": "QVFIUk"}}}),
        ),
        ("GET" | "POST" | "DELETE", [_, waba, "message_templates"])
            if !state.templates.lock().unwrap().contains_key(*waba) =>
        {
            no_such_object(&method.to_lowercase(), waba)
        }
        ("POST", [_, phone, "messages"]) => {
            let to: Value = serde_json::from_slice(&body).unwrap_or_default();
            let to = to["to"].as_str().unwrap_or_default();
            if to.ends_with("5555") {
                tokio::time::sleep(Duration::from_millis(3000)).await;
            } else if to.ends_with("0504") {
                tokio::time::sleep(Duration::from_secs(11)).await;
            }
            let mut response = send_message(&state, phone, &body);
            if to.ends_with("0666") {
                response
                    .extensions_mut()
                    .insert(http_server::ResetConnection);
            }
            response
        }
        ("GET", [_, waba, "message_templates"]) => {
            let templates = state.templates.lock().unwrap();
            let data: Vec<Value> = templates[*waba]
                .iter()
                .map(|(name, id)| json!({"name": name, "parameter_format": "POSITIONAL", "components": [{"type": "BODY", "text": "Hello World"}], "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": id}))
                .collect();
            let count = data.len();
            json_response(
                200,
                json!({"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}, "summary": {"total_count": count, "message_template_count": count, "message_template_limit": 250, "are_translations_complete": true}}),
            )
        }
        ("POST", [_, waba, "message_templates"]) => {
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            let Some(name) = request["name"].as_str().filter(|n| !n.is_empty()) else {
                return meta_error(400, 100, "Invalid parameter", Some("name is required"));
            };
            let id =
                (2_000_000_000_000 + state.counter.fetch_add(1, Ordering::Relaxed)).to_string();
            let mut templates = state.templates.lock().unwrap();
            templates
                .get_mut(*waba)
                .unwrap()
                .insert(name.to_owned(), id.clone());
            json_response(
                200,
                json!({"id": id, "status": "PENDING", "category": request["category"].as_str().unwrap_or("UTILITY")}),
            )
        }
        ("DELETE", [_, waba, "message_templates"]) => {
            // Meta deletes by `name` (and `hsm_id` for one language); `name` is required.
            let name = url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.into_owned());
            let Some(name) = name else {
                return meta_error(400, 100, "(#100) The parameter name is required.", None);
            };
            match state
                .templates
                .lock()
                .unwrap()
                .get_mut(*waba)
                .unwrap()
                .remove(&name)
            {
                Some(_) => json_response(200, json!({"success": true})),
                None => meta_error(
                    400,
                    100,
                    "Invalid parameter",
                    Some("Message template not found"),
                ),
            }
        }
        ("POST", [_, phone, "media"]) => upload_media(&state, phone, &req, &body),
        ("POST", [_, template_id]) => {
            let templates = state.templates.lock().unwrap();
            match templates
                .values()
                .any(|t| t.values().any(|id| id == template_id))
            {
                true => json_response(200, json!({"success": true})),
                false => no_such_object("post", template_id),
            }
        }
        ("GET" | "DELETE", [_, media_id])
            if !media_phone_matches(&state, media_id, query.as_deref()) =>
        {
            // Meta: with phone_number_id, the call is processed only when the media was
            // uploaded on that number.
            meta_error(
                400,
                100,
                "(#100) Invalid parameter",
                Some("The media does not belong to phone_number_id"),
            )
        }
        ("GET", [_, media_id]) => match state.media.lock().unwrap().get(*media_id) {
            Some((bytes, mime, _)) => json_response(
                200,
                json!({
                    "messaging_product": "whatsapp",
                    "url": format!("{}/_media/{media_id}", state.base_url),
                    "mime_type": mime,
                    "sha256": hex::encode(sha256(bytes)),
                    "file_size": bytes.len(),
                    "id": media_id,
                }),
            ),
            None => meta_error(
                400,
                100,
                "Unsupported get request. Object with ID does not exist",
                None,
            ),
        },
        ("DELETE", [_, media_id]) => match state.media.lock().unwrap().remove(*media_id) {
            Some(_) => json_response(200, json!({"success": true})),
            None => meta_error(400, 100, "Unsupported delete request", None),
        },
        _ => meta_error(400, 100, "Unsupported request", None),
    }
}
