//! One event of Meta's webhook, as queued between ingest and forward: one per `messages[]`,
//! `statuses[]`, `calls[]` or `message_echoes[]` item, one per change of any other field. Each
//! keeps the exact bytes Meta sent for its item, so nothing is lost or reformatted on the way.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt;

use super::UNKNOWN_FIELD;
use crate::ids::{MessageStatus, PhoneNumberId, WabaId, Wamid};

/// Stable across Meta's retries and the gateway's redeliveries, unique per genuine event: the
/// dedupe key, and the `webhook-id` a tenant sees. Messages and echoes `<wamid>`, statuses
/// `<wamid>:<status>[:<participant>]`, calls `<wacid>:<event>`, other fields
/// `<field>:<sha256 of entry id, entry time and change bytes>` (see `field_table`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id as a tenant names it: the `webhook-id` of a delivery.
    pub fn from_header(id: &str) -> Self {
        EventId(id.to_owned())
    }

    pub(crate) fn message(wamid: &str) -> Self {
        EventId(wamid.to_owned())
    }

    pub(crate) fn status(wamid: &str, status: &str, participant: Option<&str>) -> Self {
        match participant {
            Some(p) => EventId(format!("{wamid}:{status}:{p}")),
            None => EventId(format!("{wamid}:{status}")),
        }
    }

    pub(crate) fn call(wacid: &str, event: &str) -> Self {
        EventId(format!("{wacid}:{event}"))
    }

    /// Two WABAs (or two phone numbers) sending the same bytes, or a template flipping back
    /// to a state it had, are different events: the entry id, Meta's entry `time` and the
    /// phone number are hashed with the bytes. A field name that could not stand in a header
    /// is written `unknown`.
    pub(crate) fn field(
        field: &str,
        waba_id: &str,
        time: Option<&str>,
        phone_number_id: Option<&str>,
        bytes: &str,
    ) -> Self {
        let mut hash = Sha256::new();
        for part in [
            waba_id,
            time.unwrap_or_default(),
            phone_number_id.unwrap_or_default(),
            bytes,
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let name = match field.len() <= 64 && field.bytes().all(|b| b.is_ascii_graphic()) {
            true => field,
            false => UNKNOWN_FIELD,
        };
        EventId(format!("{name}:{}", hex::encode(hash.finalize())))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Message,
    Status,
    /// An item of another field's collection: a call, a call status, a message echo.
    Item,
    /// A whole change: any field not split by item (template status, account update...).
    Field,
}

/// One event, as queued between ingest and forward. Raw values hold Meta's exact bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub kind: EventKind,
    /// The array of the change's value the item came from (`messages`, `calls`...); `None`
    /// for a whole change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// The entry id: the WABA id.
    pub waba_id: WabaId,
    /// The entry's `time` as Meta wrote it (JSON text), rebuilt into envelopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_time: Option<String>,
    /// The change's `field` (`messages`, `message_template_status_update`, ...).
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<PhoneNumberId>,
    /// For messages and statuses: the wamid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<Wamid>,
    /// For statuses: sent, delivered, read, played, failed...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MessageStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RawValue>>,
    /// The `contacts` entry matching the message's sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Box<RawValue>>,
    /// The message item, the status item, or (other fields) the change's whole `value`.
    pub item: Box<RawValue>,
    /// Meta's whole POST body, only when it held exactly this one event: forwarded unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_body: Option<String>,
}

impl Event {
    /// The array the item sits in when re-wrapped in a value object.
    pub fn collection(&self) -> Option<&str> {
        match (&self.collection, self.kind) {
            (Some(c), _) => Some(c),
            (None, EventKind::Message) => Some("messages"),
            (None, EventKind::Status) => Some("statuses"),
            (None, _) => None,
        }
    }
}
