//! Whether an access token is live, answered from memory when warm (`oauth::live`): the
//! check introspection and the API share.

use std::sync::Arc;

use chrono::Duration;
use diesel::MysqlConnection;

use crate::db::{Connect, DbError, models};
use crate::domain::{Client, ScopeSet};
use crate::oauth::Protocol;
use crate::oauth::error::OAuthError;
use crate::oauth::jwt::{self, AccessClaims};
use crate::oauth::live::TokenFacts;

/// Notes that the client used the protocol; the write happens off the request
/// ([`flush_last_used`]).
pub fn touch_last_used(proto: &Protocol, client_pk: i64) {
    proto.live.mark_used(client_pk);
}

/// Writes what the protocol's requests noted in memory since the last flush (the server
/// calls it every few seconds): the clients' "last used" in one statement, whose
/// condition keeps several servers to about one write a minute per client between them,
/// and the uses of previous secrets, one statement per client in a grace period. What
/// could not be written is kept for the next flush. Returns how many clients were written.
pub fn flush_last_used(conn: &mut MysqlConnection, proto: &Protocol) -> Result<usize, DbError> {
    let mut counts = proto.live.take_previous_secret_uses();
    while let Some(((client_pk, hash), uses)) = counts.pop() {
        if let Err(e) = models::clients::add_previous_secret_uses(conn, client_pk, &hash, uses) {
            counts.push(((client_pk, hash), uses));
            proto.live.keep_previous_secret_uses(counts);
            return Err(e);
        }
    }
    let used = proto.live.take_used();
    if used.is_empty() {
        return Ok(0);
    }
    match models::clients::touch_last_used(conn, &used, Duration::seconds(60)) {
        Ok(()) => Ok(used.len()),
        Err(e) => {
            proto.live.keep_used(&used);
            Err(e)
        }
    }
}

/// A live access token: its claims, its state and its client.
pub struct ActiveToken {
    pub claims: Arc<AccessClaims>,
    pub facts: Arc<TokenFacts>,
    pub client: Arc<Client>,
}

/// Whether an access token is live: signed by us, unexpired, not revoked by `jti` or grant,
/// and its client exists and is active. Answered from memory when the state is warm.
pub fn active_access_token(
    db: &mut impl Connect,
    proto: &Protocol,
    token: &str,
) -> Result<Option<ActiveToken>, OAuthError> {
    let claims = match proto.live.verified(token) {
        Some(claims) => claims,
        None => {
            let Some(claims) = jwt::verify(db, &proto.keys, token, &proto.issuer, &proto.audience)?
            else {
                return Ok(None);
            };
            let claims = Arc::new(claims);
            proto.live.remember_verified(token, claims.clone());
            claims
        }
    };
    // Checked on every use: a remembered signature says nothing about the time.
    if claims.exp <= chrono::Utc::now().timestamp() {
        return Ok(None);
    }
    let Some(facts) = proto.live.token(db, &claims.jti)? else {
        return Ok(None);
    };
    let Some(client) = proto.live.client_by_pk(db, facts.client_pk)? else {
        return Ok(None);
    };
    let live = !facts.revoked
        && facts.expires_at > models::now()
        && client.is_active()
        && client.client_id == claims.client_id
        // An edit that narrows the client's scopes revokes such grants; this holds anyway.
        && (claims.scope.parse::<ScopeSet>()).is_ok_and(|set| {
            set.matomo()
                .is_none_or(|scope| client.scopes.contains(&scope))
        });
    Ok(live.then_some(ActiveToken {
        claims,
        facts,
        client,
    }))
}
