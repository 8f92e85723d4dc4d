//! The tenant-facing send API: API keys, ownership of every id a route names, the
//! Graph-compatible pass-through, the simplified `/v1/messages` call, per-message callback URLs
//! and `Idempotency-Key`. Meta's answers pass back unchanged.

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::mask;
use crate::ports::{
    Claim, GraphApi, GraphRequest, GraphResponse, HttpMethod, IdempotencyStore, MessageRecord,
    MessageStore, OwnerKind, TenantDirectory,
};
use crate::query::Query;
use crate::tenant::{CallbackUrl, TargetPolicy, Tenant};

/// A repeat of an Idempotency-Key within this window replays the first response.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long a send may hold its key before a repeat may take over.
const IN_FLIGHT: Duration = Duration::from_secs(60);
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

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

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Digits only: Meta's ids are numeric, and nothing else may reach a path or a table key.
fn numeric_id(id: &str, what: &str) -> Result<String, Error> {
    if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err(Error::invalid(
            "invalid_id",
            what,
            format!("`{what}` must be a numeric id"),
        ))
    }
}

/// The Graph-compatible routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphRoute {
    Messages { phone_number_id: String },
    Templates { waba_id: String },
    TemplateEdit { template_id: String },
    MediaUpload { phone_number_id: String },
    Media { media_id: String },
}

impl GraphRoute {
    /// `method` and the path (`/v23.0/<id>/messages`) to a route, with the version.
    pub fn parse(method: HttpMethod, path: &str) -> Result<(String, GraphRoute), Error> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let not_found = || Error::NotFound("unknown route");
        let version = *segments.first().ok_or_else(not_found)?;
        let valid_version = version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
            });
        if !valid_version {
            return Err(not_found());
        }
        use HttpMethod::*;
        let route = match (method, &segments[1..]) {
            (Post, [id, "messages"]) => GraphRoute::Messages {
                phone_number_id: numeric_id(id, "phone_number_id")?,
            },
            (Get | Post | Delete, [id, "message_templates"]) => GraphRoute::Templates {
                waba_id: numeric_id(id, "waba_id")?,
            },
            (Post, [id, "media"]) => GraphRoute::MediaUpload {
                phone_number_id: numeric_id(id, "phone_number_id")?,
            },
            (Post, [id]) => GraphRoute::TemplateEdit {
                template_id: numeric_id(id, "template_id")?,
            },
            (Get | Delete, [id]) => GraphRoute::Media {
                media_id: numeric_id(id, "media_id")?,
            },
            _ => return Err(not_found()),
        };
        Ok((version.to_owned(), route))
    }
}

/// A response to the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: String,
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
}

mod base64_bytes {
    use super::*;
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        B64.decode(text).map_err(serde::de::Error::custom)
    }
}

impl ApiResponse {
    pub fn json(status: u16, value: &Value) -> Self {
        ApiResponse {
            status,
            content_type: "application/json".to_owned(),
            body: value.to_string().into_bytes(),
        }
    }

