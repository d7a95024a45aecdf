//! The database goes away while the server runs: requests answer 503 within the pool
//! timeout, nothing panics, and service resumes by itself once the database is back.
//! A TCP proxy between the app and MariaDB plays the outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use consentry::domain::Role;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub mod faults;

use crate::common::{Options, server_url, spawn_app_with};

pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Copies one direction of a link, holding the bytes while the proxy is frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let frozen = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, frozen2, links2) = (up.clone(), frozen.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let (upstream, frozen) = (upstream.clone(), frozen2.clone());
                let link = tokio::spawn(async move {
                    // Frozen: accepted, and never answered until the freeze ends.
                    while frozen.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if let Ok(outbound) = TcpStream::connect(upstream).await {
                        let (ir, iw) = inbound.into_split();
                        let (or, ow) = outbound.into_split();
                        tokio::join!(pump(ir, ow, frozen.clone()), pump(or, iw, frozen));
                    }
                });
                links2.lock().await.push(link);
            }
        });
        Self {
            port,
            up,
            frozen,
            links,
        }
    }

    /// A database URL for a new test database reached through this proxy.
    pub fn database_url(&self) -> (String, consentry::config::DatabaseUrl) {
        let name = format!("consentry_test_{:016x}", rand::random::<u64>());
        let url = consentry::config::DatabaseUrl::parse(&format!(
            "{}/{name}",
            server_url()
                .server_only()
                .replace(&server_url().address(), &format!("127.0.0.1:{}", self.port))
        ))
        .unwrap();
        (name, url)
    }

    /// A hard cut: every link closes and new connections are refused.
    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    /// A frozen network: nothing is refused and nothing answers.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.frozen.store(false, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn requests_answer_503_while_the_database_is_away_and_recover_after() {
    let proxy = Proxy::start(server_url().address()).await;
    let (name, via_proxy) = proxy.database_url();
    let app = spawn_app_with(Options {
        pool_url: Some(via_proxy),
        db_timeout_secs: 2,
        db_name: Some(name),
        ..Options::default()
    })
    .await;
    app.sign_in_as("alice", Role::Superuser).await;

    proxy.cut().await;
    let start = Instant::now();
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "unavailable"
    );
    let res = app.get("/admin/audit").await;
    assert_eq!(res.status(), 503);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("temporarily unavailable")
    );
    let res = app
        .client
        .get(app.url("/admin/audit"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    // The token endpoint answers in OAuth's JSON, uncached, and says to retry.
    let res = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "0123456789abcdef0123456789abcdef"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    assert!(
        start.elapsed() < Duration::from_secs(16),
        "four requests within the 2 s pool timeout each: {:?}",
        start.elapsed()
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if app.get("/readyz").await.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The session survived and pages work again.
    assert_eq!(app.get("/admin/audit").await.status(), 200);
}

/// While the database is away, what memory may safely answer is answered: a warm token of
/// an active client introspects as before and the API's reads work, for as long as
/// `CONSENTRY_MEMORY_TRUST_SECS` (here 3 s); nothing is issued that could not be recorded;
/// after the bound, 503.
#[tokio::test]
async fn warm_tokens_are_answered_from_memory_for_the_trust_bound_then_503() {
    use crate::protocol::{Spec, active, introspect, register, token};
    let proxy = Proxy::start(server_url().address()).await;
    let (name, via_proxy) = proxy.database_url();
    let app = spawn_app_with(Options {
        pool_url: Some(via_proxy),
        db_timeout_secs: 2,
        db_name: Some(name),
        env: vec![("CONSENTRY_MEMORY_TRUST_SECS", "3".into())],
    })
    .await;
    let client = register(&app, Spec::confidential()).await;
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret()),
    ];
    let (status, body) = token(&app, &cc).await;
    assert_eq!(status, 200);
    let access = body["access_token"].as_str().unwrap().to_string();
    assert!(active(&introspect(&app, &client, &access).await));
    let version = |app: &crate::common::TestApp, t: String| {
        let app = app.new_browser();
        async move {
            crate::api::api(&app, Some(&t), "API.getConsentryVersion", "")
                .await
                .status
        }
    };
    assert_eq!(version(&app, access.clone()).await, 200);

    proxy.cut().await;
    let cut_at = Instant::now();
    assert!(
        active(&introspect(&app, &client, &access).await),
        "answered from memory"
    );
    assert_eq!(version(&app, access.clone()).await, 200);
    let (status, body) = token(&app, &cc).await;
    assert_eq!(status, 503, "no token that could not be recorded: {body}");
    assert!(body.get("access_token").is_none());

    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(cut_at.elapsed()) + Duration::from_millis(600),
    )
    .await;
    let res = reqwest::Client::new()
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "past the bound, memory is not trusted");
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(version(&app, access.clone()).await, 503);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !active(&introspect(&app, &client, &access).await) {
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
