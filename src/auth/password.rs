//! Argon2id hashing of user passwords (people choose them, so a slow hash is warranted).
//! Call these on a blocking thread: each takes tens of milliseconds by design.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::domain::Password;

/// A stored password hash (PHC string); made only by [`hash`], so it is always argon2id.
#[derive(Debug, Clone)]
pub struct Hashed(String);

impl Hashed {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes a new password with argon2id (the crate's defaults: m=19 MiB, t=2, p=1) and a random
/// salt. On the server, run it through the hashing pool (`AppState::hasher`).
pub fn hash(password: &Password) -> Hashed {
    let salt = SaltString::generate(&mut OsRng);
    Hashed(
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .expect("argon2 with default parameters and a generated salt cannot fail")
            .to_string(),
    )
}

/// Checks `candidate` against a stored PHC string; a malformed hash never matches.
pub fn verify(stored: &str, candidate: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as [`verify`] when the login does not exist, so that response
/// timing does not reveal which logins are registered.
pub fn verify_dummy(candidate: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| {
        hash(&Password::parse("dummy password that never matches").expect("valid constant")).0
    });
    let _ = verify(stored, candidate);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let p = Password::parse("a long enough password").unwrap();
        let h1 = hash(&p).0;
        let h2 = hash(&p).0;
        assert!(h1.starts_with("$argon2id$"));
        assert_ne!(h1, h2);
        assert!(verify(&h1, "a long enough password"));
        assert!(!verify(&h1, "a long enough passwore"));
        assert!(!verify("not a hash", "a long enough password"));
        assert!(!verify_dummy("dummy password that never matches"));
    }
}
