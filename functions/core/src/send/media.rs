//! Media: whose a media id is, and `GET /v1/media/{id}`.

use serde_json::Value;

use crate::Error;
use crate::ports::{
    GraphApi, GraphRequest, HttpMethod, IdempotencyStore, MessageStore, OwnerKind, TenantDirectory,
};
use crate::query::Query;
use crate::tenant::Tenant;

use super::SendService;
use super::passthrough::is_media_description;
use super::response::{is_success, meta_error_v1};
use crate::http::graph_route::numeric_id;
use crate::http::{ApiResponse, header_safe_content_type as content_type};

/// Media up to this size is answered in the response (a function's response holds 6 MB, and
/// binary bodies are base64-encoded on the way out).
pub const INLINE_MEDIA_BYTES: u64 = 4 * 1024 * 1024;
/// The largest media the gateway serves: Meta's limit for documents.
pub const MAX_MEDIA_BYTES: u64 = 100 * 1_000_000;

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    /// Every `phone_number_id` a request names goes to Meta, so each must be the tenant's;
    /// the count of them.
    pub(super) async fn require_named_phones(
        &self,
        tenant: &Tenant,
        query: &Query,
    ) -> Result<usize, Error> {
        let phones: Vec<&str> = query.values_any_case("phone_number_id").collect();
        for phone in &phones {
            self.require_owner(
                tenant,
                OwnerKind::Phone,
                &numeric_id(phone, "phone_number_id")?,
            )
            .await?;
        }
        Ok(phones.len())
    }

    /// Whether the media is the tenant's (`Ok(true)`: uploaded or received on one of its
    /// numbers) or no tenant's, asked for with one of its numbers (`Ok(false)`: Meta's answer
    /// must then show it is media of that number).
    async fn require_media(
        &self,
        tenant: &Tenant,
        media_id: &str,
        query: &Query,
    ) -> Result<bool, Error> {
        let named_phones = self.require_named_phones(tenant, query).await?;
        // Held by anyone else as any kind (a number, a template...), it is not this tenant's.
        let held = self.held_kinds(tenant, media_id).await?;
        if held.contains(&OwnerKind::Media) {
            return Ok(true);
        }
        if held.is_empty() && named_phones > 0 {
            return Ok(false);
        }
        Err(Error::Forbidden("this API key may not use that id"))
    }

    /// `GET /v1/media/{media_id}`: the media bytes (Meta's URL needs the token and expires),
    /// or, over [`INLINE_MEDIA_BYTES`] (or of unknown size), a redirect to a staged copy.
    pub async fn media_bytes(
        &self,
        tenant: &Tenant,
        media_id: &str,
        query: Option<&str>,
    ) -> Result<ApiResponse, Error> {
        let media_id = numeric_id(media_id, "media_id")?;
        let query = Query::for_meta(query)?;
        let owned = self.require_media(tenant, &media_id, &query).await?;
        // Only the number goes to Meta: nothing else of the tenant's query.
        let path = match query.values_any_case("phone_number_id").next() {
            Some(phone) => format!("/{}/{media_id}?phone_number_id={phone}", self.graph_version),
            None => format!("/{}/{media_id}", self.graph_version),
        };
        let info = self
            .graph
            .call(GraphRequest {
                method: HttpMethod::Get,
                path_and_query: path,
                content_type: None,
                body: Vec::new(),
            })
            .await?;
        if !owned && !is_success(info.status) {
            // Meta's refusal would say whether an id nobody holds exists.
            return Err(Error::Forbidden("this API key may not use that id"));
        }
        if !is_success(info.status) {
            return Ok(meta_error_v1(&info));
        }
        if !owned {
            // Any other object ignores `phone_number_id`: only media ties the id to the number.
            if !is_media_description(&info.body, &media_id) {
                return Err(Error::Forbidden("this API key may not use that id"));
            }
            self.remember_owned(tenant, OwnerKind::Media, [media_id.clone()])
                .await;
        }
        let v: Value = serde_json::from_slice(&info.body).unwrap_or_default();
        let url = v["url"].as_str().ok_or_else(|| Error::Upstream {
            status: 502,
            message: "Meta returned no media URL".to_owned(),
        })?;
        let size = v["file_size"]
            .as_u64()
            .or_else(|| v["file_size"].as_str()?.parse().ok());
        if size.is_some_and(|s| s > MAX_MEDIA_BYTES) {
            return Err(Error::Upstream {
                status: 502,
                message: format!(
                    "the media is larger than the {} MB the gateway serves",
                    MAX_MEDIA_BYTES / 1_000_000
                ),
            });
        }
        let mime = content_type(v["mime_type"].as_str());
        if size.is_none_or(|s| s > INLINE_MEDIA_BYTES) {
            // Too large for a function's response: copied to the bucket as it streams in, and
            // the tenant is sent to a short-lived URL of that copy.
            let location = self
                .graph
                .stage_media(url, mime.as_deref().unwrap_or("application/octet-stream"))
                .await?;
            return Ok(ApiResponse::redirect(location));
        }
        let media = self.graph.download(url).await?;
        if !is_success(media.status) {
            return Err(Error::Upstream {
                status: 502,
                message: format!("Meta's media URL answered {}", media.status),
            });
        }
        // Meta's `mime_type` first, then the download's header; neither may break the response.
        let content_type = mime
            .or_else(|| content_type(media.content_type.as_deref()))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok(ApiResponse::new(200, content_type, media.body))
    }
}
