//! A fake of Meta's Graph API for the local stack and the tests. It answers sends, templates and
//! media the way Meta does, refuses on demand with Meta's errors, and after each accepted send
//! posts signed `sent`, `delivered` and `read` webhooks back to the gateway.
//!
//! Recipients choose the behaviour by their last digits:
//! - `...131047`: 400 with error 131047 (re-engagement window closed), every time;
//! - `...130429`: 400 with error 130429 (throughput, as Meta answers it) the first time, then
//!   accepted;
//! - `...500`: 500 with Meta's unknown error, every time;
//! - `...5555`: accepted, but only after 3 s (a send still in flight);
//! - `...0504`: accepted, but only after 11 s (longer than the gateway waits for Meta);
//! - `...0666`: taken in, then the connection is dropped without an answer.
//!
//! As Meta does, it answers only for the accounts its token can see: the WABAs and phone numbers
//! it was started with (one token for every tenant, as the gateway's system user token is).
//! Anything else is Meta's "object does not exist" error, and so is a template or media id it
//! never handed out.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_core::signature::{Secret, constant_time_eq, sign_hub};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::http_server;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: Vec<u8>,
}

/// An uploaded file: bytes, mime type, and the phone number it was uploaded on.
type StoredMedia = (Vec<u8>, String, String);

/// Template name -> id, per WABA.
type Templates = HashMap<String, HashMap<String, String>>;

struct State {
    access_token: Secret,
    app_secret: Secret,
    /// The phone numbers the token can use, and the WABA each belongs to.
    phones: HashMap<String, String>,
    templates: Mutex<Templates>,
    /// QR code -> (phone number, prefilled message).
    qr_codes: Mutex<HashMap<String, (String, String)>>,
    /// Phone number -> its business profile's `about`.
    profiles: Mutex<HashMap<String, String>>,
    base_url: String,
    webhook_url: Mutex<Option<String>>,
    status_delay: Duration,
    counter: AtomicU64,
    throttled: Mutex<HashSet<String>>,
    media: Mutex<HashMap<String, StoredMedia>>,
    seen: Mutex<Vec<SeenRequest>>,
    http: reqwest::Client,
}

pub struct FakeGraph {
    pub url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FakeGraph {
    /// Serves on 127.0.0.1:`port` (0 for any free port) the `accounts` its token can see:
    /// `(waba_id, [phone_number_id])`. Each WABA starts with an approved `hello_world`.
    pub async fn start(
        port: u16,
        access_token: Secret,
        app_secret: Secret,
        accounts: &[(&str, &[&str])],
    ) -> anyhow::Result<FakeGraph> {
        let listener = http_server::bind(port).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let phones = accounts
            .iter()
            .flat_map(|(waba, phones)| phones.iter().map(|p| (p.to_string(), waba.to_string())))
            .collect();
        let templates = accounts
            .iter()
            .enumerate()
            .map(|(i, (waba, _))| {
                let hello = HashMap::from([(
                    "hello_world".to_owned(),
                    (1_234_567_890_123 + i as u64).to_string(),
                )]);
                (waba.to_string(), hello)
            })
            .collect();
        let state = Arc::new(State {
            access_token,
            app_secret,
            phones,
            templates: Mutex::new(templates),
            qr_codes: Mutex::default(),
            profiles: Mutex::default(),
            base_url: url.clone(),
            webhook_url: Mutex::new(None),
            status_delay: Duration::from_millis(300),
            counter: AtomicU64::new(1),
            throttled: Mutex::default(),
            media: Mutex::default(),
            seen: Mutex::default(),
            http: reqwest::Client::builder().no_proxy().build()?,
        });
        let shared = state.clone();
        let task = tokio::spawn(http_server::serve(listener, move |req| {
            handle(shared.clone(), req)
        }));
        Ok(FakeGraph { url, state, task })
    }

    /// Where status webhooks go (the gateway's `/webhook`); none are sent until this is set.
    pub fn set_webhook_url(&self, url: impl Into<String>) {
        *self.state.webhook_url.lock().unwrap() = Some(url.into());
    }

    /// Stores media as if uploaded on `phone` (for sizes no upload through a function carries);
    /// returns its id.
    pub fn add_media(&self, bytes: Vec<u8>, mime: &str, phone: &str) -> String {
        let id =
            (3_000_000_000_000 + self.state.counter.fetch_add(1, Ordering::Relaxed)).to_string();
        self.state
            .media
            .lock()
            .unwrap()
            .insert(id.clone(), (bytes, mime.to_owned(), phone.to_owned()));
        id
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json_response(status: u16, value: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Body::Text(value.to_string()))
        .expect("valid response")
}

fn meta_error(status: u16, code: i64, message: &str, details: Option<&str>) -> Response<Body> {
    let mut error = json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AFakeTraceId"});
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    json_response(status, json!({"error": error}))
}

async fn handle(state: Arc<State>, req: Request) -> Response<Body> {
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
    if !constant_time_eq(token, state.access_token.expose()) {
        return meta_error(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            None,
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
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

/// Whether every `phone_number_id` of the query is the number the media was uploaded on.
fn media_phone_matches(state: &State, media_id: &str, query: Option<&str>) -> bool {
    let media = state.media.lock().unwrap();
    let Some((_, _, uploaded_on)) = media.get(media_id) else {
        return true;
    };
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "phone_number_id")
        .all(|(_, v)| v == uploaded_on.as_str())
}

/// Business profile, QR codes and blocking on one phone number, in Meta's shapes.
fn phone_edge(
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

/// Meta's answer for an id the token cannot see or that does not exist (code 100, subcode 33).
fn no_such_object(verb: &str, id: &str) -> Response<Body> {
    let message = format!(
        "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    );
    json_response(
        400,
        json!({"error": {"message": message, "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "AFakeTraceId"}}),
    )
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

fn send_message(state: &Arc<State>, phone_number_id: &str, body: &[u8]) -> Response<Body> {
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

/// Takes the `file` part of a multipart upload, as Meta's media endpoint does.
fn upload_media(state: &Arc<State>, phone: &str, req: &Request, body: &[u8]) -> Response<Body> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_owned())
    else {
        return meta_error(400, 100, "(#100) The parameter file is required.", None);
    };
    let Some((bytes, mime)) = multipart_file(body, &boundary) else {
        return meta_error(400, 100, "(#100) The parameter file is required.", None);
    };
    let id = (3_000_000_000_000 + state.counter.fetch_add(1, Ordering::Relaxed)).to_string();
    state
        .media
        .lock()
        .unwrap()
        .insert(id.clone(), (bytes, mime, phone.to_owned()));
    json_response(200, json!({"id": id}))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn multipart_file(body: &[u8], boundary: &str) -> Option<(Vec<u8>, String)> {
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&rest[..headers_end]).to_ascii_lowercase();
        let content = &rest[headers_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes())?;
        if headers.contains("name=\"file\"") {
            let mime = headers
                .lines()
                .find_map(|l| l.strip_prefix("content-type:"))
                .map(|m| m.trim().to_owned())
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            return Some((content[..end].to_vec(), mime));
        }
        rest = &content[end..];
    }
    None
}
