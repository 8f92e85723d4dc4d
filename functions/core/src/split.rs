//! Meta's webhook payload split into events, leniently: only what routing and ids need is
//! read (object, entry id and time, field, `metadata.phone_number_id`, item ids, status
//! values, the contact match); everything else stays Meta's raw bytes. A part that cannot be
//! split is still queued whole, as a field event, and counted: a signed POST is never refused
//! while any part of it can be delivered.

use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::Error;
use crate::event::{Event, EventId, EventKind, UNKNOWN_FIELD, WHATSAPP_OBJECT};
use crate::fields::{Collection, ItemId, collections_of};

/// What a POST held.
#[derive(Debug)]
pub struct Split {
    pub events: Vec<Event>,
    /// Parts that could not be split as Meta documents them, queued whole (a metric counts them).
    pub malformed: usize,
    /// Entries seen (each change gives at least one event), so an original body is kept only
    /// when it holds nothing but its one event.
    parts: usize,
}

/// A scalar of any JSON type, or anything else (ignored): an unexpected type is never an error.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose {
    Text(String),
    Number(serde_json::Number),
    Other(IgnoredAny),
}

fn text(value: Option<Loose>) -> Option<String> {
    match value? {
        Loose::Text(s) => Some(s),
        Loose::Number(n) => Some(n.to_string()),
        Loose::Other(_) => None,
    }
}

/// A list whose items stay raw, read in the same pass as its parent; anything else that
/// stands where a list should is `NotAList`, never an error.
enum RawList<'a> {
    Items(Vec<&'a RawValue>),
    NotAList,
}

impl<'de: 'a, 'a> Deserialize<'de> for RawList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<'a>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for ListVisitor<'a> {
            type Value = RawList<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(RawList::Items(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawList::NotAList)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RawList::NotAList)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RawList::NotAList)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RawList::NotAList)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RawList::NotAList)
            }

            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RawList::NotAList)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RawList::NotAList)
            }
        }

        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

impl<'a> RawList<'a> {
    fn items(list: Option<RawList<'a>>) -> Option<Vec<&'a RawValue>> {
        match list? {
            RawList::Items(items) => Some(items),
            RawList::NotAList => None,
        }
    }
}

#[derive(Deserialize)]
struct Notification<'a> {
    object: Option<Loose>,
    #[serde(borrow)]
    entry: Option<&'a RawValue>,
}

/// The usual shape, read in one pass: every entry an object.
#[derive(Deserialize)]
struct Entries<'a> {
    #[serde(borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: Option<Loose>,
    #[serde(borrow)]
    time: Option<&'a RawValue>,
    #[serde(borrow)]
    changes: Option<RawList<'a>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    field: Option<Loose>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

/// What is read of a change's value: one pass, every list kept raw.
#[derive(Deserialize)]
struct ValueHead<'a> {
    messaging_product: Option<Loose>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    contacts: Option<RawList<'a>>,
    #[serde(borrow)]
    messages: Option<RawList<'a>>,
    #[serde(borrow)]
    statuses: Option<RawList<'a>>,
    #[serde(borrow)]
    calls: Option<RawList<'a>>,
    #[serde(borrow)]
    message_echoes: Option<RawList<'a>>,
}

