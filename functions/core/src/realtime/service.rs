//! The real-time API: `POST /v1/realtime/tokens` mints a connect URL; `$connect` checks its
//! token and the bounds (uses of the token, the tenant's connections, a revocation) and records
//! the connection; `$default` counts the client's frames; `$disconnect` forgets it.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::token::{self, Claims, Scope, TokenError};
use super::{
    ClientFrame, Closer, Connection, ConnectionId, ConnectionStore, Framed, Limits, TokenKey,
    UNKNOWN_GRACE_SECS,
};
use crate::Error;
use crate::deliveries::rfc3339;
use crate::http::ApiResponse;
use crate::ports::TenantDirectory;
use crate::tenant::Tenant;

/// A token connects for 5 minutes unless asked otherwise, at most an hour.
const DEFAULT_EXPIRES_IN: u64 = 300;
const MAX_EXPIRES_IN: u64 = 3600;
const MAX_SCOPE_ENTRIES: usize = 50;
/// API Gateway closes every WebSocket connection after 2 hours; the record outlives it a bit.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 3600 + 600);

/// The body of `POST /v1/realtime/tokens` (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    fields: Option<Value>,
    #[serde(default)]
    phone_numbers: Option<Value>,
}

fn strings(field: &str, value: Option<Value>) -> Result<Vec<String>, Error> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let bad = || {
        Error::invalid(
            "invalid_field",
            field,
            format!("`{field}` must be a list of at most {MAX_SCOPE_ENTRIES} non-empty strings"),
        )
    };
    let Value::Array(items) = value else {
        return Err(bad());
    };
    if items.len() > MAX_SCOPE_ENTRIES {
        return Err(bad());
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) if !s.is_empty() && s.len() <= 128 => Ok(s),
            _ => Err(bad()),
        })
        .collect()
}

impl TokenRequest {
    /// Parses an empty body as every default.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(TokenRequest::default());
        }
        let not_an_object = || {
            Error::invalid_body(
                "invalid_json",
                "the body must be a JSON object with optional `expires_in`, `fields` and `phone_numbers`",
            )
        };
        let value: Value = serde_json::from_slice(body).map_err(|_| not_an_object())?;
        if !value.is_object() {
            return Err(not_an_object());
        }
        serde_json::from_value(value).map_err(|e| {
            let message = e.to_string();
            match message.strip_prefix("unknown field `") {
                Some(rest) => {
                    let field = rest.split('`').next().unwrap_or_default().to_owned();
                    Error::invalid(
                        "unknown_field",
                        field.clone(),
                        format!("`{field}` is not a field of this request; it takes `expires_in`, `fields` and `phone_numbers`"),
                    )
                }
                None => not_an_object(),
            }
        })
    }

    fn expires_in(&self) -> Result<u64, Error> {
        match &self.expires_in {
            None => Ok(DEFAULT_EXPIRES_IN),
            Some(v) => v
                .as_u64()
                .filter(|s| (1..=MAX_EXPIRES_IN).contains(s))
                .ok_or_else(|| {
                    Error::invalid(
                        "invalid_field",
                        "expires_in",
                        format!("`expires_in` must be whole seconds from 1 to {MAX_EXPIRES_IN}"),
                    )
                }),
        }
    }
}

/// Why a `$connect` is refused: logged, never shown to the client beyond the refusal.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no token")]
    NoToken,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the token's tenant is unknown or suspended")]
    UnknownTenant,
    /// Minted at or before the tenant's latest `gatewayctl realtime revoke`.
    #[error("the token was revoked")]
    Revoked,
    /// The token has opened its connections already ([`Limits::uses_per_token`]).
    #[error("the token has opened all its connections")]
    TokenSpent,
    /// The tenant holds its most live connections ([`Limits::connections_per_tenant`]).
    #[error("the tenant has its most live connections")]
    TenantFull,
    /// A dependency failed: the client may try again.
    #[error(transparent)]
    Unavailable(#[from] Error),
}

