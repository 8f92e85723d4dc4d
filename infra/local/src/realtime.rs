//! The local stack's WebSocket route, playing API Gateway's WebSocket API in front of the
//! realtime function's own handler: `GET /ws?token=…` is its `$connect` (a refusal is the HTTP
//! status it answers: 403, 429 for a tenant at its bound, 500), each text or binary frame its
//! `$default` (counted, answered with a pong, closed when too fast), a close its
//! `$disconnect`. The handler's and the forwarder's posts reach the socket through an
//! in-process registry standing in for `PostToConnection`.
//! The registry also closes sockets (`DeleteConnection`), in process or for a management-API
//! client such as `gatewayctl realtime revoke`: `DELETE /ws/@connections/{id}` (loopback only,
//! unauthenticated like everything of the local stack).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gateway_aws::Gateway;
use gateway_aws::realtime::ApiGatewayPoster;
use gateway_core::realtime::{Closer, ConnectionId, Posted, Poster};
use gateway_realtime::RealtimeApp;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

/// The path clients connect to.
pub const WS_PATH: &str = "/ws";
/// Under [`WS_PATH`]: the management API's `DELETE @connections/{id}` (`DeleteConnection`).
const CONNECTIONS_PATH: &str = "/ws/@connections/";

/// The close frame of a connection the gateway ends (1008: policy violation).
fn closing() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Policy,
        reason: "closed by the gateway".into(),
    }))
}

/// The realtime function's app, posting through the registry.
pub type LocalRealtime = RealtimeApp<Gateway<LocalPoster>>;

/// Where the local stack's posts go: the in-process sockets, or (a test of a management API
/// that is down) API Gateway's management API.
#[derive(Clone)]
pub enum LocalPoster {
    Sockets(Registry),
    Api(ApiGatewayPoster),
}

impl Poster for LocalPoster {
    async fn post(&self, id: &ConnectionId, frame: &[u8]) -> Posted {
        match self {
            LocalPoster::Sockets(registry) => registry.post(id, frame).await,
            LocalPoster::Api(api) => api.post(id, frame).await,
        }
    }
}

impl Closer for LocalPoster {
    async fn close(&self, id: &ConnectionId) -> Result<(), gateway_core::Error> {
        match self {
            LocalPoster::Sockets(registry) => registry.close(id).await,
            LocalPoster::Api(api) => api.close(id).await,
        }
    }
}

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

    /// Closes the socket of `id` (its task sends the close frame and runs `$disconnect`);
    /// `false` when there is none.
    pub fn close_socket(&self, id: &ConnectionId) -> bool {
        let removed = self.sockets.lock().unwrap().remove(id);
        removed.is_some_and(|to| to.send(closing()).is_ok())
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

impl Closer for Registry {
    /// A socket that is not open counts as closed, as `DeleteConnection`'s 410 does.
    async fn close(&self, id: &ConnectionId) -> Result<(), gateway_core::Error> {
        self.close_socket(id);
        Ok(())
    }
}

fn plain(status: http::StatusCode, text: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

/// The `$connect` event API Gateway hands the realtime function: the query's `token`s as it
/// lists them (the last in `queryStringParameters`, all in `multiValueQueryStringParameters`).
fn connect_event(id: &ConnectionId, uri: &http::Uri) -> Value {
    let tokens: Vec<String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .filter(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .collect();
    let mut event =
        json!({"requestContext": {"routeKey": "$connect", "connectionId": id.as_str()}});
    if let Some(last) = tokens.last() {
        event["queryStringParameters"] = json!({ "token": last });
        event["multiValueQueryStringParameters"] = json!({ "token": tokens });
    }
    event
}

/// Another route's event for connection `id` (`connected_at`: unix milliseconds).
fn route_event(route: &str, id: &ConnectionId, connected_at: i64, body: Option<&str>) -> Value {
    json!({
        "requestContext": {"routeKey": route, "connectionId": id.as_str(), "connectedAt": connected_at},
        "body": body,
    })
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

/// `DELETE /ws/@connections/{id}`, as API Gateway's management API answers it: 204, or 410
/// `GoneException` when the connection is not open.
fn delete_connection(registry: &Registry, id: &str) -> hyper::Response<Full<Bytes>> {
    if registry.close_socket(&ConnectionId::new(id)) {
        return plain(http::StatusCode::NO_CONTENT, "");
    }
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(
        br#"{"message":"GoneException"}"#,
    )));
    *response.status_mut() = http::StatusCode::GONE;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "x-amzn-errortype",
        http::HeaderValue::from_static("GoneException"),
    );
    response
}

async fn upgrade(
    realtime: Arc<LocalRealtime>,
    registry: Registry,
    sockets: mpsc::UnboundedSender<Socket>,
    mut req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    if *req.method() == http::Method::DELETE
        && let Some(id) = req.uri().path().strip_prefix(CONNECTIONS_PATH)
    {
        return Ok(delete_connection(&registry, id));
    }
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
    let id = ConnectionId::new(hex::encode(rand::random::<[u8; 10]>()));
    // In the registry before it is recorded, so a post in between is queued, not `Gone`.
    let (to_socket, mut outgoing) = mpsc::unbounded_channel();
    registry.insert(id.clone(), to_socket);
    // Should the client go away before the upgrade completes, the entry goes with it.
    let pending = Pending {
        registry: registry.clone(),
        id: Some(id.clone()),
    };
    let answer = gateway_realtime::handle(&realtime, &connect_event(&id, req.uri())).await;
    let status = answer["statusCode"].as_u64().unwrap_or(500) as u16;
    if status != 200 {
        let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::FORBIDDEN);
        return Ok(plain(status, "refused"));
    }
    let connected_at = gateway_aws::now_ms();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut pending = pending;
    pending.id = None;
    let _ = sockets.send(Box::pin(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut socket =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            loop {
                tokio::select! {
                    // The gateway's frames first: a close for a client too fast goes out before
                    // any more of its frames are read.
                    biased;
                    frame = outgoing.recv() => {
                        // Closed by the registry: the close frame comes last.
                        let Some(frame) = frame else { break };
                        let last = matches!(frame, Message::Close(_));
                        if socket.send(frame).await.is_err() || last {
                            break;
                        }
                    }
                    incoming = socket.next() => match incoming {
                        // Each data frame is one `$default`: the handler counts it, answers a
                        // ping and closes a client too fast, all through the registry.
                        Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                            let body = match &message {
                                Message::Text(text) => Some(text.as_str()),
                                _ => None,
                            };
                            let event = route_event("$default", &id, connected_at, body);
                            gateway_realtime::handle(&realtime, &event).await;
                        }
                        // Ping frames are answered by the protocol layer.
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
        }
        registry.remove(&id);
        gateway_realtime::handle(
            &realtime,
            &route_event("$disconnect", &id, connected_at, None),
        )
        .await;
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
