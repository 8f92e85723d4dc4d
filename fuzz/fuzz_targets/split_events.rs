//! The webhook splitter on arbitrary bytes: it never panics, and every event it returns survives
//! the queue unchanged and renders to valid JSON in both delivery formats.
#![no_main]

use gateway_core::event::{Event, split_events};
use gateway_core::format::{DeliveryFormat, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(events) = split_events(data) else { return };
    for event in events {
        let back = Event::from_queue_body(&event.to_queue_body()).expect("a queued event reads back");
        assert_eq!(back.item.get(), event.item.get());
        assert_eq!(back.id, event.id);
        for format in [DeliveryFormat::Meta, DeliveryFormat::Envelope] {
            let body = render(&event, format);
            serde_json::from_slice::<serde_json::Value>(&body).expect("a delivery is JSON");
            if event.original_body.is_none() || format == DeliveryFormat::Envelope {
                assert!(body.is_ascii(), "a rebuilt delivery stays ASCII");
            }
        }
    }
});
