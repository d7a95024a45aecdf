//! Showing a new secret (a client secret or an initial access token) exactly once. The secret travels to the credentials page in
//! the encrypted session cookie with a random nonce; the page shows it only if it can delete
//! that nonce's row, so a replayed cookie or a second tab shows nothing. The server stores
//! the nonce's hash, never the secret.

use actix_session::Session;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::db::{self, models};
use crate::domain::ClientSecret;
use crate::oauth::token_hash;
use crate::web::error::AppError;
use crate::web::state::AppState;

const KEY: &str = "reveal";
/// A secret waits at most this long for its one showing.
const TTL_SECS: i64 = 600;

#[derive(Serialize, Deserialize)]
struct Reveal {
    /// What the secret belongs to, such as `client:<client_id>` or `iat:<id>`.
    subject: String,
    secret: String,
    nonce: String,
}

/// Holds a client's new secret for one showing on its credentials page.
pub async fn stash(
    state: &AppState,
    session: &Session,
    client_id: &str,
    secret: &ClientSecret,
) -> Result<(), AppError> {
    stash_for(
        state,
        session,
        &format!("client:{client_id}"),
        Some(client_id),
        secret.expose(),
    )
    .await
}

/// Holds `secret` for one showing to whoever asks for `subject`.
pub async fn stash_for(
    state: &AppState,
    session: &Session,
    subject: &str,
    client_id: Option<&str>,
    secret: &str,
) -> Result<(), AppError> {
    let nonce = crate::auth::random_token(32);
    let (hash, id) = (token_hash(&nonce), client_id.map(str::to_string));
    let expires = Utc::now().naive_utc() + Duration::seconds(TTL_SECS);
    db::run(&state.pool, move |conn| {
        models::secret_reveals::insert(conn, &hash, id.as_deref(), expires)
    })
    .await?;
    session
        .insert(
            KEY,
            Reveal {
                subject: subject.to_string(),
                secret: secret.to_string(),
                nonce,
            },
        )
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// A client's secret to show now, if this is its one showing.
pub async fn take(
    state: &AppState,
    session: &Session,
    client_id: &str,
) -> Result<Option<String>, AppError> {
    take_for(state, session, &format!("client:{client_id}")).await
}

/// The secret of `subject` to show now, if this is its one showing.
pub async fn take_for(
    state: &AppState,
    session: &Session,
    subject: &str,
) -> Result<Option<String>, AppError> {
    let Some(reveal) = session.get::<Reveal>(KEY).ok().flatten() else {
        return Ok(None);
    };
    // Another page's secret stays for its own page.
    if reveal.subject != subject {
        return Ok(None);
    }
    session.remove(KEY);
    let hash = token_hash(&reveal.nonce);
    let claimed = db::run(&state.pool, move |conn| {
        models::secret_reveals::claim(conn, &hash, models::now())
    })
    .await?;
    Ok(claimed.then_some(reveal.secret))
}
