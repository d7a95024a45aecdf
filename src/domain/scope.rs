//! Matomo's permission scopes. Every token carries exactly one.

use std::fmt;
use std::str::FromStr;

use super::InvalidInput;

/// Ordered from least to most privileged, so `min()` is the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// View access to analytics data.
    Read,
    /// Configuration and management actions.
    Write,
    /// Read and write.
    Admin,
    /// All operations.
    Superuser,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Admin, Scope::Superuser];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "matomo:read",
            Scope::Write => "matomo:write",
            Scope::Admin => "matomo:admin",
            Scope::Superuser => "matomo:superuser",
        }
    }

    /// Plain words for the consent screen and the console.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Read => "Read (view) access to analytics data",
            Scope::Write => "Write access for configuration or management actions",
            Scope::Admin => "Admin access, including read and write",
            Scope::Superuser => "Superuser access to all operations",
        }
    }

    /// Parses a space-separated list, refusing unknown and repeated scopes.
    pub fn parse_list(raw: &str) -> Result<Vec<Scope>, InvalidInput> {
        let mut scopes = Vec::new();
        for part in raw.split_whitespace() {
            let scope: Scope = part.parse()?;
            if scopes.contains(&scope) {
                return Err(InvalidInput::new(format!("Scope {part} is listed twice.")));
            }
            scopes.push(scope);
        }
        Ok(scopes)
    }

    /// The canonical space-separated form, least privileged first.
    pub fn join(scopes: &[Scope]) -> String {
        let mut sorted = scopes.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl FromStr for Scope {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| InvalidInput::new(format!("Unknown scope '{s}': use matomo:read, matomo:write, matomo:admin or matomo:superuser.")))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_orders_and_joins() {
        let list = Scope::parse_list("matomo:admin  matomo:read").unwrap();
        assert_eq!(list, vec![Scope::Admin, Scope::Read]);
        assert_eq!(list.iter().min(), Some(&Scope::Read));
        assert_eq!(Scope::join(&list), "matomo:read matomo:admin");
        assert!(Scope::parse_list("matomo:read matomo:read").is_err());
        assert!(Scope::parse_list("read").is_err());
        assert!(Scope::parse_list("MATOMO:READ").is_err());
    }
}
