//! The API's methods, each with the level it needs. Parameters are Matomo's names.

use chrono::{Datelike, NaiveDate};
use diesel::MysqlConnection;
use serde_json::{Value, json};

use super::{ApiError, Caller};
use crate::audit::{self, Actor};
use crate::db::Connect;
use crate::db::models::{self, sites::SiteRow};
use crate::domain::{AccessLevel, SiteName, SiteUrl, parse_site_id};
use crate::oauth::params::Params;
use crate::sites::{self, SiteError};

/// `UsersManager.setUserAccess` changes at most this many sites per call.
const MAX_SITES_PER_CALL: usize = 100;

/// Every method, for the unknown-method message.
pub const METHODS: [&str; 9] = [
    "API.getConsentryVersion",
    "SitesManager.getSitesWithAtLeastViewAccess",
    "SitesManager.getSiteFromId",
    "SitesManager.updateSite",
    "SitesManager.addSite",
    "Annotations.getAll",
    "Annotations.add",
    "UsersManager.setUserAccess",
    "UsersManager.getUsers",
];

/// Runs `method` for `caller`.
pub fn call(
    db: &mut impl Connect,
    caller: &Caller,
    actor: &Actor,
    method: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    // The reads are answered from memory when it is warm; the rest need the database.
    match method {
        "API.getConsentryVersion" => return Ok(json!({ "value": env!("CARGO_PKG_VERSION") })),
        "SitesManager.getSitesWithAtLeastViewAccess" => {
            return Ok(Value::Array(
                caller
                    .viewable_sites(db)?
                    .iter()
                    .map(|(site, _)| site_json(site))
                    .collect(),
            ));
        }
        "SitesManager.getSiteFromId" => {
            let site = caller.require(db, site_id(params)?, AccessLevel::View)?;
            return Ok(site_json(&site));
        }
        _ => {}
    }
    let conn = db.connection()?;
    let ip = actor.ip.as_deref().unwrap_or("");
    if let Some(answer) = super::oauth2::call(conn, caller, ip, method, params) {
        return answer;
    }
    match method {
        "Annotations.getAll" => annotations_get_all(conn, caller, params),
        "Annotations.add" => annotations_add(conn, caller, actor, params),
        "SitesManager.updateSite" => update_site(conn, caller, actor, params),
        "UsersManager.setUserAccess" => set_user_access(conn, caller, actor, params),
        "SitesManager.addSite" => add_site(conn, caller, actor, params),
        "UsersManager.getUsers" => get_users(conn, caller),
        _ => Err(ApiError::BadRequest(format!(
            "Unknown method. Available methods: {}, {}.",
            METHODS.join(", "),
            super::oauth2::METHODS.join(", ")
        ))),
    }
}

/// `Annotations.getAll`.
fn annotations_get_all(
    conn: &mut MysqlConnection,
    caller: &Caller,
    params: &Params,
) -> Result<Value, ApiError> {
    let site = caller.require(conn, site_id(params)?, AccessLevel::View)?;
    Ok(Value::Array(
        models::annotations::for_site(conn, site.id)?
            .into_iter()
            .map(|a| {
                json!({
                    "idannotation": a.id,
                    "idsite": a.site_id,
                    "date": a.date.to_string(),
                    "note": a.note,
                    "user": a.author,
                })
            })
            .collect(),
    ))
}

/// `Annotations.add`.
fn annotations_add(
    conn: &mut MysqlConnection,
    caller: &Caller,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let id = site_id(params)?;
    let date = required(params, "date")?;
    // DATE columns hold years 1000 to 9999; chrono would take signed years too.
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .filter(|d| (1000..=9999).contains(&d.year()))
        .ok_or_else(|| ApiError::bad_parameter("date", "use YYYY-MM-DD"))?;
    let note = required(params, "note")?.trim();
    if note.is_empty() || note.chars().count() > 255 || note.chars().any(char::is_control) {
        return Err(ApiError::bad_parameter(
            "note",
            "1 to 255 characters, without control characters",
        ));
    }
    let site = caller.require(conn, id, AccessLevel::Write)?;
    let annotation = models::annotations::insert(conn, site.id, date, note, &caller.login)?;
    audit::record(
        conn,
        audit::Event::by(actor, audit::ANNOTATION_ADDED)
            .target("site", &site.id.to_string())
            .details(json!({ "annotation": annotation, "date": date.to_string() })),
    )?;
    Ok(json!({
        "idannotation": annotation,
        "idsite": site.id,
        "date": date.to_string(),
        "note": note,
        "user": caller.login,
    }))
}

