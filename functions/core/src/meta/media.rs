//! Media in Meta's inbound items: which types carry a Graph media id, and every id an item holds.

/// The media types whose object carries a Graph media `id`.
pub const MEDIA_TYPES: [&str; 5] = ["image", "audio", "video", "document", "sticker"];

/// Every media id in an inbound item, wherever it sits (a message, an echo, a history
/// thread, a standby message): an object whose `type` is a media type and whose member of
/// that name has an `id`.
pub fn media_ids(item: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(item) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    collect_media(&value, &mut out);
    out
}

/// A media id as a send names it: text or a whole number, exactly as written (a float, a
/// list... is `Odd`, kept so the caller can refuse it rather than miss it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedMedia {
    Id(String),
    Odd,
}

/// Every media id a body to send names: the `id` of any object under a media type's name, in
/// any case (`image`, a template parameter's `document`, an interactive header's `Video`...),
/// whatever the `type` beside it says. What Meta could read as a media id.
pub fn named_media_ids(body: &serde_json::Map<String, serde_json::Value>) -> Vec<NamedMedia> {
    let mut out = Vec::new();
    collect_named_in(body, &mut out);
    out
}

fn collect_named_in(map: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<NamedMedia>) {
    for (key, value) in map {
        if !MEDIA_TYPES.iter().any(|t| key.eq_ignore_ascii_case(t)) {
            continue;
        }
        let named = match value.get("id") {
            None => continue,
            Some(serde_json::Value::String(s)) => NamedMedia::Id(s.clone()),
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(n) => NamedMedia::Id(n.to_string()),
                None => NamedMedia::Odd,
            },
            Some(_) => NamedMedia::Odd,
        };
        if !out.contains(&named) {
            out.push(named);
        }
    }
    map.values().for_each(|v| collect_named(v, out));
}

fn collect_named(value: &serde_json::Value, out: &mut Vec<NamedMedia>) {
    match value {
        serde_json::Value::Object(map) => collect_named_in(map, out),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_named(v, out)),
        _ => {}
    }
}

fn collect_media(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(kind) = map.get("type").and_then(|t| t.as_str())
                && MEDIA_TYPES.contains(&kind)
                && let Some(id) = map
                    .get(kind)
                    .and_then(|m| m.get("id"))
                    .and_then(|i| i.as_str())
                && !out.iter().any(|seen| seen == id)
            {
                out.push(id.to_owned());
            }
            map.values().for_each(|v| collect_media(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_media(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_body_names_media_wherever_meta_could_read_an_id() {
        let body = serde_json::json!({
            "type": "text",
            "image": {"id": "1"},
            "template": {"components": [{"type": "header", "parameters": [
                {"type": "document", "document": {"id": 2}},
                {"type": "video", "video": {"link": "https://x.example/v.mp4"}}
            ]}]},
            "interactive": {"header": {"type": "image", "image": {"id": "1"}}},
            "sticker": "3"
        });
        let id = |s: &str| NamedMedia::Id(s.to_owned());
        assert_eq!(
            named_media_ids(body.as_object().unwrap()),
            [id("1"), id("2")]
        );
        let odd = serde_json::json!({"Image": {"id": 1.5e15}, "x": [{"STICKER": {"id": "7"}}]});
        assert_eq!(
            named_media_ids(odd.as_object().unwrap()),
            [NamedMedia::Odd, id("7")]
        );
    }

    #[test]
    fn media_ids_are_found_at_any_depth_for_media_types_only() {
        let history = r#"{"history":[{"threads":[{"messages":[{"type":"image","image":{"id":"11"}},{"type":"text","text":{"body":"12"}}]}]}],"x":{"type":"sticker","sticker":{"id":"13"}}}"#;
        assert_eq!(media_ids(history), ["11", "13"]);
        assert_eq!(
            media_ids(r#"{"type":"document","document":{"id":"9"}}"#),
            ["9"]
        );
        assert!(media_ids(r#"{"type":"text","text":{"id":"1"}}"#).is_empty());
        assert!(media_ids("not json").is_empty());
    }
}
