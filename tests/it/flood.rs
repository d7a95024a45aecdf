//! A sign-in flood from 200 addresses against the real binary: memory stays bounded
//! (at most `CONSENTRY_HASH_CONCURRENCY` argon2 runs of 19 MiB at once, on their own
//! threads) and returns to where it was; every request gets 401 or 503, never a 500.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consentry::db;

use crate::common::{browser_from, csrf_in, free_port, server_url};

/// A `consentry serve` process on its own database, stopped and dropped at the end.
struct Served {
    child: Child,
    url: String,
    db: consentry::config::DatabaseUrl,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let url = self.db.clone();
        let _ = std::thread::spawn(move || db::drop_database(&url)).join();
    }
}

async fn serve() -> Served {
    let name = format!("consentry_test_{:016x}", rand::random::<u64>());
    let db = server_url().with_database(&name).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let data = std::env::temp_dir().join(&name);
    let child = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .arg("serve")
        .env("DATABASE_URL", db.full())
        .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
        .env("CONSENTRY_PUBLIC_URL", &url)
        .env("CONSENTRY_DATA_DIR", &data)
        .env("CONSENTRY_ADMIN_PASSWORD", "flood test admin password")
        .env("CONSENTRY_HASH_CONCURRENCY", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start consentry serve");
    let served = Served { child, url, db };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(res) = reqwest::get(format!("{}/healthz", served.url)).await
            && res.status() == 200
        {
            return served;
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Resident and peak resident memory of `pid`, in MB.
fn memory_mb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_flood_from_200_addresses_stays_under_150_mb() {
    let served = serve().await;
    let pid = served.child.id();
    // Warm up: one sign-in of each kind, so the baseline includes the dummy hash.
    let warm = browser_from(None);
    let page = warm
        .get(format!("{}/login", served.url))
        .send()
        .await
        .unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let _ = warm
        .post(format!("{}/login", served.url))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login", "nobody"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    let (baseline, _) = memory_mb(pid);

    // Each of the 200 has its own address, so no throttle stands in the way.
    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let url = served.url.clone();
        let ip = std::net::IpAddr::from([127, 0, 1 + (n / 250) as u8, 1 + (n % 250) as u8]);
        tasks.push(tokio::spawn(async move {
            let client = browser_from(Some(ip));
            let page = client.get(format!("{url}/login")).send().await.unwrap();
            let token = csrf_in(&page.text().await.unwrap());
            client
                .post(format!("{url}/login"))
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("login", "admin"),
                    ("password", "a wrong password"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap()).or_default() += 1;
    }
    let (_, peak) = memory_mb(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, _) = memory_mb(pid);
    println!(
        "200 parallel wrong sign-ins: {statuses:?}; memory baseline {baseline} MB, peak {peak} MB, after {after} MB"
    );
    assert!(
        statuses.keys().all(|s| *s == 401 || *s == 503),
        "only 401 (verified) or 503 (no hashing slot): {statuses:?}"
    );
    assert!(statuses.get(&401).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert!(peak < 150, "peak {peak} MB");
    assert!(
        after <= baseline + 45,
        "after {after} MB vs baseline {baseline} MB"
    );
}
