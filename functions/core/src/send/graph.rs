//! The Graph-compatible pass-through: ownership checked, the gateway's `callback_url`
//! extension taken out, Meta's answer returned unchanged.

use serde_json::Value;

use crate::Error;
use crate::ports::{
    GraphApi, GraphRequest, HttpMethod, IdempotencyStore, MessageStore, OwnerKind, TenantDirectory,
};
use crate::query::Query;
use crate::tenant::Tenant;

use super::SendService;
use super::response::{ApiResponse, is_success, parse_json_object};
use super::route::GraphRoute;

/// One request on a Graph-compatible route.
#[derive(Debug, Clone, Copy)]
pub struct GraphCall<'a> {
    pub method: HttpMethod,
    pub version: &'a str,
    pub route: &'a GraphRoute,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    /// A Graph-compatible call: ownership checked, the gateway's `callback_url` extension
    /// taken out, Meta's answer returned unchanged.
    pub async fn graph(
        &self,
        tenant: &Tenant,
        call: GraphCall<'_>,
        now: i64,
    ) -> Result<ApiResponse, Error> {
        let GraphCall {
            method,
            version,
            route,
            query,
            content_type,
            body,
        } = call;
        // Checked and forwarded as the same decoded pairs: no spelling of a key can reach Meta
        // unchecked.
        let query = Query::parse(query);
        let with_query = |path: String| query.append_to(path);
        let mut request = GraphRequest {
            method,
            path_and_query: String::new(),
            content_type: content_type.map(str::to_owned),
            body: body.to_vec(),
        };
        match route {
            GraphRoute::Messages { phone_number_id } => {
                self.require_owner(tenant, OwnerKind::Phone, phone_number_id)
                    .await?;
                let mut map = parse_json_object(body)?;
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
                request.path_and_query =
                    with_query(format!("/{version}/{phone_number_id}/messages"));
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
            GraphRoute::Templates { waba_id } => {
                self.require_owner(tenant, OwnerKind::Waba, waba_id).await?;
                request.path_and_query =
                    with_query(format!("/{version}/{waba_id}/message_templates"));
                let response = self.graph.call(request).await?;
                if is_success(response.status)
                    && let Ok(v) = serde_json::from_slice::<Value>(&response.body)
                {
                    let listed = v["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t["id"].as_str());
                    let created = v["id"].as_str();
                    let ids: Vec<String> = listed.chain(created).map(str::to_owned).collect();
                    self.remember_owned(tenant, OwnerKind::Template, ids).await;
                }
                Ok(ApiResponse::from_graph(response))
            }
            GraphRoute::TemplateEdit { template_id } => {
                self.require_owner(tenant, OwnerKind::Template, template_id)
                    .await?;
                request.path_and_query = with_query(format!("/{version}/{template_id}"));
                Ok(ApiResponse::from_graph(self.graph.call(request).await?))
            }
            GraphRoute::MediaUpload { phone_number_id } => {
                self.require_owner(tenant, OwnerKind::Phone, phone_number_id)
                    .await?;
                request.path_and_query = with_query(format!("/{version}/{phone_number_id}/media"));
                let response = self.graph.call(request).await?;
                if is_success(response.status)
                    && let Some(id) = serde_json::from_slice::<Value>(&response.body)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned))
                {
                    self.remember_owned(tenant, OwnerKind::Media, [id]).await;
                }
                Ok(ApiResponse::from_graph(response))
            }
            GraphRoute::Media { media_id } => {
                self.require_media(tenant, media_id, &query).await?;
                request.path_and_query = with_query(format!("/{version}/{media_id}"));
                Ok(ApiResponse::from_graph(self.graph.call(request).await?))
            }
        }
    }
}
