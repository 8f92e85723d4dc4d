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

#[cfg(test)]
mod tests {
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
