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

/// The websites a grant's tokens may act on: every website the user can access (the
/// default), or only the ones chosen on the consent screen (for client credentials, on the
/// client's form). Kept sorted and without repeats, at most [`SiteLimit::MAX`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SiteLimit {
    #[default]
    All,
    Only(Vec<i64>),
}

impl SiteLimit {
    /// A limit lists at most this many websites.
    pub const MAX: usize = 100;

    /// Chosen websites: at least one, at most [`Self::MAX`].
    pub fn only(mut ids: Vec<i64>) -> Result<Self, InvalidInput> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Err(InvalidInput::new(
                "Tick at least one website, or allow all of them.",
            ));
        }
        if ids.len() > Self::MAX || ids.iter().any(|id| *id <= 0) {
            return Err(InvalidInput::new(format!(
                "Choose at most {} websites by their IDs.",
                Self::MAX
            )));
        }
        Ok(SiteLimit::Only(ids))
    }

    /// As typed on the command line or in the API: `all`, or site IDs separated by commas
    /// or spaces.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        if raw.is_empty() || raw == "all" {
            return Ok(SiteLimit::All);
        }
        let ids = raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(parse_site_id)
            .collect::<Result<Vec<_>, _>>()?;
        Self::only(ids)
    }

    /// As stored: `NULL` for all, else the IDs separated by spaces. Text no writer could
    /// have stored limits to nothing rather than to everything.
    pub fn stored(raw: Option<&str>) -> Self {
        match raw {
            None => SiteLimit::All,
            Some(raw) => SiteLimit::Only(
                raw.split_whitespace()
                    .map(|id| id.parse::<i64>().unwrap_or(0))
                    .collect(),
            ),
        }
    }

    pub fn to_stored(&self) -> Option<String> {
        match self {
            SiteLimit::All => None,
            SiteLimit::Only(ids) => {
                Some(ids.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
            }
        }
    }

    pub fn allows(&self, site_id: i64) -> bool {
        match self {
            SiteLimit::All => true,
            SiteLimit::Only(ids) => ids.binary_search(&site_id).is_ok(),
        }
    }

    pub fn is_limited(&self) -> bool {
        matches!(self, SiteLimit::Only(_))
    }

    /// The chosen IDs (empty for all).
    pub fn ids(&self) -> &[i64] {
        match self {
            SiteLimit::All => &[],
            SiteLimit::Only(ids) => ids,
        }
    }
}

impl fmt::Display for SiteLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteLimit::All => f.write_str("all"),
            SiteLimit::Only(ids) => {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                f.write_str(&ids.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_limits_are_sorted_bounded_and_stored_as_text() {
        assert_eq!(SiteLimit::parse("all").unwrap(), SiteLimit::All);
        assert_eq!(SiteLimit::parse("").unwrap(), SiteLimit::All);
        let limit = SiteLimit::parse("3, 1 3").unwrap();
        assert_eq!(limit, SiteLimit::Only(vec![1, 3]));
        assert_eq!(limit.to_stored().as_deref(), Some("1 3"));
        assert_eq!(SiteLimit::stored(Some("1 3")), limit);
        assert_eq!(SiteLimit::stored(None), SiteLimit::All);
        assert!(limit.allows(3) && !limit.allows(2));
        assert!(!SiteLimit::stored(Some("x")).allows(1));
        assert!(SiteLimit::parse("0").is_err());
        assert!(SiteLimit::parse("a").is_err());
        assert!(SiteLimit::only(Vec::new()).is_err());
        assert!(SiteLimit::only((1..=101).collect()).is_err());
        assert_eq!(limit.to_string(), "1,3");
    }

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
