//! Re-entering one's password to confirm a sensitive change (as Matomo 5.1 asks before
//! creating, editing or deleting a client). Wrong passwords count towards the same
//! throttle as sign-in, so a stolen session cannot be used to guess the password.

use actix_web::HttpRequest;

use crate::auth::password_check::{self, Outcome, Purpose};
use crate::domain::FieldErrors;
use crate::web::error::AppError;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::Fields;
use crate::web::session::SessionUser;
use crate::web::state::AppState;

/// The field the client forms ask for the password in.
pub const FIELD: &str = "password";
/// The field other forms use, where `password` is the new password being set.
pub const CONFIRM_FIELD: &str = "confirm_password";

/// Checks the password typed in `field` of the posted form against the signed-in user's,
/// counted against the request's address. `Ok(Err(errors))` is a wrong or throttled
/// password, as the form's message on that field.
pub async fn confirm(
    state: &AppState,
    user: &SessionUser,
    req: &HttpRequest,
    fields: &Fields,
    field: &'static str,
) -> Result<Result<(), FieldErrors>, AppError> {
    let candidate = fields.text(field);
    let ip = client_ip(req);
    if candidate.is_empty() {
        return Ok(Err(FieldErrors::one(
            field,
            "Enter your password to confirm this change.",
        )));
    }
    let outcome = password_check::check(
        &state.pool,
        &state.hasher,
        &user.login,
        candidate,
        &ip,
        Purpose::Confirm { user_id: user.id },
    )
    .await?;
    match outcome {
        Outcome::Valid(_) => Ok(Ok(())),
        Outcome::Wrong => Ok(Err(FieldErrors::one(
            field,
            "Your password is incorrect; nothing was changed.",
        ))),
        Outcome::Throttled { retry_at } => Ok(Err(FieldErrors::one(
            field,
            format!(
                "Too many wrong passwords from this address. Try again after {} UTC.",
                retry_at.format("%H:%M:%S")
            ),
        ))),
        Outcome::Deactivated => Ok(Err(FieldErrors::one(
            field,
            "Your account is deactivated; nothing was changed.",
        ))),
        Outcome::Busy => Err(AppError::Busy),
    }
}
