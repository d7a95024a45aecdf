//! The `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::changes::{Change, record};
use crate::db::schema::users;
use crate::domain::{Email, Login, Role};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub login: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    /// Raised whenever the user's console sessions must end (password, role, removal).
    pub session_epoch: i32,
    /// Set while the user may not sign in.
    pub deactivated_at: Option<NaiveDateTime>,
    /// The OpenID Connect `sub`: random, never changed or given to anyone else.
    pub subject: String,
    /// The authenticator app's secret, encrypted (`auth::second_factor`).
    pub totp_secret: Option<Vec<u8>>,
    /// Set while a second factor is required at sign-in.
    pub totp_enabled_at: Option<NaiveDateTime>,
    /// The time step of the last code accepted.
    pub totp_last_step: Option<i64>,
}

impl UserRow {
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }

    /// Whether sign-in asks for a code after the password.
    pub fn has_second_factor(&self) -> bool {
        self.totp_enabled_at.is_some() && self.totp_secret.is_some()
    }

    /// The stored role; the CHECK constraint keeps it one of the three.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::User)
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    login: &'a str,
    email: &'a str,
    password_hash: &'a str,
    role: &'a str,
    created_at: NaiveDateTime,
    subject: &'a str,
}

/// Inserting failed because the login is taken, or for another reason.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("a user with this login already exists")]
    LoginTaken,
    #[error(transparent)]
    Db(#[from] DbError),
}

pub fn insert(
    conn: &mut MysqlConnection,
    login: &Login,
    email: &Email,
    password_hash: &str,
    role: Role,
) -> Result<(), InsertUserError> {
    diesel::insert_into(users::table)
        .values(NewUser {
            login: login.as_str(),
            email: email.as_str(),
            password_hash,
            role: role.as_str(),
            created_at: super::now(),
            subject: &uuid::Uuid::new_v4().to_string(),
        })
        .execute(conn)
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => InsertUserError::LoginTaken,
            other => InsertUserError::Db(other.into()),
        })?;
    Ok(())
}

pub fn find_by_login(conn: &mut MysqlConnection, login: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::login.eq(login))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Like [`find_by_login`], locking the row until the transaction ends.
pub fn lock_by_login(conn: &mut MysqlConnection, login: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::login.eq(login))
        .select(UserRow::as_select())
        .for_update()
        .first(conn)
        .optional()?)
}

pub fn find_by_id(conn: &mut MysqlConnection, id: i64) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut MysqlConnection) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table
        .order(users::login.asc())
        .select(UserRow::as_select())
        .load(conn)?)
}

pub fn count_with_role(conn: &mut MysqlConnection, role: Role) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::role.eq(role.as_str()))
        .count()
        .get_result(conn)?)
}

/// Replaces the password hash; returns whether a user with that login exists.
pub fn update_password(
    conn: &mut MysqlConnection,
    login: &Login,
    password_hash: &str,
) -> Result<bool, DbError> {
    let Some(id) = users::table
        .filter(users::login.eq(login.as_str()))
        .select(users::id)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    // A new password ends every console session that began with the old one.
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(password_hash),
            users::session_epoch.eq(users::session_epoch + 1),
        ))
        .execute(conn)?;
    record(conn, Change::User(id))?;
    Ok(true)
}

pub fn update_last_login(conn: &mut MysqlConnection, id: i64) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(Some(super::now())))
        .execute(conn)?;
    Ok(())
}

/// The longest-standing superuser (owner of clients created from the command line).
pub fn first_superuser(conn: &mut MysqlConnection) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::role.eq(Role::Superuser.as_str()))
        .order(users::id.asc())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn update_role(conn: &mut MysqlConnection, id: i64, role: Role) -> Result<(), DbError> {
    // Sessions begun under the old role end: they may have been granted for it.
    diesel::update(users::table.find(id))
        .set((
            users::role.eq(role.as_str()),
            users::session_epoch.eq(users::session_epoch + 1),
        ))
        .execute(conn)?;
    record(conn, Change::User(id))
}

/// Locks every active superuser row until the transaction ends; returns how many there are.
pub fn lock_superusers(conn: &mut MysqlConnection) -> Result<usize, DbError> {
    Ok(users::table
        .filter(users::role.eq(Role::Superuser.as_str()))
        .filter(users::deactivated_at.is_null())
        .select(users::id)
        .for_update()
        .load::<i64>(conn)?
        .len())
}

/// Deactivates (`Some(now)`) or reactivates (`None`) a user; either way their console
/// sessions end.
pub fn set_deactivated(
    conn: &mut MysqlConnection,
    id: i64,
    at: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((
            users::deactivated_at.eq(at),
            users::session_epoch.eq(users::session_epoch + 1),
        ))
        .execute(conn)?;
    record(conn, Change::User(id))
}

/// Deletes a user; their grants, tokens, consents, codes and site access go with them
/// (foreign keys). Clients they own must have been reassigned or deleted first.
pub fn delete(conn: &mut MysqlConnection, id: i64) -> Result<(), DbError> {
    diesel::delete(users::table.find(id)).execute(conn)?;
    record(conn, Change::User(id))
}

/// Turns the second factor on with this (encrypted) secret, the step of the code that
/// confirmed it counting as used, unless it is on already (false then: of two concurrent
/// enrolments, one wins). The user's console sessions end, as on a password change.
pub fn enable_second_factor(
    conn: &mut MysqlConnection,
    id: i64,
    secret: &[u8],
    step: i64,
) -> Result<bool, DbError> {
    let n = diesel::update(
        users::table
            .find(id)
            .filter(users::totp_enabled_at.is_null()),
    )
    .set((
        users::totp_secret.eq(Some(secret)),
        users::totp_enabled_at.eq(Some(super::now())),
        users::totp_last_step.eq(Some(step)),
        users::session_epoch.eq(users::session_epoch + 1),
    ))
    .execute(conn)?;
    record(conn, Change::User(id))?;
    Ok(n == 1)
}

/// Turns the second factor off; the user's console sessions end.
pub fn remove_second_factor(conn: &mut MysqlConnection, id: i64) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((
            users::totp_secret.eq(None::<Vec<u8>>),
            users::totp_enabled_at.eq(None::<NaiveDateTime>),
            users::totp_last_step.eq(None::<i64>),
            users::session_epoch.eq(users::session_epoch + 1),
        ))
        .execute(conn)?;
    record(conn, Change::User(id))
}

/// Marks the time step `step` used, only if no code of it or of a later step was: of any
/// number of concurrent uses of one code, one succeeds.
pub fn claim_totp_step(conn: &mut MysqlConnection, id: i64, step: i64) -> Result<bool, DbError> {
    let claimed = diesel::update(
        users::table
            .find(id)
            .filter(users::totp_enabled_at.is_not_null())
            .filter(
                users::totp_last_step
                    .is_null()
                    .or(users::totp_last_step.lt(step)),
            ),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(claimed == 1)
}
