//! Meta's webhook payload split into events: one per `messages[]` item, one per `statuses[]`
//! item, one per change of any other field. Each event keeps the exact bytes Meta sent for its
//! item, so nothing is lost or reformatted on the way to the tenant.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::Error;

/// Meta's payloads reach 3 MB; anything larger is refused before any work.
pub const MAX_WEBHOOK_BYTES: usize = 3 * 1024 * 1024;
pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

/// Stable across Meta's retries and the gateway's redeliveries: the dedupe key, and the
/// `webhook-id` a tenant sees. Messages `<wamid>`, statuses `<wamid>:<status>`, other fields
/// `<field>:<sha256 of the change bytes>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn message(wamid: &str) -> Self {
        EventId(wamid.to_owned())
    }

    fn status(wamid: &str, status: &str) -> Self {
        EventId(format!("{wamid}:{status}"))
    }

    fn field(field: &str, bytes: &str) -> Self {
        EventId(format!(
            "{field}:{}",
            hex::encode(Sha256::digest(bytes.as_bytes()))
        ))
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
    /// A change of any field other than messages/statuses (template status, account update...).
    Field,
}

/// One event, as queued between ingest and forward. Raw values hold Meta's exact bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub kind: EventKind,
    /// The entry id: the WABA id.
    pub waba_id: String,
    /// The change's `field` (`messages`, `message_template_status_update`, ...).
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// For messages and statuses: the wamid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// For statuses: sent, delivered, read, played, failed...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
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
    /// The phone number or WABA to route by, for logs.
    pub fn owner_key(&self) -> &str {
        self.phone_number_id.as_deref().unwrap_or(&self.waba_id)
    }

    pub fn to_queue_body(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }

    /// The queue body, at most `limit` bytes where that can be had without losing the event:
    /// a single-event POST's original body is dropped first (the forwarder then rebuilds an
    /// equivalent Meta envelope from the item, which is always kept).
    pub fn to_queue_body_within(&self, limit: usize) -> String {
        let body = self.to_queue_body();
        if body.len() <= limit || self.original_body.is_none() {
            return body;
        }
        let mut lean = self.clone();
        lean.original_body = None;
        lean.to_queue_body()
    }

    pub fn from_queue_body(body: &str) -> Result<Self, Error> {
        serde_json::from_str(body)
            .map_err(|e| Error::Internal(anyhow::anyhow!("queued event is not readable: {e}")))
    }
}

#[derive(Deserialize)]
struct Notification<'a> {
    object: Option<String>,
    #[serde(borrow)]
    entry: Option<Vec<Entry<'a>>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: Option<StringOrNumber>,
    #[serde(borrow, default)]
    changes: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Change<'a> {
    field: Option<String>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MessagesValue<'a> {
    messaging_product: Option<String>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    contacts: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    statuses: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: Option<StringOrNumber>,
}

#[derive(Deserialize)]
struct ContactKey {
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct MessageKey {
    id: Option<String>,
    from: Option<String>,
}

#[derive(Deserialize)]
struct StatusKey {
    id: Option<String>,
    status: Option<String>,
    timestamp: Option<StringOrNumber>,
}

/// Ids are strings in Meta's payloads, but a number is taken too rather than dropping an event.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

impl StringOrNumber {
    fn into_string(self) -> String {
        match self {
            StringOrNumber::String(s) => s,
            StringOrNumber::Number(n) => n.to_string(),
        }
    }
}

fn raw(value: &RawValue) -> Box<RawValue> {
    value.to_owned()
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_body("invalid_payload", message)
}

/// Splits a verified webhook body into events. Fails (400) when the body is not JSON or not a
/// WhatsApp Business Account notification; never drops an item it cannot classify.
pub fn split_events(body: &[u8]) -> Result<Vec<Event>, Error> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("body is not UTF-8 JSON"))?;
    let notification: Notification<'_> =
        serde_json::from_str(text).map_err(|e| invalid(format!("body is not valid JSON: {e}")))?;
    match notification.object.as_deref() {
        Some(WHATSAPP_OBJECT) => {}
        Some(other) => {
            return Err(invalid(format!(
                "field `object` is `{other}`, expected `{WHATSAPP_OBJECT}`"
            )));
        }
        None => return Err(invalid("field `object` is missing")),
    }
    let entries = notification
        .entry
        .ok_or_else(|| invalid("field `entry` is missing"))?;

    let mut events = Vec::new();
    for (e, entry) in entries.into_iter().enumerate() {
        let waba_id = entry
            .id
            .ok_or_else(|| invalid(format!("field `entry[{e}].id` is missing")))?
            .into_string();
        for (c, change_raw) in entry.changes.into_iter().enumerate() {
            let change: Change<'_> = serde_json::from_str(change_raw.get())
                .map_err(|err| invalid(format!("field `entry[{e}].changes[{c}]`: {err}")))?;
            let field = change.field.ok_or_else(|| {
                invalid(format!("field `entry[{e}].changes[{c}].field` is missing"))
            })?;
            let value = change.value.ok_or_else(|| {
                invalid(format!("field `entry[{e}].changes[{c}].value` is missing"))
            })?;
            split_change(&waba_id, &field, value, change_raw, &mut events)
                .map_err(|err| invalid(format!("field `entry[{e}].changes[{c}].value`: {err}")))?;
        }
    }
    if events.len() == 1 {
        events[0].original_body = Some(text.to_owned());
    }
    Ok(events)
}

