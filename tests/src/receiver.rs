//! A tenant's webhook on loopback for the tests: it checks both signatures and records each
//! delivery.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_core::signature::{Secret, verify_hub_signature, verify_standard_webhook};
use gateway_local::http_server;
use lambda_http::{Body, Request, Response};
use tokio::task::JoinHandle;

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: Vec<u8>,
    pub webhook_id: String,
    pub hub_signature_ok: bool,
    pub standard_signature_ok: bool,
    pub user_agent: String,
    pub content_type: String,
    /// When the request arrived (before any hold).
    pub arrived: std::time::Instant,
}

/// A tenant's webhook on loopback: checks both signatures, records every delivery and answers
/// with the scripted statuses (the last one repeats).
pub struct Receiver {
    pub url: String,
    secret: Arc<Mutex<Secret>>,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<u16>>>,
    /// How long each request is held before it is answered (a hanging endpoint).
    delay: Arc<Mutex<Duration>>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts answering with `statuses`; `set_secret` tells it the tenant's secret.
    pub async fn start(statuses: Vec<u16>) -> Receiver {
        let listener = http_server::bind(0).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(statuses));
        let secret = Arc::new(Mutex::new(Secret::new("unset")));
        let shared_secret = secret.clone();
        let log = received.clone();
        let delay: Arc<Mutex<Duration>> = Arc::default();
        let shared_delay = delay.clone();
        let shared_script = script.clone();
        let task = tokio::spawn(http_server::serve(listener, move |req: Request| {
            let log = log.clone();
            let script = shared_script.clone();
            let secret = shared_secret.lock().unwrap().clone();
            let hold = *shared_delay.lock().unwrap();
            async move {
                let header = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let body = req.body().as_ref().to_vec();
                let entry = Received {
                    path: req.uri().path().to_owned(),
                    webhook_id: header("webhook-id"),
                    hub_signature_ok: verify_hub_signature(
                        std::slice::from_ref(&secret),
                        &body,
                        Some(&header("x-hub-signature-256")),
                    )
                    .is_ok(),
                    standard_signature_ok: verify_standard_webhook(
                        &secret,
                        &header("webhook-id"),
                        &header("webhook-timestamp"),
                        &body,
                        &header("webhook-signature"),
                    ),
                    user_agent: header("user-agent"),
                    content_type: header("content-type"),
                    body,
                    arrived: std::time::Instant::now(),
                };
                log.lock().unwrap().push(entry);
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
                let status = {
                    let mut s = script.lock().unwrap();
                    if s.len() > 1 { s.remove(0) } else { s[0] }
                };
                Response::builder()
                    .status(status)
                    .body(Body::Empty)
                    .unwrap()
            }
        }));
        Receiver {
            url,
            secret,
            received,
            script,
            delay,
            task,
        }
    }

    /// Answers with `statuses` from now on (the last one repeats).
    pub fn set_statuses(&self, statuses: Vec<u16>) {
        *self.script.lock().unwrap() = statuses;
    }

    /// Holds every request this long before answering.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = Secret::new(secret);
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries arrived (or panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} deliveries, got {}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
