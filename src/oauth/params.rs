//! Request parameters as RFC 6749 §3.1 reads them: a parameter sent twice is an error,
//! an empty value counts as absent, unknown parameters are ignored.

use std::collections::HashSet;

#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(encoded: &[u8]) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(encoded)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The first parameter that appears more than once, if any.
    pub fn repeated(&self) -> Option<&str> {
        let mut seen = HashSet::new();
        self.pairs
            .iter()
            .map(|(k, _)| k.as_str())
            // RFC 8707 §2: `resource` may appear more than once.
            .filter(|k| *k != "resource")
            .find(|k| !seen.insert(*k))
    }

    /// How many times `name` appears (empty values included).
    pub fn count(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(k, _)| k == name).count()
    }

    /// `invalid_request` when any parameter is sent twice (RFC 6749 §3.1).
    pub fn reject_repeated(&self) -> Result<(), crate::oauth::error::OAuthError> {
        match self.repeated() {
            Some(name) => Err(crate::oauth::error::OAuthError::invalid_request(format!(
                "Parameter {name} is repeated."
            ))),
            None => Ok(()),
        }
    }

    /// The value of `name`, or None when it is missing or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name` (RFC 8707 lets `resource` repeat).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// These parameters followed by `other`'s (a query string and a form body together).
    pub fn and(mut self, other: Params) -> Self {
        self.pairs.extend(other.pairs);
        self
    }

    /// The parameters as pairs, to rebuild a URL with.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty_parameters() {
        let p = Params::parse(b"scope=a&state=&scope=b&x=%20y");
        assert_eq!(p.repeated(), Some("scope"));
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("x"), Some(" y"));
        assert_eq!(Params::parse(b"a=1&b=2").repeated(), None);
    }
}
