//! `POST /v1/messages`: the simplified send, validated field by field, and
//! `GET /v1/messages/{wamid}`.

use serde_json::{Map, Value};

use crate::Error;
use crate::ports::{
    GraphApi, GraphRequest, HttpMethod, IdempotencyStore, MessageStore, OwnerKind, TenantDirectory,
};
use crate::tenant::Tenant;

use super::SendService;
use super::response::{is_success, meta_error_v1, parse_json_object};
use crate::http::ApiResponse;
use crate::http::graph_route::numeric_id;

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

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
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
        let cloud_body = message.to_cloud_body();
        if let Some(map) = cloud_body.as_object() {
            self.refuse_foreign_media(tenant, map).await?;
        }
        let request = GraphRequest {
            method: HttpMethod::Post,
            path_and_query: format!("/{}/{phone_number_id}/messages", self.graph_version),
            content_type: Some("application/json".to_owned()),
            body: cloud_body.to_string().into_bytes(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let cases: [(&[u8], &str); 12] = [
            (br#"{"recipient":"1234","type":"text","text":{"body":"x"}}"#, "`recipient` must be"),
            (br#"{"recipient":"123456789012345678901","type":"text","text":{"body":"x"}}"#, "`recipient` must be"),
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
}
