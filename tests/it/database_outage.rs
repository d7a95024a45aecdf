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

use crate::common::{Options, server_url, spawn_app_with};

struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().await.push(link);
            }
        });
        Self { port, up, links }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn requests_answer_503_while_the_database_is_away_and_recover_after() {
    let proxy = Proxy::start(server_url().address()).await;
    let name = format!("consentry_test_{:016x}", rand::random::<u64>());
    let via_proxy = consentry::config::DatabaseUrl::parse(&format!(
        "{}/{name}",
        server_url().server_only().replace(
            &server_url().address(),
            &format!("127.0.0.1:{}", proxy.port)
        )
    ))
    .unwrap();
    let app = spawn_app_with(Options {
        pool_url: Some(via_proxy),
        db_timeout_secs: 2,
        db_name: Some(name),
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
