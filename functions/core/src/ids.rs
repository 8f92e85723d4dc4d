//! Identifiers as types: each says what it names, so two kinds of id cannot be swapped and a
//! derivation (how an API key is stored) is written once.

use sha2::{Digest, Sha256};

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
