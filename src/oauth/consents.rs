//! Withdrawing consent: what Personal > Authorized applications does when a user revokes
//! an application. Everything the user gave that client stops working at once.

use diesel::MysqlConnection;
use serde_json::json;

use crate::audit::{self, Actor};
use crate::db::DbError;
use crate::db::models;
use crate::domain::{Client, InvalidInput, ScopeSet, SiteLimit, parse_site_id};

/// Removes the user's consent for the client, revokes every grant (and so every token) the
/// user gave it and voids unredeemed codes. Returns whether there was anything to withdraw.
pub fn withdraw(
    conn: &mut MysqlConnection,
    user_id: i64,
    client: &Client,
    actor: &Actor,
) -> Result<bool, DbError> {
    crate::db::transaction(conn, |conn| {
        let removed = models::consents::delete(conn, user_id, client.id)? > 0;
        let now = models::now();
        let grants = models::grants::revoke_for_user(conn, client.id, user_id, now)?;
        let codes = models::codes::delete_unused_for_user(conn, client.id, user_id)?;
        if !removed && grants == 0 && codes == 0 {
            return Ok(false);
        }
        audit::record(
            conn,
            audit::Event::by(actor, audit::CONSENT_REVOKED)
                .target("client", &client.client_id)
                .details(json!({ "grants_revoked": grants, "codes_voided": codes })),
        )?;
        Ok(true)
    })
}

/// The scopes the user approved for the client so far, if any.
pub fn remembered(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_id: i64,
) -> Result<Option<ScopeSet>, DbError> {
    Ok(models::consents::find(conn, user_id, client_id)?.and_then(|s| s.parse::<ScopeSet>().ok()))
}

/// The websites a user ticked to limit a grant to (`None`: all of them), each checked to
/// be one of `accessible`, the websites the user can access. The one rule behind the
/// consent screen and Authorized applications, so both refuse the same choices.
pub fn chosen_sites(
    accessible: &[i64],
    ticked: Option<&[String]>,
) -> Result<SiteLimit, InvalidInput> {
    let Some(ticked) = ticked else {
        return Ok(SiteLimit::All);
    };
    let ids = ticked
        .iter()
        .map(|id| parse_site_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let limit = SiteLimit::only(ids)?;
    match limit.ids().iter().find(|id| !accessible.contains(id)) {
        Some(id) => Err(InvalidInput::new(format!(
            "You cannot limit access to website {id}: choose among the websites listed."
        ))),
        None => Ok(limit),
    }
}

/// The websites the user limited the client to last time (all when never limited).
pub fn remembered_sites(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_id: i64,
) -> Result<SiteLimit, DbError> {
    let stored = models::consents::site_ids(conn, user_id, client_id)?.flatten();
    Ok(SiteLimit::stored(stored.as_deref()))
}

/// Changes the websites the user's grants to the client may act on (Authorized
/// applications): the consent, for the next codes, and every live grant at once.
/// Returns how many grants changed.
pub fn limit_sites(
    conn: &mut MysqlConnection,
    user_id: i64,
    client: &Client,
    limit: &SiteLimit,
    actor: &Actor,
) -> Result<usize, DbError> {
    crate::db::transaction(conn, |conn| {
        let stored = limit.to_stored();
        models::consents::set_site_ids(conn, user_id, client.id, stored.as_deref())?;
        let grants =
            models::grants::set_sites_for_user(conn, client.id, user_id, stored.as_deref())?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::CONSENT_SITES_CHANGED)
                .target("client", &client.client_id)
                .details(json!({ "sites": limit.to_string(), "grants": grants })),
        )?;
        Ok(grants)
    })
}

/// Records consent to `scopes`, keeping what was given before: consent only ever widens
/// (Matomo scopes are ordered, each including the ones below it; identity scopes add up),
/// so a narrower request never takes back what the user approved.
pub fn widen(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_id: i64,
    remembered: Option<ScopeSet>,
    scopes: ScopeSet,
) -> Result<ScopeSet, DbError> {
    let widest = remembered.map_or(scopes, |c| c.union(scopes));
    models::consents::upsert(conn, user_id, client_id, &widest.to_string())?;
    Ok(widest)
}
