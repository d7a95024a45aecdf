//! Scopes: Matomo's permission scopes (a token carries at most one) and the OpenID Connect
//! identity scopes beside it.

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

/// The OpenID Connect scopes (OpenID Connect Core 1.0 §5.4): who the user is, beside what
/// a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdentityScope {
    /// An ID token and the userinfo endpoint: the user's stable identifier.
    OpenId,
    /// `preferred_username` and `name`.
    Profile,
    /// `email` and `email_verified`.
    Email,
}

impl IdentityScope {
    pub const ALL: [IdentityScope; 3] = [
        IdentityScope::OpenId,
        IdentityScope::Profile,
        IdentityScope::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityScope::OpenId => "openid",
            IdentityScope::Profile => "profile",
            IdentityScope::Email => "email",
        }
    }

    /// Plain words for the settings form.
    pub fn describe(self) -> &'static str {
        match self {
            IdentityScope::OpenId => {
                "Sign in with Consentry (OpenID Connect): confirm who the user is"
            }
            IdentityScope::Profile => "The user's login name (OpenID Connect)",
            IdentityScope::Email => "The user's email address (OpenID Connect)",
        }
    }

    /// What the consent screen says the application learns.
    pub fn consent_text(self) -> &'static str {
        match self {
            IdentityScope::OpenId => "Confirm your identity",
            IdentityScope::Profile => "Your login name",
            IdentityScope::Email => "Your email address",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for IdentityScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of identity scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Identity(u8);

impl Identity {
    pub const NONE: Identity = Identity(0);

    pub fn of(scopes: &[IdentityScope]) -> Self {
        Identity(scopes.iter().fold(0, |bits, s| bits | s.bit()))
    }

    pub fn contains(self, scope: IdentityScope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every scope of `self` is in `other`.
    pub fn is_subset(self, other: Identity) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn union(self, other: Identity) -> Identity {
        Identity(self.0 | other.0)
    }

    /// The scopes in canonical order (openid, profile, email).
    pub fn iter(self) -> impl Iterator<Item = IdentityScope> {
        IdentityScope::ALL
            .into_iter()
            .filter(move |s| self.contains(*s))
    }
}

/// One scope of either kind, as a request names it.
enum AnyScope {
    Matomo(Scope),
    Identity(IdentityScope),
}

impl FromStr for AnyScope {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(identity) = IdentityScope::ALL.into_iter().find(|i| i.as_str() == s) {
            return Ok(AnyScope::Identity(identity));
        }
        s.parse::<Scope>().map(AnyScope::Matomo).map_err(|_| {
            InvalidInput::new(format!(
                "Unknown scope '{s}': use openid, profile, email and one of matomo:read, matomo:write, matomo:admin or matomo:superuser."
            ))
        })
    }
}

/// The scopes a request names: Matomo scopes for the user to choose one of (an
/// authorization request may name several) and identity scopes. Never empty, nothing
/// repeated, and `profile` or `email` only with `openid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequest {
    /// Least privileged first.
    pub matomo: Vec<Scope>,
    pub identity: Identity,
}

impl ScopeRequest {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let (mut matomo, mut identity) = (Vec::new(), Vec::new());
        for part in raw.split_whitespace() {
            let repeated = match part.parse::<AnyScope>()? {
                AnyScope::Matomo(s) if matomo.contains(&s) => true,
                AnyScope::Matomo(s) => {
                    matomo.push(s);
                    false
                }
                AnyScope::Identity(s) if identity.contains(&s) => true,
                AnyScope::Identity(s) => {
                    identity.push(s);
                    false
                }
            };
            if repeated {
                return Err(InvalidInput::new(format!("Scope {part} is listed twice.")));
            }
        }
        matomo.sort();
        let identity = Identity::of(&identity);
        check_identity(identity)?;
        if matomo.is_empty() && identity.is_empty() {
            return Err(InvalidInput::new("scope is empty."));
        }
        Ok(Self { matomo, identity })
    }
}

/// `profile` and `email` describe the user `openid` identifies: never without it.
fn check_identity(identity: Identity) -> Result<(), InvalidInput> {
    if !identity.is_empty() && !identity.contains(IdentityScope::OpenId) {
        return Err(InvalidInput::new(
            "The profile and email scopes need the openid scope.",
        ));
    }
    Ok(())
}

/// What one code, token, grant or consent carries: at most one Matomo scope (as in
/// Matomo, a token has one access level) and the identity scopes; never nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeSet {
    matomo: Option<Scope>,
    identity: Identity,
}

