//! Business profile, QR codes and blocking on a phone number, in Meta's shapes.

use std::sync::atomic::Ordering;

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use super::{State, json_response, meta_error, no_such_object};

/// Business profile, QR codes and blocking on one phone number, in Meta's shapes.
pub(super) fn phone_edge(
    state: &State,
    method: &str,
    path: &[&str],
    query: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let param = |key: &str| {
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let phone = path[0];
    match (method, &path[1..]) {
        ("GET", ["whatsapp_business_profile"]) => {
            let about = state
                .profiles
                .lock()
                .unwrap()
                .get(phone)
                .cloned()
                .unwrap_or_else(|| "Hello".to_owned());
            json_response(
                200,
                json!({"data": [{"about": about, "address": "1 Main St", "description": "A test business", "email": "hi@example.com", "profile_picture_url": "https://pps.whatsapp.net/v/t61/x.jpg", "websites": ["https://example.com/"], "vertical": "OTHER", "messaging_product": "whatsapp"}]}),
            )
        }
        ("POST", ["whatsapp_business_profile"]) => {
            if request["messaging_product"] != "whatsapp" {
                return meta_error(
                    400,
                    100,
                    "(#100) The parameter messaging_product is required.",
                    None,
                );
            }
            if let Some(about) = request["about"].as_str() {
                state
                    .profiles
                    .lock()
                    .unwrap()
                    .insert(phone.to_owned(), about.to_owned());
            }
            json_response(200, json!({"success": true}))
        }
        ("POST", ["message_qrdls"] | ["message_qrdls", _]) => {
            let message = request["prefilled_message"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| param("prefilled_message"));
            let Some(message) = message else {
                return meta_error(
                    400,
                    100,
                    "(#100) The parameter prefilled_message is required.",
                    None,
                );
            };
            let code = match &path[1..] {
                [_, code] => code.to_string(),
                _ => request["code"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        format!("QR{:010}", state.counter.fetch_add(1, Ordering::Relaxed))
                    }),
            };
            state
                .qr_codes
                .lock()
                .unwrap()
                .insert(code.clone(), (phone.to_owned(), message.clone()));
            json_response(200, qr_json(&code, &message))
        }
        ("GET", ["message_qrdls"]) => {
            let codes = state.qr_codes.lock().unwrap();
            let data: Vec<Value> = codes
                .iter()
                .filter(|(_, (p, _))| p == phone)
                .map(|(c, (_, m))| qr_json(c, m))
                .collect();
            json_response(200, json!({"data": data}))
        }
        ("GET" | "DELETE", ["message_qrdls", code]) => {
            let mut codes = state.qr_codes.lock().unwrap();
            match codes.get(*code).filter(|(p, _)| p == phone).cloned() {
                Some((_, message)) if method == "GET" => {
                    json_response(200, json!({"data": [qr_json(code, &message)]}))
                }
                Some(_) => {
                    codes.remove(*code);
                    json_response(200, json!({"success": true}))
                }
                None => no_such_object(&method.to_lowercase(), code),
            }
        }
        ("POST" | "DELETE", ["block_users"]) => {
            let users: Vec<Value> = request["block_users"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u["user"].as_str())
                .map(|u| json!({"input": u, "wa_id": u.trim_start_matches('+')}))
                .collect();
            if users.is_empty() {
                return meta_error(
                    400,
                    100,
                    "(#100) The parameter block_users is required.",
                    None,
                );
            }
            let key = if method == "POST" {
                "added_users"
            } else {
                "removed_users"
            };
            json_response(
                200,
                json!({"messaging_product": "whatsapp", "block_users": {key: users}}),
            )
        }
        ("GET", ["block_users"]) => json_response(
            200,
            json!({"data": [], "paging": {"cursors": {"before": "", "after": ""}}}),
        ),
        _ => meta_error(400, 100, "Unsupported request", None),
    }
}

fn qr_json(code: &str, message: &str) -> Value {
    json!({"code": code, "prefilled_message": message, "deep_link_url": format!("https://wa.me/message/{code}"), "qr_image_url": format!("https://scontent.example/qr/{code}.png")})
}
