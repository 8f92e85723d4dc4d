//! Signatures: Meta's `X-Hub-Signature-256` on what comes in, and the same header plus Standard
//! Webhooks headers on what the gateway delivers. Every comparison is constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const HUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";
const HUB_PREFIX: &str = "sha256=";

/// A shared secret. Its `Debug` never prints it, so it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`, the header Meta sends and WhatsApp SDKs check.
pub fn sign_hub(secret: &Secret, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("any key length");
    mac.update(body);
    format!("{HUB_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `header` against the raw `body` with each of `secrets` (more than one during a
/// rotation). The raw bytes are what Meta signed: never parse and re-serialize before this.
pub fn verify_hub_signature(
    secrets: &[Secret],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header
        .strip_prefix(HUB_PREFIX)
        .ok_or(SignatureError::Malformed)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let mut mac =
            HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("any key length");
        mac.update(body);
        // Every secret is tried, so timing does not tell which one matched.
        matched |= mac.finalize().into_bytes().as_slice().ct_eq(&expected);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Constant-time equality of two strings, for tokens such as Meta's verify token.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The key bytes of a Standard Webhooks secret: the base64 after `whsec_`. A secret that is
/// not of that form is used as raw bytes, as the reference libraries do.
fn standard_webhooks_key(secret: &Secret) -> Vec<u8> {
    let value = secret.expose();
    value
        .strip_prefix("whsec_")
        .and_then(|b64| B64.decode(b64).ok())
        .unwrap_or_else(|| value.as_bytes().to_vec())
}

/// One `v1,<base64>` signature of Standard Webhooks over `id.timestamp.body`.
pub fn sign_standard_webhook(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(&standard_webhooks_key(secret)).expect("any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// The headers of one delivery, signed with every currently valid secret of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySignatures {
    /// `X-Hub-Signature-256`: with the newest secret only, since SDKs expect one value.
    pub hub: String,
    pub webhook_id: String,
    pub webhook_timestamp: String,
    /// `webhook-signature`: space-separated, one per valid secret (newest first).
    pub webhook_signature: String,
}

pub fn sign_delivery(
    secrets: &[Secret],
    event_id: &str,
    timestamp: i64,
    body: &[u8],
) -> DeliverySignatures {
    let newest = secrets.first().expect("a tenant has at least one secret");
    DeliverySignatures {
        hub: sign_hub(newest, body),
        webhook_id: event_id.to_owned(),
        webhook_timestamp: timestamp.to_string(),
        webhook_signature: secrets
            .iter()
            .map(|s| sign_standard_webhook(s, event_id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Verifies Standard Webhooks headers (used by the demo receiver and tests): any `v1,`
/// signature in the space-separated list must match.
pub fn verify_standard_webhook(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    let expected = sign_standard_webhook(secret, id, ts, body);
    signatures
        .split(' ')
        .any(|candidate| constant_time_eq(candidate, &expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    #[test]
    fn a_body_signed_with_the_app_secret_is_accepted() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign_hub(&secret("app-secret"), body);
        assert_eq!(
            verify_hub_signature(&[secret("app-secret")], body, Some(&header)),
            Ok(())
        );
    }

    #[test]
    fn the_hub_signature_matches_an_independent_hmac_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = sign_hub(&secret("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            header,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_body_with_escaped_unicode_is_verified_over_its_raw_bytes() {
        // Meta signs its own escaped form; the unescaped equivalent must not verify.
        let raw = br#"{"text":{"body":"Gr\u00fc\u00dfe \ud83d\ude00"}}"#;
        let unescaped = r#"{"text":{"body":"Grüße 😀"}}"#.as_bytes();
        let header = sign_hub(&secret("s"), raw);
        assert_eq!(
            verify_hub_signature(&[secret("s")], raw, Some(&header)),
            Ok(())
        );
        assert_eq!(
            verify_hub_signature(&[secret("s")], unescaped, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn during_a_rotation_both_the_old_and_the_new_secret_verify() {
        let body = b"{}";
        let secrets = [secret("new"), secret("old")];
        for signer in ["new", "old"] {
            let header = sign_hub(&secret(signer), body);
            assert_eq!(verify_hub_signature(&secrets, body, Some(&header)), Ok(()));
        }
        let header = sign_hub(&secret("retired"), body);
        assert_eq!(
            verify_hub_signature(&secrets, body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn signature_with_wrong_secret_is_rejected() {
        let header = sign_hub(&secret("other"), b"{}");
        assert_eq!(
            verify_hub_signature(&[secret("s")], b"{}", Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_missing_header_is_told_apart_from_a_wrong_one() {
        assert_eq!(
            verify_hub_signature(&[secret("s")], b"{}", None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn a_truncated_header_is_malformed() {
        let header = sign_hub(&secret("s"), b"{}");
        let truncated = &header[..header.len() - 1];
        assert_eq!(
            verify_hub_signature(&[secret("s")], b"{}", Some(truncated)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_header_of_the_wrong_length_or_scheme_is_malformed() {
        let long = format!("{}00", sign_hub(&secret("s"), b"{}"));
        for header in [
            long.as_str(),
            "sha256=",
            "sha1=5bdcc146bf60754e6a042426089575c75a003f08",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "sha256=zzdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ] {
            assert_eq!(
                verify_hub_signature(&[secret("s")], b"{}", Some(header)),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn no_configured_secret_verifies_nothing() {
        let header = sign_hub(&secret(""), b"{}");
        assert_eq!(
            verify_hub_signature(&[], b"{}", Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn standard_webhooks_signature_matches_the_published_test_vector() {
        let signature = sign_standard_webhook(
            &secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn standard_webhooks_verification_accepts_any_listed_signature() {
        let s = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let listed = "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(verify_standard_webhook(
            &s,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
            listed
        ));
        assert!(!verify_standard_webhook(
            &s,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265331",
            br#"{"test": 2432232314}"#,
            listed
        ));
    }

    #[test]
    fn a_delivery_during_rotation_carries_one_signature_per_secret() {
        let secrets = [
            secret("whsec_bmV3LXNlY3JldC1ieXRlcw=="),
            secret("whsec_b2xkLXNlY3JldA=="),
        ];
        let signed = sign_delivery(&secrets, "wamid.X", 1_700_000_000, b"{}");
        let parts: Vec<&str> = signed.webhook_signature.split(' ').collect();
        assert_eq!(parts.len(), 2);
        for s in &secrets {
            assert!(verify_standard_webhook(
                s,
                "wamid.X",
                &signed.webhook_timestamp,
                b"{}",
                &signed.webhook_signature
            ));
        }
        assert_eq!(signed.hub, sign_hub(&secrets[0], b"{}"));
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", secret("hunter2")), "Secret(***)");
    }
}