/// `SitesManager.updateSite`.
fn update_site(
    conn: &mut MysqlConnection,
    caller: &Caller,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let id = site_id(params)?;
    let name = site_name(params)?;
    let url = site_url(params)?;
    caller.require(conn, id, AccessLevel::Admin)?;
    sites::update(conn, id, &name, &url, actor).map_err(site_error)?;
    Ok(success())
}

/// `UsersManager.setUserAccess`.
fn set_user_access(
    conn: &mut MysqlConnection,
    caller: &Caller,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let login = required(params, "userLogin")?;
    let level = match required(params, "access")? {
        "noaccess" => None,
        other => Some(other.parse::<AccessLevel>().map_err(|_| {
            ApiError::bad_parameter("access", "use view, write, admin or noaccess")
        })?),
    };
    let mut ids: Vec<i64> = required(params, "idSites")?
        .split(',')
        .map(|id| parse_site_id(id).map_err(|e| ApiError::bad_parameter("idSites", e)))
        .collect::<Result<_, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_SITES_PER_CALL {
        return Err(ApiError::bad_parameter(
            "idSites",
            format!("at most {MAX_SITES_PER_CALL} sites per call"),
        ));
    }
    // All or nothing: every site is checked, then every change made, in one transaction.
    crate::db::transaction(conn, |conn| {
        for id in &ids {
            caller.require(conn, *id, AccessLevel::Admin)?;
        }
        for id in &ids {
            sites::set_access(conn, login, *id, level, actor).map_err(|e| user_error(caller, e))?;
        }
        Ok::<_, ApiError>(())
    })?;
    Ok(success())
}

/// `SitesManager.addSite`.
fn add_site(
    conn: &mut MysqlConnection,
    caller: &Caller,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let name = site_name(params)?;
    let url = site_url(params)?;
    caller.require_superuser()?;
    let id = sites::create(conn, &name, &url, actor).map_err(site_error)?;
    Ok(json!({ "value": id }))
}

/// `UsersManager.getUsers`.
fn get_users(conn: &mut MysqlConnection, caller: &Caller) -> Result<Value, ApiError> {
    caller.require_superuser()?;
    Ok(Value::Array(
        models::users::list(conn)?
            .into_iter()
            .map(|u| {
                json!({
                    "login": u.login,
                    "email": u.email,
                    "superuser_access": u.role() == crate::domain::Role::Superuser,
                    "role": u.role,
                    "date_registered": u.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                })
            })
            .collect(),
    ))
}

fn success() -> Value {
    json!({ "result": "success", "message": "ok" })
}

fn site_json(site: &SiteRow) -> Value {
    json!({
        "idsite": site.id,
        "name": site.name,
        "main_url": site.main_url,
        "ts_created": site.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
    })
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .ok_or_else(|| ApiError::bad_parameter(name, "is required"))
}

fn site_id(params: &Params) -> Result<i64, ApiError> {
    parse_site_id(required(params, "idSite")?).map_err(|e| ApiError::bad_parameter("idSite", e))
}

fn site_name(params: &Params) -> Result<SiteName, ApiError> {
    SiteName::parse(required(params, "siteName")?)
        .map_err(|e| ApiError::bad_parameter("siteName", e))
}

/// Matomo sends `urls` as a list; the first is the main URL.
fn site_url(params: &Params) -> Result<SiteUrl, ApiError> {
    let first = params
        .get("urls")
        .or_else(|| params.get("urls[]"))
        .or_else(|| params.get("urls[0]"))
        .ok_or_else(|| ApiError::bad_parameter("urls", "is required"))?;
    let first = first.split(',').next().unwrap_or("");
    SiteUrl::parse(first).map_err(|e| ApiError::bad_parameter("urls", e))
}

/// A site admin must not learn which logins exist or who is a superuser from the answer.
fn user_error(caller: &Caller, e: SiteError) -> ApiError {
    match e {
        SiteError::UnknownUser(_) | SiteError::Superuser(_) if !caller.is_superuser() => {
            ApiError::bad_parameter("userLogin", "this user's access cannot be changed")
        }
        other => site_error(other),
    }
}

fn site_error(e: SiteError) -> ApiError {
    match e {
        SiteError::Db(e) => ApiError::Db(e),
        SiteError::UnknownUser(login) => {
            ApiError::bad_parameter("userLogin", format!("no user has login '{login}'"))
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}
