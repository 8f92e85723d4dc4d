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
//! never handed out. It also plays Meta's webhook configuration: the app [`APP_ID`] subscribes
//! with its app access token (the fake calls the callback's verification first), WABAs
//! subscribe the app, and `/me` answers for the token.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_core::signature::Secret;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::http_server;

mod account;
mod media;
mod messages;
mod router;
mod webhooks;

/// The Meta app the fake's tokens belong to: its app access token is `{APP_ID}|{app secret}`.
pub const APP_ID: &str = "1234567890";

use router::handle;

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
    /// The app's `whatsapp_business_account` subscription, once made.
    app_subscription: Mutex<Option<Value>>,
    /// The WABAs that subscribed the app.
    subscribed_wabas: Mutex<HashSet<String>>,
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
            app_subscription: Mutex::default(),
            subscribed_wabas: Mutex::default(),
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
