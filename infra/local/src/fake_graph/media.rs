//! Media: uploads (multipart), and whether a query's phone number is the uploader's.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{State, json_response, meta_error};

/// Whether every `phone_number_id` of the query is the number the media was uploaded on.
pub(super) fn media_phone_matches(state: &State, media_id: &str, query: Option<&str>) -> bool {
    let media = state.media.lock().unwrap();
    let Some((_, _, uploaded_on)) = media.get(media_id) else {
        return true;
    };
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "phone_number_id")
        .all(|(_, v)| v == uploaded_on.as_str())
}

pub(super) fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Takes the `file` part of a multipart upload, as Meta's media endpoint does.
pub(super) fn upload_media(
    state: &Arc<State>,
    phone: &str,
    req: &Request,
    body: &[u8],
) -> Response<Body> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_owned())
    else {
        return meta_error(400, 100, "(#100) The parameter file is required.", None);
    };
    let Some((bytes, mime)) = multipart_file(body, &boundary) else {
        return meta_error(400, 100, "(#100) The parameter file is required.", None);
    };
    let id = (3_000_000_000_000 + state.counter.fetch_add(1, Ordering::Relaxed)).to_string();
    state
        .media
        .lock()
        .unwrap()
        .insert(id.clone(), (bytes, mime, phone.to_owned()));
    json_response(200, json!({"id": id}))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn multipart_file(body: &[u8], boundary: &str) -> Option<(Vec<u8>, String)> {
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&rest[..headers_end]).to_ascii_lowercase();
        let content = &rest[headers_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes())?;
        if headers.contains("name=\"file\"") {
            let mime = headers
                .lines()
                .find_map(|l| l.strip_prefix("content-type:"))
                .map(|m| m.trim().to_owned())
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            return Some((content[..end].to_vec(), mime));
        }
        rest = &content[end..];
    }
    None
}