impl<'a> ValueHead<'a> {
    /// One of the collections `fields` names, taken out of the value.
    fn take(&mut self, name: &str) -> Option<RawList<'a>> {
        match name {
            "messages" => self.messages.take(),
            "statuses" => self.statuses.take(),
            "calls" => self.calls.take(),
            "message_echoes" => self.message_echoes.take(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: Option<Loose>,
}

#[derive(Deserialize)]
struct ItemKey {
    id: Option<Loose>,
    from: Option<Loose>,
    from_user_id: Option<Loose>,
    status: Option<Loose>,
    event: Option<Loose>,
    timestamp: Option<Loose>,
    recipient_participant_id: Option<Loose>,
    recipient_participant_user_id: Option<Loose>,
}

#[derive(Deserialize)]
struct ContactKey {
    wa_id: Option<Loose>,
    user_id: Option<Loose>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_body("invalid_payload", message)
}

fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

fn list(raw: Option<&RawValue>) -> Option<Vec<&RawValue>> {
    serde_json::from_str(raw?.get()).ok()
}

/// Splits a verified webhook body into events. Only a body that is not JSON, or not a WhatsApp
/// Business Account notification, is refused (400); parse errors never echo values.
pub fn split_events(body: &[u8]) -> Result<Vec<Event>, Error> {
    split(body).map(|s| s.events)
}

/// `split_events`, with the count of parts that were queued whole because they were malformed.
pub fn split(body: &[u8]) -> Result<Split, Error> {
    let text_body = std::str::from_utf8(body).map_err(|_| invalid("body is not UTF-8 JSON"))?;
    let notification: Notification<'_> = serde_json::from_str(text_body).map_err(|e| {
        invalid(format!(
            "body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    match notification.object {
        Some(Loose::Text(o)) if o == WHATSAPP_OBJECT => {}
        Some(_) => {
            return Err(invalid(format!(
                "field `object` is not `{WHATSAPP_OBJECT}`"
            )));
        }
        None => return Err(invalid("field `object` is missing")),
    }
    let mut out = Split {
        events: Vec::new(),
        malformed: 0,
        parts: 0,
    };
    // A notification without entries carries nothing to deliver.
    let Some(entry) = notification.entry else {
        return Ok(out);
    };
    let fast = serde_json::from_str::<Entries<'_>>(text_body)
        .ok()
        .filter(|e| {
            !e.entry
                .iter()
                .any(|e| matches!(e.changes, Some(RawList::NotAList)))
        });
    if let Some(Entries { entry: entries }) = fast {
        for entry in entries {
            split_entry(entry, None, &mut out);
        }
    } else {
        // An entry that is not an object, or `entry` not a list: each part on its own.
        match list(Some(entry)) {
            Some(raws) => {
                for raw in raws {
                    match parse::<Entry<'_>>(raw) {
                        Some(parsed) => split_entry(parsed, Some(raw), &mut out),
                        None => out.whole(&Origin::default(), UNKNOWN_FIELD, None, raw, raw, true),
                    }
                }
            }
            None => out.whole(&Origin::default(), UNKNOWN_FIELD, None, entry, entry, true),
        }
    }
    // Meta's bytes go to the tenant unchanged only when they hold nothing but this event.
    if out.events.len() == 1 && out.parts == 1 {
        out.events[0].original_body = Some(text_body.to_owned());
    }
    Ok(out)
}

/// Where a part came from: what its id and route are computed from.
#[derive(Default)]
struct Origin {
    waba_id: String,
    /// The entry's `time` as Meta wrote it (JSON text: a number, or a string).
    time: Option<String>,
}

fn split_entry(entry: Entry<'_>, raw: Option<&RawValue>, out: &mut Split) {
    out.parts += 1;
    let origin = Origin {
        waba_id: text(entry.id).unwrap_or_default(),
        time: entry.time.map(|t| t.get().to_owned()),
    };
    let changes = match entry.changes {
        Some(RawList::Items(changes)) => changes,
        // An entry without changes carries nothing.
        None => return,
        // One with an odd `changes` is kept whole.
        // (The one-pass read leaves such bodies to the part-by-part read, which has `raw`.)
        Some(RawList::NotAList) => {
            if let Some(raw) = raw {
                out.whole(&origin, UNKNOWN_FIELD, None, raw, raw, true);
            }
            return;
        }
    };
    for change_raw in changes {
        match parse::<Change<'_>>(change_raw) {
            Some(Change {
                field: Some(Loose::Text(field)),
                value: Some(value),
            }) => out.change(&origin, &field, value, change_raw),
            Some(change) => {
                let field = text(change.field).unwrap_or_else(|| UNKNOWN_FIELD.to_owned());
                let value = change.value.unwrap_or(change_raw);
                out.whole(&origin, &field, None, value, change_raw, true);
            }
            None => out.whole(&origin, UNKNOWN_FIELD, None, change_raw, change_raw, true),
        }
    }
}

impl Split {
    /// One event for a whole change (or a part that could not be split).
    fn whole(
        &mut self,
        origin: &Origin,
        field: &str,
        head: Option<&ValueHead<'_>>,
        item: &RawValue,
        hashed: &RawValue,
        malformed: bool,
    ) {
        self.malformed += usize::from(malformed);
        let phone_number_id = head.and_then(phone_number_id);
        self.events.push(Event {
            id: EventId::field(
                field,
                &origin.waba_id,
                origin.time.as_deref(),
                phone_number_id.as_deref(),
                hashed.get(),
            ),
            kind: EventKind::Field,
            collection: None,
            waba_id: origin.waba_id.clone(),
            entry_time: origin.time.clone(),
            field: field.to_owned(),
            phone_number_id,
            wamid: None,
            status: None,
            status_timestamp: None,
            messaging_product: None,
            metadata: None,
            contact: None,
            item: item.to_owned(),
            original_body: None,
        });
    }

