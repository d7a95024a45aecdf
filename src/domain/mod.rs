//! Domain values that are valid by construction: each has a `parse` that either returns a
//! value the rest of the code can trust or a message a person can act on.

mod client;
mod email;
mod grant_type;
mod login;
mod password;
mod redirect_uri;
mod role;
mod scope;

pub use client::{
    ClientId, ClientName, ClientSecret, ClientStatus, ClientType, SecretHash, hash_secret,
    parse_description, secret_matches,
};
pub use email::Email;
pub use grant_type::GrantType;
pub use login::Login;
pub use password::Password;
pub use redirect_uri::{RedirectUri, parse_web_url};
pub use role::Role;
pub use scope::Scope;

/// Why an input was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
