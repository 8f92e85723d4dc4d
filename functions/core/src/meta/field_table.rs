//! The one table of how each webhook field is split and identified. A field not named here
//! (every WABA-level field, history, standby, and fields Meta adds later) is one event per
//! change, identified by a hash; docs/API.md shows the same table.

use super::EventKind;

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
/// collection name also needs its member in `split::shape::ValueHead`; a test checks they agree.)
pub fn collections_of(field: &str) -> &'static [Collection] {
    match field {
        "messages" => MESSAGES,
        "calls" => CALLS,
        "smb_message_echoes" => ECHOES,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
