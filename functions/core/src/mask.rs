//! Masking of personal data before it reaches logs.

/// `15551234567` -> `*******4567`: enough to correlate, not enough to identify.
pub fn phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep = chars.len().min(4).min(chars.len() / 2);
    let hidden = chars.len() - keep;
    let mut out = "*".repeat(hidden);
    out.extend(&chars[hidden..]);
    out
}

/// A stable, short reference to an id that must not reach logs as is: wamids encode the
/// customer's phone number. `gatewayctl dlq list` prints the same reference beside each id.
pub fn reference(id: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(id.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reference_is_stable_and_does_not_contain_the_id() {
        let id = "wamid.HBgLMTY1MDU1NTAxMDEVAgARGBJDOTdFRDk5QkQwMkJEMEI2MkYA:read";
        // The first 16 hex digits of the id's SHA-256, as OPERATIONS.md tells operators to
        // compute it (`printf %s <id> | sha256sum | cut -c1-16`).
        assert_eq!(super::reference(id), "801d78abe4cda83d");
        assert_ne!(super::reference(id), super::reference("wamid.other"));
    }

    #[test]
    fn a_phone_number_keeps_only_its_last_four_digits() {
        assert_eq!(super::phone("15551234567"), "*******4567");
    }

    #[test]
    fn a_short_number_keeps_at_most_half() {
        assert_eq!(super::phone("1234"), "**34");
        assert_eq!(super::phone(""), "");
    }
}
