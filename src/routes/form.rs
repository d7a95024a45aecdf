//! Console form plumbing: a posted form as name/value pairs (checkbox groups repeat a name),
//! the one-time flash message shown after a change, and the one-time display of a new secret.

use actix_session::Session;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::domain::ClientSecret;

/// A url-encoded form as posted, in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
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
const REVEAL: &str = "reveal";
/// A secret waits at most this long for its one showing.
const REVEAL_TTL_SECS: i64 = 600;

/// Sets the success message the next page shows once.
pub fn flash(session: &Session, message: impl Into<String>) {
    let _ = session.insert(FLASH, message.into());
}

/// Takes the pending success message, if any.
pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}

#[derive(Serialize, Deserialize)]
struct Reveal {
    client_id: String,
    secret: String,
    until: i64,
}

/// Keeps a new secret in the encrypted session cookie until the one page that shows it.
/// It is never stored on the server: the database holds only its hash.
pub fn stash_secret(session: &Session, client_id: &str, secret: &ClientSecret) {
    let _ = session.insert(
        REVEAL,
        Reveal {
            client_id: client_id.to_string(),
            secret: secret.expose().to_string(),
            until: Utc::now().timestamp() + REVEAL_TTL_SECS,
        },
    );
}

/// Takes the stashed secret of `client_id`: it can be shown once, and only soon after.
pub fn take_secret(session: &Session, client_id: &str) -> Option<String> {
    let reveal = session.remove_as::<Reveal>(REVEAL)?.ok()?;
    (reveal.client_id == client_id && reveal.until >= Utc::now().timestamp())
        .then_some(reveal.secret)
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
