//! Every counted limit, atomically: sign-in and password confirmation, client
//! authentication, open registration. An attempt *takes* a slot in each of its buckets
//! before the expensive or revealing work runs: the buckets' rows are locked, checked and
//! charged in one transaction, so N parallel attempts can never get more than the limit.
//! A success gives the slot back ([`succeeded`]).
//!
//! The sign-in policy (README, "Sign-in throttling"):
//! - per login *and* address, growing delays: two free failures, then 1 s, 2 s, 4 s … up
//!   to 15 minutes between attempts, forgotten after an hour without one. Failures from
//!   other addresses never delay you, so nobody can lock an account they cannot sign in to;
//! - per address (IPv6 by /64), at most [`ADDRESS_FAILURES`] failures in 15 minutes, across
//!   all logins, so one address cannot spread guesses over many accounts.

use chrono::{Duration, NaiveDateTime};
use diesel::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{Binary, Datetime, Integer, Nullable, Varchar};
use sha2::{Digest, Sha256};

use crate::db::{self, DbError};

/// Failures one address may have across all logins in [`ADDRESS_WINDOW`].
pub const ADDRESS_FAILURES: i32 = 20;
pub const ADDRESS_WINDOW: Duration = Duration::minutes(15);

/// How a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// At most `limit` attempts per fixed window of `window`.
    Window { limit: i32, window: Duration },
    /// `free` attempts, then delays of 1 s, 2 s, 4 s … up to `cap` between attempts;
    /// the count is forgotten after `quiet` without an attempt.
    Backoff {
        free: i32,
        cap: Duration,
        quiet: Duration,
    },
}

impl Policy {
    /// The delay imposed after the `hits`-th counted attempt.
    fn delay(&self, hits: i32) -> Duration {
        match *self {
            Policy::Window { .. } => Duration::zero(),
            Policy::Backoff { free, cap, .. } => {
                let over = hits - free;
                if over <= 0 {
                    return Duration::zero();
                }
                let secs = 1i64 << (over - 1).min(20);
                Duration::seconds(secs).min(cap)
            }
        }
    }
}

/// One counter: a kind, a key within it, and its policy.
#[derive(Debug, Clone)]
pub struct Bucket {
    kind: &'static str,
    key: String,
    policy: Policy,
}

impl Bucket {
    /// Sign-in and password-confirmation attempts at one login from one address.
    pub fn sign_in(login: &str, ip: &str) -> Self {
        Self {
            kind: "sign_in",
            key: format!("{}\n{}", login_key(login), network(ip)),
            policy: Policy::Backoff {
                free: 2,
                cap: Duration::minutes(15),
                quiet: Duration::hours(1),
            },
        }
    }

    /// Second-factor codes for one account, from anywhere (whoever sends them already has
    /// the password): five wrong ones, then the same growing delays as passwords.
    pub fn second_factor(login: &str) -> Self {
        Self {
            kind: "second_factor",
            key: login_key(login),
            // The fifth wrong code starts the delays: a sixth right after it waits.
            policy: Policy::Backoff {
                free: 4,
                cap: Duration::minutes(15),
                quiet: Duration::hours(1),
            },
        }
    }

    /// Sign-in failures from one address, whatever the login.
    pub fn sign_in_address(ip: &str) -> Self {
        Self {
            kind: "sign_in_ip",
            key: network(ip),
            policy: Policy::Window {
                limit: ADDRESS_FAILURES,
                window: ADDRESS_WINDOW,
            },
        }
    }

    /// Failed client authentication for one client from one address.
    pub fn client_auth(client_id: &str, ip: &str) -> Self {
        Self {
            kind: "client_auth",
            key: format!(
                "{}\n{}",
                client_id.chars().take(100).collect::<String>(),
                network(ip)
            ),
            policy: Policy::Backoff {
                free: 5,
                cap: Duration::minutes(5),
                quiet: Duration::hours(1),
            },
        }
    }

    /// Failed client authentication from one address, whatever the client.
    pub fn client_auth_address(ip: &str) -> Self {
        Self {
            kind: "client_auth_ip",
            key: network(ip),
            policy: Policy::Window {
                limit: 200,
                window: Duration::minutes(15),
            },
        }
    }

    /// Open registration from one address: `limit` per `window`.
    pub fn registration(ip: &str, limit: i32, window: Duration) -> Self {
        Self {
            kind: if window <= Duration::seconds(1) {
                "register_s"
            } else {
                "register_h"
            },
            key: network(ip),
            policy: Policy::Window { limit, window },
        }
    }

    /// User codes typed at `/device` by one account (RFC 8628 §5.1: the code is short, so
    /// guesses must be few): five wrong ones per quarter hour, then 429 until it ends.
    pub fn device_user_code(user_id: i64) -> Self {
        Self {
            kind: "device_user_code",
            key: user_id.to_string(),
            policy: Policy::Window {
                limit: 5,
                window: Duration::minutes(15),
            },
        }
    }

