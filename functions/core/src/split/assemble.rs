//! How the parts of a POST become events: an event per item, the whole change where the
//! items cannot be read, each with its id, its phone number and its contact.

use super::*;

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

    pub(super) fn change(
        &mut self,
        origin: &Origin,
        field: &str,
        value: &RawValue,
        change_raw: &RawValue,
    ) {
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
        // Read once per change, not once per item.
        let phone = phone_number_id(&head);
        for (collection, list) in items {
            for item in list {
                let place = Place {
                    origin,
                    field,
                    head: &head,
                    phone: phone.as_deref(),
                };
                self.item(&place, &contacts, collection, item);
            }
        }
    }

    fn item(
        &mut self,
        place: &Place<'_>,
        contacts: &[(Option<String>, Option<String>, &RawValue)],
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
            phone_number_id: phone.map(str::to_owned),
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
