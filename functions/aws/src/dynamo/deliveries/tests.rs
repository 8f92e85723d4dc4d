//! The delivery log's pure parts, without a table: the listing cursor, and the placeholders
//! of every update request.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway_core::deliveries::Attempt;

use super::requests::Update;
use super::*;

#[test]
fn a_cursor_round_trips_and_an_oversized_or_foreign_one_is_a_400() {
    let key = HashMap::from([
        (PK.to_owned(), s("EVENT#wamid.1:sent")),
        (STATE_AT_MS.to_owned(), n(42)),
    ]);
    let cursor = encode_cursor(&key).unwrap();
    let start = decode_cursor(&cursor, "t#failed").unwrap();
    assert_eq!(get_s(&start, TENANT_STATE).as_deref(), Some("t#failed"));
    assert_eq!(get_n(&start, STATE_AT_MS), Some(42));
    let long = URL_SAFE_NO_PAD.encode(format!("1\nEVENT#{}", "x".repeat(2_000)));
    let foreign = URL_SAFE_NO_PAD.encode("1\nSEND#key");
    for bad in [long.as_str(), foreign.as_str(), "%%%"] {
        assert_eq!(decode_cursor(bad, "t#failed").unwrap_err().status(), 400);
    }
}

/// Every `:value` and `#name` an expression uses is given, and every one given is used
/// (DynamoDB refuses both; the emulator checks neither exactly).
fn placeholders_match(update: &Update) {
    let input = update.as_input();
    let text = format!(
        "{} {}",
        input.get_update_expression().clone().unwrap_or_default(),
        input.get_condition_expression().clone().unwrap_or_default()
    );
    let used = |sigil: char| -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(sigil) {
            let tail = &rest[i + 1..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            found.insert(format!("{sigil}{}", &tail[..end]));
            rest = &tail[end..];
        }
        found
    };
    let values: BTreeSet<String> = input
        .get_expression_attribute_values()
        .clone()
        .unwrap_or_default()
        .into_keys()
        .collect();
    let names: BTreeSet<String> = input
        .get_expression_attribute_names()
        .clone()
        .unwrap_or_default()
        .into_keys()
        .collect();
    assert_eq!(used(':'), values, "{text}");
    assert_eq!(used('#'), names, "{text}");
}

#[test]
fn every_request_names_exactly_the_values_it_uses() {
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    let id = EventId::from_header("wamid.1:sent");
    for phone in [None, Some("1065".to_owned())] {
        let note = AttemptNote {
            tenant_id: TenantId::new("t"),
            destination: "https://t.example/hook".into(),
            format: "meta",
            field: "messages".into(),
            phone_number_id: phone,
            attempt: Attempt {
                at_ms: 1,
                status: Some(500),
                error: Some("HTTP 500".into()),
                latency_ms: 3,
                next_retry_at_ms: Some(5),
            },
        };
        let keep = Duration::from_secs(60);
        for mark in [None, Some("0123456789abcdef0123456789abcdef")] {
            placeholders_match(&delivered_request(&client, "T", &id, &note, mark, keep));
            let failed = failed_request(
                &client,
                "T",
                &id,
                &note,
                mark,
                DeliveryState::Pending,
                keep,
                keep,
            );
            placeholders_match(&failed);
        }
    }
    let tenant = TenantId::new("t");
    for states in [
        &DeliveryState::ALL[..],
        &[DeliveryState::Failed, DeliveryState::Pending],
        &[DeliveryState::Pending],
        &[DeliveryState::Failed],
    ] {
        let reopen = reopen_request(
            &client,
            "T",
            &id,
            &tenant,
            states,
            "0123456789abcdef0123456789abcdef",
            1_000_000_000_000,
            Duration::from_secs(60),
        );
        placeholders_match(&reopen);
    }
    placeholders_match(&replay_done_request(&client, "T", &id, "ab"));
    placeholders_match(&count_call_request(&client, "T", "CALLS#t#replay#0", 60));
}
