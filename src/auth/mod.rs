//! Who is signed in and what they may do: password hashing, throttled sign-in, cookie
//! sessions with idle and absolute expiry, CSRF tokens, and role extractors.

pub mod accounts;
pub mod csrf;
pub mod hashing;
pub mod password;
pub mod password_check;
pub mod reauth;
pub mod session;
pub mod throttle;

/// A random URL-safe token of `bytes` random bytes (from the OS generator via `rand`).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
