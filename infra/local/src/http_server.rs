//! A minimal HTTP/1.1 server on loopback that hands each request to a handler of the same type
//! the Lambda functions take (`lambda_http::Request`), as API Gateway would.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lambda_http::{Body, Request, Response};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Put in a response's extensions, it makes the server drop the connection without answering
/// (fault tests use it to play a receiver whose connection resets).
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset on purpose")
    }
}

impl std::error::Error for Reset {}

/// Handlers that panicked in this process; tests that own receivers can check it stayed 0.
pub static HANDLER_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many handlers have panicked in this process so far.
pub fn handler_panics() -> usize {
    HANDLER_PANICS.load(std::sync::atomic::Ordering::SeqCst)
}

/// API Gateway refuses bodies over 10 MB; Lambda's own limit is 6 MB.
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// Binds 127.0.0.1 on `port` (0 for any free port).
pub async fn bind(port: u16) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

fn to_bytes(body: Body) -> Bytes {
    match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    }
}

async fn adapt<H, F>(
    handler: H,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Reset>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response<Body>>,
{
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut too_large = hyper::Response::new(Full::new(Bytes::from_static(
                br#"{"message":"Request Entity Too Large"}"#,
            )));
            *too_large.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(too_large);
        }
    };
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    // A handler that panics (an assertion inside a test receiver) must not vanish with its
    // connection: it is said on stderr, counted, and answered 500, so the caller sees it fail.
    let response = match AssertUnwindSafe(handler(Request::from_parts(parts, body)))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            eprintln!("*** an HTTP handler panicked: {message}");
            HANDLER_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut failed = hyper::Response::new(Full::new(Bytes::from(format!(
                "handler panicked: {message}"
            ))));
            *failed.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            return Ok(failed);
        }
    };
    if response.extensions().get::<ResetConnection>().is_some() {
        return Err(Reset);
    }
    let (parts, body) = response.into_parts();
    Ok(hyper::Response::from_parts(
        parts,
        Full::new(to_bytes(body)),
    ))
}

/// Serves `handler` on `listener` until the returned future is dropped or aborted; dropping it
/// also ends every open connection.
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let handler = handler.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| adapt(handler.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