    /// Device authorizations one client may start: each is a row until it expires, so
    /// the table stays bounded by the clients times this.
    pub fn device_authorization(client_id: &str) -> Self {
        Self {
            kind: "device_authz",
            key: client_id.chars().take(100).collect(),
            policy: Policy::Window {
                limit: 600,
                window: Duration::minutes(10),
            },
        }
    }

    fn hash(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(self.kind.as_bytes());
        h.update([0]);
        h.update(self.key.as_bytes());
        h.finalize().to_vec()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused until this UTC time.
    Refused {
        retry_at: NaiveDateTime,
    },
}

impl Verdict {
    /// Whole seconds until `retry_at` (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self, now: NaiveDateTime) -> i64 {
        match self {
            Verdict::Allowed => 0,
            Verdict::Refused { retry_at } => {
                let ms = (*retry_at - now).num_milliseconds().max(0);
                ((ms + 999) / 1000).max(1)
            }
        }
    }
}

/// The key under which attempts at a login are counted (case-insensitive, bounded).
pub fn login_key(login: &str) -> String {
    login.trim().to_lowercase().chars().take(100).collect()
}

/// The address a limit applies to: IPv4 as is, IPv6 by its /64 (one host's usual share).
pub fn network(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => ip.chars().take(45).collect(),
    }
}

#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = Integer)]
    hits: i32,
    #[diesel(sql_type = Datetime)]
    window_start: NaiveDateTime,
    #[diesel(sql_type = Nullable<Datetime>)]
    blocked_until: Option<NaiveDateTime>,
}

/// What a bucket's row becomes when an attempt is charged to it, or when it must wait.
fn charge(policy: Policy, row: &Row, now: NaiveDateTime) -> Result<Row, NaiveDateTime> {
    match policy {
        Policy::Window { limit, window } => {
            let (hits, start) = if now >= row.window_start + window {
                (0, now)
            } else {
                (row.hits, row.window_start)
            };
            if hits >= limit {
                return Err(start + window);
            }
            Ok(Row {
                hits: hits + 1,
                window_start: start,
                blocked_until: None,
            })
        }
        Policy::Backoff { quiet, .. } => {
            if let Some(until) = row.blocked_until.filter(|u| *u > now) {
                return Err(until);
            }
            let last = row.blocked_until.unwrap_or(row.window_start);
            let hits = if now >= last + quiet { 0 } else { row.hits };
            // No delay is stored as none: a parallel attempt whose clock read came a
            // moment earlier must not mistake "now" for a wait.
            let delay = policy.delay(hits + 1);
            Ok(Row {
                hits: hits + 1,
                window_start: now,
                blocked_until: (delay > Duration::zero()).then(|| now + delay),
            })
        }
    }
}

fn expiry(policy: Policy, row: &Row) -> NaiveDateTime {
    match policy {
        Policy::Window { window, .. } => row.window_start + window,
        Policy::Backoff { quiet, .. } => row.blocked_until.unwrap_or(row.window_start) + quiet,
    }
}

/// Takes one attempt from every bucket, or from none: refused when any bucket is full.
pub fn take(
    conn: &mut MysqlConnection,
    buckets: &[Bucket],
    now: NaiveDateTime,
) -> Result<Verdict, DbError> {
    // Locked in one order (the address windows first, then by hash), so two attempts
    // sharing buckets cannot deadlock each other, and an address that is over its limit
    // stops there: no row is made for the login or client it names, however many it tries.
    let mut keyed: Vec<(Vec<u8>, &Bucket)> = buckets.iter().map(|b| (b.hash(), b)).collect();
    keyed.sort_by(|a, b| {
        let backoff = |b: &Bucket| matches!(b.policy, Policy::Backoff { .. });
        (backoff(a.1), &a.0).cmp(&(backoff(b.1), &b.0))
    });
    db::transaction(conn, |conn| {
        let mut charged = Vec::with_capacity(keyed.len());
        for (hash, bucket) in &keyed {
            let row = lock_row(conn, hash, bucket.kind, now)?;
            match charge(bucket.policy, &row, now) {
                Ok(next) => charged.push((hash, bucket.policy, next)),
                Err(retry_at) => return Ok(Verdict::Refused { retry_at }),
            }
        }
        for (hash, policy, row) in charged {
            store(conn, hash, &row, expiry(policy, &row))?;
        }
        Ok(Verdict::Allowed)
    })
}

