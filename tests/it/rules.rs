//! The shared rules tested directly against a real database, without HTTP: the throttle,
//! consent, the grant rule, and what a password reset ends.

use std::sync::Arc;

use consentry::audit::Actor;
use consentry::auth::{accounts, password, throttle};
use consentry::db::models;
use consentry::domain::{GrantType, Login, Password, Role, Scope, ScopeSet};
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
    let write = ScopeSet::only(Scope::Write);
    consents::widen(&mut conn, alice, client, None, write).unwrap();
    let before = consents::remembered(&mut conn, alice, client).unwrap();
    assert_eq!(before, Some(write));
    let read_and_openid: ScopeSet = "openid matomo:read".parse().unwrap();
    let after = consents::widen(&mut conn, alice, client, before, read_and_openid).unwrap();
    assert_eq!(
        after.to_string(),
        "openid matomo:write",
        "a narrower approval keeps the wider one, and identity scopes add up"
    );
    assert_eq!(
        consents::remembered(&mut conn, alice, client).unwrap(),
        Some(after)
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

/// The group-commit batch (the writer's one text): a code or refresh token claimed twice
/// in one batch gives one token; a client-credentials token whose client changed gives
/// none; the others are stored with their grants and refresh tokens.
#[test]
fn a_token_batch_stores_a_token_only_where_its_own_claim_won() {
    use consentry::db::models::issued::{self, IssuedToken, NewRefresh, Under};
    let db = Db::new();
    let mut conn = db.conn();
    let owner = user(&mut conn, "batcher", Role::Superuser);
    let created = crate::rules_support::confidential_client(&mut conn, owner);
    let client = models::clients::find_by_client_id(&mut conn, created.client_id.as_str())
        .unwrap()
        .unwrap();
    // As stored: to the microsecond.
    let now = chrono::SubsecRound::trunc_subsecs(models::now(), 6);
    let hour = now + chrono::Duration::hours(1);
    let day = now + chrono::Duration::days(1);
    let code = |conn: &mut MysqlConnection, n: u8| {
        models::codes::insert(
            conn,
            &models::codes::NewCode {
                code_hash: &[n; 32],
                client_id: client.id,
                user_id: owner,
                redirect_uri: "https://app.example/cb",
                redirect_uri_given: true,
                scope: Scope::Read.as_str(),
                code_challenge: None,
                created_at: now,
                expires_at: hour,
                nonce: None,
                auth_time: now,
                amr: "pwd",
                acr: None,
                site_ids: None,
            },
        )
        .unwrap();
        models::codes::find_by_hash(conn, &[n; 32])
            .unwrap()
            .unwrap()
            .id
    };
    let token = |n: u32, under: Under| IssuedToken {
        jti: format!("batchtest{n:013}"),
        client_id: client.id,
        user_id: Some(owner),
        scope: Scope::Read.as_str().to_string(),
        created_at: now,
        expires_at: hour,
        under,
        sites: Default::default(),
    };
    let refresh = |n: u8| {
        Some(NewRefresh {
            token_hash: [n; 32],
            expires_at: day,
        })
    };
    let (first, second) = (code(&mut conn, 1), code(&mut conn, 2));
    let own = |secret_hash: Vec<u8>| Under::OwnGrant { secret_hash };
    let for_code = |code_id, refresh| Under::Code {
        grant: consentry::domain::GrantType::AuthorizationCode,
        code_id,
        grant_expires: day,
        refresh,
    };
    let batch = [
        token(1, for_code(first, refresh(11))),
        token(2, for_code(first, refresh(12))),
        token(3, for_code(second, None)),
        token(4, own(client.secret_hash.clone().unwrap())),
        token(5, own(vec![0; 32])),
    ];
    let stored = issued::commit_issued(&mut conn, &batch).unwrap();
    let won: Vec<bool> = stored.iter().map(Option::is_some).collect();
    assert_eq!(won, [true, false, true, true, false]);
    let refresh_row = |conn: &mut MysqlConnection, n: u8| {
        models::refresh_tokens::find_by_hash(conn, &[n; 32]).unwrap()
    };
    let kept = refresh_row(&mut conn, 11).expect("the winner's refresh token");
    assert!(
        refresh_row(&mut conn, 12).is_none(),
        "the loser stored nothing"
    );
    let code_grant = stored[0].unwrap();
    assert_eq!(kept.grant_id, code_grant);
    let grant = models::grants::find(&mut conn, code_grant)
        .unwrap()
        .unwrap();
    assert_eq!((grant.code_id, grant.expires_at), (Some(first), day));

    // The refresh token, rotated twice in one batch (in the caller's transaction).
    let later = day + chrono::Duration::hours(1);
    let rotate = |n: u8| Under::Refresh {
        refresh_id: kept.id,
        grant_id: code_grant,
        refresh: NewRefresh {
            token_hash: [n; 32],
            expires_at: later,
        },
    };
    let batch = [token(6, rotate(13)), token(7, rotate(14))];
    let stored =
        consentry::db::transaction(&mut conn, |c| issued::insert_issued(c, &batch)).unwrap();
    assert_eq!(stored, [Some(code_grant), None]);
    assert!(refresh_row(&mut conn, 13).is_some());
    assert!(refresh_row(&mut conn, 14).is_none());
    let rotated = refresh_row(&mut conn, 11).unwrap();
    assert!(rotated.rotated_at.is_some());
    let grant = models::grants::find(&mut conn, code_grant)
        .unwrap()
        .unwrap();
    assert_eq!(
        grant.expires_at, later,
        "the family lives as long as its refresh token"
    );

    // Sent again (a writer's retry after a commit whose answer was lost), the batch fails
    // on its own token ids rather than storing anything twice.
    assert!(issued::commit_issued(&mut conn, &batch).is_err());
}
