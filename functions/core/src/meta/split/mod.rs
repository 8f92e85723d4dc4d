//! Meta's webhook payload split into events, leniently: only what routing and ids need is
//! read (object, entry id and time, field, `metadata.phone_number_id`, item ids, status
//! values, the contact match); everything else stays Meta's raw bytes. A part that cannot be
//! split is still queued whole, as a field event, and counted: a signed POST is never refused
//! while any part of it can be delivered.

use serde_json::value::RawValue;

use crate::Error;
use crate::ids::WabaId;
use crate::meta::{Event, UNKNOWN_FIELD, WHATSAPP_OBJECT};
use assemble::{Parts, items_of};
use lenient::{Loose, RawList, list, parse, text};
use shape::{Change, Entries, Itemised, Notification, RawEntry, Repeated};

/// What a POST held.
#[derive(Debug, Default)]
pub struct Split {
    pub events: Vec<Event>,
    /// Parts that could not be split as Meta documents them, queued whole (a metric counts them).
    pub malformed: usize,
    /// Entries seen (each change gives at least one event), so an original body is kept only
    /// when it holds nothing but its one event.
    parts: usize,
    /// The body repeats a top-level key: its bytes are never forwarded as they are.
    repeated: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_body("invalid_payload", message)
}

/// Splits a verified webhook body into events. Only a body that is not JSON, or not a WhatsApp
/// Business Account notification, is refused (400); parse errors never echo values.
pub fn split_events(body: &[u8]) -> Result<Vec<Event>, Error> {
    split(body).map(|s| s.events)
}

/// `split_events`, with the count of parts that were queued whole because they were malformed.
pub fn split(body: &[u8]) -> Result<Split, Error> {
    let text_body = std::str::from_utf8(body).map_err(|_| invalid("body is not UTF-8 JSON"))?;
    // A byte-order mark is no JSON, but the bytes are signed as sent: read past it.
    let json = text_body.strip_prefix('\u{feff}').unwrap_or(text_body);
    if let Some((object, mut out)) = split_itemised(json) {
        check_object(object)?;
        out.keep_original(text_body);
        return Ok(out);
    }
    let mut out = Split::default();
    // Entries and changes in one pass; anything else (not JSON, an entry that is not an object,
    // `entry` not a list, an odd `changes`) is read again part by part, below.
    let fast = serde_json::from_str::<Entries<'_, RawEntry<'_>>>(json)
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
        let (objects, entries) = match serde_json::from_str::<Notification<'_>>(json) {
            Ok(n) => (vec![n.object], Vec::from_iter(n.entry)),
            // Valid JSON that repeats a key is read key by key; anything else is refused. A
            // tenant's parser would keep one of the repeated values, so Meta's bytes are not
            // forwarded as they are: each event goes in a notification of its own.
            Err(e) => match serde_json::from_str::<Repeated<'_>>(json) {
                Ok(r) => {
                    out.repeated = true;
                    (r.objects, r.entries)
                }
                Err(_) => {
                    return Err(invalid(format!(
                        "body is not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    )));
                }
            },
        };
        if objects.is_empty() {
            check_object(None)?;
        }
        for object in objects {
            check_object(object)?;
        }
        // A notification without entries carries nothing to deliver.
        for entry in entries {
            // An entry that is not an object, or `entry` not a list: each part on its own.
            match list(Some(entry)) {
                Some(raws) => {
                    for raw in raws {
                        match parse::<RawEntry<'_>>(raw) {
                            Some(parsed) => split_entry(parsed, Some(raw), &mut out),
                            None => {
                                out.whole(&Origin::default(), UNKNOWN_FIELD, None, raw, raw, true)
                            }
                        }
                    }
                }
                None => out.whole(&Origin::default(), UNKNOWN_FIELD, None, entry, entry, true),
            }
        }
    }
    out.keep_original(text_body);
    Ok(out)
}

/// The usual shape (every change itemised, and with items) read in one pass, the items then
/// each in one more; `None` when any part must be kept whole, which the part-by-part read does
/// with the raw bytes its id is hashed by.
fn split_itemised(text_body: &str) -> Option<(Option<Loose<'_>>, Split)> {
    let Entries { object, entry } = serde_json::from_str::<Itemised<'_>>(text_body).ok()?;
    let mut out = Split::default();
    for entry in entry.into_iter().flatten() {
        out.parts += 1;
        let origin = Origin::of(entry.id, entry.time);
        for change in entry.changes.into_iter().flatten() {
            let (Some(Loose::Text(field)), value) = (change.field, change.value) else {
                return None;
            };
            let Parts::Items(items) = items_of(&field, value) else {
                return None;
            };
            out.items(&origin, &field, items);
        }
    }
    Some((object, out))
}

impl Split {
    /// Meta's bytes go to the tenant unchanged only when they hold nothing but this event.
    fn keep_original(&mut self, text_body: &str) {
        if self.events.len() == 1 && self.parts == 1 && !self.repeated {
            self.events[0].original_body = Some(text_body.to_owned());
        }
    }
}

/// Only a WhatsApp Business Account notification is split.
fn check_object(object: Option<Loose<'_>>) -> Result<(), Error> {
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
    waba_id: WabaId,
    /// The entry's `time` as Meta wrote it (JSON text: a number, or a string).
    time: Option<String>,
}

impl Origin {
    fn of(id: Option<Loose<'_>>, time: Option<&RawValue>) -> Self {
        Origin {
            waba_id: WabaId::from_meta(text(id).unwrap_or_default()),
            time: time.map(|t| t.get().to_owned()),
        }
    }
}

fn split_entry(entry: RawEntry<'_>, raw: Option<&RawValue>, out: &mut Split) {
    out.parts += 1;
    let origin = Origin::of(entry.id, entry.time);
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
mod item_id;
mod lenient;
mod shape;
#[cfg(test)]
mod tests;
