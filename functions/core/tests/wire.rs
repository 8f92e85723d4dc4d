//! No change on the wire: queue and dead-letter bodies an earlier version wrote
//! (`tests/fixtures/queue`, captured from commit 3f7e091) load with today's code and are
//! written back byte for byte.

use gateway_core::meta::{ClaimCheck, Event};

fn captured(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/queue/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn queue_bodies_of_the_earlier_version_load_and_are_written_back_unchanged() {
    for name in ["message_text_unicode.body", "status_failed.body"] {
        let body = captured(name);
        let event = Event::from_queue_body(&body).unwrap();
        assert!(event.id.as_str().starts_with("wamid."), "{name}");
        assert!(ClaimCheck::from_queue_body(&body).is_none(), "{name}");
        assert_eq!(event.to_queue_body(), body, "{name} is written as it was");
    }
    let message = Event::from_queue_body(&captured("message_text_unicode.body")).unwrap();
    // Meta's escapes are kept as Meta signed them.
    assert!(message.to_queue_body().contains(r"Gr\u00fc\u00dfe"));
    let status = Event::from_queue_body(&captured("status_failed.body")).unwrap();
    assert_eq!(
        status.id.as_str(),
        "wamid.HBgLMTY1MDU1NTAxMDIVAgARGBIyN0VGQTA1NzFBNUVCMEY3RjMA:failed"
    );
}

#[test]
fn a_claim_check_of_the_earlier_version_loads_and_is_written_back_unchanged() {
    let body = captured("claim_check.body");
    let check = ClaimCheck::from_queue_body(&body).expect("a claim check");
    assert!(check.claim_check.starts_with("events/"));
    assert_eq!(check.to_queue_body(), body);
}
