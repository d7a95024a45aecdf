//! User account operations shared by the console and the command line.

use diesel::MysqlConnection;
use serde_json::json;

use crate::audit;
use crate::auth::password::{self, Hashed};
use crate::db::DbError;
use crate::db::models::users::{self, InsertUserError};
use crate::domain::{Email, Login, Password, Role};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a user with login '{0}' already exists")]
    LoginTaken(String),
    #[error("no user has login '{0}'")]
    UnknownLogin(String),
    #[error("{0} is the last superuser; make another user superuser first")]
    LastSuperuser(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates a user and records who did it. The password comes hashed, so that a server
/// hashes it in its bounded pool and never inside a database job.
pub fn create(
    conn: &mut MysqlConnection,
    login: &Login,
    email: &Email,
    role: Role,
    hash: &Hashed,
    actor: &audit::Actor,
) -> Result<(), AccountError> {
    users::insert(conn, login, email, hash.as_str(), role).map_err(|e| match e {
        InsertUserError::LoginTaken => AccountError::LoginTaken(login.to_string()),
        InsertUserError::Db(e) => AccountError::Db(e),
    })?;
    audit::record(
        conn,
        audit::Event::by(actor, audit::USER_CREATED)
            .target("user", login.as_str())
            .details(json!({ "email": email.as_str(), "role": role.as_str() })),
    )?;
    Ok(())
}

/// Replaces a user's password. Their console sessions end (the session epoch rises); with
/// `revoke_grants`, so does every application's access they had given (tokens, refresh
/// tokens and unredeemed codes), for when the password was reset because it leaked.
pub fn set_password(
    conn: &mut MysqlConnection,
    login: &Login,
    hash: &Hashed,
    actor: &audit::Actor,
    revoke_grants: bool,
) -> Result<(), AccountError> {
    crate::db::transaction(conn, |conn| {
        let user = users::find_by_login(conn, login.as_str())?
            .ok_or_else(|| AccountError::UnknownLogin(login.to_string()))?;
        users::update_password(conn, login, hash.as_str())?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::USER_PASSWORD_CHANGED).target("user", login.as_str()),
        )?;
        if revoke_grants {
            let now = crate::db::models::now();
            let grants = crate::db::models::grants::revoke_all_of_user(conn, user.id, now)?;
            let codes = crate::db::models::codes::delete_all_unused_of_user(conn, user.id)?;
            audit::record(
                conn,
                audit::Event::by(actor, audit::USER_GRANTS_REVOKED)
                    .target("user", login.as_str())
                    .details(json!({ "grants_revoked": grants, "codes_voided": codes })),
            )?;
        }
        Ok(())
    })
}

/// Changes a user's role; the last superuser keeps theirs, so the console stays manageable.
pub fn set_role(
    conn: &mut MysqlConnection,
    login: &str,
    role: Role,
    actor: &audit::Actor,
) -> Result<(), AccountError> {
    crate::db::transaction(conn, |conn| {
        let user = users::find_by_login(conn, login)?
            .ok_or_else(|| AccountError::UnknownLogin(login.to_string()))?;
        let before = user.role();
        if before == role {
            return Ok(());
        }
        // Locked, so two demotions at once cannot both see "another superuser is left".
        if before == Role::Superuser && users::lock_superusers(conn)? <= 1 {
            return Err(AccountError::LastSuperuser(user.login));
        }
        users::update_role(conn, user.id, role)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::USER_ROLE_CHANGED)
                .target("user", &user.login)
                .details(json!({ "old": before.as_str(), "new": role.as_str() })),
        )?;
        Ok(())
    })
}

/// The first superuser, created at start-up when there is none.
pub struct FirstSuperuser {
    pub login: Login,
    /// Present when the password was generated and must be shown to the operator once.
    pub generated_password: Option<String>,
}

/// Creates `login` as a superuser if no superuser exists yet. The password is `given` or,
/// when absent, a generated one returned so the caller can print it once.
pub fn ensure_first_superuser(
    conn: &mut MysqlConnection,
    login: &Login,
    email: &Email,
    given: Option<Password>,
) -> Result<Option<FirstSuperuser>, AccountError> {
    if users::count_with_role(conn, Role::Superuser)? > 0 {
        return Ok(None);
    }
    let (pw, generated_password) = match given {
        Some(pw) => (pw, None),
        None => {
            let raw = crate::auth::random_token(18);
            (
                Password::parse(&raw).expect("24 random characters are a valid password"),
                Some(raw),
            )
        }
    };
    create(
        conn,
        login,
        email,
        Role::Superuser,
        &password::hash(&pw),
        &audit::Actor::new("system"),
    )?;
    Ok(Some(FirstSuperuser {
        login: login.clone(),
        generated_password,
    }))
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Db(e.into())
    }
}

impl crate::db::Retryable for AccountError {
    fn retryable(&self) -> bool {
        matches!(self, AccountError::Db(e) if e.is_retryable())
    }
}
