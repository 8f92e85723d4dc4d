//! How the parts of a POST become events: an event per item, the whole change where the
//! items cannot be read, each with its id, its phone number and its contact.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::item_id::item_id;
use super::lenient::{Loose, RawList, parse, text};
use super::shape::{ContactKey, ItemKey, Metadata, ValueHead};
use super::{Origin, Split};
use crate::ids::{MessageStatus, PhoneNumberId, Wamid};
use crate::meta::{Collection, ItemId, collections_of};
use crate::meta::{Event, EventId, EventKind};

impl Split {
    /// One event for a whole change (or a part that could not be split).
    pub(super) fn whole(
        &mut self,
        origin: &Origin,
        field: &str,
        head: Option<&ValueHead<'_>>,
        item: &RawValue,
        hashed: &RawValue,
        malformed: bool,
    ) {
        self.malformed += usize::from(malformed);
        let phone_number_id = head.and_then(phone_number_id).map(PhoneNumberId::from_meta);
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

    pub(super) fn change(
        &mut self,
        origin: &Origin,
        field: &str,
        value: &RawValue,
        change_raw: &RawValue,
    ) {
        match items_of(field, parse::<ValueHead<'_>>(value)) {
            Parts::Items(items) => self.items(origin, field, items),
            // Not itemised (another field, or an `errors`-only messages change): one event.
            Parts::Whole { head, odd } => {
                self.whole(origin, field, head.as_ref(), value, change_raw, odd)
            }
        }
    }

    /// An event per item of a change whose items can be split.
    pub(super) fn items(&mut self, origin: &Origin, field: &str, items: Items<'_>) {
        let Items { mut head, lists } = items;
        let contacts: Vec<(Option<Key<'_>>, Option<Key<'_>>, &RawValue)> =
            RawList::items(head.contacts.take())
                .unwrap_or_default()
                .into_iter()
                .map(|c| match parse::<ContactKey>(c) {
                    Some(k) => (key(k.wa_id), key(k.user_id), c),
                    None => (None, None, c),
                })
                .collect();
        // Read once per change, not once per item.
        let phone = phone_number_id(&head);
        let place = Place {
            origin,
            field,
            head: &head,
            phone: phone.as_deref(),
        };
        for (collection, list) in lists {
            for item in list {
                self.item(&place, &contacts, collection, item);
            }
        }
    }

    fn item(
        &mut self,
        place: &Place<'_>,
        contacts: &[(Option<Key<'_>>, Option<Key<'_>>, &RawValue)],
        collection: &Collection,
        item: &RawValue,
    ) {
        let Place {
            origin,
            field,
            head,
            phone,
        } = *place;
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
            phone_number_id: phone.map(PhoneNumberId::from_meta),
            status: text(key.status).map(|s| MessageStatus::from_meta(&s)),
            wamid: wamid.map(Wamid::from_meta),
            status_timestamp: text(key.timestamp),
            messaging_product: head
                .messaging_product
                .as_ref()
                .and_then(Loose::as_text)
                .map(str::to_owned),
            metadata: head.metadata.map(RawValue::to_owned),
            contact,
            item: item.to_owned(),
            original_body: None,
        });
    }
}

/// A change whose items are split: its value's head, and the items of each collection.
pub(super) struct Items<'a> {
    head: ValueHead<'a>,
    lists: Vec<(&'static Collection, Vec<&'a RawValue>)>,
}

/// How a change is split: item by item, or kept whole (not itemised, odd, or without items),
/// with its value's head and whether it is odd.
pub(super) enum Parts<'a> {
    Items(Items<'a>),
    Whole {
        head: Option<ValueHead<'a>>,
        odd: bool,
    },
}

/// The items of `field`'s collections in `head`, or the change kept whole.
pub(super) fn items_of<'a>(field: &str, head: Option<ValueHead<'a>>) -> Parts<'a> {
    let collections = collections_of(field);
    let Some(mut head) = head else {
        return Parts::Whole {
            head: None,
            odd: !collections.is_empty(),
        };
    };
    let mut lists = Vec::new();
    let mut odd = false;
    for collection in collections {
        match head.take(collection.name) {
            Some(RawList::Items(list)) => lists.push((collection, list)),
            Some(RawList::NotAList) => odd = true,
            None => {}
        }
    }
    if odd || lists.iter().all(|(_, list)| list.is_empty()) {
        return Parts::Whole {
            head: Some(head),
            odd,
        };
    }
    Parts::Items(Items { head, lists })
}

/// A contact's or a sender's id as text, numbers written as Meta wrote them.
type Key<'a> = Cow<'a, str>;

fn key(value: Option<Loose<'_>>) -> Option<Key<'_>> {
    match value? {
        Loose::Text(s) => Some(s),
        Loose::Number(n) => Some(Cow::Owned(n.to_string())),
        Loose::Other => None,
    }
}

/// Where an item sits: its entry, its change's field and value, and the value's phone number.
struct Place<'p> {
    origin: &'p Origin,
    field: &'p str,
    head: &'p ValueHead<'p>,
    phone: Option<&'p str>,
}

fn phone_number_id(head: &ValueHead<'_>) -> Option<String> {
    text(parse::<Metadata>(head.metadata?)?.phone_number_id)
}

/// The contact of a message's sender: by `wa_id` = `from`, or `user_id` = `from_user_id`;
/// a lone contact belongs to every message of its change.
fn match_contact(
    contacts: &[(Option<Key<'_>>, Option<Key<'_>>, &RawValue)],
    from: Option<Loose<'_>>,
    from_user_id: Option<Loose<'_>>,
) -> Option<Box<RawValue>> {
    let from = key(from);
    let from_user_id = key(from_user_id);
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
