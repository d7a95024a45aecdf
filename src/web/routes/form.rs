//! Console form plumbing: a posted form as name/value pairs (checkbox groups repeat a name),
//! the one-time flash message shown after a change, and local return paths.

use actix_session::Session;
use serde::Deserialize;

/// A url-encoded form as posted, in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Fields read from a body other than a url-encoded one (a file upload's text parts).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first value of `name`, or empty.
    pub fn text(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every value of `name` (a checkbox group).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

const FLASH: &str = "flash";

/// Sets the success message the next page shows once.
pub fn flash(session: &Session, message: impl Into<String>) {
    let _ = session.insert(FLASH, message.into());
}

/// Takes the pending success message, if any.
pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}

/// A local path to return to after a POST, or `fallback`: never another site.
pub fn local_path(candidate: &str, prefix: &str, fallback: &str) -> String {
    let ok = candidate.starts_with(prefix)
        && !candidate.starts_with("//")
        && !candidate.contains('\\')
        && !candidate.chars().any(char::is_control)
        && candidate.len() <= 2048;
    if ok {
        candidate.to_string()
    } else {
        fallback.to_string()
    }
}
