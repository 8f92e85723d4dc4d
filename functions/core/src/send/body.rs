//! A Graph request's body read the way Meta could read it (JSON, form-urlencoded, multipart)
//! as top-level parameters, before anything is checked or forwarded. The reading fails closed:
//! a body the gateway cannot read with certainty (a byte-order mark, a key given twice, JSON
//! that is not an object, a content type that does not match the bytes) is a 400, so no id and
//! no refused key can hide in a spelling the gateway reads one way and Meta another.
//!
//! The multipart reader is written here rather than taken from a streaming crate on purpose:
//! those are lenient by design (preambles, `name*=`, folded headers), and a checker that is
//! lenient where Meta is strict, or the other way round, is the hole this module closes.

use serde::de::Deserializer;
use serde_json::{Map, Value};

use multipart::read_multipart;
use strict_json::StrictValue;

use crate::Error;

/// One top-level parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A JSON value, or the text of a form field or a multipart part.
    Value(Value),
    /// A multipart part with a filename: its bytes are not a parameter the gateway reads.
    File,
}

/// A body's top-level parameters, each key once, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BodyParams {
    params: Vec<(String, Param)>,
    /// The JSON object, when the body was JSON (sends reuse it).
    json: Option<Map<String, Value>>,
}

fn unreadable(field: &str, message: impl Into<String>) -> Error {
    Error::invalid("unreadable_body", field, message)
}

/// A top-level parameter name as Graph's are spelled: letters, digits and `_`. Anything else
/// (`a[b]`, `a.b`, spaces, escapes Meta may decode differently) is refused.
fn check_key(key: &str) -> Result<(), Error> {
    if crate::query::is_plain_name(key) {
        Ok(())
    } else {
        Err(unreadable(
            key,
            "body parameter names are letters, digits and `_` only",
        ))
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A header parameter: its name (lowercase), its value (unquoted), and whether the quoted
/// value used `\` escapes (readers disagree on them; a part's name may not use any).
struct HeaderParam {
    name: String,
    value: String,
    escaped: bool,
}

/// A header value's first token (lowercase) and its `; name=value` parameters, values as
/// tokens or quoted strings (a `;` inside quotes is text). A `,` outside quotes (two headers
/// joined into one) or a parameter named twice is refused.
fn header_params(raw: &str) -> Result<(String, Vec<HeaderParam>), Error> {
    let bad = |why: &str| unreadable("content-type", format!("a header {why}"));
    let (first, mut rest) = raw.split_once(';').unwrap_or((raw, ""));
    if first.contains(',') {
        return Err(bad("holds a `,` (two headers in one?)"));
    }
    let mut params: Vec<HeaderParam> = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| bad("parameter has no value"))?;
        // `name = value`: readers disagree on whether the spaces belong to the value.
        if name.ends_with([' ', '\t']) || after.starts_with([' ', '\t']) {
            return Err(bad("parameter has spaces around its `=`"));
        }
        let name = name.trim().to_ascii_lowercase();
        let (value, escaped, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut escaped = false;
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => {
                        escaped = true;
                        value.push(chars.next().ok_or_else(|| bad("has an open escape"))?.1);
                    }
                    Some((_, c)) => value.push(c),
                    None => return Err(bad("has an unclosed quote")),
                }
            };
            (value, escaped, &quoted[end + 1..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_owned(), false, &after[end..])
        };
        let tail = tail.trim_start();
        if !(tail.is_empty() || tail.starts_with(';')) {
            return Err(bad("parameter is followed by something that is not `;`"));
        }
        let quoted = after.starts_with('"');
        if !quoted && (value.is_empty() || value.contains([',', '"', ' ', '\t'])) {
            return Err(bad("parameter has a value that is not one token"));
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("has a parameter name the gateway does not read"));
        }
        if params.iter().any(|p| p.name == name) {
            return Err(bad(&format!("names `{name}` twice")));
        }
        params.push(HeaderParam {
            name,
            value,
            escaped,
        });
        rest = tail;
    }
    Ok((first.trim().to_ascii_lowercase(), params))
}

