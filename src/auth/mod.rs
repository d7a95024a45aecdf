//! Accounts and sign-in rules, free of the web framework: password hashing (in a bounded
//! pool), the one password check, and the atomic throttles. The web extractors built on
//! them (sessions, CSRF, password confirmation) live in `web/`.

pub mod accounts;
pub mod hashing;
pub mod initial_password;
pub mod password;
pub mod password_check;
pub mod second_factor;
pub mod throttle;

/// A random URL-safe token of `bytes` random bytes (from the OS generator via `rand`).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
