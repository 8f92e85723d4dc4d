//! Media: whose a media id is, and `GET /v1/media/{id}`.

use serde_json::Value;

use crate::Error;
use crate::ports::{
    GraphApi, GraphRequest, HttpMethod, IdempotencyStore, MessageStore, OwnerKind, TenantDirectory,
};
use crate::query::Query;
use crate::tenant::Tenant;

use super::SendService;
use super::response::{ApiResponse, content_type, is_success, meta_error_v1};
use super::route::numeric_id;

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    /// A media id is the tenant's when it was uploaded or received on one of its numbers, or
    /// when the request names one of its numbers as `phone_number_id` (Meta then checks the
    /// media belongs to that number).
    pub(super) async fn require_media(
        &self,
        tenant: &Tenant,
        media_id: &str,
        query: &Query,
    ) -> Result<(), Error> {
        // Every phone_number_id the request names goes to Meta, so every one must be the
        // tenant's, whether or not the media is.
        let phones: Vec<&str> = query.values("phone_number_id").collect();
        for phone in &phones {
            self.require_owner(
                tenant,
                OwnerKind::Phone,
                &numeric_id(phone, "phone_number_id")?,
            )
            .await?;
        }
        let owned = self
            .tenants
            .owner(OwnerKind::Media, media_id)
            .await?
            .as_ref()
            == Some(&tenant.id);
        // Media the gateway has not seen is reachable only with one of the tenant's numbers,
        // which Meta then checks the media belongs to.
        if owned || !phones.is_empty() {
            return Ok(());
        }
        Err(Error::Forbidden("this API key may not use that id"))
    }

    /// `GET /v1/media/{media_id}`: the media bytes (Meta's URL needs the token and expires).
    pub async fn media_bytes(
        &self,
        tenant: &Tenant,
        media_id: &str,
        query: Option<&str>,
    ) -> Result<ApiResponse, Error> {
        let media_id = numeric_id(media_id, "media_id")?;
        let query = Query::parse(query);
        self.require_media(tenant, &media_id, &query).await?;
        let path = query.append_to(format!("/{}/{media_id}", self.graph_version));
        let info = self
            .graph
            .call(GraphRequest {
                method: HttpMethod::Get,
                path_and_query: path,
                content_type: None,
                body: Vec::new(),
            })
            .await?;
        if !is_success(info.status) {
            return Ok(meta_error_v1(&info));
        }
        let v: Value = serde_json::from_slice(&info.body).unwrap_or_default();
        let url = v["url"].as_str().ok_or_else(|| Error::Upstream {
            status: 502,
            message: "Meta returned no media URL".to_owned(),
        })?;
        let media = self.graph.download(url).await?;
        if !is_success(media.status) {
            return Err(Error::Upstream {
                status: 502,
                message: format!("Meta's media URL answered {}", media.status),
            });
        }
        // Meta's `mime_type` first, then the download's header; neither may break the response.
        let content_type = content_type(v["mime_type"].as_str())
            .or_else(|| content_type(media.content_type.as_deref()))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok(ApiResponse {
            status: 200,
            content_type,
            body: media.body,
        })
    }
}
