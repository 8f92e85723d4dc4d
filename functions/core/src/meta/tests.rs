//! Events as split and queued: ids, bytes, contacts, the original body, claim checks.

use sha2::{Digest, Sha256};

use super::*;
use crate::meta::split::split_events;

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
    assert_eq!(
        events[3]
            .status
            .as_ref()
            .map(crate::ids::MessageStatus::as_str),
        Some("delivered")
    );
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
