//! The unified social credit code (统一社会信用代码, USCC) of GB 32100-2015: 18 characters from a
//! 31-character alphabet, the last one a check digit over the first 17.

use crate::domain::error::{DomainError, Invalid, Result};

/// The code's alphabet; a character's value is its position here. I, O, Z, S and V are not used.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weight of each of the first 17 positions: 3^i mod 31.
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn value_of(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// The check character for 17 leading characters, or `None` if one is outside the alphabet.
pub fn check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (i, &c) in bytes.iter().enumerate() {
        sum += value_of(c)? * WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Some(ALPHABET[check as usize] as char)
}

/// Normalises (trims, upper-cases) and validates a code; returns the normalised form.
pub fn validate(code: &str) -> Result<String> {
    let code = code.trim().to_ascii_uppercase();
    let field = "uscc";
    if code.is_empty() {
        return Err(DomainError::invalid(field, Invalid::Empty));
    }
    let bytes = code.as_bytes();
    let shape_ok = bytes.len() == 18
        && bytes.iter().all(|&c| value_of(c).is_some())
        // positions 3-8 are the administrative division code
        && bytes[2..8].iter().all(u8::is_ascii_digit);
    if !shape_ok {
        return Err(DomainError::invalid(field, Invalid::Format { expected: "18 characters of GB 32100-2015" }));
    }
    if check_char(&code[..17]) != Some(bytes[17] as char) {
        return Err(DomainError::invalid(field, Invalid::CheckDigit));
    }
    Ok(code)
}

/// Completes 17 leading characters into a valid code (used by demo data and tests).
pub fn complete(first17: &str) -> Option<String> {
    check_char(first17).map(|c| format!("{first17}{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_codes() {
        // Codes printed on real business licences.
        for code in ["91110000802100433B", "91440300708461136T"] {
            assert_eq!(validate(code).unwrap(), code);
        }
        assert_eq!(validate(" 91110000802100433b ").unwrap(), "91110000802100433B");
    }

    #[test]
    fn rejects_wrong_check_digit_and_shape() {
        let good = complete("91410100MA3X5A0B5").unwrap();
        assert!(validate(&good).is_ok());
        let last = good.chars().last().unwrap();
        let other = if last == '0' { '1' } else { '0' };
        let bad = format!("{}{other}", &good[..17]);
        assert!(matches!(validate(&bad), Err(DomainError::Validation { kind: Invalid::CheckDigit, .. })));
        for bad in ["", "123", "91410100MA3X5A0B5I", "91AB0100MA3X5A0B5A", "91410100MA3X5A0B5AA"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