/// The attempt succeeded (or never ran): growing-delay buckets are cleared, window
/// buckets get their slot back.
pub fn succeeded(conn: &mut MysqlConnection, buckets: &[Bucket]) -> Result<(), DbError> {
    for bucket in buckets {
        match bucket.policy {
            Policy::Backoff { .. } => {
                diesel::sql_query("DELETE FROM throttle_buckets WHERE bucket_hash = ?")
                    .bind::<Binary, _>(bucket.hash())
                    .execute(conn)?;
            }
            Policy::Window { .. } => refund(conn, std::slice::from_ref(bucket))?,
        }
    }
    Ok(())
}

/// The attempt never ran (no hashing slot was free): its charge is taken back, and the
/// failures before it stay counted.
pub fn refund(conn: &mut MysqlConnection, buckets: &[Bucket]) -> Result<(), DbError> {
    for bucket in buckets {
        diesel::sql_query(
            "UPDATE throttle_buckets SET hits = GREATEST(hits - 1, 0) WHERE bucket_hash = ?",
        )
        .bind::<Binary, _>(bucket.hash())
        .execute(conn)?;
    }
    Ok(())
}

/// Removes buckets nobody has charged for longer than their policy remembers.
pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::sql_query("DELETE FROM throttle_buckets WHERE expires_at < ?")
            .bind::<Datetime, _>(now)
            .execute(conn)?,
    )
}

fn lock_row(
    conn: &mut MysqlConnection,
    hash: &[u8],
    kind: &str,
    now: NaiveDateTime,
) -> Result<Row, DbError> {
    // Upsert-then-lock: the row exists for every contender, who then queue on its lock.
    diesel::sql_query(
        "INSERT INTO throttle_buckets (bucket_hash, kind, hits, window_start, blocked_until, expires_at) \
         VALUES (?, ?, 0, ?, NULL, ?) ON DUPLICATE KEY UPDATE bucket_hash = bucket_hash",
    )
    .bind::<Binary, _>(hash)
    .bind::<Varchar, _>(kind)
    .bind::<Datetime, _>(now)
    .bind::<Datetime, _>(now + Duration::hours(1))
    .execute(conn)?;
    Ok(diesel::sql_query(
        "SELECT hits, window_start, blocked_until FROM throttle_buckets WHERE bucket_hash = ? FOR UPDATE",
    )
    .bind::<Binary, _>(hash)
    .get_result::<Row>(conn)?)
}

fn store(
    conn: &mut MysqlConnection,
    hash: &[u8],
    row: &Row,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::sql_query(
        "UPDATE throttle_buckets SET hits = ?, window_start = ?, blocked_until = ?, expires_at = ? \
         WHERE bucket_hash = ?",
    )
    .bind::<Integer, _>(row.hits)
    .bind::<Datetime, _>(row.window_start)
    .bind::<Nullable<Datetime>, _>(row.blocked_until)
    .bind::<Datetime, _>(expires_at)
    .bind::<Binary, _>(hash)
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn login_keys_fold_case_and_length() {
        assert_eq!(login_key(" Admin "), "admin");
        assert_eq!(login_key(&"x".repeat(500)).len(), 100);
    }

    #[test]
    fn backoff_grows_from_one_second_and_is_capped() {
        let p = Bucket::sign_in("a", "1.2.3.4").policy;
        let delays: Vec<i64> = (1..=16).map(|n| p.delay(n).num_seconds()).collect();
        assert_eq!(&delays[..7], &[0, 0, 1, 2, 4, 8, 16]);
        assert_eq!(delays[15], 900);
    }

    #[test]
    fn a_waiting_bucket_refuses_and_a_quiet_one_forgets() {
        let p = Bucket::sign_in("a", "1.2.3.4").policy;
        let mut row = Row {
            hits: 0,
            window_start: at(0),
            blocked_until: None,
        };
        for _ in 0..3 {
            row = charge(p, &row, at(0)).unwrap();
        }
        assert_eq!(charge(p, &row, at(0)).unwrap_err(), at(1));
        let later = charge(p, &row, at(4000)).unwrap();
        assert_eq!(later.hits, 1, "an hour of quiet forgets the failures");
    }

    #[test]
    fn windows_refuse_at_the_limit_until_the_window_ends() {
        let p = Policy::Window {
            limit: 2,
            window: Duration::seconds(10),
        };
        let mut row = Row {
            hits: 0,
            window_start: at(0),
            blocked_until: None,
        };
        row = charge(p, &row, at(1)).unwrap();
        row = charge(p, &row, at(2)).unwrap();
        assert_eq!(charge(p, &row, at(3)).unwrap_err(), at(10));
        assert_eq!(charge(p, &row, at(10)).unwrap().hits, 1);
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        assert_eq!(network("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(network("::ffff:1.2.3.4"), "1.2.3.4");
        assert_eq!(network("1.2.3.4"), "1.2.3.4");
    }
}