    fn from_graph(response: GraphResponse) -> Self {
        ApiResponse {
            status: response.status,
            content_type: response
                .content_type
                .unwrap_or_else(|| "application/json".to_owned()),
            body: response.body,
        }
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Whether a Meta answer says the request was throttled before it was accepted: 429 with
/// 130429 (throughput) or 131056 (pair rate limit). Only these are retried.
pub fn is_retryable_meta_throttle(status: u16, body: &[u8]) -> bool {
    // Meta answers these codes with HTTP 400 (its error-code reference) and some paths with
    // 429; Meta says to decide by `code`, so any 4xx carrying one is a throttle. A 5xx is not:
    // Meta may have accepted the message.
    (400..500).contains(&status)
        && serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["error"]["code"].as_i64())
            .is_some_and(|code| code == 130_429 || code == 131_056)
}

fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid_body(
            "invalid_body",
            "the body must be a JSON object",
        )),
        Err(e) => Err(Error::invalid_body(
            "invalid_body",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

const MESSAGE_TYPES: [&str; 11] = [
    "text",
    "template",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
];

/// `POST /v1/messages`, validated: every error names its field.
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleMessage {
    pub recipient: String,
    pub kind: String,
    pub content: Value,
    pub context: Option<Value>,
    pub phone_number_id: Option<String>,
    pub callback_url: Option<String>,
}

impl SimpleMessage {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut map = parse_json_object(body)?;
        let string = |map: &mut Map<String, Value>,
                      field: &str,
                      required: bool|
         -> Result<Option<String>, Error> {
            match map.remove(field) {
                None | Some(Value::Null) if !required => Ok(None),
                None | Some(Value::Null) => Err(Error::invalid(
                    "missing_field",
                    field,
                    format!("`{field}` is required"),
                )),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::invalid(
                    "invalid_field",
                    field,
                    format!("`{field}` must be a string"),
                )),
            }
        };
        let recipient = string(&mut map, "recipient", true)?.unwrap_or_default();
        let digits = recipient.strip_prefix('+').unwrap_or(&recipient);
        if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                "invalid_field",
                "recipient",
                "`recipient` must be a phone number in international format, digits only",
            ));
        }
        let recipient = digits.to_owned();
        match string(&mut map, "channel", false)?.as_deref() {
            None | Some("whatsapp") => {}
            Some(other) => {
                return Err(Error::invalid(
                    "invalid_field",
                    "channel",
                    format!("`channel` must be `whatsapp`, not `{other}`"),
                ));
            }
        }
        let kind = string(&mut map, "type", true)?.unwrap_or_default();
        if !MESSAGE_TYPES.contains(&kind.as_str()) {
            return Err(Error::invalid(
                "invalid_field",
                "type",
                format!(
                    "`type` must be one of {}, not `{kind}`",
                    MESSAGE_TYPES.join(", ")
                ),
            ));
        }
        let content = match map.remove(&kind) {
            Some(Value::Object(obj)) => Value::Object(obj),
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_field",
                    kind.clone(),
                    format!("`{kind}` must be an object"),
                ));
            }
            None => {
                return Err(Error::invalid(
                    "missing_field",
                    kind.clone(),
                    format!("`{kind}` is required for type `{kind}`"),
                ));
            }
        };
        if kind == "text" && content["body"].as_str().is_none_or(str::is_empty) {
            return Err(Error::invalid(
                "missing_field",
                "text.body",
                "`text.body` must be a non-empty string",
            ));
        }
        if kind == "template" && content["name"].as_str().is_none_or(str::is_empty) {
            return Err(Error::invalid(
                "missing_field",
                "template.name",
                "`template.name` is required",
            ));
        }
        let phone_number_id = string(&mut map, "phone_number_id", false)?
            .map(|id| numeric_id(&id, "phone_number_id"))
            .transpose()?;
        let callback_url = string(&mut map, "callback_url", false)?;
        let context = match map.remove("context") {
            None | Some(Value::Null) => None,
            Some(Value::Object(obj)) => Some(Value::Object(obj)),
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_field",
                    "context",
                    "`context` must be an object",
                ));
            }
        };
        if let Some(unknown) = map.keys().next() {
            return Err(Error::invalid(
                "unknown_field",
                unknown.clone(),
                format!("unknown field `{unknown}`"),
            ));
        }
        Ok(SimpleMessage {
            recipient,
            kind,
            content,
            context,
            phone_number_id,
            callback_url,
        })
    }

    /// The Cloud API body for this message.
    pub fn to_cloud_body(&self) -> Value {
        let mut body = serde_json::json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": self.recipient,
            "type": self.kind,
        });
        body[&self.kind] = self.content.clone();
        if let Some(context) = &self.context {
            body["context"] = context.clone();
        }
        body
    }
}

/// What a send returned that the message record needs.
fn sent_wamid(response: &GraphResponse) -> Option<(String, Option<String>)> {
    let v: Value = serde_json::from_slice(&response.body).ok()?;
    let wamid = v["messages"][0]["id"].as_str()?.to_owned();
    let wa_id = v["contacts"][0]["wa_id"].as_str().map(str::to_owned);
    Some((wamid, wa_id))
}

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