    fn change(&mut self, origin: &Origin, field: &str, value: &RawValue, change_raw: &RawValue) {
        let mut head = parse::<ValueHead<'_>>(value);
        let collections = collections_of(field);
        let mut items: Vec<(&Collection, Vec<&RawValue>)> = Vec::new();
        let mut odd = head.is_none() && !collections.is_empty();
        if let Some(head) = &mut head {
            for collection in collections {
                match head.take(collection.name) {
                    Some(RawList::Items(list)) => items.push((collection, list)),
                    Some(RawList::NotAList) => odd = true,
                    None => {}
                }
            }
        }
        if odd || items.iter().all(|(_, list)| list.is_empty()) {
            // Not itemised (another field, or an `errors`-only messages change): one event.
            return self.whole(origin, field, head.as_ref(), value, change_raw, odd);
        }
        let mut head = head.expect("itemised values parsed");
        let contacts: Vec<(Option<String>, Option<String>, &RawValue)> =
            RawList::items(head.contacts.take())
                .unwrap_or_default()
                .into_iter()
                .map(|c| match parse::<ContactKey>(c) {
                    Some(k) => (text(k.wa_id), text(k.user_id), c),
                    None => (None, None, c),
                })
                .collect();
        for (collection, list) in items {
            for item in list {
                self.item(origin, field, &head, &contacts, collection, item);
            }
        }
    }

