//! Real-time tokens: short-lived, signed with a key only the gateway holds (never a secret a
//! tenant's systems know: a leaked webhook secret must not open the tenant's live traffic),
//! scoped to the tenant and optionally to fields and phone numbers.
//!
//! `v1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(key, "v1." + claims part))>`, where
//! key = HMAC-SHA256(gateway key, "gateway realtime token v1").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::signature::Secret;
use crate::tenant::TenantId;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";
const KEY_LABEL: &[u8] = b"gateway realtime token v1";
/// A token longer than this is refused before any work (the claims of a token are small).
pub const MAX_TOKEN_LEN: usize = 4096;
/// No token connects for longer than this after it is checked, whatever its claims say.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// What a client may see once connected: empty lists mean every field, every phone number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default, rename = "f", skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, rename = "p", skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
}

impl Scope {
    /// Whether an event of `field` for `phone_number_id` is in scope. A phone scope leaves out
    /// events that carry no phone number (WABA-level fields).
    pub fn admits(&self, field: &str, phone_number_id: Option<&str>) -> bool {
        let field_ok = self.fields.is_empty() || self.fields.iter().any(|f| f == field);
        let phone_ok = self.phones.is_empty()
            || phone_number_id.is_some_and(|p| self.phones.iter().any(|own| own == p));
        field_ok && phone_ok
    }
}

/// The signed part of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "t")]
    pub tenant: TenantId,
    /// Unix seconds after which the token no longer connects.
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// Unix seconds it was minted: `gatewayctl realtime revoke` ends the tenant's tokens
    /// minted until then. Tokens minted before this claim existed read as 0 (minted before
    /// any revocation).
    #[serde(rename = "iat", default)]
    pub issued_at: i64,
    #[serde(flatten)]
    pub scope: Scope,
    /// Makes two tokens minted in the same second differ.
    #[serde(rename = "n")]
    pub nonce: String,
    /// Which key signed it ([`key_id`]): a function holding an older key reads the key again.
    #[serde(rename = "k", default)]
    pub key_id: String,
}

/// A short public name of a key: the first 8 hex digits of its SHA-256.
pub fn key_id(key: &Secret) -> String {
    use sha2::Digest;
    hex::encode(&Sha256::digest(key.expose().as_bytes())[..4])
}

/// Why a token does not connect. The client sees only that it was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
}

fn key(secret: &Secret) -> HmacSha256 {
    let mut derive =
        HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    derive.update(KEY_LABEL);
    let derived = derive.finalize().into_bytes();
    HmacSha256::new_from_slice(&derived).expect("HMAC takes any key")
}

/// The token for `claims`, signed with the gateway's key.
pub fn mint(secret: &Secret, claims: &Claims) -> String {
    let json = serde_json::to_vec(claims).expect("claims always serialize");
    let signed = format!("{VERSION}.{}", B64URL.encode(json));
    let mut mac = key(secret);
    mac.update(signed.as_bytes());
    format!("{signed}.{}", B64URL.encode(mac.finalize().into_bytes()))
}

/// The claims of `token`, not yet verified: the connect handler checks the cheap things
/// (tenant id shape, expiry, key id) before it verifies the signature.
pub fn unverified(token: &str) -> Result<Claims, TokenError> {
    let (_, claims, _) = parts(token)?;
    Ok(claims)
}

fn parts(token: &str) -> Result<(&str, Claims, Vec<u8>), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (signed, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (version, claims) = signed.split_once('.').ok_or(TokenError::Malformed)?;
    if version != VERSION {
        return Err(TokenError::Malformed);
    }
    let json = B64URL.decode(claims).map_err(|_| TokenError::Malformed)?;
    let claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    let tag = B64URL.decode(tag).map_err(|_| TokenError::Malformed)?;
    Ok((signed, claims, tag))
}

/// The claims of `token` when `secret` signed it (constant time) and it has not expired at
/// unix time `now`.
pub fn verify(secret: &Secret, token: &str, now: i64) -> Result<Claims, TokenError> {
    let (signed, claims, tag) = parts(token)?;
    let mut mac = key(secret);
    mac.update(signed.as_bytes());
    if mac.verify_slice(&tag).is_err() {
        return Err(TokenError::BadSignature);
    }
    check_expiry(&claims, now)?;
    Ok(claims)
}

/// Expired, or claiming a life no minted token has.
pub fn check_expiry(claims: &Claims, now: i64) -> Result<(), TokenError> {
    if claims.expires_at <= now {
        return Err(TokenError::Expired);
    }
    if claims.expires_at > now + MAX_LIFETIME_SECS + 60 {
        return Err(TokenError::Malformed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(tenant: &str, expires_at: i64) -> Claims {
        Claims {
            tenant: TenantId::new(tenant),
            expires_at,
            issued_at: expires_at - 60,
            scope: Scope::default(),
            nonce: "n1".into(),
            key_id: String::new(),
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let secret = Secret::new("gateway-key");
        let token = mint(&secret, &claims("acme", 100));
        assert_eq!(verify(&secret, &token, 99), Ok(claims("acme", 100)));
        assert_eq!(verify(&secret, &token, 100), Err(TokenError::Expired));
        // A lifetime no minted token has is refused, however well signed.
        let forever = mint(&secret, &claims("acme", i64::MAX));
        assert_eq!(verify(&secret, &forever, 99), Err(TokenError::Malformed));
    }

    #[test]
    fn a_token_minted_before_the_issue_time_claim_loads_as_minted_at_zero() {
        let secret = Secret::new("gateway-key");
        // The claims part as tokens carried it before `iat`.
        let json = br#"{"t":"acme","exp":100,"n":"n1","k":""}"#;
        let signed = format!("{VERSION}.{}", B64URL.encode(json));
        let mut mac = key(&secret);
        mac.update(signed.as_bytes());
        let token = format!("{signed}.{}", B64URL.encode(mac.finalize().into_bytes()));
        let old = verify(&secret, &token, 99).unwrap();
        assert_eq!(old.issued_at, 0);
        assert_eq!(old.nonce, "n1");
        // A token minted now carries its issue time.
        let minted = mint(&secret, &claims("acme", 100));
        assert_eq!(verify(&secret, &minted, 99).unwrap().issued_at, 40);
    }

    #[test]
    fn another_secret_or_an_edited_claim_is_refused() {
        let secret = Secret::new("gateway-key");
        let token = mint(&secret, &claims("acme", 100));
        assert_eq!(
            verify(&Secret::new("other"), &token, 1),
            Err(TokenError::BadSignature)
        );
        // The claims of another tenant under acme's signature.
        let (_, tag) = token.rsplit_once('.').unwrap();
        let other = mint(&secret, &claims("globex", 100));
        let (signed, _) = other.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{tag}");
        assert_eq!(verify(&secret, &forged, 1), Err(TokenError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let secret = Secret::new("s");
        for token in [
            "",
            "v1",
            "v1.",
            "v1..",
            "v2.e30.AAAA",
            "v1.!!!.AAAA",
            "v1.e30.AAAA",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                verify(&secret, token, 0),
                Err(TokenError::Malformed),
                "{token:.20}"
            );
        }
    }

    #[test]
    fn a_scope_narrows_by_field_and_phone() {
        let all = Scope::default();
        assert!(all.admits("messages", None));
        let scope = Scope {
            fields: vec!["messages".into()],
            phones: vec!["111".into()],
        };
        assert!(scope.admits("messages", Some("111")));
        assert!(!scope.admits("messages", Some("222")));
        assert!(!scope.admits("messages", None));
        assert!(!scope.admits("calls", Some("111")));
    }
}
