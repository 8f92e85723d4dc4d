//! The local stack's WebSocket route, playing API Gateway's WebSocket API: `GET /ws?token=…`
//! runs the same `$connect` check the realtime function runs (a refusal is an HTTP 403, as API
//! Gateway answers it), a close runs `$disconnect`, and the forwarder's posts reach the socket
//! through an in-process registry standing in for `PostToConnection`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gateway_core::realtime::{ConnectionId, Posted, Poster, Refusal, is_ping};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The path clients connect to.
pub const WS_PATH: &str = "/ws";

/// The same service the realtime function runs.
pub type LocalRealtime = gateway_aws::realtime::AwsRealtime;

/// Open sockets by connection id: the local `PostToConnection`.
#[derive(Clone, Default)]
pub struct Registry {
    sockets: Arc<Mutex<HashMap<ConnectionId, mpsc::UnboundedSender<Message>>>>,
}

impl Registry {
    fn insert(&self, id: ConnectionId, to: mpsc::UnboundedSender<Message>) {
        self.sockets.lock().unwrap().insert(id, to);
    }

    fn remove(&self, id: &ConnectionId) {
        self.sockets.lock().unwrap().remove(id);
    }

    /// How many sockets are open.
    pub fn len(&self) -> usize {
        self.sockets.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Poster for Registry {
    async fn post(&self, id: &ConnectionId, frame: &[u8]) -> Posted {
        let Ok(text) = String::from_utf8(frame.to_vec()) else {
            return Posted::Failed("a frame that is not UTF-8".into());
        };
        let sockets = self.sockets.lock().unwrap();
        match sockets.get(id) {
            Some(to) if to.send(Message::Text(text.into())).is_ok() => Posted::Sent,
            _ => Posted::Gone,
        }
    }
}

fn plain(status: http::StatusCode, text: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

/// The one `token` of the query; two are none (API Gateway would keep the last, this server
/// the first: neither is guessed).
fn token_of(uri: &http::Uri) -> Option<String> {
    let mut tokens = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let token = tokens.next();
    if tokens.next().is_some() {
        return None;
    }
    token
}

type Socket = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A registry entry whose socket task has not taken it over yet.
struct Pending {
    registry: Registry,
    id: Option<ConnectionId>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.registry.remove(&id);
        }
    }
}

async fn upgrade(
    realtime: Arc<LocalRealtime>,
    registry: Registry,
    sockets: mpsc::UnboundedSender<Socket>,
    mut req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let is_upgrade = req
        .headers()
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = req.headers().get("sec-websocket-key").cloned();
    let (true, Some(key), WS_PATH) = (is_upgrade, key, req.uri().path()) else {
        return Ok(plain(
            http::StatusCode::NOT_FOUND,
            "WebSocket upgrades on /ws only",
        ));
    };
    let id = ConnectionId(hex::encode(rand::random::<[u8; 10]>()));
    let token = token_of(req.uri());
    // In the registry before it is recorded, so a post in between is queued, not `Gone`.
    let (to_socket, mut outgoing) = mpsc::unbounded_channel();
    registry.insert(id.clone(), to_socket);
    // Should the client go away before the upgrade completes, the entry goes with it.
    let pending = Pending {
        registry: registry.clone(),
        id: Some(id.clone()),
    };
    if let Err(refusal) = realtime
        .connect(token.as_deref(), &id, gateway_aws::now())
        .await
    {
        tracing::info!(reason = %refusal, "real-time connection refused");
        let status = match refusal {
            Refusal::Unavailable(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
            _ => http::StatusCode::FORBIDDEN,
        };
        return Ok(plain(status, "refused"));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut pending = pending;
    pending.id = None;
    let _ = sockets.send(Box::pin(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut socket =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            loop {
                tokio::select! {
                    frame = outgoing.recv() => {
                        let Some(frame) = frame else { break };
                        if socket.send(frame).await.is_err() {
                            break;
                        }
                    }
                    incoming = socket.next() => match incoming {
                        // A keepalive for clients that cannot send ping frames (browsers).
                        Some(Ok(Message::Text(text))) if is_ping(text.as_str()) => {
                            if socket.send(Message::text(r#"{"type":"pong"}"#)).await.is_err() {
                                break;
                            }
                        }
                        // Ping frames are answered by the protocol layer.
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
        }
        registry.remove(&id);
        if let Err(e) = realtime.disconnect(&id).await {
            tracing::warn!(error = %e, "could not forget a closed connection");
        }
    }));
    let mut response = plain(http::StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = response.headers_mut();
    headers.insert(http::header::UPGRADE, "websocket".parse().unwrap());
    headers.insert(http::header::CONNECTION, "Upgrade".parse().unwrap());
    headers.insert(
        "sec-websocket-accept",
        derive_accept_key(key.as_bytes()).parse().unwrap(),
    );
    Ok(response)
}

/// Serves WebSocket upgrades on `listener` until dropped; dropping also closes every socket.
pub async fn serve(listener: TcpListener, realtime: Arc<LocalRealtime>, registry: Registry) {
    let mut connections = JoinSet::new();
    // Upgraded sockets outlive their HTTP connection's task; they are held here, so dropping
    // this future closes them too.
    let mut sockets = JoinSet::new();
    let (spawn, mut to_spawn) = mpsc::unbounded_channel::<Socket>();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            Some(socket) = to_spawn.recv() => {
                sockets.spawn(socket);
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        while sockets.try_join_next().is_some() {}
        let (realtime, registry, spawn) = (realtime.clone(), registry.clone(), spawn.clone());
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                upgrade(realtime.clone(), registry.clone(), spawn.clone(), req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}
