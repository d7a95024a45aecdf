//! Re-entering one's password to confirm a sensitive change (as Matomo 5.1 asks before
//! creating, editing or deleting a client). Wrong passwords count towards the same
//! throttle as sign-in, so a stolen session cannot be used to guess the password.

use actix_web::web;
use chrono::Utc;

use crate::audit;
use crate::auth::password;
use crate::auth::session::SessionUser;
use crate::auth::throttle::{self, Verdict};
use crate::db::{self, models};
use crate::domain::FieldErrors;
use crate::error::AppError;
use crate::startup::AppState;

/// The form field the password is typed in.
const FIELD: &str = "password";

/// Checks `candidate` against the signed-in user's password. `Ok(Err(errors))` is a wrong
/// or throttled password, as the form's message on its password field.
pub async fn confirm(
    state: &AppState,
    user: &SessionUser,
    ip: &str,
    candidate: String,
) -> Result<Result<(), FieldErrors>, AppError> {
    if candidate.is_empty() {
        return Ok(Err(FieldErrors::one(
            FIELD,
            "Enter your password to confirm this change.",
        )));
    }
    let key = throttle::login_key(&user.login);
    let (k, i, id) = (key.clone(), ip.to_string(), user.id);
    let (verdict, stored) = db::run(&state.pool, move |conn| {
        let verdict = throttle::check(conn, &k, &i, Utc::now().naive_utc())?;
        let stored = models::users::find_by_id(conn, id)?.map(|u| u.password_hash);
        Ok((verdict, stored))
    })
    .await?;
    if let Verdict::Refused { retry_at } = verdict {
        return Ok(Err(FieldErrors::one(
            FIELD,
            format!(
                "Too many wrong passwords. Try again after {} UTC.",
                retry_at.format("%H:%M")
            ),
        )));
    }
    let Some(stored) = stored else {
        return Err(AppError::Forbidden);
    };
    let valid = web::block(move || password::verify(&stored, &candidate))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    if valid {
        return Ok(Ok(()));
    }
    let (login, ip) = (user.login.clone(), ip.to_string());
    db::run(&state.pool, move |conn| {
        throttle::record_failure(conn, &key, &ip)?;
        audit::record(
            conn,
            audit::Event::new(&login, audit::REAUTH_FAILED)
                .target("user", &login)
                .ip(&ip),
        )
    })
    .await?;
    Ok(Err(FieldErrors::one(
        FIELD,
        "Your password is incorrect; nothing was changed.",
    )))
}