impl Refusal {
    /// The HTTP status the upgrade is refused with: 429 while the tenant is full (a connection
    /// closing makes room), 500 when a table could not be read (try again), else 403 (this
    /// token will not do: ask for another).
    pub fn status(&self) -> u16 {
        match self {
            Refusal::TenantFull => 429,
            Refusal::Unavailable(_) => 500,
            Refusal::NoToken
            | Refusal::Token(_)
            | Refusal::UnknownTenant
            | Refusal::Revoked
            | Refusal::TokenSpent => 403,
        }
    }
}

pub struct RealtimeService<T, S, K> {
    tenants: T,
    store: S,
    key: K,
    /// Where clients connect (`wss://…/<stage>` on AWS, `ws://127.0.0.1:…/ws` locally).
    url: String,
    limits: Limits,
}

/// A tenant id as the gateway makes them: refused before any lookup otherwise.
fn plausible_tenant(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<T: TenantDirectory, S: ConnectionStore, K: TokenKey> RealtimeService<T, S, K> {
    pub fn new(tenants: T, store: S, key: K, url: impl Into<String>) -> Self {
        RealtimeService {
            tenants,
            store,
            key,
            url: url.into(),
            limits: Limits::default(),
        }
    }

    /// The same service with other bounds (the default: [`Limits::default`]).
    pub fn with_limits(self, limits: Limits) -> Self {
        RealtimeService { limits, ..self }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// `POST /v1/realtime/tokens`; `nonce` is fresh randomness.
    pub async fn token(
        &self,
        tenant: &Tenant,
        request: &TokenRequest,
        now: i64,
        nonce: &str,
    ) -> Result<ApiResponse, Error> {
        let expires_in = request.expires_in()?;
        let fields = strings("fields", request.fields.clone())?;
        let phones = strings("phone_numbers", request.phone_numbers.clone())?;
        if let Some(foreign) = phones.iter().find(|p| !tenant.phone_number_ids.contains(p)) {
            return Err(Error::invalid(
                "invalid_field",
                "phone_numbers",
                format!(
                    "`phone_numbers` holds {foreign}, which is not one of this tenant's phone numbers"
                ),
            ));
        }
        let claims = Claims {
            tenant: tenant.id.clone(),
            expires_at: now + expires_in as i64,
            issued_at: now,
            scope: Scope {
                fields: fields.clone(),
                phones: phones.clone(),
            },
            nonce: nonce.to_owned(),
            key_id: String::new(),
        };
        let key = self
            .key
            .key(true, false)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no real-time token key")))?;
        let claims = Claims {
            key_id: token::key_id(&key),
            ..claims
        };
        let token = token::mint(&key, &claims);
        if token.len() > token::MAX_TOKEN_LEN {
            let field = if fields.len() >= phones.len() {
                "fields"
            } else {
                "phone_numbers"
            };
            return Err(Error::invalid(
                "invalid_field",
                field,
                "`fields` and `phone_numbers` together are too long for one token; ask for fewer",
            ));
        }
        let separator = if self.url.contains('?') { '&' } else { '?' };
        Ok(ApiResponse::json(
            201,
            &json!({
                "url": format!("{}{separator}token={token}", self.url),
                "expires_at": rfc3339(claims.expires_at * 1000),
                "fields": fields,
                "phone_numbers": phones,
            }),
        ))
    }

    /// `$connect`: the connection is recorded when the gateway signed `token`, it has not
    /// expired, its tenant exists and is active, it was minted after the tenant's latest
    /// revocation, the tenant holds fewer live connections than its bound, and the token has
    /// opened fewer connections than its bound (this one is counted). Cheap checks come first:
    /// a forged or garbage token costs no table read, and a refused connect uses up nothing.
    pub async fn connect(
        &self,
        token: Option<&str>,
        id: &ConnectionId,
        now: i64,
    ) -> Result<Claims, Refusal> {
        let token = token.filter(|t| !t.is_empty()).ok_or(Refusal::NoToken)?;
        let claimed = token::unverified(token)?;
        if !plausible_tenant(claimed.tenant.as_str()) {
            return Err(Refusal::Token(TokenError::Malformed));
        }
        token::check_expiry(&claimed, now)?;
        let mut key = self.key.key(false, false).await?;
        if key
            .as_ref()
            .is_none_or(|k| token::key_id(k) != claimed.key_id)
        {
            key = self.key.key(false, true).await?;
        }
        let Some(key) = key else {
            // No token was ever minted with a key that does not exist.
            return Err(Refusal::Token(TokenError::BadSignature));
        };
        let claims = token::verify(&key, token, now)?;
        if claims.nonce.is_empty() {
            return Err(Refusal::Token(TokenError::Malformed));
        }
        match self.tenants.tenant(&claims.tenant).await? {
            Some(tenant) if tenant.active => {}
            _ => return Err(Refusal::UnknownTenant),
        }
        if let Some(at) = self.store.revoked_at(&claims.tenant).await?
            && claims.issued_at <= at
        {
            return Err(Refusal::Revoked);
        }
        let cap = self.limits.connections_per_tenant as usize;
        if self.store.count(&claims.tenant, now, cap).await? >= cap {
            return Err(Refusal::TenantFull);
        }
        if !self
            .store
            .use_token(
                &claims.tenant,
                &claims.nonce,
                self.limits.uses_per_token,
                claims.expires_at,
            )
            .await?
        {
            return Err(Refusal::TokenSpent);
        }
        let connection = Connection {
            id: id.clone(),
            scope: claims.scope.clone(),
        };
        let expires_at = now + CONNECTION_LIFETIME.as_secs() as i64;
        self.store
            .add(&claims.tenant, &connection, now, expires_at)
            .await?;
        // Checked again once recorded: connects racing each other all saw room above, and a
        // revocation may have listed the connections before this one was added. Whichever
        // sees the other last refuses, so a race overshoots the cap by nothing for long.
        let over = self.store.count(&claims.tenant, now, cap + 1).await? > cap;
        let revoked = self
            .store
            .revoked_at(&claims.tenant)
            .await?
            .is_some_and(|at| claims.issued_at <= at);
        if over || revoked {
            self.store.delete(&claims.tenant, id).await?;
            return Err(if revoked {
                Refusal::Revoked
            } else {
                Refusal::TenantFull
            });
        }
        Ok(claims)
    }

    /// `$disconnect`.
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<(), Error> {
        self.store.remove(id).await
    }

    /// `$default`: counts one frame of the client on connection `id` (open since
    /// `connected_at`, when known). A client over its frame rate is closed through `closer`
    /// and forgotten; so is a connection the gateway has no record of, once it is older than
    /// [`UNKNOWN_GRACE_SECS`] (its record was removed: revoked, or found gone).
    pub async fn client_frame<C: Closer>(
        &self,
        id: &ConnectionId,
        connected_at: Option<i64>,
        now: i64,
        closer: &C,
    ) -> Result<ClientFrame, Error> {
        match self.store.frame(id, now, self.limits.frames).await? {
            Framed::Allowed => Ok(ClientFrame::Answer),
            Framed::TooFast(tenant) => {
                tracing::info!(
                    tenant_id = tenant.as_str(),
                    "a client sent frames too fast; its connection is closed"
                );
                close(closer, id).await;
                self.store.delete(&tenant, id).await?;
                Ok(ClientFrame::Closed)
            }
            Framed::Unknown if connected_at.is_some_and(|at| now - at > UNKNOWN_GRACE_SECS) => {
                tracing::info!(
                    "a connection the gateway has no record of sent a frame; it is closed"
                );
                close(closer, id).await;
                Ok(ClientFrame::Closed)
            }
            Framed::Unknown => Ok(ClientFrame::Answer),
        }
    }
}

/// Closes `id`, logging a failure (the caller forgets the connection either way).
async fn close<C: Closer>(closer: &C, id: &ConnectionId) {
    if let Err(e) = closer.close(id).await {
        tracing::warn!(error = %e, "could not close a connection");
    }
}