    fn item(
        &mut self,
        origin: &Origin,
        field: &str,
        head: &ValueHead<'_>,
        contacts: &[(Option<String>, Option<String>, &RawValue)],
        collection: &Collection,
        item: &RawValue,
    ) {
        let key = parse::<ItemKey>(item);
        let id = key.as_ref().and_then(|k| item_id(collection.id, k));
        let (Some(key), Some(id)) = (key, id) else {
            // No id to dedupe on: kept whole, routed like its change, counted.
            return self.whole(origin, field, Some(head), item, item, true);
        };
        let wamid = text(key.id);
        let contact = match collection.kind {
            EventKind::Message => match_contact(contacts, key.from, key.from_user_id),
            // A call carries its caller's contact too (`from` is the caller's wa_id).
            EventKind::Item if collection.id == ItemId::Call => {
                match_contact(contacts, key.from, key.from_user_id)
            }
            _ => None,
        };
        self.events.push(Event {
            id,
            kind: collection.kind,
            collection: Some(collection.name.to_owned()),
            waba_id: origin.waba_id.clone(),
            entry_time: origin.time.clone(),
            field: field.to_owned(),
            phone_number_id: phone_number_id(head),
            status: text(key.status),
            wamid,
            status_timestamp: text(key.timestamp),
            messaging_product: head.messaging_product.as_ref().and_then(|p| match p {
                Loose::Text(s) => Some(s.clone()),
                _ => None,
            }),
            metadata: head.metadata.map(RawValue::to_owned),
            contact,
            item: item.to_owned(),
            original_body: None,
        });
    }
}

fn phone_number_id(head: &ValueHead<'_>) -> Option<String> {
    text(parse::<Metadata>(head.metadata?)?.phone_number_id)
}

/// The event id of one item by its collection's scheme; `None` when the item has no id.
fn item_id(scheme: ItemId, key: &ItemKey) -> Option<EventId> {
    let id = match &key.id {
        Some(Loose::Text(s)) if header_safe(s) => s.as_str(),
        _ => return None,
    };
    let part = |v: &Option<Loose>| match v {
        Some(Loose::Text(s)) if header_safe(s) => Some(s.clone()),
        Some(Loose::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(match scheme {
        ItemId::Message => EventId::message(id),
        ItemId::Status => {
            let status = part(&key.status)?;
            let participant = part(&key.recipient_participant_id)
                .or_else(|| part(&key.recipient_participant_user_id));
            EventId::status(id, &status, participant.as_deref())
        }
        ItemId::Call => EventId::call(id, &part(&key.event)?),
    })
}

/// An id part that can stand in a `webhook-id` header and a DynamoDB key: visible ASCII, not
/// empty, not huge. Anything else falls back to a hashed id.
fn header_safe(part: &str) -> bool {
    !part.is_empty() && part.len() <= 256 && part.bytes().all(|b| b.is_ascii_graphic())
}

/// The contact of a message's sender: by `wa_id` = `from`, or `user_id` = `from_user_id`;
/// a lone contact belongs to every message of its change.
fn match_contact(
    contacts: &[(Option<String>, Option<String>, &RawValue)],
    from: Option<Loose>,
    from_user_id: Option<Loose>,
) -> Option<Box<RawValue>> {
    let from = text(from);
    let from_user_id = text(from_user_id);
    contacts
        .iter()
        .find(|(wa_id, user_id, _)| {
            (wa_id.is_some() && *wa_id == from) || (user_id.is_some() && *user_id == from_user_id)
        })
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        })
        .map(|(_, _, c)| (*c).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(changes: &str) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","time":5,"changes":[{changes}]}}]}}"#
        )
    }

    #[test]
    fn unexpected_types_outside_what_is_read_never_refuse_a_post() {
        let body = notification(
            r#"{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"contacts":[{"wa_id":16505550101,"profile":7}],"messages":[{"from":16505550101,"id":"wamid.1","timestamp":1,"type":"text","text":{"body":["x"]}}]},"field":"messages"}"#,
        );
        let split = split(body.as_bytes()).unwrap();
        assert_eq!(split.malformed, 0);
        assert_eq!(split.events[0].id.as_str(), "wamid.1");
        assert!(
            split.events[0].contact.is_some(),
            "matched by the numeric wa_id"
        );
    }

