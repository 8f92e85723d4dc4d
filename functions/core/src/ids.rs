//! Identifiers as types: each says what it names, so two kinds of id cannot be swapped and a
//! derivation (how an API key is stored) is written once. Meta's ids have two constructors: a
//! lenient `from_meta` for Meta's own bytes (a signed POST is never refused for an id's form,
//! and queue bodies already stored still load) and a strict `parse` for what a tenant sends,
//! which names the field it refuses. Never call `parse` on Meta's data.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// A tenant's id refused: which field, and why (rendered as `400 invalid_id`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct IdError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl From<IdError> for Error {
    fn from(e: IdError) -> Self {
        Error::invalid("invalid_id", e.field, e.to_string())
    }
}

macro_rules! meta_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// As Meta wrote it: never refused.
            pub fn from_meta(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

meta_id!(
    /// A business phone number's Graph id (`metadata.phone_number_id`).
    PhoneNumberId
);
meta_id!(
    /// A WhatsApp Business Account's id (a webhook entry's `id`).
    WabaId
);
meta_id!(
    /// A message's id (`wamid.…`).
    Wamid
);

/// Digits only, no leading zero, at most 32: Meta's numeric ids, and nothing else may reach a
/// path or a table key (`0123` would miss the owner of `123`).
pub(crate) fn numeric(id: &str, field: &'static str) -> Result<String, IdError> {
    match !id.is_empty()
        && id.len() <= 32
        && !id.starts_with('0')
        && id.bytes().all(|b| b.is_ascii_digit())
    {
        true => Ok(id.to_owned()),
        false => Err(IdError {
            field,
            reason: "must be a numeric id",
        }),
    }
}

impl PhoneNumberId {
    /// A phone number id a tenant sent, named `field` in the refusal.
    pub fn parse(id: &str, field: &'static str) -> Result<Self, IdError> {
        numeric(id, field).map(PhoneNumberId)
    }
}

impl WabaId {
    pub fn parse(id: &str, field: &'static str) -> Result<Self, IdError> {
        numeric(id, field).map(WabaId)
    }
}

impl Wamid {
    /// A wamid a tenant sent: 1 to 256 of the characters Meta writes them with (`wamid.` and
    /// base64: letters, digits, `._-=+`).
    pub fn parse(id: &str, field: &'static str) -> Result<Self, IdError> {
        let valid = (1..=256).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-=+".contains(&b));
        match valid {
            true => Ok(Wamid(id.to_owned())),
            false => Err(IdError {
                field,
                reason: "is not a WhatsApp message id",
            }),
        }
    }
}

/// A message status as Meta names it, in the order statuses move: `sent`, then `delivered` or
/// `failed`, then `read`, then `played`. A status Meta adds later is `Other` and moves nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Sent,
    Delivered,
    Failed,
    Read,
    Played,
    Other(String),
}

impl MessageStatus {
    pub fn from_meta(status: &str) -> Self {
        match status {
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "failed" => MessageStatus::Failed,
            "read" => MessageStatus::Read,
            "played" => MessageStatus::Played,
            other => MessageStatus::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Read => "read",
            MessageStatus::Played => "played",
            MessageStatus::Other(s) => s,
        }
    }

    /// Its place in the order (`delivered` and `failed` share one); 0 for `Other`.
    pub fn rank(&self) -> u8 {
        match self {
            MessageStatus::Sent => 1,
            MessageStatus::Delivered | MessageStatus::Failed => 2,
            MessageStatus::Read => 3,
            MessageStatus::Played => 4,
            MessageStatus::Other(_) => 0,
        }
    }

    /// Whether a record at `current` moves to this status: only forward, never sideways.
    pub fn moves_on_from(&self, current: Option<&MessageStatus>) -> bool {
        self.rank() > current.map_or(0, MessageStatus::rank)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MessageStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let status = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(MessageStatus::from_meta(&status))
    }
}

/// A gateway API key as its tenant sends it (`Authorization: Bearer <key>` or `x-api-key`).
/// Never stored, never logged: only its [`ApiKeyHash`] is.
#[derive(Clone, Copy)]
pub struct ApiKey<'a>(&'a str);

impl<'a> ApiKey<'a> {
    pub fn new(key: &'a str) -> Self {
        ApiKey(key)
    }

    /// The one place an API key becomes the hash it is stored and looked up under: the hex
    /// SHA-256 of its bytes. The admin side that creates keys and the send side that checks
    /// them both call this, so the two can never disagree.
    pub fn hash(self) -> ApiKeyHash {
        ApiKeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for ApiKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

/// The stored form of an API key (64 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ApiKeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_ids_load_as_written_and_a_tenants_are_checked_by_field() {
        let odd = PhoneNumberId::from_meta("not digits ä");
        assert_eq!(odd.as_str(), "not digits ä");
        let json = serde_json::to_string(&WabaId::from_meta("102290129340398")).unwrap();
        assert_eq!(json, r#""102290129340398""#);
        let back: Wamid = serde_json::from_str(r#""wamid.HBgN""#).unwrap();
        assert_eq!(back, "wamid.HBgN");
        assert_eq!(
            PhoneNumberId::parse("106540352242922", "phone_number_id").unwrap(),
            "106540352242922"
        );
        for bad in ["", "0123", "12a", &"1".repeat(33)] {
            let err = PhoneNumberId::parse(bad, "phone_number_id").unwrap_err();
            assert_eq!(err.field, "phone_number_id", "{bad}");
            assert_eq!(Error::from(err).status(), 400);
        }
    }

    #[test]
    fn statuses_move_forward_only_and_unknown_ones_move_nothing() {
        use MessageStatus::*;
        let order = ["sent", "delivered", "read", "played"].map(MessageStatus::from_meta);
        assert!(order.windows(2).all(|w| w[1].moves_on_from(Some(&w[0]))));
        assert!(!Sent.moves_on_from(Some(&Read)));
        assert!(!Failed.moves_on_from(Some(&Delivered)), "never sideways");
        assert!(Sent.moves_on_from(None));
        let later = MessageStatus::from_meta("deleted");
        assert_eq!(later, Other("deleted".into()));
        assert!(!later.moves_on_from(None));
        assert_eq!(serde_json::to_string(&later).unwrap(), r#""deleted""#);
        let read: MessageStatus = serde_json::from_str(r#""read""#).unwrap();
        assert_eq!(read, Read);
    }

    #[test]
    fn an_api_key_is_stored_as_the_hex_sha256_of_its_bytes_and_never_shown() {
        // The stored form every existing key was written with: changing it locks every
        // tenant out.
        assert_eq!(
            ApiKey::new("abc").hash().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{:?}", ApiKey::new("wgk_secret")), "ApiKey(..)");
    }
}
