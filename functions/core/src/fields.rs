//! The one table of how each webhook field is split and identified. A field not named here
//! (every WABA-level field, history, standby, and fields Meta adds later) is one event per
//! change, identified by a hash; docs/API.md shows the same table.

use crate::event::EventKind;

/// How an item of a collection is identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemId {
    /// `<id>`: messages and message echoes. Tenants dedupe on the bare wamid.
    Message,
    /// `<id>:<status>`, plus `:<participant>` for a group message's status.
    Status,
    /// `<wacid>:<event>`: a call's connect, terminate...
    Call,
}

/// An array of a change's value whose items are events of their own.
#[derive(Debug)]
pub struct Collection {
    pub name: &'static str,
    pub kind: EventKind,
    pub id: ItemId,
}

const MESSAGES: &[Collection] = &[
    Collection {
        name: "messages",
        kind: EventKind::Message,
        id: ItemId::Message,
    },
    Collection {
        name: "statuses",
        kind: EventKind::Status,
        id: ItemId::Status,
    },
];

const CALLS: &[Collection] = &[
    Collection {
        name: "calls",
        kind: EventKind::Item,
        id: ItemId::Call,
    },
    Collection {
        name: "statuses",
        kind: EventKind::Item,
        id: ItemId::Status,
    },
];

const ECHOES: &[Collection] = &[Collection {
    name: "message_echoes",
    kind: EventKind::Item,
    id: ItemId::Message,
}];

/// The collections of `field` split item by item; empty for fields split by change. (A new
/// collection name also needs its member in `split::ValueHead`; a test checks they agree.)
pub fn collections_of(field: &str) -> &'static [Collection] {
    match field {
        "messages" => MESSAGES,
        "calls" => CALLS,
        "smb_message_echoes" => ECHOES,
        _ => &[],
    }
}

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

    #[test]
    fn only_messages_calls_and_echoes_are_split_by_item() {
        assert_eq!(collections_of("messages").len(), 2);
        assert_eq!(collections_of("calls")[0].id, ItemId::Call);
        assert_eq!(
            collections_of("smb_message_echoes")[0].name,
            "message_echoes"
        );
        for field in [
            "history",
            "standby",
            "user_preferences",
            "account_update",
            "x_new",
        ] {
            assert!(collections_of(field).is_empty(), "{field}");
        }
    }
}
