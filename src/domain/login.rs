//! A user's sign-in name.

use std::fmt;

use validator::ValidateLength;

use super::InvalidInput;

/// 2 to 100 characters of letters, digits and `_ . @ -`, starting with a letter or digit
/// (the characters Matomo accepts in logins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let value = raw.trim();
        if !value.validate_length(Some(2), Some(100), None) {
            return Err(InvalidInput::new("Login must be 2 to 100 characters long."));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-');
        if !value.chars().all(allowed) || !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(InvalidInput::new(
                "Login may contain only letters, digits and _ . @ -, and must start with a letter or digit.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_matomo_style_logins() {
        for ok in ["admin", "jane.doe", "j_d-2", "user@example.com", "ab"] {
            assert_eq!(Login::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(Login::parse("  admin ").unwrap().as_str(), "admin");
    }

    #[test]
    fn refuses_bad_logins() {
        let long = "a".repeat(101);
        for bad in [
            "",
            "a",
            "-admin",
            "ad min",
            "admin<script>",
            "ädmin",
            long.as_str(),
        ] {
            assert!(Login::parse(bad).is_err(), "{bad}");
        }
    }
}
