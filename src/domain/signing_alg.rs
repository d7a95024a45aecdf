//! The algorithm access tokens are signed with (RFC 7518 §3.1, RFC 8037 §3.1).

use std::fmt;

use super::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 on a 2048-bit key: what Matomo's clients expect.
    #[default]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlg {
    /// Whether a signature holds the CPU long: an RSA-2048 signature takes about 0.2 ms,
    /// some fifty times an ES256 or EdDSA one.
    pub fn is_slow(self) -> bool {
        self == SigningAlg::Rs256
    }

    pub const ALL: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa];

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == raw.trim())
            .ok_or_else(|| InvalidInput::new("Signing algorithm must be RS256, ES256 or EdDSA."))
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