fn split_change(
    waba_id: &str,
    field: &str,
    value: &RawValue,
    change_raw: &RawValue,
    events: &mut Vec<Event>,
) -> Result<(), serde_json::Error> {
    let field_event = |phone_number_id: Option<String>, product: Option<String>| Event {
        id: EventId::field(field, change_raw.get()),
        kind: EventKind::Field,
        waba_id: waba_id.to_owned(),
        field: field.to_owned(),
        phone_number_id,
        wamid: None,
        status: None,
        status_timestamp: None,
        messaging_product: product,
        metadata: None,
        contact: None,
        item: raw(value),
        original_body: None,
    };
    if field != "messages" {
        events.push(field_event(None, None));
        return Ok(());
    }
    let parsed: MessagesValue<'_> = serde_json::from_str(value.get())?;
    let phone_number_id = match parsed.metadata {
        Some(m) => serde_json::from_str::<Metadata>(m.get())?
            .phone_number_id
            .map(StringOrNumber::into_string),
        None => None,
    };
    if parsed.messages.is_empty() && parsed.statuses.is_empty() {
        // A messages change with neither (value-level errors, say) still reaches the tenant.
        events.push(field_event(phone_number_id, parsed.messaging_product));
        return Ok(());
    }
    let contacts: Vec<(Option<String>, &RawValue)> = parsed
        .contacts
        .iter()
        .map(|c| {
            let key: ContactKey = serde_json::from_str(c.get())?;
            Ok((key.wa_id, *c))
        })
        .collect::<Result<_, serde_json::Error>>()?;
    for message in &parsed.messages {
        let key: MessageKey = serde_json::from_str(message.get())?;
        let contact = contacts
            .iter()
            .find(|(wa_id, _)| wa_id.is_some() && *wa_id == key.from)
            .or(if contacts.len() == 1 {
                contacts.first()
            } else {
                None
            })
            .map(|(_, c)| raw(c));
        let id = match &key.id {
            Some(wamid) => EventId::message(wamid),
            None => EventId::field(field, message.get()),
        };
        events.push(Event {
            id,
            kind: EventKind::Message,
            waba_id: waba_id.to_owned(),
            field: field.to_owned(),
            phone_number_id: phone_number_id.clone(),
            wamid: key.id,
            status: None,
            status_timestamp: None,
            messaging_product: parsed.messaging_product.clone(),
            metadata: parsed.metadata.map(raw),
            contact,
            item: raw(message),
            original_body: None,
        });
    }
    for status in &parsed.statuses {
        let key: StatusKey = serde_json::from_str(status.get())?;
        let id = match (&key.id, &key.status) {
            (Some(wamid), Some(s)) => EventId::status(wamid, s),
            _ => EventId::field(field, status.get()),
        };
        events.push(Event {
            id,
            kind: EventKind::Status,
            waba_id: waba_id.to_owned(),
            field: field.to_owned(),
            phone_number_id: phone_number_id.clone(),
            wamid: key.id,
            status: key.status,
            status_timestamp: key.timestamp.map(StringOrNumber::into_string),
            messaging_product: parsed.messaging_product.clone(),
            metadata: parsed.metadata.map(raw),
            contact: None,
            item: raw(status),
            original_body: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &str = r#"{"object":"whatsapp_business_account","entry":[
      {"id":"WABA1","changes":[
        {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PN1"},
          "contacts":[{"profile":{"name":"A"},"wa_id":"111"},{"profile":{"name":"B"},"wa_id":"222"}],
          "messages":[{"from":"222","id":"wamid.B","timestamp":"1","type":"text","text":{"body":"b \u00e4"}},
                      {"from":"111","id":"wamid.A","timestamp":"2","type":"text","text":{"body":"a"}}]},
         "field":"messages"},
        {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PN1"},
          "statuses":[{"id":"wamid.S","status":"sent","timestamp":"3","recipient_id":"111"},
                      {"id":"wamid.S","status":"delivered","timestamp":"4","recipient_id":"111"}]},
         "field":"messages"}]},
      {"id":"WABA2","changes":[
        {"value":{"event":"APPROVED","message_template_id":12345,"message_template_name":"hello"},
         "field":"message_template_status_update"}]}]}"#;

    #[test]
    fn a_multi_entry_multi_change_batch_gives_one_event_per_item() {
        let events = split_events(BATCH.as_bytes()).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 5);
        assert_eq!(
            &ids[..4],
            ["wamid.B", "wamid.A", "wamid.S:sent", "wamid.S:delivered"]
        );
        assert!(ids[4].starts_with("message_template_status_update:"));
        assert_eq!(ids[4].len(), "message_template_status_update:".len() + 64);
        assert_eq!(events[4].waba_id, "WABA2");
        assert_eq!(events[0].phone_number_id.as_deref(), Some("PN1"));
        assert!(events.iter().all(|e| e.original_body.is_none()));
    }

    #[test]
    fn each_message_keeps_its_exact_bytes_and_its_own_contact() {
        let events = split_events(BATCH.as_bytes()).unwrap();
        assert_eq!(
            events[0].item.get(),
            r#"{"from":"222","id":"wamid.B","timestamp":"1","type":"text","text":{"body":"b \u00e4"}}"#
        );
        assert!(
            events[0]
                .contact
                .as_ref()
                .unwrap()
                .get()
                .contains(r#""wa_id":"222""#)
        );
        assert!(
            events[1]
                .contact
                .as_ref()
                .unwrap()
                .get()
                .contains(r#""wa_id":"111""#)
        );
        assert!(events[2].contact.is_none());
        assert_eq!(events[3].status.as_deref(), Some("delivered"));
        assert_eq!(events[3].status_timestamp.as_deref(), Some("4"));
    }

    #[test]
    fn a_field_event_id_is_the_hash_of_the_change_bytes() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"x":1},"field":"account_update"}]}]}"#;
        let events = split_events(body.as_bytes()).unwrap();
        let expected = hex::encode(Sha256::digest(
            br#"{"value":{"x":1},"field":"account_update"}"#,
        ));
        assert_eq!(events[0].id.as_str(), format!("account_update:{expected}"));
        assert_eq!(events[0].kind, EventKind::Field);
        assert_eq!(events[0].item.get(), r#"{"x":1}"#);
    }

    #[test]
    fn event_ids_are_stable_across_a_retry_of_the_same_body() {
        let a = split_events(BATCH.as_bytes()).unwrap();
        let b = split_events(BATCH.as_bytes()).unwrap();
        assert_eq!(
            a.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            b.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_single_event_post_remembers_the_original_body() {
        let body = "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"W\",\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{\"phone_number_id\":\"P\"},\"messages\":[{\"from\":\"1\",\"id\":\"wamid.1\",\"type\":\"text\",\"text\":{\"body\":\"hi\"}}]},\"field\":\"messages\"}]}]}\n";
        let events = split_events(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].original_body.as_deref(), Some(body));
    }

    #[test]
    fn an_event_survives_the_queue_unchanged() {
        let events = split_events(BATCH.as_bytes()).unwrap();
        let back = Event::from_queue_body(&events[0].to_queue_body()).unwrap();
        assert_eq!(back.item.get(), events[0].item.get());
        assert_eq!(back.id, events[0].id);
        assert_eq!(
            back.contact.unwrap().get(),
            events[0].contact.as_ref().unwrap().get()
        );
    }

    #[test]
    fn a_messages_change_without_items_is_kept_as_one_event() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"errors":[{"code":131000}]},"field":"messages"}]}]}"#;
        let events = split_events(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Field);
        assert_eq!(events[0].phone_number_id.as_deref(), Some("P"));
    }

    #[test]
    fn bodies_that_are_not_whatsapp_notifications_are_refused_with_the_field_named() {
        let cases: [(&[u8], &str); 5] = [
            (b"{not json", "not valid JSON"),
            (b"\xff\xfe", "not UTF-8"),
            (br#"{"object":"page","entry":[]}"#, "`object` is `page`"),
            (br#"{"entry":[]}"#, "`object` is missing"),
            (br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{}}]}]}"#, "entry[0].changes[0].field"),
        ];
        for (body, needle) in cases {
            let err = split_events(body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }

    #[test]
    fn an_empty_entry_list_gives_no_events() {
        let events = split_events(br#"{"object":"whatsapp_business_account","entry":[]}"#).unwrap();
        assert!(events.is_empty());
    }
}
