//! Sign-in throttling: after [`MAX_FAILURES`] failures for one login or one client address
//! within [`WINDOW`], further attempts are refused until the oldest failure leaves the window.

use chrono::{Duration, NaiveDateTime};
use diesel::MysqlConnection;

use crate::db::DbError;
use crate::db::models::login_failures;

pub const MAX_FAILURES: i64 = 5;
pub const WINDOW: Duration = Duration::minutes(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused until this UTC time.
    Refused {
        retry_at: NaiveDateTime,
    },
}

/// The key under which failures for a login are counted (case-insensitive, bounded).
pub fn login_key(login: &str) -> String {
    login.trim().to_lowercase().chars().take(100).collect()
}

pub fn check(
    conn: &mut MysqlConnection,
    login: &str,
    ip: &str,
    now: NaiveDateTime,
) -> Result<Verdict, DbError> {
    let since = now - WINDOW;
    let by_login = login_failures::count_for_login(conn, login, since)?;
    let by_ip = login_failures::count_for_ip(conn, ip, since)?;
    let retry_at = [by_login, by_ip]
        .iter()
        .filter(|c| c.failures >= MAX_FAILURES)
        .filter_map(|c| c.oldest.map(|t| t + WINDOW))
        .max();
    Ok(match retry_at {
        Some(retry_at) => Verdict::Refused { retry_at },
        None => Verdict::Allowed,
    })
}

pub fn record_failure(conn: &mut MysqlConnection, login: &str, ip: &str) -> Result<(), DbError> {
    login_failures::insert(conn, login, ip)
}

pub fn clear(conn: &mut MysqlConnection, login: &str) -> Result<(), DbError> {
    login_failures::delete_for_login(conn, login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_keys_fold_case_and_length() {
        assert_eq!(login_key(" Admin "), "admin");
        assert_eq!(login_key(&"x".repeat(500)).len(), 100);
    }
}
