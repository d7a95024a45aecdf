//! The OAuth 2.0 grant types a client may use.

use std::fmt;
use std::str::FromStr;

use super::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
    /// RFC 8628: for devices without a browser; the user approves on another screen.
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
        GrantType::DeviceCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// The label the Matomo console uses.
    pub fn label(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "Authorisation code",
            GrantType::ClientCredentials => "Client credentials",
            GrantType::RefreshToken => "Refresh token",
            GrantType::DeviceCode => "Device code",
        }
    }

    pub fn parse_list(raw: &str) -> Result<Vec<GrantType>, InvalidInput> {
        let mut grants: Vec<GrantType> = raw
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        grants.sort();
        grants.dedup();
        Ok(grants)
    }

    pub fn join(grants: &[GrantType]) -> String {
        let mut sorted = grants.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl FromStr for GrantType {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `device_code`: the URN's short name, for typing on the command line.
        let s = if s == "device_code" {
            GrantType::DeviceCode.as_str()
        } else {
            s
        };
        GrantType::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| {
            InvalidInput::new(format!("Unknown grant type '{s}': use authorization_code, client_credentials, refresh_token or urn:ietf:params:oauth:grant-type:device_code."))
        })
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
