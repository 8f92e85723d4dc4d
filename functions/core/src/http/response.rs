//! What the tenant gets back: Meta's answer unchanged, or the gateway's own JSON. Stored as it
//! is by the idempotency records (the serialised fields are the stored attribute's shape).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// Other headers of a refusal (`WWW-Authenticate`, `Retry-After`, `Allow`). Refusals are
    /// never stored, so these are not either.
    #[serde(skip)]
    pub headers: Vec<(&'static str, String)>,
    /// Meta refused the request for throughput before accepting it (130429, 131056): read once,
    /// where Meta's answer comes in, and never stored.
    #[serde(skip)]
    pub meta_throttled: bool,
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
    /// Any answer: `content_type` and `body` as given.
    pub fn new(status: u16, content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        ApiResponse {
            status,
            content_type: content_type.into(),
            body: body.into(),
            location: None,
            headers: Vec::new(),
            meta_throttled: false,
        }
    }

    pub fn json(status: u16, value: &Value) -> Self {
        ApiResponse::new(status, "application/json", value.to_string())
    }

    /// `302 Found` to `location`, with a JSON body saying where, for clients that do not follow.
    pub fn redirect(location: String) -> Self {
        let mut response = ApiResponse::json(302, &serde_json::json!({ "url": location }));
        response.location = Some(location);
        response
    }

    /// The body as text, for logs of tests and checks (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A content type that can stand in a response header: printable ASCII, at most 255 bytes.
/// Anything Meta sends that is not (a control character in a `mime_type`) is `None`.
pub fn header_safe_content_type(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 255 && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_header_safe_content_type_is_taken_from_meta() {
        assert_eq!(
            header_safe_content_type(Some(" image/png ")).as_deref(),
            Some("image/png")
        );
        assert_eq!(
            header_safe_content_type(Some("text/plain; charset=utf-8")).as_deref(),
            Some("text/plain; charset=utf-8")
        );
        for bad in [
            "image/png\r\nx-evil: 1",
            "a\u{7f}",
            "",
            "bild/\u{e4}",
            &"a".repeat(256),
        ] {
            assert_eq!(header_safe_content_type(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(header_safe_content_type(None), None);
    }

    #[test]
    fn a_stored_response_round_trips_and_stores_what_it_stored_before() {
        let mut r = ApiResponse::json(200, &serde_json::json!({"a": 1}));
        let stored = serde_json::to_string(&r).unwrap();
        // The attribute as the version before this type moved wrote it.
        assert_eq!(
            stored,
            r#"{"status":200,"content_type":"application/json","body":"eyJhIjoxfQ=="}"#
        );
        let back: ApiResponse = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, r);
        r.location = Some("https://x.example/a".into());
        let back: ApiResponse = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