pub struct SendService<T, M, I, G> {
    tenants: T,
    messages: M,
    idempotency: I,
    graph: G,
    policy: TargetPolicy,
    /// The Graph version the `/v1` routes use.
    graph_version: String,
}

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    pub fn new(
        tenants: T,
        messages: M,
        idempotency: I,
        graph: G,
        policy: TargetPolicy,
        graph_version: String,
    ) -> Self {
        SendService {
            tenants,
            messages,
            idempotency,
            graph,
            policy,
            graph_version,
        }
    }

    /// The tenant behind an API key; 401 when there is none or it is unknown.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Tenant, Error> {
        let key = key.ok_or(Error::Unauthorized(
            "missing API key: send `Authorization: Bearer <key>`",
        ))?;
        let id = self
            .tenants
            .owner(OwnerKind::ApiKey, &key_hash(key))
            .await?
            .ok_or(Error::Unauthorized("unknown API key"))?;
        self.tenants
            .tenant(&id)
            .await?
            .filter(|t| t.active)
            .ok_or(Error::Unauthorized("unknown API key"))
    }

    /// 403 unless `tenant` owns `id`; never says whether someone else does.
    async fn require_owner(&self, tenant: &Tenant, kind: OwnerKind, id: &str) -> Result<(), Error> {
        match self.tenants.owner(kind, id).await? {
            Some(owner) if owner == tenant.id => Ok(()),
            _ => Err(Error::Forbidden("this API key may not use that id")),
        }
    }

    async fn remember_owned(
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

    /// Runs `send` at most once per (tenant, Idempotency-Key): a repeat replays the stored
    /// response, a repeat while the first runs is 409, the same key with another body is 422.
    pub async fn idempotent<F>(
        &self,
        tenant: &Tenant,
        key: Option<&str>,
        request_fingerprint: &[u8],
        send: F,
    ) -> Result<ApiResponse, Error>
    where
        F: Future<Output = Result<ApiResponse, Error>>,
    {
        let Some(key) = key else { return send.await };
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid(
                "invalid_idempotency_key",
                "Idempotency-Key",
                format!(
                    "`Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"
                ),
            ));
        }
        let record = format!("SEND#{}#{}", tenant.id.as_str(), key_hash(key));
        let fingerprint = hex::encode(Sha256::digest(request_fingerprint));
        match self
            .idempotency
            .claim(&record, Some(&fingerprint), IN_FLIGHT)
            .await?
        {
            Claim::Completed(Some(stored)) => {
                return serde_json::from_str(&stored).map_err(|e| {
                    Error::Internal(anyhow::anyhow!(
                        "stored idempotent response unreadable: {e}"
                    ))
                });
            }
            Claim::Completed(None) | Claim::InProgress | Claim::NotYet(_) => {
                return Err(Error::Conflict(
                    "a request with this Idempotency-Key is still in progress",
                ));
            }
            Claim::Acquired { .. } => {}
        }
        let result = send.await;
        match &result {
            // Stored, so a repeat cannot send twice; 5xx and transport failures are not, so the
            // client may try again with the same key.
            Ok(response) if response.status < 500 => {
                let stored = serde_json::to_string(response).expect("a response serializes");
                self.idempotency
                    .complete(&record, Some(&stored), IDEMPOTENCY_WINDOW)
                    .await?;
            }
            _ => self.idempotency.release(&record).await?,
        }
        result
    }

    async fn record_sent(
        &self,
        tenant: &Tenant,
        phone_number_id: &str,
        to: &str,
        callback_url: Option<&CallbackUrl>,
        response: &GraphResponse,
        now: i64,
    ) -> Option<String> {
        let (wamid, wa_id) = sent_wamid(response)?;
        let record = MessageRecord {
            wamid: wamid.clone(),
            tenant_id: tenant.id.clone(),
            phone_number_id: phone_number_id.to_owned(),
            recipient: wa_id.unwrap_or_else(|| to.to_owned()),
            callback_url: callback_url.map(|c| c.as_str().to_owned()),
            created_at: now,
            last_status: None,
            statuses: Default::default(),
        };
        if let Err(e) = self.messages.put(&record).await {
            // Meta accepted the message: the tenant gets its answer, the gap is logged.
            tracing::error!(message_ref = mask::reference(&wamid), error = %e, "message accepted by Meta but its record was not written");
        }
        tracing::info!(
            message_ref = mask::reference(&wamid),
            tenant_id = tenant.id.as_str(),
            recipient = mask::phone(to),
            "message accepted"
        );
        Some(wamid)
    }

    fn parse_callback(
        &self,
        tenant: &Tenant,
        raw: Option<&str>,
    ) -> Result<Option<CallbackUrl>, Error> {
        raw.map(|url| CallbackUrl::parse(url, &tenant.callback_domains, self.policy))
            .transpose()
    }

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

    /// A media id is the tenant's when it was uploaded or received on one of its numbers, or
    /// when the request names one of its numbers as `phone_number_id` (Meta then checks the
    /// media belongs to that number).
    async fn require_media(
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

    /// `POST /v1/messages`.
    pub async fn send_simple(
        &self,
        tenant: &Tenant,
        body: &[u8],
        now: i64,
    ) -> Result<ApiResponse, Error> {
        let message = SimpleMessage::parse(body)?;
        let phone_number_id = match &message.phone_number_id {
            Some(id) => {
                self.require_owner(tenant, OwnerKind::Phone, id).await?;
                id.clone()
            }
            None => match tenant.phone_number_ids.as_slice() {
                [only] => only.clone(),
                [] => {
                    return Err(Error::invalid(
                        "missing_field",
                        "phone_number_id",
                        "`phone_number_id` is required: this tenant has no phone number yet",
                    ));
                }
                _ => {
                    return Err(Error::invalid(
                        "missing_field",
                        "phone_number_id",
                        "`phone_number_id` is required when the tenant has several phone numbers",
                    ));
                }
            },
        };
        let callback = self.parse_callback(tenant, message.callback_url.as_deref())?;
        let request = GraphRequest {
            method: HttpMethod::Post,
            path_and_query: format!("/{}/{phone_number_id}/messages", self.graph_version),
            content_type: Some("application/json".to_owned()),
            body: message.to_cloud_body().to_string().into_bytes(),
        };
        let response = self.graph.call(request).await?;
        if !is_success(response.status) {
            return Ok(meta_error_v1(&response));
        }
        let wamid = self
            .record_sent(
                tenant,
                &phone_number_id,
                &message.recipient,
                callback.as_ref(),
                &response,
                now,
            )
            .await
            .ok_or_else(|| Error::Upstream {
                status: 502,
                message: "Meta accepted the message but returned no message id".to_owned(),
            })?;
        Ok(ApiResponse::json(
            202,
            &serde_json::json!({"id": wamid, "status": "accepted"}),
        ))
    }

    /// `GET /v1/messages/{wamid}`: the stored record, for the tenant that sent it only.
    pub async fn message_status(&self, tenant: &Tenant, wamid: &str) -> Result<ApiResponse, Error> {
        let record = self
            .messages
            .get(wamid)
            .await?
            .filter(|r| r.tenant_id == tenant.id)
            .ok_or(Error::NotFound("no message with this id"))?;
        Ok(ApiResponse::json(
            200,
            &serde_json::json!({
                "id": record.wamid,
                "phone_number_id": record.phone_number_id,
                "recipient": record.recipient,
                "callback_url": record.callback_url,
                "created_at": record.created_at,
                "status": record.last_status,
                "statuses": record.statuses,
            }),
        ))
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
        let content_type = v["mime_type"]
            .as_str()
            .map(str::to_owned)
            .or(media.content_type)
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok(ApiResponse {
            status: 200,
            content_type,
            body: media.body,
        })
    }
}

