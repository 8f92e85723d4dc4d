//! The Graph-compatible pass-through, driven by the route table: the object the path names
//! must be the tenant's, the gateway's `callback_url` extension is taken out, ids in Meta's
//! answers are learnt as the tenant's, and a media `url` is pointed at the gateway.

use serde_json::Value;

use crate::Error;
use crate::ports::{
    GraphApi, GraphRequest, GraphResponse, HttpMethod, IdempotencyStore, MessageStore, OwnerKind,
    TenantDirectory,
};
use crate::query::Query;
use crate::tenant::Tenant;

use super::SendService;
use super::body::{BodyParams, Param};
use super::response::is_success;
use crate::http::ApiResponse;
use crate::http::graph_route::{Action, GraphRoute, WEBHOOK_OVERRIDE_REFUSED};

/// One request on a Graph-compatible route.
#[derive(Debug, Clone, Copy)]
pub struct GraphCall<'a> {
    pub method: HttpMethod,
    pub route: &'a GraphRoute,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// The gateway's base URL as the tenant reached it (`https://host`): a media `url` in
    /// Meta's answer is pointed there, so the SDK fetches it with the same API key.
    pub public_base: &'a str,
}

/// The ids of a list (`data[].id`) or a create (`id`) in Meta's answer.
fn answered_ids(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let listed = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str());
    listed.chain(v["id"].as_str()).map(str::to_owned).collect()
}

/// What the ownership check found for a route's id.
enum Resolved {
    Owned(OwnerKind),
    /// No tenant's, on a media route with one of the tenant's numbers named.
    UnseenMedia,
}

/// Whether Meta's answer describes the media `id`: WhatsApp's media shape, this id, a `url`,
/// `mime_type` and `sha256`.
pub(super) fn is_media_description(body: &[u8], id: &str) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| {
        v["messaging_product"] == "whatsapp"
            && v["id"] == id
            && ["url", "mime_type", "sha256"]
                .iter()
                .all(|field| v[field].is_string())
    })
}

/// Meta's media description with `url` pointed at the gateway's download route.
fn point_media_url_at_gateway(body: &[u8], download: &str) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    v.get("url")?.as_str()?;
    v["url"] = Value::String(download.to_owned());
    Some(v.to_string().into_bytes())
}

/// Keys that would move webhooks away from the gateway (`POST /{phone}` with
/// `webhook_configuration`, an app subscription's `override_callback_uri`): no route takes
/// them, in the query or the body, however spelled.
const WEBHOOK_KEYS: [&str; 2] = ["webhook_configuration", "override_callback_uri"];