impl BodyParams {
    /// Reads `body` as its `content_type` says. An empty body has no parameters.
    pub fn read(content_type_header: Option<&str>, body: &[u8]) -> Result<Self, Error> {
        if body.is_empty() {
            return Ok(BodyParams::default());
        }
        let raw = content_type_header.ok_or_else(|| {
            unreadable(
                "content-type",
                "a request with a body needs a content-type: application/json, application/x-www-form-urlencoded or multipart/form-data",
            )
        })?;
        let (essence, params) = header_params(raw)?;
        let allowed: &[&str] = if essence == "multipart/form-data" {
            &["boundary", "charset"]
        } else {
            &["charset"]
        };
        for param in &params {
            if !allowed.contains(&param.name.as_str()) {
                return Err(unreadable(
                    "content-type",
                    format!("the content-type parameter `{}` is not read", param.name),
                ));
            }
            if param.name == "charset" && !param.value.eq_ignore_ascii_case("utf-8") {
                return Err(unreadable("content-type", "the only charset read is utf-8"));
            }
            // `"a\b"` is `ab` to some readers and `a\b` to others.
            if param.escaped {
                return Err(unreadable(
                    "content-type",
                    "a content-type parameter has escapes",
                ));
            }
        }
        // Readers that take the first `boundary` substring (in any case, or only in lowercase)
        // as the parameter must both find this one: written `boundary=`, before any other.
        let lower = raw.to_ascii_lowercase();
        if let Some(at) = lower.find("boundary")
            && (raw.find("boundary") != Some(at) || !raw[at..].starts_with("boundary="))
        {
            return Err(unreadable(
                "content-type",
                "the boundary parameter must be the first `boundary` of the content-type, written `boundary=`",
            ));
        }
        if body.starts_with(BOM) {
            return Err(unreadable("body", "the body starts with a byte-order mark"));
        }
        match essence.as_str() {
            "application/json" => read_json(body),
            "application/x-www-form-urlencoded" => read_form(body),
            "multipart/form-data" => {
                let boundary = params
                    .iter()
                    .find(|p| p.name == "boundary")
                    .map(|p| p.value.as_str())
                    .ok_or_else(|| unreadable("content-type", "multipart needs a boundary"))?;
                read_multipart(boundary, body)
            }
            _ => Err(unreadable(
                "content-type",
                "the body must be application/json, application/x-www-form-urlencoded or multipart/form-data",
            )),
        }
    }

    /// Every key, as given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(k, _)| k.as_str())
    }

    /// The value of `key`, compared without case (Meta's reading of case is not documented).
    pub fn get(&self, key: &str) -> Option<&Param> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The body's JSON object, when it was JSON.
    pub fn into_json(self) -> Option<Map<String, Value>> {
        self.json
    }

    fn push(&mut self, key: String, value: Param) -> Result<(), Error> {
        check_key(&key)?;
        if self.get(&key).is_some() {
            return Err(unreadable(
                &key,
                format!("the body names `{key}` more than once"),
            ));
        }
        self.params.push((key, value));
        Ok(())
    }
}

fn read_json(body: &[u8]) -> Result<BodyParams, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = de
        .deserialize_any(StrictValue)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            unreadable(
                "body",
                format!("the body is not JSON the gateway can read: {e}"),
            )
        })?;
    let Value::Object(map) = value else {
        return Err(unreadable("body", "the body must be a JSON object"));
    };
    let mut params = BodyParams::default();
    for (key, value) in &map {
        params.push(key.clone(), Param::Value(value.clone()))?;
    }
    params.json = Some(map);
    Ok(params)
}

fn read_form(body: &[u8]) -> Result<BodyParams, Error> {
    // A form is ASCII once encoded; anything else was not encoded by a form encoder.
    if !body.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err(unreadable(
            "body",
            "a form body must be percent-encoded ASCII",
        ));
    }
    if body.contains(&b';') {
        return Err(unreadable(
            "body",
            "a form body has a raw `;` (some readers split pairs on it)",
        ));
    }
    if matches!(body.first(), Some(b'{' | b'[')) {
        return Err(unreadable(
            "content-type",
            "the body looks like JSON but the content-type says it is a form",
        ));
    }
    let mut params = BodyParams::default();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        params.push(
            decode_form(key)?,
            Param::Value(Value::String(decode_form(value)?)),
        )?;
    }
    Ok(params)
}

/// One form component: `+` as a space, `%XX` decoded, and the result UTF-8. A `%` that does
/// not start an escape is refused (decoders disagree on it).
fn decode_form(raw: &[u8]) -> Result<String, Error> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        unreadable("body", "a form body has a `%` that starts no escape")
                    })?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| unreadable("body", "a form field is not UTF-8"))
}

mod multipart;
mod strict_json;
#[cfg(test)]
mod tests;
