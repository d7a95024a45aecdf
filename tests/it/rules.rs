//! The shared rules tested directly against a real database, without HTTP: the throttle,
//! consent, the grant rule, and what a password reset ends.

use std::sync::Arc;

use consentry::audit::Actor;
use consentry::auth::{accounts, password, throttle};
use consentry::db::models;
use consentry::domain::{GrantType, Login, Password, Role, Scope};
use consentry::oauth::consents;
use consentry::oauth::settings::{GrantRefusal, Settings};
use diesel::MysqlConnection;

use crate::rules_support::{Db, user};

#[test]
fn throttle_takes_are_atomic_across_parallel_connections() {
    let db = Arc::new(Db::new());
    let bucket = throttle::Bucket::sign_in("alice", "192.0.2.7");
    let threads: Vec<_> = (0..24)
        .map(|_| {
            let (db, bucket) = (db.clone(), bucket.clone());
            std::thread::spawn(move || {
                let mut conn = db.conn();
                throttle::take(&mut conn, &[bucket], models::now()).unwrap()
            })
        })
        .collect();
    let allowed = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|v| *v == throttle::Verdict::Allowed)
        .count();
    // Two free attempts and the third that earns the first delay: no more, however many race.
    assert_eq!(allowed, 3);
}

#[test]
fn consent_only_ever_widens() {
    let db = Db::new();
    let mut conn = db.conn();
    let alice = user(&mut conn, "alice", Role::User);
    let owner = user(&mut conn, "owner", Role::Superuser);
    let client = crate::rules_support::client(&mut conn, owner);
    assert_eq!(
        consents::remembered(&mut conn, alice, client).unwrap(),
        None
    );
    consents::widen(&mut conn, alice, client, None, Scope::Write).unwrap();
    let before = consents::remembered(&mut conn, alice, client).unwrap();
    assert_eq!(before, Some(Scope::Write));
    let after = consents::widen(&mut conn, alice, client, before, Scope::Read).unwrap();
    assert_eq!(
        after,
        Scope::Write,
        "a narrower approval keeps the wider one"
    );
    assert_eq!(
        consents::remembered(&mut conn, alice, client).unwrap(),
        Some(Scope::Write)
    );
}

#[test]
fn the_grant_rule_names_why_a_grant_is_refused() {
    let db = Db::new();
    let mut conn = db.conn();
    let owner = user(&mut conn, "owner", Role::Superuser);
    let id = crate::rules_support::client(&mut conn, owner);
    let client = models::clients::find_by_id(&mut conn, id).unwrap().unwrap();
    let mut settings = Settings::load(&mut conn).unwrap();
    assert_eq!(
        settings.grant_allowed(&client, GrantType::AuthorizationCode),
        Ok(())
    );
    assert_eq!(
        settings.grant_allowed(&client, GrantType::ClientCredentials),
        Err(GrantRefusal::NotForClient)
    );
    settings.auth_code_enabled = false;
    assert_eq!(
        settings.grant_allowed(&client, GrantType::AuthorizationCode),
        Err(GrantRefusal::DisabledOnServer)
    );
}

#[test]
fn a_password_reset_raises_the_session_epoch_and_can_revoke_grants() {
    let db = Db::new();
    let mut conn = db.conn();
    let alice = user(&mut conn, "alice", Role::User);
    let owner = user(&mut conn, "owner", Role::Superuser);
    let client = crate::rules_support::client(&mut conn, owner);
    let grant = crate::rules_support::grant(&mut conn, client, alice);
    let epoch = |conn: &mut MysqlConnection| {
        models::users::find_by_id(conn, alice)
            .unwrap()
            .unwrap()
            .session_epoch
    };
    let before = epoch(&mut conn);
    let login = Login::parse("alice").unwrap();
    let new = password::hash(&Password::parse("another long password").unwrap());
    accounts::set_password(&mut conn, &login, &new, &Actor::new("test"), false).unwrap();
    assert_eq!(epoch(&mut conn), before + 1);
    assert!(
        models::grants::find(&mut conn, grant)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    accounts::set_password(&mut conn, &login, &new, &Actor::new("test"), true).unwrap();
    assert_eq!(epoch(&mut conn), before + 2);
    assert!(
        models::grants::find(&mut conn, grant)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

#[test]
fn one_server_at_a_time_holds_the_purge_lease() {
    let db = Arc::new(Db::new());
    let now = models::now();
    let until = now + chrono::Duration::minutes(15);
    let threads: Vec<_> = (0..12)
        .map(|n| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut conn = db.conn();
                models::leases::take(&mut conn, "purge", &format!("holder{n}"), now, until).unwrap()
            })
        })
        .collect();
    let taken = threads.into_iter().map(|t| t.join().unwrap());
    assert_eq!(taken.filter(|won| *won).count(), 1, "exactly one holder");
    // Held, nobody else takes it; expired or given back, the next one does.
    let mut conn = db.conn();
    assert!(!models::leases::take(&mut conn, "purge", "late", models::now(), until).unwrap());
    let expired_at_row = "UPDATE leases SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND";
    diesel::RunQueryDsl::execute(diesel::sql_query(expired_at_row), &mut conn).unwrap();
    assert!(models::leases::take(&mut conn, "purge", "next", models::now(), until).unwrap());
    models::leases::release(&mut conn, "purge", "next", models::now()).unwrap();
    assert!(models::leases::take(&mut conn, "purge", "after", models::now(), until).unwrap());
}