/// Ids a request names besides its path, and the kind the tenant must own them as. Checked on
/// every route, in the query and in the body alike.
const NAMED_IDS: [(&str, OwnerKind); 2] = [
    // `DELETE /{waba}/message_templates?name=..&hsm_id=..`
    ("hsm_id", OwnerKind::Template),
    // `POST /{waba}/flows` with `clone_flow_id`
    ("clone_flow_id", OwnerKind::Flow),
];

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    /// A Graph-compatible call: refused, or checked and forwarded with the gateway's token.
    pub async fn graph(
        &self,
        tenant: &Tenant,
        call: GraphCall<'_>,
        now: i64,
    ) -> Result<ApiResponse, Error> {
        let route = call.route;
        if let Action::Refuse(why) = route.rule.action {
            return Err(Error::Forbidden(why));
        }
        // Checked and forwarded as the same decoded pairs: no spelling of a key can reach Meta
        // unchecked.
        let query = Query::for_meta(call.query)?;
        // Read once, as Meta could read it; a body the gateway cannot read is refused before
        // anything else, Meta included, sees it.
        let body = BodyParams::read(call.content_type, call.body)?;
        refuse_keys(&query, &body)?;
        self.require_named_ids(tenant, &query, &body).await?;
        let path_and_query = query.append_to(route.meta_path(&self.graph_version));
        let (subject, probed) = match self.resolve(tenant, route, &query).await? {
            Resolved::Owned(kind) => (kind, None),
            Resolved::UnseenMedia => {
                let phone = query
                    .values_any_case("phone_number_id")
                    .next()
                    .unwrap_or_default();
                let description = self.probe_media(tenant, route, phone).await?;
                (OwnerKind::Media, Some(description))
            }
        };
        let request = GraphRequest {
            method: call.method,
            path_and_query,
            content_type: call.content_type.map(str::to_owned),
            body: call.body.to_vec(),
        };
        if route.rule.action == Action::Send {
            self.refuse_foreign_media_in_query(tenant, &query).await?;
            let Some(json) = body.into_json() else {
                return Err(Error::invalid_body(
                    "invalid_body",
                    "the body must be a JSON object",
                ));
            };
            return self
                .forward_send(tenant, &route.id, json, request, now)
                .await;
        }
        let mut response = match probed {
            // The probe was this very GET.
            Some(description) if call.method == HttpMethod::Get => description,
            _ => self.graph.call(request).await?,
        };
        if !is_success(response.status) {
            return Ok(ApiResponse::from_graph(response));
        }
        match route.rule.action {
            Action::Upload => {
                let ids = answered_ids(&response.body);
                self.remember_owned(tenant, OwnerKind::Media, ids).await;
            }
            Action::Learn(kind) => {
                let ids = answered_ids(&response.body);
                self.remember_owned(tenant, kind, ids).await;
            }
            Action::Describe if subject == OwnerKind::Media => {
                let download = query.append_to(format!(
                    "{}/v1/media/{}",
                    call.public_base.trim_end_matches('/'),
                    route.id
                ));
                if let Some(body) = point_media_url_at_gateway(&response.body, &download) {
                    response.body = body;
                }
            }
            _ => {}
        }
        Ok(ApiResponse::from_graph(response))
    }

    /// Every id the query or the body names in [`NAMED_IDS`] must be the tenant's as well. A
    /// value that is not one id (a list, an object, a file) is refused: Meta might read an id
    /// in it.
    async fn require_named_ids(
        &self,
        tenant: &Tenant,
        query: &Query,
        body: &BodyParams,
    ) -> Result<(), Error> {
        for (key, kind) in NAMED_IDS {
            let in_body = match body.get(key) {
                None => None,
                Some(Param::Value(Value::String(s))) => Some(s.clone()),
                // An integer only: a float is checked as its rounding, Meta may read the digits.
                Some(Param::Value(Value::Number(n))) if n.is_u64() => Some(n.to_string()),
                Some(_) => {
                    return Err(Error::invalid(
                        "invalid_id",
                        key,
                        format!("`{key}` must be one numeric id"),
                    ));
                }
            };
            let in_query = query
                .keys()
                .filter(|k| k.eq_ignore_ascii_case(key))
                .flat_map(|k| query.values(k))
                .map(str::to_owned)
                .collect::<Vec<_>>();
            for id in in_query.into_iter().chain(in_body) {
                let id = crate::http::graph_route::numeric_id(&id, key)?;
                self.require_owner(tenant, kind, &id).await?;
            }
        }
        Ok(())
    }

    /// What the route's id is for this tenant: the first of the rule's subjects it owns. An id
    /// no tenant has, on a media route that names one of the tenant's numbers as
    /// `phone_number_id`, may be media received on that number: Meta is asked first
    /// (`probe_media`). 403 otherwise, the same whether or not the id exists.
    async fn resolve(
        &self,
        tenant: &Tenant,
        route: &GraphRoute,
        query: &Query,
    ) -> Result<Resolved, Error> {
        let named_phones = self.require_named_phones(tenant, query).await?;
        // One Meta object: held by anyone else as any kind, it is not this tenant's.
        let held = self.held_kinds(tenant, &route.id).await?;
        if let Some(&kind) = route.rule.subjects.iter().find(|k| held.contains(k)) {
            return Ok(Resolved::Owned(kind));
        }
        if held.is_empty() && route.rule.subjects.contains(&OwnerKind::Media) && named_phones > 0 {
            return Ok(Resolved::UnseenMedia);
        }
        Err(Error::Forbidden("this API key may not use that id"))
    }

    /// Asks Meta for an id no tenant holds, with only the tenant's `phone_number_id` in the
    /// query (nothing of the tenant's own query goes along). Meta answers a media id so only
    /// when the media belongs to that number, but any other object ignores the parameter: only
    /// an answer that describes this very media ties the id to the tenant, which then owns it.
    /// Anything else is 403, whatever Meta said, so the probe tells nobody what an id is.
    async fn probe_media(
        &self,
        tenant: &Tenant,
        route: &GraphRoute,
        phone: &str,
    ) -> Result<GraphResponse, Error> {
        let version = route.version.as_deref().unwrap_or(&self.graph_version);
        let probe = self
            .graph
            .call(GraphRequest {
                method: HttpMethod::Get,
                path_and_query: format!("/{version}/{}?phone_number_id={phone}", route.id),
                content_type: None,
                body: Vec::new(),
            })
            .await?;
        // Meta's refusal is not passed on: it would say whether the id exists.
        if !is_success(probe.status) || !is_media_description(&probe.body, &route.id) {
            return Err(Error::Forbidden("this API key may not use that id"));
        }
        self.remember_owned(tenant, OwnerKind::Media, [route.id.clone()])
            .await;
        Ok(probe)
    }

    /// A send on `POST /{phone}/messages`: the gateway's `callback_url` taken out, the message
    /// recorded when Meta accepts it.
    /// Meta may read a send's parameters from its query too (`?image={"id":..}`): each value
    /// that is JSON is checked as the body is.
    async fn refuse_foreign_media_in_query(
        &self,
        tenant: &Tenant,
        query: &Query,
    ) -> Result<(), Error> {
        for key in query.keys() {
            for value in query.values(key) {
                let parsed =
                    serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
                let one = serde_json::Map::from_iter([(key.to_owned(), parsed)]);
                self.refuse_foreign_media(tenant, &one).await?;
            }
        }
        Ok(())
    }

    async fn forward_send(
        &self,
        tenant: &Tenant,
        phone_number_id: &str,
        mut map: serde_json::Map<String, Value>,
        mut request: GraphRequest,
        now: i64,
    ) -> Result<ApiResponse, Error> {
        self.refuse_foreign_media(tenant, &map).await?;
        let callback = match map.remove("callback_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(url)) => self.parse_callback(tenant, Some(&url))?,
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_callback_url",
                    "callback_url",
                    "callback_url must be a string",
                ));
            }
        };
        let to = map
            .get("to")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if callback.is_some() {
            request.body = Value::Object(map).to_string().into_bytes();
            request.content_type = Some("application/json".to_owned());
        }
        let response = self.graph.call(request).await?;
        if is_success(response.status) {
            self.record_sent(
                tenant,
                phone_number_id,
                &to,
                callback.as_ref(),
                &response,
                now,
            )
            .await;
        }
        Ok(ApiResponse::from_graph(response))
    }
}

/// Refuses the keys no route passes to Meta, in the query (already decoded) and the body (read
/// above), compared without case: the webhook keys (403) and Graph's own request machinery
/// (400, as in the query).
fn refuse_keys(query: &Query, body: &BodyParams) -> Result<(), Error> {
    for key in query.keys().chain(body.keys()) {
        if WEBHOOK_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            return Err(Error::Forbidden(WEBHOOK_OVERRIDE_REFUSED));
        }
    }
    for key in body.keys() {
        if crate::query::is_refused_key(key) {
            return Err(Error::invalid(
                "forbidden_body_key",
                key,
                format!("the body key `{key}` is not passed to Meta"),
            ));
        }
        match body.get(key) {
            Some(Param::Value(Value::String(value))) => {
                crate::query::check_fields(key, value, "forbidden_body_key")?;
            }
            _ if key.eq_ignore_ascii_case("fields") => {
                return Err(Error::invalid(
                    "forbidden_body_key",
                    key,
                    "`fields` in a body must be a string",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
