//! The multipart reader of the body reader: strict where readers disagree (a preamble, the
//! boundary inside a part or after a bare line feed, bare CR or LF in headers, folded headers,
//! RFC 2231 names, escaped names), lenient where SDKs differ harmlessly (quoted filenames with
//! `;` or escapes, a close delimiter with or without a line break).

use serde_json::Value;

use super::{BodyParams, Param, header_params, unreadable};
use crate::Error;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// RFC 2046's boundary characters, 1 to 70 of them, less those some readers end a boundary at
/// (`,`, `;`, `=`, a space).
fn check_boundary(boundary: &str) -> Result<(), Error> {
    let ok = !boundary.is_empty()
        && boundary.len() <= 70
        && boundary
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"'()+_-./:?".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(unreadable(
            "content-type",
            "the multipart boundary is not a valid one",
        ))
    }
}

pub(super) fn read_multipart(boundary: &str, body: &[u8]) -> Result<BodyParams, Error> {
    check_boundary(boundary)?;
    let open = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The boundary stands only where this reader splits: one more time than there are parts.
    // Anywhere else (after a bare line feed, inside a value) another reader may split there.
    let occurrences = body
        .windows(open.len())
        .filter(|w| *w == open.as_bytes())
        .count();
    // No preamble: the body starts with the first boundary.
    let mut rest = body.strip_prefix(open.as_bytes()).ok_or_else(|| {
        unreadable(
            "body",
            "the multipart body does not start with its boundary",
        )
    })?;
    let mut params = BodyParams::default();
    loop {
        if let Some(after) = rest.strip_prefix(b"--") {
            // The close delimiter: at most a line break may follow.
            if !after.is_empty() && after != b"\r\n" {
                return Err(unreadable(
                    "body",
                    "the multipart body goes on after its end",
                ));
            }
            if occurrences != params.params.len() + 1 {
                return Err(unreadable(
                    "body",
                    "the multipart boundary appears inside a part",
                ));
            }
            return Ok(params);
        }
        let part = rest.strip_prefix(b"\r\n").ok_or_else(|| {
            unreadable(
                "body",
                "a multipart boundary is not followed by a line break",
            )
        })?;
        let end = find(part, delimiter.as_bytes())
            .ok_or_else(|| unreadable("body", "the multipart body is not closed"))?;
        let (name, value) = read_part(&part[..end])?;
        params.push(name, value)?;
        rest = &part[end + delimiter.len()..];
    }
}

/// One part: its headers (Content-Disposition required, no folding, no RFC 2231 names) and
/// its value.
fn read_part(part: &[u8]) -> Result<(String, Param), Error> {
    let bad = |why: &str| unreadable("body", format!("a multipart part {why}"));
    let split = find(part, b"\r\n\r\n").ok_or_else(|| bad("has no end of headers"))?;
    let head = std::str::from_utf8(&part[..split]).map_err(|_| bad("has non-UTF-8 headers"))?;
    let content = &part[split + 4..];
    let mut disposition = None;
    for line in head.split("\r\n") {
        // A bare CR or LF ends a line for some readers and not for others.
        if line.contains(['\r', '\n']) {
            return Err(bad("has a bare line break in its headers"));
        }
        let (name, value) = line
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && !n.starts_with([' ', '\t']))
            .ok_or_else(|| bad("has a header line that is not `Name: value`"))?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-disposition" if disposition.is_none() => disposition = Some(value.trim()),
            "content-disposition" => return Err(bad("has two Content-Disposition headers")),
            "content-type" => {}
            "content-transfer-encoding"
                if ["binary", "8bit", "7bit"]
                    .contains(&value.trim().to_ascii_lowercase().as_str()) => {}
            _ => return Err(bad("has a header the gateway does not read")),
        }
    }
    let disposition = disposition.ok_or_else(|| bad("has no Content-Disposition"))?;
    let (kind, params) =
        header_params(disposition).map_err(|_| bad("has an unreadable Content-Disposition"))?;
    if kind != "form-data" {
        return Err(bad("is not form-data"));
    }
    let mut name = None;
    let mut file = false;
    for param in params {
        match param.name.as_str() {
            "name" if param.escaped => return Err(bad("has a name with escapes")),
            "name" => name = Some(param.value),
            "filename" => file = true,
            _ => {
                return Err(bad(
                    "has a Content-Disposition parameter the gateway does not read",
                ));
            }
        }
    }
    let name = name.ok_or_else(|| bad("has no name"))?;
    if file {
        return Ok((name, Param::File));
    }
    let text =
        String::from_utf8(content.to_vec()).map_err(|_| bad("without a filename is not UTF-8"))?;
    Ok((name, Param::Value(Value::String(text))))
}
