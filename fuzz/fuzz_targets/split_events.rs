//! The webhook splitter on arbitrary bytes: it never panics; every event it returns holds bytes
//! taken from the input (never re-serialized), a single event's original body is the input
//! itself, every event survives the queue unchanged and renders,
//! in both delivery formats, to JSON that decodes wherever the input did.
#![no_main]

use gateway_core::meta::Event;
use gateway_core::meta::split::split_events;
use gateway_core::format::{DeliveryFormat, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(events) = split_events(data) else { return };
    // The grammar allows lone surrogate escapes, which strict decoders refuse; deliveries carry
    // Meta's bytes unchanged, so they must decode wherever the input does.
    let input_decodes = serde_json::from_slice::<serde_json::Value>(data).is_ok();
    let input = std::str::from_utf8(data).expect("split_events accepts UTF-8 only");
    for event in &events {
        assert!(input.contains(event.item.get()), "an item's bytes come from the input");
        if let Some(original) = &event.original_body {
            assert_eq!(original, input, "the original body is the input, byte for byte");
        }
    }
    for event in events {
        let back = Event::from_queue_body(&event.to_queue_body()).expect("a queued event reads back");
        assert_eq!(back.item.get(), event.item.get());
        assert_eq!(back.id, event.id);
        for format in [DeliveryFormat::Meta, DeliveryFormat::Envelope] {
            let body = render(&event, format);
            if input_decodes {
                serde_json::from_slice::<serde_json::Value>(&body).expect("a delivery is JSON");
            }
            if event.original_body.is_none() || format == DeliveryFormat::Envelope {
                assert!(body.is_ascii(), "a rebuilt delivery stays ASCII");
            }
        }
    }
});
