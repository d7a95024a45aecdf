//! The one password check, for signing in and for confirming a powerful action. In order:
//! take a slot from the login-at-address and address buckets (atomically, so parallel
//! attempts cannot overrun them), get a hashing slot (bounded, so a flood cannot exhaust
//! memory), verify, then give the slot back on success. Unknown logins verify against a
//! dummy hash, so both failures cost the same.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::audit;
use crate::auth::hashing::HashPool;
use crate::auth::password;
use crate::auth::throttle::{self, Bucket, Verdict};
use crate::db::models::users::UserRow;
use crate::db::{self, DbError, DbPool, models};
use crate::telemetry::metrics;

/// Why the password is being checked: decides the audit actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    /// A signed-in user confirming an action; only their own account can match.
    Confirm {
        user_id: i64,
    },
}

#[derive(Debug)]
pub enum Outcome {
    Valid(Box<UserRow>),
    Wrong,
    /// Too many failures at this login from this address, or from this address.
    Throttled {
        retry_at: NaiveDateTime,
    },
    /// No hashing slot came free in time; nothing was counted.
    Busy,
    /// The password is right but a superuser deactivated the account (said only to
    /// someone who knows the password).
    Deactivated,
}

/// Checks `candidate` for `login` coming from `ip`.
pub async fn check(
    pool: &DbPool,
    hasher: &HashPool,
    login: &str,
    candidate: String,
    ip: &str,
    purpose: Purpose,
) -> Result<Outcome, DbError> {
    let buckets = [Bucket::sign_in(login, ip), Bucket::sign_in_address(ip)];
    let user = match take_slot(pool, &buckets, login, ip).await? {
        Ok(user) => user,
        Err(retry_at) => {
            metrics::sign_in_throttled();
            return Ok(Outcome::Throttled { retry_at });
        }
    };
    let user = user.filter(|u| match purpose {
        Purpose::SignIn => true,
        Purpose::Confirm { user_id } => u.id == user_id,
    });
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = hasher
        .run(move || match stored {
            Some(hash) => password::verify(&hash, &candidate),
            None => password::verify_dummy(&candidate),
        })
        .await;
    let Ok(valid) = verified else {
        // Never verified: this attempt does not count (the ones before it still do).
        db::run(pool, move |conn| throttle::refund(conn, &buckets)).await?;
        return Ok(Outcome::Busy);
    };
    match user.filter(|_| valid) {
        Some(user) if !user.is_active() => Ok(Outcome::Deactivated),
        Some(user) => {
            record_success(pool, buckets, &user, ip, purpose).await?;
            Ok(Outcome::Valid(Box::new(user)))
        }
        None => {
            metrics::sign_in_failed();
            record_failure(pool, login, ip, purpose).await?;
            Ok(Outcome::Wrong)
        }
    }
}

/// Takes this attempt's slot in the throttle buckets and, when it is allowed, reads the
/// account (or `None`: no such login). A refusal answers with when to come back.
async fn take_slot(
    pool: &DbPool,
    buckets: &[Bucket; 2],
    login: &str,
    ip: &str,
) -> Result<Result<Option<UserRow>, NaiveDateTime>, DbError> {
    let (b, key, ip, login) = (
        buckets.clone(),
        throttle::login_key(login),
        ip.to_string(),
        login.trim().to_string(),
    );
    db::run(pool, move |conn| {
        if let Verdict::Refused { retry_at } = throttle::take(conn, &b, models::now())? {
            // Counted, one row per address per quarter hour whatever logins it tries:
            // refusals are what a flood consists of. The first login tried is kept.
            audit::record_counted(
                conn,
                audit::Event::new("anonymous", audit::LOGIN_THROTTLED)
                    .details(json!({ "first_login": key }))
                    .ip(&ip),
            )?;
            return Ok(Err(retry_at));
        }
        Ok(Ok(models::users::find_by_login(conn, &login)?))
    })
    .await
}

/// Gives the slot back; a sign-in also stamps the account and is audited.
async fn record_success(
    pool: &DbPool,
    buckets: [Bucket; 2],
    user: &UserRow,
    ip: &str,
    purpose: Purpose,
) -> Result<(), DbError> {
    let (id, login, ip) = (user.id, user.login.clone(), ip.to_string());
    // With a second factor, the sign-in succeeds only at the second step.
    let signed_in = purpose == Purpose::SignIn && !user.has_second_factor();
    db::run(pool, move |conn| {
        throttle::succeeded(conn, &buckets)?;
        if signed_in {
            signed_in_now(conn, id, &login, &ip, None)?;
        }
        Ok(())
    })
    .await
}

/// A completed sign-in: the account's last sign-in is stamped and the event audited,
/// with the second factor used when there was one.
pub fn signed_in_now(
    conn: &mut diesel::MysqlConnection,
    id: i64,
    login: &str,
    ip: &str,
    second_factor: Option<&str>,
) -> Result<(), DbError> {
    models::users::update_last_login(conn, id)?;
    let mut event = audit::Event::new(login, audit::LOGIN_SUCCEEDED)
        .target("user", login)
        .ip(ip);
    if let Some(method) = second_factor {
        event = event.details(json!({ "second_factor": method }));
    }
    audit::record(conn, event)
}

/// A wrong password (or unknown login) is audited under the login as typed.
async fn record_failure(
    pool: &DbPool,
    login: &str,
    ip: &str,
    purpose: Purpose,
) -> Result<(), DbError> {
    let key = throttle::login_key(login);
    let typed: String = login.chars().take(100).collect();
    let ip = ip.to_string();
    let action = match purpose {
        Purpose::SignIn => audit::LOGIN_FAILED,
        Purpose::Confirm { .. } => audit::REAUTH_FAILED,
    };
    db::run(pool, move |conn| {
        audit::record(
            conn,
            audit::Event::new(&key, action)
                .target("user", &key)
                .details(json!({ "login": typed }))
                .ip(&ip),
        )
    })
    .await
}
