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
    object: Option<Loose>,
    #[serde(borrow)]
    entry: Option<Vec<Entry<'a>>>,
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
    let mut out = Split {
        events: Vec::new(),
        malformed: 0,
        parts: 0,
    };
    // The usual shape in one pass; anything else (not JSON, an entry that is not an object,
    // `entry` not a list, an odd `changes`) is read again part by part, below.
    let fast = serde_json::from_str::<Entries<'_>>(text_body)
        .ok()
        .filter(|e| {
            !e.entry
                .iter()
                .flatten()
                .any(|e| matches!(e.changes, Some(RawList::NotAList)))
        });
    if let Some(Entries { object, entry }) = fast {
        check_object(object)?;
        for entry in entry.into_iter().flatten() {
            split_entry(entry, None, &mut out);
        }
    } else {
        let notification: Notification<'_> = serde_json::from_str(text_body).map_err(|e| {
            invalid(format!(
                "body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        check_object(notification.object)?;
        // A notification without entries carries nothing to deliver.
        let Some(entry) = notification.entry else {
            return Ok(out);
        };
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

/// Only a WhatsApp Business Account notification is split.
fn check_object(object: Option<Loose>) -> Result<(), Error> {
    match object {
        Some(Loose::Text(o)) if o == WHATSAPP_OBJECT => Ok(()),
        Some(_) => Err(invalid(format!(
            "field `object` is not `{WHATSAPP_OBJECT}`"
        ))),
        None => Err(invalid("field `object` is missing")),
    }
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

mod assemble;
#[cfg(test)]
mod tests;
