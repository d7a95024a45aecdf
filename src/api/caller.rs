//! Who calls the API and what they may do: the token's scope capped by the user's own,
//! current access (from `oauth::live`, which a change of access reaches at once on this
//! server and within a second on the others).

use std::sync::Arc;

use super::ApiError;
use crate::db::{Connect, models};
use crate::domain::{AccessLevel, Role, Scope, ScopeSet, SiteLimit};
use crate::oauth::live::Live;
use crate::oauth::{Protocol, access};

/// The user a valid token acts for (for client credentials, the client's owner).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub login: String,
    pub role: Role,
    pub scope: Scope,
    /// The client whose token it is (named in audit events as "<login> via <client>").
    pub client_id: String,
    /// The websites the token's grant may act on (chosen on the consent screen).
    pub sites: SiteLimit,
    /// Where the user's access and the websites are read from.
    pub live: Arc<Live>,
}

/// The most a scope allows on a site; `None` for `matomo:superuser`, which allows whatever
/// the user may do.
pub fn cap(scope: Scope) -> Option<AccessLevel> {
    match scope {
        Scope::Read => Some(AccessLevel::View),
        Scope::Write => Some(AccessLevel::Write),
        Scope::Admin => Some(AccessLevel::Admin),
        Scope::Superuser => None,
    }
}

/// The scope a token needs for a level.
pub fn scope_for(level: AccessLevel) -> Scope {
    match level {
        AccessLevel::View => Scope::Read,
        AccessLevel::Write => Scope::Write,
        AccessLevel::Admin => Scope::Admin,
    }
}

/// Validates the bearer token: signature and expiry, then its state, client and user,
/// from memory when warm (`oauth::live`).
pub fn authenticate(
    db: &mut impl Connect,
    proto: &Protocol,
    token: &str,
) -> Result<Caller, ApiError> {
    let invalid = || {
        ApiError::InvalidToken(
            "The access token is invalid, expired or revoked, or its client is paused.".into(),
        )
    };
    let active = access::active_access_token(db, proto, token)?.ok_or_else(invalid)?;
    let scopes: ScopeSet = active.claims.scope.parse().map_err(|_| invalid())?;
    let scope = scopes
        .matomo()
        .ok_or_else(|| ApiError::InsufficientScope {
            needed: Scope::Read.as_str(),
            message: "This token carries only OpenID Connect scopes: ask for a matomo scope as well to call the API.".into(),
        })?;
    let user_id = active.facts.user_id.ok_or_else(invalid)?;
    let user = proto.live.user(db, user_id)?.ok_or_else(invalid)?;
    access::touch_last_used(proto, active.client.id);
    Ok(Caller {
        user_id,
        role: user.role,
        login: user.login.clone(),
        scope,
        client_id: active.client.client_id.clone(),
        sites: active.facts.sites.clone(),
        live: proto.live.clone(),
    })
}

impl Caller {
    pub fn is_superuser(&self) -> bool {
        self.role == Role::Superuser
    }

    /// The user's own level on a site, whatever the token.
    pub fn own_level(
        &self,
        db: &mut impl Connect,
        site_id: i64,
    ) -> Result<Option<AccessLevel>, ApiError> {
        if self.is_superuser() {
            return Ok(Some(AccessLevel::Admin));
        }
        let levels = self.live.site_levels(db, self.user_id)?;
        Ok(levels
            .iter()
            .find(|(id, _)| *id == site_id)
            .map(|(_, l)| *l))
    }

    /// The lower of the token's scope and the user's own level.
    pub fn effective(&self, own: Option<AccessLevel>) -> Option<AccessLevel> {
        match cap(self.scope) {
            Some(cap) => own.map(|l| l.min(cap)),
            None => own,
        }
    }

