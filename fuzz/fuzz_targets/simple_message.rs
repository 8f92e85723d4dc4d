//! The `/v1/messages` parser on arbitrary bytes: it never panics, errors are 400s that name a
//! cause, and an accepted message always becomes a Cloud API body with the same recipient.
#![no_main]

use gateway_core::send::SimpleMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match SimpleMessage::parse(data) {
        Ok(message) => {
            // Checked against the input itself, read independently of the parser.
            let input: serde_json::Value = serde_json::from_slice(data).expect("accepted input is JSON");
            let recipient = input["recipient"].as_str().expect("a string recipient");
            assert_eq!(recipient.trim_start_matches('+'), message.recipient);
            let kind = input["type"].as_str().expect("a string type");
            let body = message.to_cloud_body();
            assert_eq!(body["to"], recipient.strip_prefix('+').unwrap_or(recipient));
            assert_eq!(body["type"], kind);
            assert_eq!(body[kind], input[kind], "the content goes to Meta as sent");
            assert!(message.recipient.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(body["messaging_product"], "whatsapp");
        }
        Err(e) => {
            assert_eq!(e.status(), 400);
            assert!(!e.to_string().is_empty());
        }
    }
});
