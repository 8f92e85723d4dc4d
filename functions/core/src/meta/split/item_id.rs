//! The id of one item, by its collection's scheme: only parts that can stand in a header.

use super::lenient::Loose;
use super::shape::ItemKey;
use crate::meta::EventId;
use crate::meta::ItemId;

/// The event id of one item by its collection's scheme; `None` when the item has no id.
pub(super) fn item_id(scheme: ItemId, key: &ItemKey) -> Option<EventId> {
    let id = match &key.id {
        Some(Loose::Text(s)) if header_safe(s) => s.as_ref(),
        _ => return None,
    };
    let part = |v: &Option<Loose>| match v {
        Some(Loose::Text(s)) if header_safe(s) => Some(s.to_string()),
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
