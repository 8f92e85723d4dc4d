//! How a Meta answer is read (success, throttling) and handed to the tenant: Meta's answer
//! unchanged on the Graph-compatible routes, inside the gateway's shape on `/v1`.

use serde_json::{Map, Value};

use crate::Error;
use crate::http::{ApiResponse, header_safe_content_type, meta_inside_gateway};
use crate::ports::GraphResponse;

impl ApiResponse {
    /// Meta's answer as it came; a throughput refusal is marked where it is read.
    pub(crate) fn from_graph(response: GraphResponse) -> Self {
        let mut answer = ApiResponse::new(
            response.status,
            header_safe_content_type(response.content_type.as_deref())
                .unwrap_or_else(|| "application/json".to_owned()),
            response.body,
        );
        answer.meta_throttled = is_retryable_meta_throttle(answer.status, &answer.body);
        answer
    }
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
    let mut answer = meta_inside_gateway(response.status, &response.body);
    answer.meta_throttled = is_retryable_meta_throttle(response.status, &response.body);
    answer
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
}
