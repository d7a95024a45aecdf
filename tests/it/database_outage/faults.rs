//! Database faults under parallel load, in three modes: the network cut, the network
//! frozen (connections accepted, nothing answered), and the token table locked by another
//! session. Every request is answered within `CONSENTRY_DB_TIMEOUT` + 1 s (here 2 + 1 s),
//! with 200 or 503 and never a 500; every token handed out has its row; and within five
//! seconds of the fault ending, requests succeed again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use consentry::domain::Role;
use diesel::Connection;
use tokio::sync::Mutex;

use super::Proxy;
use crate::common::{Options, TestApp, server_url, spawn_app_with};
use crate::protocol::{self, Spec};

const DB_TIMEOUT: u64 = 2;
/// The bound the issue sets, plus scheduling slack for a loaded 2-core test machine.
const BOUND: Duration = Duration::from_millis((DB_TIMEOUT + 1) * 1000 + 400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Cut,
    Freeze,
    TableLock,
}

struct Sample {
    started: Instant,
    elapsed: Duration,
    status: u16,
    retry_after: bool,
    jti: Option<String>,
    body: String,
}

fn jti_of(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

async fn one_request(app: &TestApp, client: &protocol::Client, n: usize) -> Sample {
    let started = Instant::now();
    let http = reqwest::Client::new();
    let res = if n % 4 == 3 {
        http.get(app.url("/readyz")).send().await.unwrap()
    } else {
        http.post(app.url("/oauth2/token"))
            .basic_auth(&client.id, Some(client.secret()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "matomo:read"),
            ])
            .send()
            .await
            .unwrap()
    };
    let status = res.status().as_u16();
    let retry_after = res.headers().contains_key("retry-after");
    let text = res.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let jti = body["access_token"].as_str().map(jti_of);
    Sample {
        started,
        elapsed: started.elapsed(),
        status,
        retry_after,
        jti,
        body: if status == 200 { String::new() } else { text },
    }
}

async fn run_fault(fault: Fault) {
    consentry::telemetry::init("error", consentry::telemetry::LogFormat::Text);
    let proxy = Proxy::start(server_url().address()).await;
    let (name, via_proxy) = proxy.database_url();
    let app = spawn_app_with(Options {
        pool_url: Some(via_proxy),
        db_timeout_secs: DB_TIMEOUT,
        db_name: Some(name),
        ..Options::default()
    })
    .await;
    app.create_user("owner", Role::Superuser).await;
    let client = Arc::new(protocol::register(&app, Spec::confidential()).await);
    let app = Arc::new(app);
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (app, client, samples, stop) =
            (app.clone(), client.clone(), samples.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let s = one_request(&app, &client, n).await;
                samples.lock().await.push(s);
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let fault_began = Instant::now();
    let locker = match fault {
        Fault::Cut => {
            proxy.cut().await;
            None
        }
        Fault::Freeze => {
            proxy.freeze();
            None
        }
        Fault::TableLock => {
            let url = app.db_url.clone();
            Some(std::thread::spawn(move || {
                use diesel::RunQueryDsl;
                let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
                diesel::sql_query("LOCK TABLES oauth_access_tokens WRITE")
                    .execute(&mut conn)
                    .unwrap();
                std::thread::sleep(Duration::from_secs(6));
                diesel::sql_query("UNLOCK TABLES")
                    .execute(&mut conn)
                    .unwrap();
            }))
        }
    };
    tokio::time::sleep(Duration::from_secs(6)).await;
    match locker {
        Some(handle) => tokio::task::spawn_blocking(move || handle.join().unwrap())
            .await
            .unwrap(),
        None => proxy.restore(),
    }
    let fault_ended = Instant::now();
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }

    let samples = samples.lock().await;
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.started >= fault_began && s.started < fault_ended)
        .collect();
    let late: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.started >= fault_ended + Duration::from_secs(5))
        .collect();
    let slowest = samples.iter().map(|s| s.elapsed).max().unwrap();
    let unavailable = during.iter().filter(|s| s.status == 503).count();
    println!(
        "{fault:?}: {} requests, {} during the fault ({unavailable} answered 503), slowest {slowest:?}, {} after recovery",
        samples.len(),
        during.len(),
        late.len()
    );
    for s in samples.iter() {
        assert!(
            s.status == 200 || s.status == 503,
            "{fault:?}: status {} (only 200 or 503): {}",
            s.status,
            s.body
        );
        assert!(
            s.status != 503 || s.retry_after,
            "{fault:?}: 503 without Retry-After"
        );
        assert!(
            s.elapsed <= BOUND,
            "{fault:?}: a request took {:?}",
            s.elapsed
        );
    }
    assert!(unavailable > 0, "{fault:?}: the fault had no effect");
    assert!(!late.is_empty());
    assert!(
        late.iter().all(|s| s.status == 200),
        "{fault:?}: not recovered 5 s after the fault: {:?}",
        late.iter().map(|s| s.status).collect::<Vec<_>>()
    );
    // Nothing lost: every token handed out is on record.
    let issued: Vec<String> = samples.iter().filter_map(|s| s.jti.clone()).collect();
    let mut conn = app.conn();
    for jti in &issued {
        use consentry::db::schema::oauth_access_tokens::dsl;
        use diesel::prelude::*;
        let n: i64 = dsl::oauth_access_tokens
            .filter(dsl::jti.eq(jti))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(n, 1, "{fault:?}: token {jti} was returned but has no row");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_database_is_answered_in_time_and_recovers() {
    run_fault(Fault::Cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_network_is_answered_in_time_and_recovers() {
    run_fault(Fault::Freeze).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_token_table_is_answered_in_time_and_recovers() {
    run_fault(Fault::TableLock).await;
}
