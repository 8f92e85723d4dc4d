//! A request's query string as pairs: parsed once (keys and values percent-decoded, `+` as a
//! space), checked on the pairs, and rebuilt from them. What Meta receives is exactly what the
//! gateway checked: `phone%5Fnumber%5Fid` is `phone_number_id` in both places.

use crate::Error;

/// Graph's own request machinery, never passed on: another method, several ids or requests at
/// once, answers reshaped.
const GRAPH_MACHINERY: [&str; 7] = [
    "method",
    "batch",
    "ids",
    "suppress_http_code",
    "callback",
    "jsonp",
    "transport",
];

/// A key no request passes to Meta, in its query or its body: Graph's machinery, and a
/// token or proof of the tenant's own (the gateway's token is the only one Meta sees).
pub(crate) fn is_refused_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    GRAPH_MACHINERY.contains(&key.as_str()) || key == "access_token" || key == "appsecret_proof"
}

/// A parameter name as Graph's are spelled: letters, digits and `_`, at most 128.
pub(crate) fn is_plain_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Field expansion reaches other objects and aliases disguise an answer: `fields` (any case),
/// in a query or a body, may name fields and their modifiers only.
pub(crate) fn check_fields(key: &str, value: &str, code: &'static str) -> Result<(), Error> {
    if key.eq_ignore_ascii_case("fields") && (value.contains(['{', '}']) || value.contains(".as("))
    {
        return Err(Error::invalid(
            code,
            key,
            "`fields` may name fields and their modifiers, not nested objects or aliases",
        ));
    }
    Ok(())
}

/// The decoded pairs of a query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// The first value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn parse(raw: Option<&str>) -> Self {
        Query {
            pairs: url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// A tenant's query as it may go to Meta: a key given twice is refused (400 naming it),
    /// and the tenant's own `access_token` or `appsecret_proof` are dropped, so the
    /// gateway's token is the only one Meta sees. So is any other key that is not a plain name
    /// (` a`, `a\0`, `a b`: Graph's reader would turn some into plain names, and an SDK that
    /// leaves a `&` unencoded in a value makes such keys); Meta receives only the pairs kept.
    pub fn for_meta(raw: Option<&str>) -> Result<Self, Error> {
        let mut query = Query::parse(raw);
        query.pairs.retain(|(k, _)| {
            !k.eq_ignore_ascii_case("access_token")
                && !k.eq_ignore_ascii_case("appsecret_proof")
                && (is_plain_name(k) || k.contains(['.', '[', ']']))
        });
        for (key, value) in &query.pairs {
            // Graph's machinery, and names that reach into other objects (`a.b`, `a[b]`).
            if GRAPH_MACHINERY.contains(&key.to_ascii_lowercase().as_str()) || !is_plain_name(key) {
                return Err(Error::invalid(
                    "forbidden_query_key",
                    key.clone(),
                    format!("the query key `{key}` is not passed to Meta"),
                ));
            }
            check_fields(key, value, "forbidden_query_key")?;
        }
        let mut seen = std::collections::HashSet::new();
        for (key, _) in &query.pairs {
            if !seen.insert(key.to_ascii_lowercase()) {
                return Err(Error::invalid(
                    "duplicate_query_key",
                    key.clone(),
                    format!("the query names `{key}` more than once"),
                ));
            }
        }
        Ok(query)
    }

    /// Every key, in order (a key given twice appears twice).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// Every value of `key`, however it was encoded.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` in any case (`PHONE_NUMBER_ID` too): for ids the gateway checks,
    /// since it cannot know how Meta reads a key's case.
    pub fn values_any_case<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// `path` with the query rebuilt from the checked pairs (nothing added when empty).
    pub fn append_to(&self, path: String) -> String {
        if self.pairs.is_empty() {
            return path;
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .finish();
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_key_is_one_key_and_meta_gets_the_canonical_form() {
        let q = Query::parse(Some(
            "phone_number_id=1&phone%5Fnumber%5Fid=2&phone_number_id=3+4&fields=a%2Cb",
        ));
        assert_eq!(
            q.values("phone_number_id").collect::<Vec<_>>(),
            ["1", "2", "3 4"]
        );
        assert_eq!(
            q.append_to("/v23.0/9".into()),
            "/v23.0/9?phone_number_id=1&phone_number_id=2&phone_number_id=3+4&fields=a%2Cb"
        );
    }

    #[test]
    fn for_meta_a_key_is_named_once_and_the_tenants_tokens_are_dropped() {
        for twice in [
            "phone_number_id=1&phone%5Fnumber%5Fid=2",
            "a=1&a=1",
            "fields=x&fields=y",
        ] {
            let err = Query::for_meta(Some(twice)).unwrap_err();
            assert_eq!(
                (err.status(), err.code()),
                (400, "duplicate_query_key"),
                "{twice}"
            );
        }
        for refused in [
            "method=post",
            "batch=[]",
            "ids=1,2",
            "suppress_http_code=1",
            "phone.number.id=1",
            "a[b]=1",
            "fields=owner_business_info{id}",
            "FIELDS=owner_business_info{id}",
            "fields=name.as(url)",
        ] {
            let err = Query::for_meta(Some(refused)).unwrap_err();
            assert_eq!(err.code(), "forbidden_query_key", "{refused}");
        }
        // Keys that are no plain name never reach Meta: the query is rebuilt without them
        // (whatsapp-api-js leaves `&` unencoded in a QR code's `prefilled_message`).
        for (sent, kept) in [
            ("hsm%20id=1&fields=id", "/x?fields=id"),
            ("%20hsm_id=1", "/x"),
            ("clone_flow_id%00=1", "/x"),
            ("method%00=delete", "/x"),
            (
                "prefilled_message=Tom%20&%20Jerry",
                "/x?prefilled_message=Tom+",
            ),
        ] {
            let q = Query::for_meta(Some(sent)).unwrap();
            assert_eq!(q.append_to("/x".into()), kept, "{sent}");
        }
        // Another case is the same key.
        let err = Query::for_meta(Some("hsm_id=1&HSM_ID=2")).unwrap_err();
        assert_eq!(err.code(), "duplicate_query_key");
        // What the SDKs send passes.
        Query::for_meta(Some(
            "fields=id%2Cname%2Cpreview.invalidate%28true%29%2Chealth_status&limit=10",
        ))
        .unwrap();
        let q = Query::for_meta(Some("fields=id&access_token=theirs&appsecret%5Fproof=p")).unwrap();
        assert_eq!(q.append_to("/x".into()), "/x?fields=id");
    }

    #[test]
    fn an_empty_query_adds_nothing() {
        assert_eq!(Query::parse(None).append_to("/x".into()), "/x");
        assert_eq!(Query::parse(Some("")).append_to("/x".into()), "/x");
    }
}
