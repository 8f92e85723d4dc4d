//! Every WABA webhook field, from the fixtures in Meta's wire format: how it is split, the
//! ids its events get, what it routes by, the media it names, and that the tenant receives
//! Meta's bytes. The expectations live beside the fixtures in `manifest.json`.

use std::collections::HashSet;

use gateway_core::format::{DeliveryFormat, render};
use gateway_core::meta::EventKind;
use gateway_core::meta::media_ids;
use gateway_core::meta::split::split_events;

const PHONE_NUMBER_ID: &str = "106540352242922";
const WABA_ID: &str = "102290129340398";

fn dir() -> String {
    format!(
        "{}/../../tests/fixtures/meta/fields",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(format!("{}/manifest.json", dir())).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{name}", dir())).unwrap()
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Message => "message",
        EventKind::Status => "status",
        EventKind::Item => "item",
        EventKind::Field => "field",
    }
}

#[test]
fn every_fixture_splits_into_the_events_its_manifest_names() {
    let cases = manifest();
    assert!(cases.len() >= 40, "a fixture per field: {}", cases.len());
    for case in &cases {
        let file = case["file"].as_str().unwrap();
        let body = fixture(file);
        let text = std::str::from_utf8(&body).unwrap();
        let events = split_events(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        let expected = case["events"].as_array().unwrap();
        assert_eq!(events.len(), expected.len(), "{file}: number of events");
        let mut ids = HashSet::new();
        for (event, want) in events.iter().zip(expected) {
            let what = format!("{file} event {}", event.id);
            assert_eq!(kind_name(event.kind), want["kind"], "{what}: kind");
            assert_eq!(
                event.collection.as_deref(),
                want["collection"].as_str(),
                "{what}"
            );
            assert_eq!(
                event.field,
                case["field"].as_str().unwrap(),
                "{what}: field"
            );
            assert_eq!(event.waba_id, WABA_ID, "{what}: entry id");
            match want["id"].as_str().unwrap() {
                "hash" => {
                    let prefix = format!("{}:", event.field);
                    let hash = event.id.as_str().strip_prefix(&prefix).unwrap_or_default();
                    assert!(
                        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{what}: a hashed id"
                    );
                }
                literal => assert_eq!(event.id.as_str(), literal, "{what}: id"),
            }
            let route = match event.phone_number_id.as_deref() {
                Some(PHONE_NUMBER_ID) => "phone",
                Some(other) => panic!("{what}: unexpected phone number {other}"),
                None => "waba",
            };
            assert_eq!(route, want["route"], "{what}: route");
            assert!(ids.insert(event.id.clone()), "{what}: ids are unique");
            // Meta's exact bytes are what the tenant gets.
            assert!(text.contains(event.item.get()), "{what}: item bytes kept");
            let delivered = render(event, DeliveryFormat::Meta);
            if events.len() == 1 {
                assert_eq!(
                    delivered, body,
                    "{what}: a single-event POST goes as it came"
                );
            } else {
                let delivered = String::from_utf8(delivered).unwrap();
                assert!(
                    delivered.contains(event.item.get()),
                    "{what}: rendered with its bytes"
                );
                serde_json::from_str::<serde_json::Value>(&delivered).unwrap();
            }
        }
        let mut found: Vec<String> = events
            .iter()
            .filter(|e| e.kind != EventKind::Status)
            .flat_map(|e| media_ids(e.item.get()))
            .collect();
        found.sort();
        let mut want: Vec<String> = case["media_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        want.sort();
        assert_eq!(found, want, "{file}: media ids");
    }
}

#[test]
fn every_fixture_is_in_the_manifest() {
    let listed: HashSet<String> = manifest()
        .iter()
        .map(|c| c["file"].as_str().unwrap().to_owned())
        .collect();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") && name != "manifest.json" {
            assert!(listed.contains(&name), "{name} has no manifest entry");
        }
    }
}

#[test]
fn business_scoped_users_get_their_own_contact_by_user_id() {
    let events = split_events(&fixture("messages_business_scoped_user.json")).unwrap();
    assert_eq!(events.len(), 2);
    for event in &events {
        let item: serde_json::Value = serde_json::from_str(event.item.get()).unwrap();
        let contact: serde_json::Value =
            serde_json::from_str(event.contact.as_ref().expect("a contact").get()).unwrap();
        assert_eq!(item["from_user_id"], contact["user_id"], "{}", event.id);
    }
}

#[test]
fn two_participants_reading_a_group_message_are_two_events() {
    let events = split_events(&fixture("messages_status_group_read.json")).unwrap();
    let ids: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(ids.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.status.as_ref().map(|s| s.as_str()) == Some("read"))
    );
}

#[test]
fn the_same_template_change_at_another_time_or_under_another_waba_is_another_event() {
    let body = String::from_utf8(fixture("message_template_status_update.json")).unwrap();
    let first = split_events(body.as_bytes()).unwrap().remove(0);
    let again = split_events(body.as_bytes()).unwrap().remove(0);
    assert_eq!(first.id, again.id, "Meta's retry of the same POST");
    let time = body.split("\"time\":").nth(1).unwrap();
    let digits: String = time
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let later = body.replacen(
        &digits,
        &(digits.parse::<u64>().unwrap() + 60).to_string(),
        1,
    );
    let later = split_events(later.as_bytes()).unwrap().remove(0);
    assert_ne!(first.id, later.id, "APPROVED again, later");
    let other = body.replace(WABA_ID, "999000111222333");
    let other = split_events(other.as_bytes()).unwrap().remove(0);
    assert_ne!(first.id, other.id, "the same change under another WABA");
}
