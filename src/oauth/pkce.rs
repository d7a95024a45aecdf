//! PKCE (RFC 7636), S256 only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An S256 code challenge: exactly 43 base64url characters (a SHA-256 digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Reads `code_challenge` and `code_challenge_method` from an authorization request.
    /// Returns the description of an `invalid_request` when they are unacceptable.
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Self>, &'static str> {
        match (challenge, method) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err("code_challenge_method was sent without a code_challenge."),
            (Some(_), Some("plain")) => {
                Err("code_challenge_method=plain is not accepted: PKCE with S256 is required.")
            }
            (Some(_), None) => {
                Err("code_challenge_method is required and must be S256 (plain is not accepted).")
            }
            (Some(_), Some(m)) if m != "S256" => Err("code_challenge_method must be S256."),
            (Some(c), Some(_)) => Self::parse(c)
                .map(Some)
                .ok_or("code_challenge must be 43 base64url characters (an S256 digest)."),
        }
    }

    /// A stored challenge (already validated when it was stored).
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is well formed (RFC 7636 §4.1) and hashes to this challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        if !verifier_well_formed(verifier) {
            return false;
        }
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        bool::from(digest.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// 43 to 128 characters from the unreserved set `[A-Za-z0-9-._~]`.
pub fn verifier_well_formed(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_pair_verifies() {
        let challenge = CodeChallenge::from_request(
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            Some("S256"),
        )
        .unwrap()
        .unwrap();
        assert!(challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        assert!(!challenge.verify("short"));
    }

    #[test]
    fn only_s256_with_a_digest_shaped_challenge() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::from_request(Some(c), Some("plain")).is_err());
        assert!(CodeChallenge::from_request(Some(c), None).is_err());
        assert!(CodeChallenge::from_request(Some(c), Some("S257")).is_err());
        assert!(CodeChallenge::from_request(Some(&c[1..]), Some("S256")).is_err());
        assert!(
            CodeChallenge::from_request(
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                Some("S256")
            )
            .is_err()
        );
        assert!(CodeChallenge::from_request(None, Some("S256")).is_err());
        assert_eq!(CodeChallenge::from_request(None, None), Ok(None));
    }
}
