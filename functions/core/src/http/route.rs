//! The one router: a request's method and path to what it asks for, for every function (API
//! Gateway's `$default` route hands everything over, and the local stack serves all paths on
//! one port). Reading a route is two steps, so a caller without an API key learns nothing about
//! ids: [`Route::parse`] tells the webhook from the tenant's API and refuses methods no route
//! takes; [`TenantPath::resolve`] reads the ids, after the key was checked.

use super::graph_route::GraphRoute;
use crate::Error;
use crate::ids::Wamid;
use crate::ports::HttpMethod;

/// Meta's callback path, served by the webhook function.
pub const WEBHOOK_PATH: &str = "/webhook";
/// The refusal of any other method on [`WEBHOOK_PATH`].
pub const WEBHOOK_METHODS: &str = "use GET or POST";
/// `/v1` paths answer in the gateway's shape; every other tenant path in Meta's.
const V1_PREFIX: &str = "/v1/";

/// What a request asks for, before any key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Webhook(WebhookCall),
    /// A path of the tenant's API: resolved once the caller is known.
    Tenant(TenantPath<'a>),
}

/// A request on [`WEBHOOK_PATH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookCall {
    /// `GET`: Meta's subscription check.
    Verify,
    /// `POST`: an event notification.
    Ingest,
    /// Anything else: 405, [`WEBHOOK_METHODS`].
    OtherMethod,
}

/// A tenant's request whose ids are not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantPath<'a> {
    pub method: HttpMethod,
    pub path: &'a str,
}

/// A tenant's request, ids read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRoute {
    /// `POST /v1/messages`
    SendSimple,
    /// `GET /v1/messages/{wamid}`
    MessageStatus(Wamid),
    /// `GET /v1/events`
    Events,
    /// `POST /v1/events/recover`
    Recover,
    /// `GET /v1/events/{id}`: the id as sent, read by the deliveries service.
    Event(String),
    /// `POST /v1/events/{id}/replay`
    Replay(String),
    /// `GET /v1/endpoint`
    Endpoint,
    /// `POST /v1/realtime/tokens`
    RealtimeToken,
    /// `GET /v1/media/{id}`
    Media(String),
    /// A Graph-compatible path (`/{version}/{id}/...`).
    Graph(GraphRoute),
}

impl HttpMethod {
    /// The methods some tenant route takes; any other is no route at all.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            "DELETE" => Some(HttpMethod::Delete),
            _ => None,
        }
    }
}

impl<'a> Route<'a> {
    /// `method` as HTTP spells it (`GET`), `path` without its query.
    pub fn parse(method: &str, path: &'a str) -> Result<Route<'a>, Error> {
        if path == WEBHOOK_PATH {
            return Ok(Route::Webhook(match method {
                "GET" => WebhookCall::Verify,
                "POST" => WebhookCall::Ingest,
                _ => WebhookCall::OtherMethod,
            }));
        }
        let method = HttpMethod::from_name(method).ok_or(Error::NotFound("unknown route"))?;
        Ok(Route::Tenant(TenantPath { method, path }))
    }
}

impl TenantPath<'_> {
    /// See [`graph_shaped`].
    pub fn graph_shaped(&self) -> bool {
        graph_shaped(self.path)
    }

    pub fn resolve(&self) -> Result<TenantRoute, Error> {
        use HttpMethod::{Get, Post};
        let Some(rest) = self.path.strip_prefix(V1_PREFIX) else {
            return GraphRoute::parse(self.method, self.path).map(TenantRoute::Graph);
        };
        let segments: Vec<&str> = rest.split('/').collect();
        Ok(match (self.method, segments.as_slice()) {
            (Post, ["messages"]) => TenantRoute::SendSimple,
            (Get, ["messages", id]) => {
                TenantRoute::MessageStatus(Wamid::parse(&percent_decoded(id)?, "wamid")?)
            }
            (Get, ["events"]) => TenantRoute::Events,
            (Post, ["events", "recover"]) => TenantRoute::Recover,
            (Get, ["events", id]) => TenantRoute::Event(percent_decoded(id)?),
            (Post, ["events", id, "replay"]) => TenantRoute::Replay(percent_decoded(id)?),
            (Get, ["endpoint"]) => TenantRoute::Endpoint,
            (Post, ["realtime", "tokens"]) => TenantRoute::RealtimeToken,
            (Get, ["media", id]) => TenantRoute::Media(percent_decoded(id)?),
            _ => return Err(Error::NotFound("unknown route")),
        })
    }
}

/// Whether errors on `path` answer in Meta's shape (every path but `/v1`), so SDKs parse them.
pub fn graph_shaped(path: &str) -> bool {
    !path.starts_with(V1_PREFIX)
}

/// A path segment as the tenant meant it (`wamid.HBg%3D` is `wamid.HBg=`).
fn percent_decoded(segment: &str) -> Result<String, Error> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::invalid("invalid_id", "id", "the id is not valid UTF-8"))
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