/// Meta's error on a `/v1` route: Meta's status, the gateway's shape, Meta's details inside.
fn meta_error_v1(response: &GraphResponse) -> ApiResponse {
    let meta: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let message = meta["error"]["message"]
        .as_str()
        .unwrap_or("Meta refused the request")
        .to_owned();
    ApiResponse::json(
        response.status,
        &serde_json::json!({"error": {"code": "meta_error", "message": message, "meta": meta["error"]}}),
    )
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

    #[test]
    fn graph_routes_parse_and_ids_must_be_numeric() {
        use HttpMethod::*;
        assert_eq!(
            GraphRoute::parse(Post, "/v23.0/123/messages").unwrap(),
            (
                "v23.0".into(),
                GraphRoute::Messages {
                    phone_number_id: "123".into()
                }
            )
        );
        assert_eq!(
            GraphRoute::parse(Delete, "/v21.0/9/message_templates")
                .unwrap()
                .1,
            GraphRoute::Templates {
                waba_id: "9".into()
            }
        );
        assert_eq!(
            GraphRoute::parse(Post, "/v21.0/9").unwrap().1,
            GraphRoute::TemplateEdit {
                template_id: "9".into()
            }
        );
        assert_eq!(
            GraphRoute::parse(Get, "/v21.0/9").unwrap().1,
            GraphRoute::Media {
                media_id: "9".into()
            }
        );
        assert_eq!(
            GraphRoute::parse(Post, "/v21.0/9/media").unwrap().1,
            GraphRoute::MediaUpload {
                phone_number_id: "9".into()
            }
        );
        for (method, path, status) in [
            (Get, "/v21.0/..%2F..%2Fme/messages", 404),
            (Post, "/v21.0/abc/messages", 400),
            (Get, "/v21.0/9/messages", 404),
            (Post, "/latest/9/messages", 404),
            (Post, "/v1/messages", 404),
        ] {
            assert_eq!(
                GraphRoute::parse(method, path).unwrap_err().status(),
                status,
                "{path}"
            );
        }
    }

    #[test]
    fn a_simple_text_message_becomes_a_cloud_api_body() {
        let m = SimpleMessage::parse(br#"{"recipient":"+4915112345678","channel":"whatsapp","type":"text","text":{"body":"hi"},"callback_url":"https://x.example/cb"}"#).unwrap();
        assert_eq!(m.callback_url.as_deref(), Some("https://x.example/cb"));
        assert_eq!(
            m.to_cloud_body(),
            serde_json::json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"4915112345678","type":"text","text":{"body":"hi"}})
        );
    }

    #[test]
    fn simple_message_errors_name_the_field() {
        let cases: [(&[u8], &str); 10] = [
            (b"[1]", "JSON object"),
            (br#"{"type":"text","text":{"body":"x"}}"#, "`recipient` is required"),
            (br#"{"recipient":"abc","type":"text","text":{"body":"x"}}"#, "`recipient` must be"),
            (br#"{"recipient":"4915112345678","channel":"sms","type":"text","text":{"body":"x"}}"#, "`channel`"),
            (br#"{"recipient":"4915112345678","type":"fax"}"#, "`type` must be one of"),
            (br#"{"recipient":"4915112345678","type":"image"}"#, "`image` is required"),
            (br#"{"recipient":"4915112345678","type":"text","text":{}}"#, "`text.body`"),
            (br#"{"recipient":"4915112345678","type":"text","text":{"body":"x"},"colour":1}"#, "unknown field `colour`"),
            (br#"{"recipient":"4915112345678","type":"text","text":{"body":"x"},"phone_number_id":"../1"}"#, "`phone_number_id` must be a numeric id"),
            (br#"{"recipient":4915112345678,"type":"text","text":{"body":"x"}}"#, "`recipient` must be a string"),
        ];
        for (body, needle) in cases {
            let err = SimpleMessage::parse(body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }

    #[test]
    fn metas_throughput_and_pair_rate_codes_are_retried_whatever_4xx_carries_them() {
        assert!(is_retryable_meta_throttle(
            429,
            br#"{"error":{"code":130429}}"#
        ));
        assert!(is_retryable_meta_throttle(
            400,
            br#"{"error":{"code":130429}}"#
        ));
        assert!(is_retryable_meta_throttle(
            400,
            br#"{"error":{"code":131056}}"#
        ));
        assert!(!is_retryable_meta_throttle(
            400,
            br#"{"error":{"code":131047}}"#
        ));
        assert!(is_retryable_meta_throttle(
            429,
            br#"{"error":{"code":131056}}"#
        ));
        assert!(!is_retryable_meta_throttle(429, br#"{"error":{"code":4}}"#));
        assert!(!is_retryable_meta_throttle(
            500,
            br#"{"error":{"code":130429}}"#
        ));
        assert!(!is_retryable_meta_throttle(429, b"not json"));
    }

    #[test]
    fn a_stored_response_round_trips() {
        let r = ApiResponse {
            status: 200,
            content_type: "application/json".into(),
            body: b"{\"a\":1}".to_vec(),
        };
        let back: ApiResponse = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
