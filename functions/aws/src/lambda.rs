//! The one conversion of a core answer into `lambda_http`'s response, for the HTTP functions
//! and the local stack alike.

use gateway_core::http::ApiResponse;
use lambda_http::http::{self, HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};

/// `response` as API Gateway hands it back: text bodies as text, anything else as bytes. A
/// header value that cannot stand in a header is dropped rather than the function panicking
/// (the core only hands out header-safe ones).
pub fn respond(response: ApiResponse) -> Response<Body> {
    let body = match String::from_utf8(response.body) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let mut answer = Response::new(body);
    *answer.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = answer.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(&response.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let location = response.location.map(|l| ("location", l));
    for (name, value) in response.headers.into_iter().chain(location) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_type_headers_and_body_are_carried_over() {
        let mut r = ApiResponse::new(429, "application/json", br#"{"a":1}"#.to_vec());
        r.headers.push(("retry-after", "7".into()));
        r.headers.push(("x-bad", "a\r\nb".into()));
        let answer = respond(r);
        assert_eq!(answer.status(), 429);
        assert_eq!(answer.headers()["content-type"], "application/json");
        assert_eq!(answer.headers()["retry-after"], "7");
        assert!(answer.headers().get("x-bad").is_none());
        assert_eq!(answer.body(), &Body::Text(r#"{"a":1}"#.into()));
        let binary = respond(ApiResponse::new(200, "image/png", vec![0xff, 0xd8]));
        assert_eq!(binary.body(), &Body::Binary(vec![0xff, 0xd8]));
        let moved = respond(ApiResponse::redirect("https://x.example/m".into()));
        assert_eq!(moved.headers()["location"], "https://x.example/m");
    }
}
