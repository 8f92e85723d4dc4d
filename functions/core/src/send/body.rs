//! A Graph request's body read the way Meta could read it (JSON, form-urlencoded, multipart)
//! as top-level parameters, before anything is checked or forwarded. The reading fails closed:
//! a body the gateway cannot read with certainty (a byte-order mark, a key given twice, JSON
//! that is not an object, a content type that does not match the bytes) is a 400, so no id and
//! no refused key can hide in a spelling the gateway reads one way and Meta another.
//!
//! The multipart reader is written here rather than taken from a streaming crate on purpose:
//! those are lenient by design (preambles, `name*=`, folded headers), and a checker that is
//! lenient where Meta is strict, or the other way round, is the hole this module closes.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

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
    if !key.is_empty()
        && key.len() <= 128
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(unreadable(
            key,
            "body parameter names are letters, digits and `_` only",
        ))
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A content type's essence (lowercase) and its parameters (names lowercase, values unquoted).
fn content_type(raw: &str) -> Result<(String, Vec<(String, String)>), Error> {
    let mut parts = raw.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let mut params = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| unreadable("content-type", "a content-type parameter has no value"))?;
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) if !inner.contains(['"', '\\']) => inner,
            Some(_) => return Err(unreadable("content-type", "a quoted parameter has escapes")),
            None => value,
        };
        let name = name.trim().to_ascii_lowercase();
        if params.iter().any(|(n, _)| *n == name) {
            return Err(unreadable(
                "content-type",
                format!("the content-type names `{name}` twice"),
            ));
        }
        params.push((name, value.to_owned()));
    }
    Ok((essence, params))
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
        let (essence, params) = content_type(raw)?;
        let charset = params.iter().find(|(n, _)| n == "charset");
        if charset.is_some_and(|(_, v)| !v.eq_ignore_ascii_case("utf-8")) {
            return Err(unreadable("content-type", "the only charset read is utf-8"));
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
                    .find(|(n, _)| n == "boundary")
                    .map(|(_, v)| v.as_str())
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// RFC 2046's boundary characters, 1 to 70 of them.
fn check_boundary(boundary: &str) -> Result<(), Error> {
    let ok = !boundary.is_empty()
        && boundary.len() <= 70
        && boundary
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b))
        && !boundary.ends_with(' ');
    if ok {
        Ok(())
    } else {
        Err(unreadable(
            "content-type",
            "the multipart boundary is not a valid one",
        ))
    }
}

fn read_multipart(boundary: &str, body: &[u8]) -> Result<BodyParams, Error> {
    check_boundary(boundary)?;
    let open = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
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
        content_type(disposition).map_err(|_| bad("has an unreadable Content-Disposition"))?;
    if kind != "form-data" {
        return Err(bad("is not form-data"));
    }
    let mut name = None;
    let mut file = false;
    for (key, value) in params {
        match key.as_str() {
            "name" => name = Some(value),
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

/// serde_json's `Value`, refusing an object that names a key twice at any depth: serde_json
/// keeps the last, other readers the first.
struct StrictValue;

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key `{key}` is given twice"
                )));
            }
            let value = map.next_value_seed(StrictValue)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

impl<'de> de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests;
