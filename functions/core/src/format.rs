//! What a tenant receives for one event: Meta's own envelope (default), or the
//! `{"event","payload"}` envelope. Output is ASCII with `\u` escapes, as Meta's is, and every
//! byte Meta sent for the item is kept.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::str::FromStr;

use crate::meta::{Event, EventKind, WHATSAPP_OBJECT};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFormat {
    /// A Meta webhook holding just this event; Meta's bytes unchanged when its POST held one.
    #[default]
    Meta,
    /// `{"event":"message"|"deliveryStatus"|<field>,"payload":<value object>}`.
    Envelope,
}

impl DeliveryFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryFormat::Meta => "meta",
            DeliveryFormat::Envelope => "envelope",
        }
    }
}

impl FromStr for DeliveryFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "meta" => Ok(DeliveryFormat::Meta),
            "envelope" => Ok(DeliveryFormat::Envelope),
            other => Err(format!(
                "unknown format `{other}`: expected `meta` or `envelope`"
            )),
        }
    }
}

/// The body delivered to a tenant for `event`.
pub fn render(event: &Event, format: DeliveryFormat) -> Vec<u8> {
    let json = match format {
        DeliveryFormat::Meta => match &event.original_body {
            Some(original) => return original.as_bytes().to_vec(),
            None => meta_envelope(event),
        },
        DeliveryFormat::Envelope => {
            let name = match event.kind {
                EventKind::Message => "message",
                EventKind::Status => "deliveryStatus",
                EventKind::Item | EventKind::Field => event.field.as_str(),
            };
            format!(
                r#"{{"event":{},"payload":{}}}"#,
                json_string(name),
                value_object(event)
            )
        }
    };
    ascii_escape(&json).into_bytes()
}

fn meta_envelope(event: &Event) -> String {
    // Meta's entry `time` is the only timestamp of many WABA-level fields: kept as written.
    let time = event
        .entry_time
        .as_deref()
        .filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
        .map(|t| format!(r#","time":{t}"#))
        .unwrap_or_default();
    format!(
        r#"{{"object":"{WHATSAPP_OBJECT}","entry":[{{"id":{}{time},"changes":[{{"value":{},"field":{}}}]}}]}}"#,
        json_string(&event.waba_id),
        value_object(event),
        json_string(&event.field),
    )
}

/// The `value` of Meta's change, holding only this event's item (in Meta's field order).
pub(crate) fn value_object(event: &Event) -> String {
    let Some(list) = event.collection() else {
        return event.item.get().to_owned();
    };
    let mut out = String::with_capacity(event.item.get().len() + 256);
    out.push('{');
    let product = event.messaging_product.as_deref().unwrap_or("whatsapp");
    let _ = write!(out, r#""messaging_product":{}"#, json_string(product));
    if let Some(metadata) = &event.metadata {
        let _ = write!(out, r#","metadata":{}"#, metadata.get());
    }
    if let Some(contact) = &event.contact {
        let _ = write!(out, r#","contacts":[{}]"#, contact.get());
    }
    let _ = write!(out, r#",{}:[{}]"#, json_string(list), event.item.get());
    out.push('}');
    out
}

pub(crate) fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// Replaces every non-ASCII character of a JSON text with its `\u` escape (surrogate pairs
/// above U+FFFF). Non-ASCII can only stand inside strings, so the JSON value is unchanged.
pub fn ascii_escape(json: &str) -> String {
    if json.is_ascii() {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut units = [0u16; 2];
    for ch in json.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            for unit in ch.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_name_reads_back_as_the_same_format() {
        for format in [DeliveryFormat::Meta, DeliveryFormat::Envelope] {
            assert_eq!(format.as_str().parse::<DeliveryFormat>(), Ok(format));
        }
        assert_eq!(DeliveryFormat::Meta.as_str(), "meta");
    }
    use crate::meta::split::split_events;

    const TWO: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":"PN"},"contacts":[{"profile":{"name":"Z\u00fc"},"wa_id":"49"}],"messages":[{"from":"49","id":"wamid.1","timestamp":"17","type":"text","text":{"body":"Gr\u00fc\u00dfe \ud83d\ude00"}}],"statuses":[{"id":"wamid.0","status":"read","timestamp":"18","recipient_id":"49","pricing":{"billable":true,"rate":12345678901234567890.5}}]},"field":"messages"}]}]}"#;

    #[test]
    fn a_single_event_post_is_forwarded_byte_identical() {
        let body = r#"{"object":"whatsapp_business_account",  "entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","messages":[{"id":"wamid.1","from":"1"}]},"field":"messages"}]}]}"#;
        let events = split_events(body.as_bytes()).unwrap();
        assert_eq!(render(&events[0], DeliveryFormat::Meta), body.as_bytes());
    }

    #[test]
    fn an_event_from_a_batch_becomes_a_meta_envelope_with_only_its_item() {
        let events = split_events(TWO.as_bytes()).unwrap();
        let message = String::from_utf8(render(&events[0], DeliveryFormat::Meta)).unwrap();
        assert_eq!(
            message,
            r#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":"PN"},"contacts":[{"profile":{"name":"Z\u00fc"},"wa_id":"49"}],"messages":[{"from":"49","id":"wamid.1","timestamp":"17","type":"text","text":{"body":"Gr\u00fc\u00dfe \ud83d\ude00"}}]},"field":"messages"}]}]}"#
        );
        let status = String::from_utf8(render(&events[1], DeliveryFormat::Meta)).unwrap();
        assert!(status.contains(r#""statuses":[{"id":"wamid.0","status":"read","timestamp":"18","recipient_id":"49","pricing":{"billable":true,"rate":12345678901234567890.5}}]"#));
        assert!(!status.contains("contacts"));
        serde_json::from_str::<serde_json::Value>(&status).unwrap();
    }

    #[test]
    fn the_envelope_format_names_the_event_and_holds_the_value_object() {
        let events = split_events(TWO.as_bytes()).unwrap();
        let message = String::from_utf8(render(&events[0], DeliveryFormat::Envelope)).unwrap();
        assert!(message.starts_with(
            r#"{"event":"message","payload":{"messaging_product":"whatsapp","metadata":"#
        ));
        let status = String::from_utf8(render(&events[1], DeliveryFormat::Envelope)).unwrap();
        assert!(status.starts_with(r#"{"event":"deliveryStatus","payload":{"#));
        let template = r#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"event":"APPROVED"},"field":"message_template_status_update"}]}]}"#;
        let events = split_events(template.as_bytes()).unwrap();
        assert_eq!(
            render(&events[0], DeliveryFormat::Envelope),
            br#"{"event":"message_template_status_update","payload":{"event":"APPROVED"}}"#
        );
    }

    #[test]
    fn non_ascii_is_escaped_like_meta_does() {
        assert_eq!(
            ascii_escape(r#"{"a":"Grüße 😀"}"#),
            r#"{"a":"Gr\u00fc\u00dfe \ud83d\ude00"}"#
        );
        let escaped = ascii_escape(r#"{"a":"Grüße 😀"}"#);
        let v: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(v["a"], "Grüße 😀");
    }

    #[test]
    fn formats_parse_from_their_names() {
        assert_eq!("meta".parse(), Ok(DeliveryFormat::Meta));
        assert_eq!("envelope".parse(), Ok(DeliveryFormat::Envelope));
        assert!(
            "xml"
                .parse::<DeliveryFormat>()
                .unwrap_err()
                .contains("`xml`")
        );
    }
}
