//! API keys and ownership: which tenant a key is, and whether it owns an id.

use crate::Error;
use crate::ids::ApiKey;
use crate::meta::{NamedMedia, named_media_ids};

/// More media than any message carries (a carousel of ten cards, each with a header, and a
/// header of its own): a body naming more is refused before any lookup.
const MAX_MEDIA_PER_SEND: usize = 20;
use crate::ports::{GraphApi, IdempotencyStore, MessageStore, OwnerKind, TenantDirectory};
use crate::tenant::Tenant;

use super::SendService;
use crate::http::graph_route::numeric_id;

/// The API key from `Authorization: Bearer <key>` or `x-api-key`.
pub fn api_key<'a>(authorization: Option<&'a str>, x_api_key: Option<&'a str>) -> Option<&'a str> {
    let bearer = authorization.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    bearer
        .or(x_api_key.map(str::trim))
        .filter(|k| !k.is_empty())
}

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    /// The tenant behind an API key; 401 when there is none or it is unknown.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Tenant, Error> {
        let key = key.ok_or(Error::Unauthorized(
            "missing API key: send `Authorization: Bearer <key>`",
        ))?;
        let id = self
            .tenants
            .owner(OwnerKind::ApiKey, ApiKey::new(key).hash().as_str())
            .await?
            .ok_or(Error::Unauthorized("unknown API key"))?;
        self.tenants
            .tenant(&id)
            .await?
            .filter(|t| t.active)
            .ok_or(Error::Unauthorized("unknown API key"))
    }

    /// 403 unless `tenant` owns `id`; never says whether someone else does.
    /// The kinds the tenant holds `id` as; 403 when any other tenant holds it as any kind (a
    /// Meta id is one object). Empty: nobody holds it.
    pub(super) async fn held_kinds(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Vec<OwnerKind>, Error> {
        let holders = self.tenants.holders(id, &OwnerKind::OBJECTS).await?;
        if holders.iter().any(|(_, owner)| *owner != tenant.id) {
            return Err(Error::Forbidden("this API key may not use that id"));
        }
        Ok(holders.into_iter().map(|(kind, _)| kind).collect())
    }

    pub(super) async fn require_owner(
        &self,
        tenant: &Tenant,
        kind: OwnerKind,
        id: &str,
    ) -> Result<(), Error> {
        match self.tenants.owner(kind, id).await? {
            Some(owner) if owner == tenant.id => Ok(()),
            _ => Err(Error::Forbidden("this API key may not use that id")),
        }
    }

    /// A send may name media the tenant uploaded or received, or media the gateway has never
    /// seen, but not another tenant's: Meta holds every tenant's media under one token, so
    /// its own scoping would not stop it. Each id must be written as Meta writes them (digits),
    /// so no spelling of another tenant's id slips past the lookup.
    pub(super) async fn refuse_foreign_media(
        &self,
        tenant: &Tenant,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Error> {
        let named = named_media_ids(body);
        if named.len() > MAX_MEDIA_PER_SEND {
            return Err(Error::invalid(
                "invalid_id",
                "id",
                format!("a message names at most {MAX_MEDIA_PER_SEND} media ids"),
            ));
        }
        for media in named {
            let NamedMedia::Id(id) = media else {
                return Err(Error::invalid(
                    "invalid_id",
                    "id",
                    "a media `id` must be one numeric id",
                ));
            };
            let id = numeric_id(&id, "id")?;
            match self.tenants.owner(OwnerKind::Media, &id).await? {
                Some(owner) if owner != tenant.id => {
                    return Err(Error::Forbidden("this API key may not use that id"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) async fn remember_owned(
        &self,
        tenant: &Tenant,
        kind: OwnerKind,
        ids: impl IntoIterator<Item = String>,
    ) {
        for id in ids {
            if numeric_id(&id, "id").is_err() {
                continue;
            }
            match self.tenants.record_owner(kind, &id, &tenant.id).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    kind = kind.prefix(),
                    id,
                    "id already recorded for another tenant"
                ),
                Err(e) => {
                    tracing::warn!(kind = kind.prefix(), id, error = %e, "could not record ownership")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_comes_from_bearer_or_x_api_key() {
        assert_eq!(api_key(Some("Bearer abc"), None), Some("abc"));
        assert_eq!(api_key(Some("bearer  abc "), None), Some("abc"));
        assert_eq!(api_key(None, Some("xyz")), Some("xyz"));
        assert_eq!(api_key(Some("Basic abc"), None), None);
        assert_eq!(api_key(Some("Bearer "), None), None);
        assert_eq!(api_key(None, None), None);
    }
}
