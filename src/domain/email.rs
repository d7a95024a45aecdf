//! An e-mail address, checked with `validator`'s HTML5 rules.

use std::fmt;

use validator::{ValidateEmail, ValidateLength};

use super::InvalidInput;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let value = raw.trim();
        if !value.validate_length(Some(3), Some(255), None) || !value.validate_email() {
            return Err(InvalidInput::new(
                "Enter a valid e-mail address, such as jane@example.com.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            Email::parse(" a@example.com ").unwrap().as_str(),
            "a@example.com"
        );
        for bad in ["", "nope", "a@", "@b.c", "a b@c.d"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
