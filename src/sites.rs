//! Websites and per-site access: the rules and audit events shared by the API, the console
//! and the command line.

use diesel::MysqlConnection;
use serde_json::json;

use crate::audit::{self, Actor};
use crate::db::{DbError, models};
use crate::domain::{AccessLevel, Role, SiteName, SiteUrl};

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("no website has ID {0}")]
    UnknownSite(i64),
    #[error("no user has login '{0}'")]
    UnknownUser(String),
    #[error("{0} is a superuser and has every access on every website")]
    Superuser(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SiteError {
    fn from(e: diesel::result::Error) -> Self {
        SiteError::Db(e.into())
    }
}

/// The websites a user can see: every one for a superuser, else the ones they hold a
/// level on (what the consent screen offers to limit a grant to).
pub fn accessible(
    conn: &mut MysqlConnection,
    user_id: i64,
    role: Role,
) -> Result<Vec<models::sites::SiteRow>, DbError> {
    if role == Role::Superuser {
        return models::sites::list(conn);
    }
    let ids: Vec<i64> = models::site_access::for_user(conn, user_id)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    models::sites::list_by_ids(conn, &ids)
}

pub fn create(
    conn: &mut MysqlConnection,
    name: &SiteName,
    url: &SiteUrl,
    actor: &Actor,
) -> Result<i64, SiteError> {
    crate::db::transaction(conn, |conn| {
        let id = models::sites::insert(conn, name.as_str(), url.as_str())?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::SITE_CREATED)
                .target("site", &id.to_string())
                .details(json!({ "name": name.as_str(), "main_url": url.as_str() })),
        )?;
        Ok(id)
    })
}

pub fn update(
    conn: &mut MysqlConnection,
    id: i64,
    name: &SiteName,
    url: &SiteUrl,
    actor: &Actor,
) -> Result<(), SiteError> {
    crate::db::transaction(conn, |conn| {
        let Some(before) = models::sites::find(conn, id)? else {
            return Err(SiteError::UnknownSite(id));
        };
        models::sites::update(conn, id, name.as_str(), url.as_str())?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::SITE_UPDATED)
                .target("site", &id.to_string())
                .details(json!({
                    "old": { "name": before.name, "main_url": before.main_url },
                    "new": { "name": name.as_str(), "main_url": url.as_str() },
                })),
        )?;
        Ok(())
    })
}

/// Sets `login`'s level on a site (`None` removes it). Superusers hold every level already.
pub fn set_access(
    conn: &mut MysqlConnection,
    login: &str,
    site_id: i64,
    level: Option<AccessLevel>,
    actor: &Actor,
) -> Result<(), SiteError> {
    crate::db::transaction(conn, |conn| {
        let user = models::users::find_by_login(conn, login)?
            .ok_or_else(|| SiteError::UnknownUser(login.to_string()))?;
        if user.role() == Role::Superuser {
            return Err(SiteError::Superuser(user.login));
        }
        if models::sites::find(conn, site_id)?.is_none() {
            return Err(SiteError::UnknownSite(site_id));
        }
        let before = models::site_access::level(conn, user.id, site_id)?;
        models::site_access::set(conn, user.id, site_id, level)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::SITE_ACCESS_CHANGED)
                .target("user", &user.login)
                .details(json!({
                    "site": site_id,
                    "old": before.map(AccessLevel::as_str),
                    "new": level.map(AccessLevel::as_str),
                })),
        )?;
        Ok(())
    })
}

impl crate::db::Retryable for SiteError {
    fn retryable(&self) -> bool {
        matches!(self, SiteError::Db(e) if e.is_retryable())
    }
}
