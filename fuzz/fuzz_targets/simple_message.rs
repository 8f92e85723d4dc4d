//! The `/v1/messages` parser on arbitrary bytes: it never panics, errors are 400s that name a
//! cause, and an accepted message always becomes a Cloud API body with the same recipient.
#![no_main]

use gateway_core::send::SimpleMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match SimpleMessage::parse(data) {
        Ok(message) => {
            let body = message.to_cloud_body();
            assert_eq!(body["to"], message.recipient.as_str());
            assert!(message.recipient.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(body["messaging_product"], "whatsapp");
        }
        Err(e) => {
            assert_eq!(e.status(), 400);
            assert!(!e.to_string().is_empty());
        }
    }
});
