//! A new password chosen by a person (not a stored hash).

use std::fmt;

use validator::ValidateLength;

use super::InvalidInput;

/// 12 to 200 characters. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN: u64 = 12;
    pub const MAX: u64 = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        // Trailing newlines come from `echo pw | consentry ...`; other whitespace is kept.
        let value = raw.trim_end_matches(['\n', '\r']);
        if !value.validate_length(Some(Self::MIN), Some(Self::MAX), None) {
            return Err(InvalidInput::new(format!(
                "Password must be {} to {} characters long.",
                Self::MIN,
                Self::MAX
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "Password must not contain control characters.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_and_hides_itself() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(201)).is_err());
        assert!(Password::parse("with\u{0}nul-character").is_err());
        let p = Password::parse("correct horse battery\n").unwrap();
        assert_eq!(p.expose(), "correct horse battery");
        assert!(!format!("{p:?}").contains("horse"));
    }
}
