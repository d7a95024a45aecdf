//! What a user may do in the console.

use std::fmt;
use std::str::FromStr;

use super::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including settings and client management.
    Superuser,
    /// Reads settings, clients and the audit log; changes nothing.
    Support,
    /// Only their own authorized applications.
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superuser => "superuser",
            Role::Support => "support",
            Role::User => "user",
        }
    }

    /// May see the administration pages (read-only for support staff).
    pub fn can_view_admin(self) -> bool {
        matches!(self, Role::Superuser | Role::Support)
    }

    /// May change settings and clients.
    pub fn can_manage(self) -> bool {
        self == Role::Superuser
    }
}

impl FromStr for Role {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "superuser" => Ok(Role::Superuser),
            "support" => Ok(Role::Support),
            "user" => Ok(Role::User),
            _ => Err(InvalidInput::new(
                "Role must be superuser, support or user.",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders_permissions() {
        for r in [Role::Superuser, Role::Support, Role::User] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("admin".parse::<Role>().is_err());
        assert!(Role::Support.can_view_admin() && !Role::Support.can_manage());
        assert!(!Role::User.can_view_admin());
    }
}
