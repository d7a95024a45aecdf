//! The user code of the device authorization grant (RFC 8628 §6.1): short, easy to type,
//! read aloud and tell apart.

use std::fmt;

use rand::Rng;

use super::InvalidInput;

/// Twenty consonants: no vowels (no words), nothing that looks like a digit or another
/// letter (no I, O, U, Y), case does not matter. RFC 8628 §6.1's example alphabet.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// 20^8 ≈ 2^34.6 codes; a signed-in user may try five per quarter hour.
const LENGTH: usize = 8;

/// A user code, normalised: eight letters of [`ALPHABET`], shown as `XXXX-XXXX`.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        Self(
            (0..LENGTH)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect(),
        )
    }

    /// What a user typed: any case, with or without the dash and spaces.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let code: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(Self(code))
        } else {
            Err(InvalidInput::new(
                "Type the eight letters your device shows, such as BCDF-GHJK.",
            ))
        }
    }

    /// The eight letters without the dash (what is hashed and stored).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..4], &self.0[4..])
    }
}

impl fmt::Debug for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_unambiguous_letters_shown_with_a_dash_and_typed_loosely() {
        for _ in 0..200 {
            let code = UserCode::generate();
            let shown = code.to_string();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert!(code.as_str().bytes().all(|b| ALPHABET.contains(&b)));
            assert_eq!(UserCode::parse(&shown).unwrap(), code);
            assert_eq!(UserCode::parse(&shown.to_lowercase()).unwrap(), code);
        }
        assert_eq!(
            UserCode::parse(" bcdf ghjk ").unwrap().to_string(),
            "BCDF-GHJK"
        );
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF-GHJ0",
            "ABCD-EFGH",
            "BCDF_GHJK",
            "ВCDF-GHJK",
        ] {
            assert!(UserCode::parse(bad).is_err(), "{bad}");
        }
    }
}
