//! The splitter: one event per message, status and change, in Meta's own bytes.

use super::*;
use crate::meta::EventKind;
use crate::meta::collections_of;
use shape::ValueHead;

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
    let messages = split(notification(r#"{"value":"x","field":"messages"}"#).as_bytes()).unwrap();
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

#[test]
fn a_repeated_top_level_key_or_a_byte_order_mark_never_refuses_a_signed_post() {
    let change = r#"{"value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.R"}]},"field":"messages"}"#;
    let entry = format!(r#"[{{"id":"W","changes":[{change}]}}]"#);
    let repeated_object = format!(
        r#"{{"object":"whatsapp_business_account","object":"whatsapp_business_account","entry":{entry}}}"#
    );
    let split_once = split(repeated_object.as_bytes()).unwrap();
    assert_eq!(split_once.events.len(), 1);
    assert_eq!(split_once.events[0].id.as_str(), "wamid.R");
    // Both lists of a repeated `entry` are delivered, none dropped.
    let other = entry.replace("wamid.R", "wamid.S");
    let repeated_entry =
        format!(r#"{{"object":"whatsapp_business_account","entry":{entry},"entry":{other}}}"#);
    let ids: Vec<String> = split(repeated_entry.as_bytes())
        .unwrap()
        .events
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, ["wamid.R", "wamid.S"]);
    // A byte-order mark is read past, and the tenant still gets the bytes Meta signed.
    let with_bom =
        format!("\u{feff}{{\"object\":\"whatsapp_business_account\",\"entry\":{entry}}}");
    let events = split(with_bom.as_bytes()).unwrap().events;
    assert_eq!(events[0].id.as_str(), "wamid.R");
    assert_eq!(events[0].original_body.as_deref(), Some(with_bom.as_str()));
    // Repeating keys does not make a notification of something else.
    let err = split(br#"{"object":"page","object":"page","entry":[]}"#).unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn a_repeated_key_never_forwards_metas_bytes_and_every_object_must_be_whatsapp() {
    let entry = r#"[{"id":"W","changes":[{"value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.R"}]},"field":"messages"}]}]"#;
    // A tenant's parser keeping the last `entry` would see none: the event goes on its own.
    let body = format!(r#"{{"object":"whatsapp_business_account","entry":{entry},"entry":[]}}"#);
    let events = split(body.as_bytes()).unwrap().events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].original_body, None);
    for objects in [
        r#""object":"whatsapp_business_account","object":"page""#,
        r#""object":null,"object":"whatsapp_business_account""#,
    ] {
        let body = format!(r#"{{{objects},"entry":{entry}}}"#);
        assert_eq!(
            split(body.as_bytes()).unwrap_err().status(),
            400,
            "{objects}"
        );
    }
}