    #[test]
    fn parts_that_cannot_be_split_are_kept_whole_and_counted() {
        let cases = [
            // a message without an id
            (
                notification(
                    r#"{"value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"1","type":"text"}]},"field":"messages"}"#,
                ),
                Some("P"),
            ),
            // `messages` is not a list
            (
                notification(
                    r#"{"value":{"metadata":{"phone_number_id":"P"},"messages":"x"},"field":"messages"}"#,
                ),
                Some("P"),
            ),
            // a change without a field, a change that is not an object
            (notification(r#"{"value":{"x":1}}"#), None),
            (notification(r#"17"#), None),
            // `entry` that is not a list, `changes` that is not a list
            (
                r#"{"object":"whatsapp_business_account","entry":{"id":"W"}}"#.to_owned(),
                None,
            ),
            (
                r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":{"a":1}}]}"#
                    .to_owned(),
                None,
            ),
        ];
        for (body, phone) in cases {
            let split = split(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(split.events.len(), 1, "{body}");
            assert_eq!(split.malformed, 1, "{body}");
            let event = &split.events[0];
            assert_eq!(event.kind, EventKind::Field, "{body}");
            assert_eq!(event.phone_number_id.as_deref(), phone, "{body}");
            assert!(body.contains(event.item.get()), "{body}: raw bytes kept");
        }
    }

    #[test]
    fn a_parse_error_names_the_position_not_the_value() {
        let err = split(br#"{"object":"whatsapp_business_account","entry":[{"id":"4915112345678"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("4915112345678"), "{err}");
    }

    #[test]
    fn any_field_carrying_a_phone_number_routes_by_it() {
        for field in [
            "user_preferences",
            "group_lifecycle_update",
            "some_future_field",
        ] {
            let body = notification(&format!(
                r#"{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"P9"}},"x":[1]}},"field":"{field}"}}"#
            ));
            let events = split_events(body.as_bytes()).unwrap();
            assert_eq!(events[0].phone_number_id.as_deref(), Some("P9"), "{field}");
            assert_eq!(events[0].field, field);
        }
    }

    #[test]
    fn the_original_body_is_kept_only_when_it_holds_nothing_but_the_event() {
        let one = notification(r#"{"value":{"x":1},"field":"account_update"}"#);
        assert!(
            split_events(one.as_bytes()).unwrap()[0]
                .original_body
                .is_some()
        );
        // Another WABA's entry without changes must not travel with this tenant's event.
        let two = one.replace(r#""entry":["#, r#""entry":[{"id":"OTHER","changes":[]},"#);
        let events = split_events(two.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert!(events[0].original_body.is_none());
        let rendered = crate::format::render(&events[0], crate::format::DeliveryFormat::Meta);
        let rendered = String::from_utf8(rendered).unwrap();
        assert!(!rendered.contains("OTHER"));
        assert!(rendered.contains(r#""id":"W","time":5,"#), "{rendered}");
    }

    #[test]
    fn a_notification_without_entries_is_accepted_and_carries_nothing() {
        let split = split(br#"{"object":"whatsapp_business_account"}"#).unwrap();
        assert!(split.events.is_empty());
    }

    #[test]
    fn ids_that_could_not_stand_in_a_header_fall_back_to_a_hash() {
        let body = notification(
            r#"{"value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.\r\nX-Evil: 1"}]},"field":"messages"}"#,
        );
        let split = split(body.as_bytes()).unwrap();
        let id = split.events[0].id.as_str();
        assert!(
            id.starts_with("messages:") && id.len() == "messages:".len() + 64,
            "{id}"
        );
        assert_eq!(split.malformed, 1);
    }

    #[test]
    fn a_call_carries_its_callers_contact() {
        let body = notification(
            r#"{"value":{"metadata":{"phone_number_id":"P"},"contacts":[{"wa_id":"1","profile":{"name":"A"}},{"wa_id":"2","profile":{"name":"B"}}],"calls":[{"id":"wacid.9","from":"2","event":"connect"}]},"field":"calls"}"#,
        );
        let events = split_events(body.as_bytes()).unwrap();
        assert!(
            events[0]
                .contact
                .as_ref()
                .unwrap()
                .get()
                .contains(r#""wa_id":"2""#)
        );
    }

    #[test]
    fn byte_identical_id_less_items_of_two_phone_numbers_are_two_events() {
        let change = |p: &str| {
            format!(
                r#"{{"value":{{"metadata":{{"phone_number_id":"{p}"}},"messages":[{{"from":"1","type":"text"}}]}},"field":"messages"}}"#
            )
        };
        let body = notification(&format!("{},{}", change("P1"), change("P2")));
        let events = split_events(body.as_bytes()).unwrap();
        assert_ne!(events[0].id, events[1].id);
    }

    #[test]
    fn an_odd_entry_is_kept_whole_and_the_entries_beside_it_are_split_as_usual() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":{"a":1}},{"id":"W2","changes":[{"value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.s1"},{"from":"1","id":"wamid.s2"}]},"field":"messages"}]}]}"#;
        let split = split(body.as_bytes()).unwrap();
        let ids: Vec<&str> = split.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_eq!(&ids[1..], ["wamid.s1", "wamid.s2"]);
        assert_eq!(split.malformed, 1);
    }

    #[test]
    fn a_value_that_is_not_an_object_is_malformed_only_where_items_were_expected() {
        let messages =
            split(notification(r#"{"value":"x","field":"messages"}"#).as_bytes()).unwrap();
        assert_eq!((messages.events.len(), messages.malformed), (1, 1));
        let other =
            split(notification(r#"{"value":"x","field":"account_alerts"}"#).as_bytes()).unwrap();
        assert_eq!((other.events.len(), other.malformed), (1, 0));
    }

    #[test]
    fn a_lone_contact_belongs_to_the_message_even_when_from_differs() {
        let body = notification(
            r#"{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"contacts":[{"wa_id":"111"}],"messages":[{"from":"999","id":"wamid.c1"}]},"field":"messages"}"#,
        );
        let events = split_events(body.as_bytes()).unwrap();
        assert!(events[0].contact.as_ref().unwrap().get().contains("111"));
        assert_eq!(events[0].messaging_product.as_deref(), Some("whatsapp"));
    }

    #[test]
    fn status_parts_may_be_numbers_but_not_header_breaking_text() {
        let body = notification(
            r#"{"value":{"metadata":{"phone_number_id":"P"},"statuses":[{"id":"wamid.g","status":"read","recipient_participant_id":16505550101},{"id":"wamid.h","status":"read\r\nX-Evil: 1"}]},"field":"messages"}"#,
        );
        let split = split(body.as_bytes()).unwrap();
        assert_eq!(split.events[0].id.as_str(), "wamid.g:read:16505550101");
        assert!(split.events[1].id.as_str().starts_with("messages:"));
        assert_eq!(split.malformed, 1);
    }

    #[test]
    fn every_collection_the_field_table_names_is_read_by_the_splitter() {
        for field in ["messages", "calls", "smb_message_echoes"] {
            for collection in collections_of(field) {
                let value = format!(r#"{{"{}":[]}}"#, collection.name);
                let mut head: ValueHead<'_> = serde_json::from_str(&value).unwrap();
                assert!(head.take(collection.name).is_some(), "{}", collection.name);
            }
        }
    }

    #[test]
    fn calls_and_echoes_are_split_by_item_with_their_own_ids() {
        let body = notification(
            r#"{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"calls":[{"id":"wacid.1","event":"connect"},{"id":"wacid.1","event":"terminate"}],"statuses":[{"id":"wacid.1","type":"call","status":"RINGING"}]},"field":"calls"},
               {"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"message_echoes":[{"id":"wamid.e1","type":"text"}]},"field":"smb_message_echoes"}"#,
        );
        let events = split_events(body.as_bytes()).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "wacid.1:connect",
                "wacid.1:terminate",
                "wacid.1:RINGING",
                "wamid.e1"
            ]
        );
        assert!(events.iter().all(|e| e.kind == EventKind::Item));
        assert_eq!(events[2].collection.as_deref(), Some("statuses"));
        assert_eq!(events[3].collection.as_deref(), Some("message_echoes"));
        // Only calls take a contact among items: an echo's `from` is the business.
        let echo_with_contacts = notification(
            r#"{"value":{"metadata":{"phone_number_id":"P"},"contacts":[{"wa_id":"1"}],"message_echoes":[{"id":"wamid.e2","from":"1"}]},"field":"smb_message_echoes"}"#,
        );
        assert!(
            split_events(echo_with_contacts.as_bytes()).unwrap()[0]
                .contact
                .is_none()
        );
    }
}