/// Collects the changes a follower applies.
#[derive(Default)]
struct Collected(std::sync::Mutex<Vec<consentry::db::changes::Change>>);

impl consentry::db::changes::Sink for Collected {
    fn apply(&self, change: &consentry::db::changes::Change) {
        self.0.lock().unwrap().push(change.clone());
    }
}

impl Collected {
    fn take(&self) -> Vec<consentry::db::changes::Change> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[test]
fn the_follower_applies_a_change_that_commits_after_one_with_a_higher_id() {
    use consentry::db::changes::{self, Change};
    use consentry::oauth::live::{Follower, follower::GAP_WAIT};
    use diesel::connection::SimpleConnection;
    let db = Db::new();
    let (mut early, mut late, mut reader) = (db.conn(), db.conn(), db.conn());
    // As on a three-node Galera cluster: ids step by three.
    for conn in [&mut early, &mut late] {
        conn.batch_execute("SET SESSION auto_increment_increment = 3")
            .unwrap();
    }
    let mut follower = Follower::start(&mut reader).unwrap();
    let sink = Collected::default();
    let start = std::time::Instant::now();

    // `early` takes the lower id and holds its transaction open; `late` commits a higher id.
    early.batch_execute("BEGIN").unwrap();
    changes::record(&mut early, Change::User(1)).unwrap();
    changes::record(&mut late, Change::User(2)).unwrap();
    follower.poll_at(&mut reader, &sink, start).unwrap();
    assert_eq!(sink.take(), vec![Change::User(2)]);

    // The lower id commits later: still applied, and only once.
    early.batch_execute("COMMIT").unwrap();
    follower
        .poll_at(
            &mut reader,
            &sink,
            start + std::time::Duration::from_millis(250),
        )
        .unwrap();
    assert_eq!(sink.take(), vec![Change::User(1)]);
    follower
        .poll_at(
            &mut reader,
            &sink,
            start + std::time::Duration::from_millis(500),
        )
        .unwrap();
    assert!(sink.take().is_empty(), "each change is applied once");

    // Past the wait, the re-read window moves on and rows already applied stay applied.
    changes::record(&mut late, Change::Settings).unwrap();
    follower
        .poll_at(&mut reader, &sink, start + GAP_WAIT * 2)
        .unwrap();
    assert_eq!(sink.take(), vec![Change::Settings]);
    follower
        .poll_at(&mut reader, &sink, start + GAP_WAIT * 3)
        .unwrap();
    assert!(sink.take().is_empty());
    assert!(follower.floor() > 0);
}

/// Runs `f` memory-first; returns its answer and how many times it ran.
async fn run_counted<T: Send + 'static>(
    pool: &consentry::db::DbPool,
    f: impl Fn(&mut consentry::db::Lazy) -> Result<T, consentry::db::DbError> + Clone + Send + 'static,
) -> (Result<T, consentry::db::DbError>, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let answer = consentry::db::run_memory_first(pool, move |db: &mut consentry::db::Lazy| {
        counted.fetch_add(1, Ordering::SeqCst);
        f(db)
    })
    .await;
    (answer, runs.load(Ordering::SeqCst))
}

/// Work tried on the async worker first runs again off it exactly when it asked for a
/// connection or announced slow work, and its second run gets a real connection.
#[tokio::test]
async fn memory_first_work_runs_again_only_when_it_needs_the_database() {
    use consentry::db::{Connect, DbError};
    use diesel::RunQueryDsl;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let base = Db::new();
    let pool = base.pool();

    let (answer, runs) = run_counted(&pool, |_db| Ok(7)).await;
    assert_eq!(answer.unwrap(), 7);
    assert_eq!(runs, 1, "memory was enough: one run");

    let (answer, runs) = run_counted(&pool, |db| {
        Ok(diesel::sql_query("DO 0").execute(db.connection()?)?)
    })
    .await;
    assert!(
        answer.is_ok(),
        "the second run had a connection: {answer:?}"
    );
    assert_eq!(runs, 2);

    let (answer, runs) = run_counted(&pool, |db| db.slow_work()).await;
    assert!(answer.is_ok());
    assert_eq!(runs, 2, "slow work runs off the worker");

    // A charge made on the first run is not made again on the second.
    let charges = Arc::new(AtomicUsize::new(0));
    let counted = charges.clone();
    let (answer, _) = run_counted(&pool, move |db| {
        if db.first_time("a rate") {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        Ok(diesel::sql_query("DO 0").execute(db.connection()?)?)
    })
    .await;
    assert!(answer.is_ok());
    assert_eq!(
        charges.load(Ordering::SeqCst),
        1,
        "charged once in two runs"
    );

    // An error of the work's own, with no connection asked for, is its answer.
    let (answer, runs) = run_counted(&pool, |_db| {
        Err::<(), _>(DbError::Unavailable("its own".into()))
    })
    .await;
    assert!(answer.is_err());
    assert_eq!(runs, 1);
}
