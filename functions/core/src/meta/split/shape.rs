//! What is read of each level of Meta's notification, and nothing more: the rest stays raw.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::lenient::{Loose, RawList};

#[derive(Deserialize)]
pub(super) struct Notification<'a> {
    #[serde(borrow)]
    pub(super) object: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) entry: Option<&'a RawValue>,
}

/// A notification read in one pass, every entry an object read as `E`.
#[derive(Deserialize)]
pub(super) struct Entries<'a, E> {
    #[serde(borrow)]
    pub(super) object: Option<Loose<'a>>,
    pub(super) entry: Option<Vec<E>>,
}

/// An entry, its changes read as `C`.
#[derive(Deserialize)]
pub(super) struct Entry<'a, C> {
    #[serde(borrow)]
    pub(super) id: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) time: Option<&'a RawValue>,
    pub(super) changes: Option<C>,
}

/// An entry whose changes stay raw (each is read on its own, its bytes hashed if kept whole).
pub(super) type RawEntry<'a> = Entry<'a, RawList<'a>>;

#[derive(Deserialize)]
pub(super) struct Change<'a> {
    #[serde(borrow)]
    pub(super) field: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) value: Option<&'a RawValue>,
}

/// What is read of a change's value: one pass, every list kept raw.
#[derive(Deserialize)]
pub(super) struct ValueHead<'a> {
    #[serde(borrow)]
    pub(super) messaging_product: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) contacts: Option<RawList<'a>>,
    #[serde(borrow)]
    pub(super) messages: Option<RawList<'a>>,
    #[serde(borrow)]
    pub(super) statuses: Option<RawList<'a>>,
    #[serde(borrow)]
    pub(super) calls: Option<RawList<'a>>,
    #[serde(borrow)]
    pub(super) message_echoes: Option<RawList<'a>>,
}

impl<'a> ValueHead<'a> {
    /// One of the collections `field_table` names, taken out of the value.
    pub(super) fn take(&mut self, name: &str) -> Option<RawList<'a>> {
        match name {
            "messages" => self.messages.take(),
            "statuses" => self.statuses.take(),
            "calls" => self.calls.take(),
            "message_echoes" => self.message_echoes.take(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Metadata<'a> {
    #[serde(borrow)]
    pub(super) phone_number_id: Option<Loose<'a>>,
}

#[derive(Deserialize)]
pub(super) struct ItemKey<'a> {
    #[serde(borrow)]
    pub(super) id: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) from: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) from_user_id: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) status: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) event: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) timestamp: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) recipient_participant_id: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) recipient_participant_user_id: Option<Loose<'a>>,
}

#[derive(Deserialize)]
pub(super) struct ContactKey<'a> {
    #[serde(borrow)]
    pub(super) wa_id: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) user_id: Option<Loose<'a>>,
}

/// The usual shape of a notification of messages, statuses, calls or echoes, read in one pass
/// down to the items (kept raw): every entry, change and value an object. A body of any other
/// shape is read part by part instead, so its whole parts keep the raw bytes they are hashed by.
pub(super) type Itemised<'a> = Entries<'a, Entry<'a, Vec<ItemisedChange<'a>>>>;

#[derive(Deserialize)]
pub(super) struct ItemisedChange<'a> {
    #[serde(borrow)]
    pub(super) field: Option<Loose<'a>>,
    #[serde(borrow)]
    pub(super) value: Option<ValueHead<'a>>,
}

/// A notification that names a key twice (valid JSON, which the derived readers refuse): every
/// `object` (each must be the WhatsApp one) and every `entry`, so nothing in a signed POST is
/// lost to a repeated key.
pub(super) struct Repeated<'a> {
    pub(super) objects: Vec<Option<Loose<'a>>>,
    pub(super) entries: Vec<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Repeated<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RepeatedVisitor<'a>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for RepeatedVisitor<'a> {
            type Value = Repeated<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a notification object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Repeated {
                    objects: Vec::new(),
                    entries: Vec::new(),
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "object" => out.objects.push(map.next_value()?),
                        "entry" => out.entries.push(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }

        deserializer.deserialize_map(RepeatedVisitor(PhantomData))
    }
}
