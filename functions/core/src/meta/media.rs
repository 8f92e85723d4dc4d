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