    /// Refuses unless the call may act at `needed` on the site (which must exist).
    pub fn require(
        &self,
        db: &mut impl Connect,
        site_id: i64,
        needed: AccessLevel,
    ) -> Result<models::sites::SiteRow, ApiError> {
        let own = self.own_level(db, site_id)?;
        let site = self
            .live
            .sites(db)?
            .iter()
            .find(|s| s.id == site_id)
            .cloned();
        if !self.sites.allows(site_id) {
            // The site's name only to someone who may see it.
            let named = match (&site, own) {
                (Some(s), Some(_)) => format!("website {site_id} ({})", s.name),
                _ => format!("website {site_id}"),
            };
            return Err(ApiError::InsufficientScope {
                needed: scope_for(needed).as_str(),
                message: format!(
                    "This token is limited to websites {}: {named} is not among them.",
                    self.sites
                ),
            });
        }
        match (site, self.effective(own)) {
            (Some(site), Some(level)) if level >= needed => Ok(site),
            // A superuser may learn that a site does not exist; others get the same
            // refusal for a missing site as for one they cannot see.
            (None, _) if self.is_superuser() => Err(ApiError::bad_parameter(
                "idSite",
                format!("no website has ID {site_id}"),
            )),
            _ => Err(ApiError::InsufficientScope {
                needed: scope_for(needed).as_str(),
                message: format!(
                    "You need {} access on website {site_id}, and your token's scope ({}) with your own access allows {}.",
                    needed,
                    self.scope,
                    self.effective(own).map_or("none", AccessLevel::as_str)
                ),
            }),
        }
    }

    /// Refuses unless both the token (`matomo:superuser`) and the user are superuser.
    pub fn require_superuser(&self) -> Result<(), ApiError> {
        if self.sites.is_limited() {
            return Err(ApiError::InsufficientScope {
                needed: Scope::Superuser.as_str(),
                message: format!(
                    "This token is limited to websites {}; a superuser method needs a token for every website.",
                    self.sites
                ),
            });
        }
        if self.scope == Scope::Superuser && self.is_superuser() {
            return Ok(());
        }
        Err(ApiError::InsufficientScope {
            needed: Scope::Superuser.as_str(),
            message: "This method needs superuser access: a matomo:superuser token of a superuser."
                .into(),
        })
    }

    /// The sites this call may view, with the effective level on each.
    pub fn viewable_sites(
        &self,
        db: &mut impl Connect,
    ) -> Result<Vec<(models::sites::SiteRow, AccessLevel)>, ApiError> {
        let sites: Vec<models::sites::SiteRow> = (self.live.sites(db)?.iter())
            .filter(|s| self.sites.allows(s.id))
            .cloned()
            .collect();
        if self.is_superuser() {
            let level = self.effective(Some(AccessLevel::Admin));
            return Ok(sites
                .iter()
                .filter_map(|s| level.map(|l| (s.clone(), l)))
                .collect());
        }
        let levels = self.live.site_levels(db, self.user_id)?;
        Ok(sites
            .iter()
            .filter_map(|site| {
                let own = levels
                    .iter()
                    .find(|(id, _)| *id == site.id)
                    .map(|(_, l)| *l);
                self.effective(own).map(|l| (site.clone(), l))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, scope: Scope) -> Caller {
        Caller {
            user_id: 1,
            login: "u".into(),
            role,
            scope,
            client_id: "c".into(),
            sites: SiteLimit::All,
            live: Arc::new(Live::new()),
        }
    }

    #[test]
    fn the_lower_of_scope_and_own_level_wins() {
        let c = caller(Role::User, Scope::Read);
        assert_eq!(
            c.effective(Some(AccessLevel::Admin)),
            Some(AccessLevel::View)
        );
        assert_eq!(c.effective(None), None);
        let c = caller(Role::User, Scope::Superuser);
        assert_eq!(
            c.effective(Some(AccessLevel::Write)),
            Some(AccessLevel::Write)
        );
        assert!(c.require_superuser().is_err());
        assert!(
            caller(Role::Superuser, Scope::Admin)
                .require_superuser()
                .is_err()
        );
        assert!(
            caller(Role::Superuser, Scope::Superuser)
                .require_superuser()
                .is_ok()
        );
    }
}
