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
    #[error("{0} is the last active superuser; make another user superuser first")]
    LastSuperuser(String),
    #[error("'{0}' cannot take over the clients: it must be another active superuser")]
    NotAnHeir(String),
    #[error(
        "'{0}' owns {1} client(s): say whether they are reassigned to another superuser or deleted"
    )]
    OwnsClients(String, usize),
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
            revoke_all_access(conn, &user, actor)?;
        }
        Ok(())
    })
}

/// Ends every application's access the user had given: grants (with their tokens and
/// refresh tokens) and unredeemed codes. Returns how many grants were revoked.
fn revoke_all_access(
    conn: &mut MysqlConnection,
    user: &users::UserRow,
    actor: &audit::Actor,
) -> Result<usize, AccountError> {
    let now = crate::db::models::now();
    let grants = crate::db::models::grants::revoke_all_of_user(conn, user.id, now)?;
    let codes = crate::db::models::codes::delete_all_unused_of_user(conn, user.id)?;
    audit::record(
        conn,
        audit::Event::by(actor, audit::USER_GRANTS_REVOKED)
            .target("user", &user.login)
            .details(json!({ "grants_revoked": grants, "codes_voided": codes })),
    )?;
    Ok(grants)
}

/// A user in a transaction, locked until it ends (a superuser deactivated while they are
/// chosen to take over clients, say), or [`AccountError::UnknownLogin`].
fn existing(conn: &mut MysqlConnection, login: &Login) -> Result<users::UserRow, AccountError> {
    users::lock_by_login(conn, login.as_str())?
        .ok_or_else(|| AccountError::UnknownLogin(login.to_string()))
}

/// Refuses to take away the last active superuser. Locks the superusers, so two
/// removals at once cannot both see "another one is left".
fn keep_a_superuser(conn: &mut MysqlConnection, user: &users::UserRow) -> Result<(), AccountError> {
    if user.role() != Role::Superuser || !user.is_active() {
        return Ok(());
    }
    // The shared guard row first, then the count: the row locks alone are node-local on
    // Galera, where two nodes could each remove one of the last two superusers.
    crate::db::models::leases::touch(conn, SUPERUSER_GUARD, crate::db::models::now())?;
    if users::lock_superusers(conn)? <= 1 {
        return Err(AccountError::LastSuperuser(user.login.clone()));
    }
    Ok(())
}

/// The guard row of [`keep_a_superuser`] (migration `superuser_guard`).
const SUPERUSER_GUARD: &str = "superusers";

/// Deactivates a user: they cannot sign in, their console sessions end, and every grant
/// and token they gave an application is revoked, so API calls with them fail at once.
/// Never the last active superuser. Deactivating an inactive user changes nothing.
pub fn deactivate(
    conn: &mut MysqlConnection,
    login: &Login,
    actor: &audit::Actor,
) -> Result<(), AccountError> {
    crate::db::transaction(conn, |conn| {
        let user = existing(conn, login)?;
        if !user.is_active() {
            return Ok(());
        }
        keep_a_superuser(conn, &user)?;
        users::set_deactivated(conn, user.id, Some(crate::db::models::now()))?;
        let grants = revoke_all_access(conn, &user, actor)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::USER_DEACTIVATED)
                .target("user", &user.login)
                .details(json!({ "grants_revoked": grants })),
        )?;
        Ok(())
    })
}

/// Lets a deactivated user sign in again (the grants revoked stay revoked).
pub fn activate(
    conn: &mut MysqlConnection,
    login: &Login,
    actor: &audit::Actor,
) -> Result<(), AccountError> {
    crate::db::transaction(conn, |conn| {
        let user = existing(conn, login)?;
        if user.is_active() {
            return Ok(());
        }
        users::set_deactivated(conn, user.id, None)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::USER_ACTIVATED).target("user", &user.login),
        )?;
        Ok(())
    })
}

/// What becomes of the clients a deleted user owned.
#[derive(Debug, Clone)]
pub enum OwnedClients {
    /// The user must own none (else [`AccountError::OwnsClients`]).
    None,
    /// Given to this (active) superuser.
    ReassignTo(Login),
    /// Deleted with the user, with every grant and token issued to them.
    Delete,
}

/// What a deletion took with it, for the confirmation and the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    pub grants_revoked: usize,
    pub clients_reassigned: usize,
    pub clients_deleted: usize,
}

/// Deletes a user with their grants, tokens, consents and site access; the clients they
/// own are reassigned or deleted as `clients` says. Never the last active superuser.
pub fn delete(
    conn: &mut MysqlConnection,
    login: &Login,
    clients: &OwnedClients,
    actor: &audit::Actor,
) -> Result<Deleted, AccountError> {
    crate::db::transaction(conn, |conn| {
        let user = existing(conn, login)?;
        keep_a_superuser(conn, &user)?;
        let mut done = Deleted {
            grants_revoked: revoke_all_access(conn, &user, actor)?,
            ..Deleted::default()
        };
        match clients {
            OwnedClients::None => {
                let owned = crate::db::models::clients::owned_by(conn, user.id)?;
                if !owned.is_empty() {
                    return Err(AccountError::OwnsClients(user.login.clone(), owned.len()));
                }
            }
            OwnedClients::ReassignTo(heir) => {
                let heir_row = existing(conn, heir)?;
                if heir_row.id == user.id
                    || heir_row.role() != Role::Superuser
                    || !heir_row.is_active()
                {
                    return Err(AccountError::NotAnHeir(heir.to_string()));
                }
                done.clients_reassigned =
                    crate::db::models::clients::reassign_owner(conn, user.id, heir_row.id)?;
            }
            OwnedClients::Delete => {
                done.clients_deleted = crate::db::models::clients::delete_owned_by(conn, user.id)?;
            }
        }
        users::delete(conn, user.id)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::USER_DELETED)
                .target("user", &user.login)
                .details(json!({
                    "grants_revoked": done.grants_revoked,
                    "clients_reassigned": done.clients_reassigned,
                    "clients_deleted": done.clients_deleted,
                })),
        )?;
        Ok(done)
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
        keep_a_superuser(conn, &user)?;
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
