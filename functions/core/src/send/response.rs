//! What the tenant gets back: Meta's answer unchanged, or the gateway's own JSON, and how a
//! Meta answer is read (success, throttling).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;
use crate::ports::GraphResponse;

/// A response to the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: String,
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
    /// A `Location` header: set on a redirect only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
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
            location: None,
        }
    }

    /// `302 Found` to `location`, with a JSON body saying where, for clients that do not follow.
    pub fn redirect(location: String) -> Self {
        let mut response = ApiResponse::json(302, &serde_json::json!({ "url": location }));
        response.location = Some(location);
        response
    }

    pub(crate) fn from_graph(response: GraphResponse) -> Self {
        ApiResponse {
            status: response.status,
            content_type: content_type(response.content_type.as_deref())
                .unwrap_or_else(|| "application/json".to_owned()),
            body: response.body,
            location: None,
        }
    }
}

/// A content type that can stand in a response header: printable ASCII, at most 255 bytes.
/// Anything Meta sends that is not (a control character in a `mime_type`) is `None`.
pub(crate) fn content_type(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 255 && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .map(str::to_owned)
}

pub(crate) fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Whether a Meta answer says the request was throttled before it was accepted: a 4xx with
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

pub(crate) fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
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

/// Meta's error on a `/v1` route: Meta's status, the gateway's shape, Meta's details inside.
pub(crate) fn meta_error_v1(response: &GraphResponse) -> ApiResponse {
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
    fn only_a_header_safe_content_type_is_taken_from_meta() {
        assert_eq!(
            content_type(Some(" image/png ")).as_deref(),
            Some("image/png")
        );
        assert_eq!(
            content_type(Some("text/plain; charset=utf-8")).as_deref(),
            Some("text/plain; charset=utf-8")
        );
        for bad in [
            "image/png\r\nx-evil: 1",
            "a\u{7f}",
            "",
            "bild/\u{e4}",
            &"a".repeat(256),
        ] {
            assert_eq!(content_type(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(content_type(None), None);
    }

    #[test]
    fn a_stored_response_round_trips() {
        let r = ApiResponse {
            status: 200,
            content_type: "application/json".into(),
            body: b"{\"a\":1}".to_vec(),
            location: None,
        };
        let back: ApiResponse = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
