//! Domain values that are valid by construction: each has a `parse` that either returns a
//! value the rest of the code can trust or a message a person can act on.

mod client;
mod device;
mod email;
mod grant_type;
mod login;
mod password;
mod redirect_uri;
mod role;
mod scope;
mod signing_alg;
mod site;

pub use client::{
    Client, ClientIcon, ClientId, ClientName, ClientSecret, ClientStatus, ClientType,
    PreviousSecret, SECRET_EXPIRY_WARNING_DAYS, SecretCheck, SecretGrace, SecretHash, hash_secret,
    parse_description, parse_secret_expiry, secret_matches,
};
pub use device::UserCode;
pub use email::Email;
pub use grant_type::GrantType;
pub use login::Login;
pub use password::Password;
pub use redirect_uri::{RedirectUri, parse_web_url};
pub use role::Role;
pub use scope::{Identity, IdentityScope, Scope, ScopeRequest, ScopeSet, scope_text};
pub use signing_alg::SigningAlg;
pub use site::{AccessLevel, SiteLimit, SiteName, SiteUrl, parse_site_id};

/// Why an input was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Field-level messages for a form: every broken rule, each next to the field it concerns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// A single message, for a form whose one failing rule is known.
    pub fn one(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// The message for `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first broken rule, in the form's order: what a one-line refusal names.
    pub fn first(&self) -> Option<(&'static str, &str)> {
        self.0.first().map(|(f, m)| (*f, m.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Keeps `value` when no rule was broken.
    pub fn check<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }

    /// Adds another form part's messages (a field already named keeps its first).
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, message) in other.0 {
            self.add(field, message);
        }
    }

    /// Records the error of a parse and returns its value, if any.
    pub fn take<T>(&mut self, field: &'static str, parsed: Result<T, InvalidInput>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(e) => {
                self.add(field, e.0);
                None
            }
        }
    }
}

/// A stored (UTC) time as RFC 3339 to the second, with `Z`: how every time is written for
/// machines (the CLI's `--json`, the API, audit details).
pub fn rfc3339(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A number of seconds in words, for a lifetime entered in seconds: "1 hour",
/// "1 day 2 hours", "90 seconds" stays "1 minute 30 seconds".
pub fn duration_words(seconds: i64) -> String {
    let units = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut left = seconds.max(0);
    let mut words = Vec::new();
    for (size, name) in units {
        let n = left / size;
        left %= size;
        if n > 0 {
            words.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if words.is_empty() {
        return "0 seconds".into();
    }
    words.truncate(2);
    words.join(" ")
}

/// A lifetime as typed on a form, with its meaning when it is a number of seconds
/// ("3600 = 1 hour"); empty otherwise.
pub fn typed_duration_meaning(typed: &str) -> String {
    match typed.trim().parse::<i64>() {
        Ok(n) => format!("{n} = {}", duration_words(n)),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod duration_tests {
    #[test]
    fn lifetimes_read_in_words() {
        assert_eq!(super::duration_words(3600), "1 hour");
        assert_eq!(super::duration_words(86_400 + 7_200), "1 day 2 hours");
        assert_eq!(super::duration_words(90), "1 minute 30 seconds");
        assert_eq!(super::duration_words(31_536_000), "365 days");
        assert_eq!(super::duration_words(0), "0 seconds");
        assert_eq!(super::typed_duration_meaning(" 7200 "), "7200 = 2 hours");
        assert_eq!(super::typed_duration_meaning("soon"), "");
    }
}
