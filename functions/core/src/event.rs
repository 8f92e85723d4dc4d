//! One event of Meta's webhook, as queued between ingest and forward: one per `messages[]`,
//! `statuses[]`, `calls[]` or `message_echoes[]` item, one per change of any other field. Each
//! keeps the exact bytes Meta sent for its item, so nothing is lost or reformatted on the way.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::Error;

/// Meta's payloads reach 3 MB; anything larger is refused before any work.
pub const MAX_WEBHOOK_BYTES: usize = 3 * 1024 * 1024;
/// The field name given to a part of a POST that names none.
pub const UNKNOWN_FIELD: &str = "unknown";

pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

/// Stable across Meta's retries and the gateway's redeliveries, unique per genuine event: the
/// dedupe key, and the `webhook-id` a tenant sees. Messages and echoes `<wamid>`, statuses
/// `<wamid>:<status>[:<participant>]`, calls `<wacid>:<event>`, other fields
/// `<field>:<sha256 of entry id, entry time and change bytes>` (see `fields`).
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
    pub waba_id: String,
    /// The entry's `time` as Meta wrote it (JSON text), rebuilt into envelopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_time: Option<String>,
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
    /// The array the item sits in when re-wrapped in a value object.
    pub fn collection(&self) -> Option<&str> {
        match (&self.collection, self.kind) {
            (Some(c), _) => Some(c),
            (None, EventKind::Message) => Some("messages"),
            (None, EventKind::Status) => Some("statuses"),
            (None, _) => None,
        }
    }

    pub fn to_queue_body(&self) -> String {
        // Sized once: the raw parts, plus the escaped original body, plus the short fields.
        let raw = |r: &Option<Box<RawValue>>| r.as_ref().map_or(0, |r| r.get().len());
        let capacity = 512
            + self.item.get().len()
            + raw(&self.metadata)
            + raw(&self.contact)
            + self
                .original_body
                .as_ref()
                .map_or(0, |b| b.len() + b.len() / 4);
        let mut body = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut body, self).expect("an event always serializes");
        String::from_utf8(body).expect("serde_json writes UTF-8")
    }

    pub fn from_queue_body(body: &str) -> Result<Self, Error> {
        serde_json::from_str(body)
            .map_err(|e| Error::Internal(anyhow::anyhow!("queued event is not readable: {e}")))
    }
}

/// What the queue holds for an event too large for it: where its body was stored, with its id
/// and field so the DLQ can be listed without fetching it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCheck {
    pub claim_check: String,
    pub id: EventId,
    pub field: String,
}

impl ClaimCheck {
    /// The object key of `body`: by its hash, so Meta's retry of a POST rewrites one object.
    pub fn for_body(event: &Event, body: &str) -> Self {
        ClaimCheck {
            claim_check: format!(
                "events/{}.json",
                hex::encode(Sha256::digest(body.as_bytes()))
            ),
            id: event.id.clone(),
            field: event.field.clone(),
        }
    }

    /// The same event under a new key (`<key>` + the time): the DLQ move and a redrive copy
    /// the stored body there so it outlives the pointer that now holds it.
    pub fn renewed(&self, now_ms: i64) -> Self {
        let base = self
            .claim_check
            .strip_suffix(".json")
            .unwrap_or(&self.claim_check);
        let base = base.split('@').next().unwrap_or(base);
        ClaimCheck {
            claim_check: format!("{base}@{now_ms}.json"),
            ..self.clone()
        }
    }

    /// The claim check a queue body holds, if it is one.
    pub fn from_queue_body(body: &str) -> Option<Self> {
        if !body.starts_with(r#"{"claim_check":"#) {
            return None;
        }
        serde_json::from_str(body).ok()
    }

    pub fn to_queue_body(&self) -> String {
        serde_json::to_string(self).expect("a claim check always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::split_events;

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
    fn a_field_event_id_hashes_the_entry_id_the_entry_time_and_the_change_bytes() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"W","time":17,"changes":[{"value":{"x":1},"field":"account_update"}]}]}"#;
        let events = split_events(body.as_bytes()).unwrap();
        let change = br#"{"value":{"x":1},"field":"account_update"}"#;
        let mut hash = Sha256::new();
        for part in [&b"W"[..], b"17", b"", change] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        let expected = hex::encode(hash.finalize());
        assert_eq!(events[0].id.as_str(), format!("account_update:{expected}"));
        let other_waba = split_events(body.replace(r#""W""#, r#""W2""#).as_bytes()).unwrap();
        let later = split_events(body.replace("17", "18").as_bytes()).unwrap();
        assert_ne!(other_waba[0].id, events[0].id);
        assert_ne!(later[0].id, events[0].id);
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
            (br#"{"object":"page","entry":[]}"#, "`object` is not"),
            (br#"{"object":16505550101,"entry":[]}"#, "`object` is not"),
            (br#"{"entry":[]}"#, "`object` is missing"),
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
    fn a_claim_check_round_trips_and_is_told_apart_from_an_event() {
        let events = split_events(BATCH.as_bytes()).unwrap();
        let body = events[0].to_queue_body();
        let check = ClaimCheck::for_body(&events[0], &body);
        assert!(check.claim_check.starts_with("events/"));
        assert_eq!(
            ClaimCheck::from_queue_body(&check.to_queue_body()),
            Some(check)
        );
        assert_eq!(ClaimCheck::from_queue_body(&body), None);
    }

    #[test]
    fn the_size_limit_is_the_documented_3_mib() {
        assert_eq!(MAX_WEBHOOK_BYTES, 3_145_728);
    }

    #[test]
    fn a_field_name_that_could_not_stand_in_a_header_is_written_unknown() {
        for bad in [
            "a".repeat(65),
            "two words".to_owned(),
            "tab\tfield".to_owned(),
        ] {
            let id = EventId::field(&bad, "W", None, None, "{}");
            assert!(id.as_str().starts_with("unknown:"), "{bad}: {id}");
        }
        let long_ok = "a".repeat(64);
        let id = EventId::field(&long_ok, "W", None, None, "{}");
        assert!(id.as_str().starts_with(&format!("{long_ok}:")));
    }

    #[test]
    fn a_renewed_claim_check_names_a_new_object_of_the_same_body() {
        let events = split_events(BATCH.as_bytes()).unwrap();
        let check = ClaimCheck::for_body(&events[0], "body");
        let renewed = check.renewed(1_700_000_000_000);
        let base = check.claim_check.trim_end_matches(".json");
        assert_eq!(renewed.claim_check, format!("{base}@1700000000000.json"));
        assert_eq!(renewed.id, check.id);
        // Renewing again replaces the time instead of stacking them.
        assert_eq!(renewed.renewed(5).claim_check, format!("{base}@5.json"));
    }

    #[test]
    fn an_empty_entry_list_gives_no_events() {
        let events = split_events(br#"{"object":"whatsapp_business_account","entry":[]}"#).unwrap();
        assert!(events.is_empty());
    }
}
