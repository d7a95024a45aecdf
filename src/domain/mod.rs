//! Domain values that are valid by construction: each has a `parse` that either returns a
//! value the rest of the code can trust or a message a person can act on.

mod email;
mod login;
mod password;
mod role;

pub use email::Email;
pub use login::Login;
pub use password::Password;
pub use role::Role;

/// Why an input was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