impl ScopeSet {
    pub fn new(matomo: Option<Scope>, identity: Identity) -> Result<Self, InvalidInput> {
        check_identity(identity)?;
        if matomo.is_none() && identity.is_empty() {
            return Err(InvalidInput::new("scope is empty."));
        }
        Ok(Self { matomo, identity })
    }

    /// A Matomo scope alone.
    pub fn only(scope: Scope) -> Self {
        Self {
            matomo: Some(scope),
            identity: Identity::NONE,
        }
    }

    pub fn matomo(self) -> Option<Scope> {
        self.matomo
    }

    pub fn identity(self) -> Identity {
        self.identity
    }

    pub fn has(self, scope: IdentityScope) -> bool {
        self.identity.contains(scope)
    }

    /// Whether everything `other` carries is in `self` (a Matomo scope includes the ones
    /// below it, as Matomo's access levels do).
    pub fn covers(self, other: ScopeSet) -> bool {
        let matomo = match (self.matomo, other.matomo) {
            (_, None) => true,
            (Some(mine), Some(theirs)) => theirs <= mine,
            (None, Some(_)) => false,
        };
        matomo && other.identity.is_subset(self.identity)
    }

    /// Every scope set whose Matomo scope, if any, is one of `matomo`: what a grant of a
    /// client allowed those scopes may carry.
    pub fn within(matomo: &[Scope]) -> Vec<ScopeSet> {
        use IdentityScope::{Email, OpenId, Profile};
        let identities = [
            Identity::NONE,
            Identity::of(&[OpenId]),
            Identity::of(&[OpenId, Profile]),
            Identity::of(&[OpenId, Email]),
            Identity::of(&[OpenId, Profile, Email]),
        ];
        let levels = std::iter::once(None).chain(matomo.iter().copied().map(Some));
        levels
            .flat_map(|m| {
                identities
                    .iter()
                    .filter_map(move |i| ScopeSet::new(m, *i).ok())
            })
            .collect()
    }

    /// Both together: the wider Matomo scope and every identity scope of either.
    pub fn union(self, other: ScopeSet) -> ScopeSet {
        Self {
            matomo: self.matomo.max(other.matomo),
            identity: self.identity.union(other.identity),
        }
    }
}

/// Scopes as text, the one way every list of them is written: the identity scopes
/// (openid, profile, email), then the Matomo ones in the order given, space-separated.
pub fn scope_text(identity: Identity, matomo: &[Scope]) -> String {
    (identity.iter().map(IdentityScope::as_str))
        .chain(matomo.iter().map(|s| s.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&scope_text(self.identity, self.matomo.as_slice()))
    }
}

impl FromStr for ScopeSet {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let request = ScopeRequest::parse(s)?;
        match request.matomo.as_slice() {
            [] => ScopeSet::new(None, request.identity),
            [one] => ScopeSet::new(Some(*one), request.identity),
            _ => Err(InvalidInput::new(
                "A token may carry exactly one matomo scope.",
            )),
        }
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

    #[test]
    fn scope_sets_carry_one_matomo_scope_and_identity_with_openid() {
        let set: ScopeSet = "email matomo:read openid".parse().unwrap();
        assert_eq!(set.to_string(), "openid email matomo:read");
        assert_eq!(set.matomo(), Some(Scope::Read));
        assert!(set.has(IdentityScope::Email) && !set.has(IdentityScope::Profile));
        assert_eq!("openid".parse::<ScopeSet>().unwrap().matomo(), None);
        for bad in [
            "",
            "profile",
            "email matomo:read",
            "openid openid",
            "matomo:read matomo:write",
            "openid offline",
        ] {
            assert!(bad.parse::<ScopeSet>().is_err(), "{bad:?}");
        }
        let wide: ScopeSet = "openid profile matomo:admin".parse().unwrap();
        assert!(wide.covers("openid matomo:read".parse().unwrap()));
        assert!(!wide.covers("openid email".parse().unwrap()));
        assert!(!ScopeSet::only(Scope::Read).covers(wide));
        assert_eq!(
            ScopeSet::only(Scope::Write)
                .union("openid".parse().unwrap())
                .to_string(),
            "openid matomo:write"
        );
        let within = ScopeSet::within(&[Scope::Read]);
        assert_eq!(within.len(), 9, "4 with openid alone, 5 with matomo:read");
        assert!(within.contains(&"openid email matomo:read".parse().unwrap()));
        assert!(!within.contains(&ScopeSet::only(Scope::Write)));
        let request = ScopeRequest::parse("matomo:admin openid matomo:read").unwrap();
        assert_eq!(request.matomo, vec![Scope::Read, Scope::Admin]);
        assert_eq!(request.identity, Identity::of(&[IdentityScope::OpenId]));
    }
}
