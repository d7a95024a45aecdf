//! Websites and the access a user holds on one.

use std::fmt;
use std::str::FromStr;

use validator::ValidateLength;

use super::InvalidInput;

/// A user's level on a site, ordered from least to most: `min()` is the narrower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    View,
    Write,
    Admin,
}

impl AccessLevel {
    pub const ALL: [AccessLevel; 3] = [AccessLevel::View, AccessLevel::Write, AccessLevel::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::View => "view",
            AccessLevel::Write => "write",
            AccessLevel::Admin => "admin",
        }
    }
}

impl FromStr for AccessLevel {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccessLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| InvalidInput::new("Access must be view, write or admin."))
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A site's name: 1 to 90 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteName(String);

impl SiteName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let value = raw.trim();
        if !value.validate_length(Some(1), Some(90), None) || value.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "A site name is 1 to 90 characters, without control characters.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A site's main URL: absolute http or https.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl(String);

impl SiteUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match super::parse_web_url(raw, "The site URL")? {
            Some(url) => Ok(Self(url)),
            None => Err(InvalidInput::new(
                "The site URL is required, starting with http:// or https://.",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A site ID as typed: a positive whole number.
pub fn parse_site_id(raw: &str) -> Result<i64, InvalidInput> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| InvalidInput::new("A site ID is a positive whole number."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_parsed_exactly() {
        assert!(AccessLevel::View < AccessLevel::Write && AccessLevel::Write < AccessLevel::Admin);
        assert_eq!("admin".parse::<AccessLevel>().unwrap(), AccessLevel::Admin);
        assert!("Admin".parse::<AccessLevel>().is_err());
        assert!("noaccess".parse::<AccessLevel>().is_err());
    }

    #[test]
    fn names_urls_and_ids_are_checked() {
        assert!(SiteName::parse("Shop").is_ok());
        assert!(SiteName::parse("").is_err());
        assert!(SiteName::parse(&"x".repeat(91)).is_err());
        assert!(SiteUrl::parse("https://shop.example").is_ok());
        assert!(SiteUrl::parse("").is_err());
        assert!(SiteUrl::parse("javascript:alert(1)").is_err());
        assert_eq!(parse_site_id(" 7 ").unwrap(), 7);
        assert!(parse_site_id("0").is_err());
        assert!(parse_site_id("1; DROP").is_err());
    }
}
