//! Tests against a real cluster: three MariaDB Galera nodes and two Consentry nodes, each on
//! its own database node, started by `scripts/cluster up` (the README's test command does
//! it after the other suites, then runs these with `--ignored`). They read the cluster's
//! addresses from `$CONSENTRY_CLUSTER_DIR/env` (default /tmp/consentry-cluster/env).
//!
//! Node A and node B are the first two Consentry nodes, addressed directly (not through
//! the balancer), so that each trial knows which node answered what.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const CALLBACK: &str = "https://cluster-app.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// What `scripts/cluster up` wrote.
struct Cluster {
    balancer: String,
    apps: Vec<String>,
    db_urls: Vec<String>,
    admin_password: String,
    session_key: String,
    bin: String,
}

impl Cluster {
    fn load() -> Self {
        let dir = std::env::var("CONSENTRY_CLUSTER_DIR")
            .unwrap_or_else(|_| "/tmp/consentry-cluster".to_string());
        let text = std::fs::read_to_string(format!("{dir}/env"))
            .unwrap_or_else(|e| panic!("no cluster is up in {dir} (scripts/cluster up): {e}"));
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        let list = |k: &str| vars[k].split_whitespace().map(String::from).collect();
        let cluster = Self {
            balancer: vars["CLUSTER_URL"].to_string(),
            apps: list("APP_URLS"),
            db_urls: list("DB_URLS"),
            admin_password: vars["CLUSTER_ADMIN_PASSWORD"].to_string(),
            session_key: vars["CLUSTER_SESSION_KEY"].to_string(),
            bin: vars["CONSENTRY_BIN"].to_string(),
        };
        assert!(
            cluster.apps.len() >= 2,
            "the tests need two Consentry nodes"
        );
        cluster
    }

    /// Runs the command line against database node `db` (0-2); panics unless it succeeds.
    fn cli(&self, db: usize, args: &[&str]) -> String {
        let out = self.cli_run(db, args);
        assert!(
            out.status.success(),
            "consentry {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn cli_run(&self, db: usize, args: &[&str]) -> std::process::Output {
        Command::new(&self.bin)
            .args(args)
            .env("DATABASE_URL", &self.db_urls[db])
            .env_remove("RUST_LOG")
            .output()
            .expect("run consentry")
    }

    /// A trusted confidential client (no consent screen) for codes and refresh tokens.
    fn client(&self, grants: &[&str]) -> (String, String) {
        let name = format!("Cluster app {:08x}", rand::random::<u32>());
        let mut args = vec![
            "client",
            "create",
            "--name",
            name.as_str(),
            "--type",
            "confidential",
            "--scope",
            "matomo:read",
            "--redirect-uri",
            CALLBACK,
            "--trusted",
            "--json",
        ];
        for g in grants {
            args.extend(["--grant", g]);
        }
        let created: Value = serde_json::from_str(&self.cli(0, &args)).unwrap();
        (
            created["client_id"].as_str().unwrap().to_string(),
            created["client_secret"].as_str().unwrap().to_string(),
        )
    }
}

/// One Consentry node, with a browser-like session of its own.
struct Node {
    base: String,
    http: reqwest::Client,
}

impl Node {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn sign_in(&self, login: &str, password: &str) {
        let page = self.http.get(self.url("/login")).send().await.unwrap();
        let html = page.text().await.unwrap();
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("input[name=csrf_token]").unwrap();
        let csrf = doc
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr("value"))
            .expect("a CSRF field")
            .to_string();
        let res = self
            .http
            .post(self.url("/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("login", login),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "sign-in at {}", self.base);
    }

    /// A code for `client_id` (trusted: no consent screen), with PKCE.
    async fn code(&self, client_id: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", CALLBACK),
                ("scope", "matomo:read"),
                ("state", "s"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let res = self
            .http
            .get(self.url(&format!("/oauth2/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "authorize at {}", self.base);
        let to = res.headers()["location"].to_str().unwrap().to_string();
        url::Url::parse(&to)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {to}"))
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn token(&self, client: &(String, String), form: &[(&str, &str)]) -> (u16, Value) {
        let mut all = vec![
            ("client_id", client.0.as_str()),
            ("client_secret", client.1.as_str()),
        ];
        all.extend_from_slice(form);
        self.post("/oauth2/token", &all).await
    }

    /// A client-credentials access token; panics (naming the trial) unless one is issued.
    async fn client_credentials(&self, client: &(String, String), trial: usize) -> String {
        let (status, body) = self
            .token(client, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(status, 200, "trial {trial}: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn redeem(&self, client: &(String, String), code: &str) -> (u16, Value) {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    async fn refresh(&self, client: &(String, String), refresh_token: &str) -> (u16, Value) {
        self.token(
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    async fn active(&self, client: &(String, String), token: &str) -> bool {
        let (status, body) = self
            .post(
                "/oauth2/introspect",
                &[
                    ("client_id", client.0.as_str()),
                    ("client_secret", client.1.as_str()),
                    ("token", token),
                ],
            )
            .await;
        assert_eq!(status, 200, "introspection at {}: {body}", self.base);
        body["active"] == Value::Bool(true)
    }

    async fn api_status(&self, token: &str) -> u16 {
        self.http
            .get(self.url(
                "/index.php?module=API&method=SitesManager.getSitesWithAtLeastViewAccess&format=json",
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// Nodes A and B, signed in as the cluster's superuser (one session key: a session made on
/// one node is good on the other).
async fn nodes(cluster: &Cluster) -> (Node, Node) {
    let a = Node::new(&cluster.apps[0]);
    a.sign_in("admin", &cluster.admin_password).await;
    let b = Node::new(&cluster.apps[1]);
    b.sign_in("admin", &cluster.admin_password).await;
    (a, b)
}

/// How long until `check` holds (polling every 20 ms), at most `limit`; `None` if never.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One outcome of a race: which statuses the two nodes answered.
fn tally(outcomes: &mut BTreeMap<String, usize>, a: u16, b: u16) {
    *outcomes.entry(format!("A {a} / B {b}")).or_default() += 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn a_code_redeemed_at_both_nodes_at_once_gives_one_token_and_revokes_it() {
    let cluster = Cluster::load();
    let (a, b) = nodes(&cluster).await;
    let client = cluster.client(&["authorization_code", "refresh_token"]);
    let mut outcomes = BTreeMap::new();
    let mut late = Vec::new();
    for trial in 0..100 {
        let code = a.code(&client.0).await;
        let ((sa, ba), (sb, bb)) = tokio::join!(a.redeem(&client, &code), b.redeem(&client, &code));
        tally(&mut outcomes, sa, sb);
        assert!(sa != 500 && sb != 500, "trial {trial}: {ba} {bb}");
        let winners: Vec<&Value> = [(sa, &ba), (sb, &bb)]
            .into_iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, b)| b)
            .collect();
        assert!(winners.len() <= 1, "trial {trial}: two tokens for one code");
        for (status, body) in [(sa, &ba), (sb, &bb)] {
            if status != 200 {
                assert_eq!(status, 400, "trial {trial}: {body}");
                assert_eq!(body["error"], "invalid_grant", "trial {trial}: {body}");
            }
        }
        // The replay revoked what the winner got, on both nodes (within the second the
        // README promises for the other node).
        if let Some(won) = winners.first() {
            let token = won["access_token"].as_str().unwrap();
            for node in [&a, &b] {
                let took = within(Duration::from_secs(1), || async {
                    !node.active(&client, token).await
                })
                .await;
                match took {
                    Some(t) => late.push(t),
                    None => panic!(
                        "trial {trial}: the winner's token stayed active at {}",
                        node.base
                    ),
                }
            }
        }
    }
    println!("code redeemed at A and B at once, 100 trials: {outcomes:?}");
    println!(
        "winner's token inactive after at most {:?}",
        late.iter().max()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn a_refresh_token_used_at_both_nodes_at_once_gives_one_token_and_revokes_it() {
    let cluster = Cluster::load();
    let (a, b) = nodes(&cluster).await;
    let client = cluster.client(&["authorization_code", "refresh_token"]);
    let mut outcomes = BTreeMap::new();
    for trial in 0..100 {
        let code = a.code(&client.0).await;
        let (status, first) = a.redeem(&client, &code).await;
        assert_eq!(status, 200, "trial {trial}: {first}");
        let refresh = first["refresh_token"].as_str().unwrap();
        let ((sa, ba), (sb, bb)) =
            tokio::join!(a.refresh(&client, refresh), b.refresh(&client, refresh));
        tally(&mut outcomes, sa, sb);
        assert!(sa != 500 && sb != 500, "trial {trial}: {ba} {bb}");
        let winners: Vec<&Value> = [(sa, &ba), (sb, &bb)]
            .into_iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, b)| b)
            .collect();
        assert!(
            winners.len() <= 1,
            "trial {trial}: two successors for one refresh token"
        );
        if let Some(won) = winners.first() {
            let token = won["access_token"].as_str().unwrap();
            for node in [&a, &b] {
                let took = within(Duration::from_secs(1), || async {
                    !node.active(&client, token).await
                })
                .await;
                assert!(
                    took.is_some(),
                    "trial {trial}: the winner's token stayed active at {}",
                    node.base
                );
            }
        }
    }
    println!("refresh token used at A and B at once, 100 trials: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn what_one_node_writes_the_other_reads_at_once() {
    let cluster = Cluster::load();
    let (a, b) = nodes(&cluster).await;
    let client = cluster.client(&["authorization_code", "refresh_token", "client_credentials"]);
    let (mut codes, mut api, mut revoked) = (0, 0, 0);
    for trial in 0..300 {
        // A code issued at A, redeemed at B.
        let code = a.code(&client.0).await;
        let (status, body) = b.redeem(&client, &code).await;
        assert_eq!(
            status, 200,
            "trial {trial}: code from A refused at B: {body}"
        );
        codes += 1;
        // A token issued at A, used at B's API.
        let token = a.client_credentials(&client, trial).await;
        assert_eq!(
            b.api_status(&token).await,
            200,
            "trial {trial}: token from A refused at B"
        );
        api += 1;
        // Another token, revoked at A, introspected at B. (A token B has already seen is
        // in B's memory: its revocation is in force there within the second the README
        // promises, tested in a_code_redeemed_at_both_nodes_at_once_...)
        let token = a.client_credentials(&client, trial).await;
        let (status, _) = a
            .post(
                "/oauth2/revoke",
                &[
                    ("client_id", client.0.as_str()),
                    ("client_secret", client.1.as_str()),
                    ("token", token.as_str()),
                ],
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            !b.active(&client, &token).await,
            "trial {trial}: revoked at A, active at B"
        );
        revoked += 1;
    }
    println!(
        "read-your-writes across nodes, 300 trials each: codes {codes}, API {api}, revocations {revoked}: 0 failures"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn a_client_paused_at_one_node_is_refused_at_the_other_within_a_second() {
    let cluster = Cluster::load();
    let (_, b) = nodes(&cluster).await;
    let client = cluster.client(&["client_credentials"]);
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(b.token(&client, &cc).await.0, 200, "B knows the client");
    // Paused through A's database node, by the command line (as through A's console).
    cluster.cli(0, &["client", "pause", &client.0]);
    let took = within(Duration::from_secs(1), || async {
        b.token(&client, &cc).await.0 == 401
    })
    .await;
    println!("pause at A refused at B after {took:?}");
    assert!(
        took.is_some(),
        "B still issued tokens to the paused client after 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn two_purges_at_once_on_two_nodes_both_succeed() {
    let cluster = Cluster::load();
    // A server purges when it starts (and hourly): wait until nobody holds the lease, so
    // that the rounds below race only each other. A lease left by a process that died
    // mid-purge would hold for its 15 minutes; the failure then names its holder.
    let lease = || {
        use consentry::db::schema::leases::dsl as l;
        use diesel::prelude::*;
        let mut conn = diesel::MysqlConnection::establish(&cluster.db_urls[0]).unwrap();
        l::leases
            .filter(l::name.eq("purge"))
            .select((l::holder, l::expires_at))
            .first::<(Option<String>, chrono::NaiveDateTime)>(&mut conn)
            .optional()
            .unwrap()
    };
    let free = |held: &Option<(Option<String>, chrono::NaiveDateTime)>| {
        held.as_ref()
            .is_none_or(|(_, until)| *until <= chrono::Utc::now().naive_utc())
    };
    let started = std::time::Instant::now();
    while !free(&lease()) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let held = lease();
    assert!(free(&held), "the purge lease stays held: {held:?}");
    let mut skipped = 0;
    for round in 0..5 {
        let (one, two) = std::thread::scope(|s| {
            let one = s.spawn(|| cluster.cli_run(0, &["purge"]));
            let two = s.spawn(|| cluster.cli_run(1, &["purge"]));
            (one.join().unwrap(), two.join().unwrap())
        });
        for out in [&one, &two] {
            assert!(
                out.status.success(),
                "round {round}: purge failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let said =
            |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (one, two) = (said(&one), said(&two));
        // The lease replicates: at most one of them skips, and only while the other purges.
        let skips = [&one, &two]
            .iter()
            .filter(|s| s.starts_with("skipped"))
            .count();
        assert!(skips < 2, "round {round}: both skipped: {one} | {two}");
        skipped += skips;
        println!("round {round}: {one} | {two}");
    }
    println!("two purges at once, 5 rounds: {skipped} skipped while the other purged");
}

/// One answer under load: when (seconds since the load began), what, how long, which token.
struct Answer {
    at: f64,
    status: u16,
    took: Duration,
    jti: Option<String>,
}

fn cluster_script(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster");
    let out = Command::new(script)
        .args(args)
        .output()
        .expect("run scripts/cluster");
    assert!(
        out.status.success(),
        "scripts/cluster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `jti` of a signed access token (its payload is not secret).
fn jti_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

/// How many of `jtis` have their row on the database node at `url`.
fn rows_on(url: &str, jtis: &[String]) -> usize {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel::MysqlConnection::establish(url).expect("connect to a database node");
    conn.batch_execute("SET SESSION wsrep_sync_wait = 1")
        .unwrap();
    jtis.chunks(500)
        .map(|chunk| {
            let list: Vec<String> = chunk.iter().map(|j| format!("'{j}'")).collect();
            let count: Count = diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM oauth_access_tokens WHERE jti IN ({})",
                list.join(",")
            ))
            .get_result(&mut conn)
            .unwrap();
            count.n as usize
        })
        .sum()
}

/// Under steady load through the balancer, database node 2 (node B's own) is killed and
/// later started again. Node B moves to another database node (CONSENTRY_DATABASE_URLS)
/// and the balancer's /readyz check keeps traffic where it can be served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn a_database_node_dying_under_load_costs_no_500_and_no_token() {
    const LOAD: Duration = Duration::from_secs(26);
    const KILL_AT: f64 = 6.0;
    const RESTART_AT: f64 = 16.0;
    // CONSENTRY_DB_TIMEOUT (5 s, as the cluster runs) plus a second.
    const ANSWER_WITHIN: Duration = Duration::from_secs(6);
    let cluster = Cluster::load();
    let client = cluster.client(&["client_credentials"]);
    let balancer = Node::new(&cluster.balancer);
    let start = Instant::now();
    let workers = (0..16).map(|_| {
        let (client, http, url) = (
            client.clone(),
            balancer.http.clone(),
            balancer.url("/oauth2/token"),
        );
        tokio::spawn(async move {
            let mut answers = Vec::new();
            while start.elapsed() < LOAD {
                let sent = Instant::now();
                let res = http
                    .post(&url)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client.0.as_str()),
                        ("client_secret", client.1.as_str()),
                    ])
                    .send()
                    .await;
                let (status, body) = match res {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        (status, res.json::<Value>().await.unwrap_or(Value::Null))
                    }
                    Err(_) => (0, Value::Null),
                };
                answers.push(Answer {
                    at: sent.duration_since(start).as_secs_f64(),
                    status,
                    took: sent.elapsed(),
                    jti: body["access_token"].as_str().map(jti_of),
                });
                // As a client would (less than the Retry-After it was given, to see the
                // service come back).
                if status == 503 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            answers
        })
    });
    let workers: Vec<_> = workers.collect();
    let faults = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs_f64(KILL_AT));
        cluster_script(&["stop-db", "2"]);
        std::thread::sleep(Duration::from_secs_f64(RESTART_AT - KILL_AT));
        let rejoin = Instant::now();
        cluster_script(&["start-db", "2"]);
        rejoin.elapsed()
    });
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.unwrap());
    }
    let rejoined_after = faults.await.unwrap();

    // The timeline, one line per second.
    let seconds = LOAD.as_secs() as usize;
    let mut per_second = vec![BTreeMap::<u16, usize>::new(); seconds + 1];
    for a in &answers {
        *per_second[(a.at as usize).min(seconds)]
            .entry(a.status)
            .or_default() += 1;
    }
    for (s, counts) in per_second.iter().enumerate() {
        println!("t={s:>2}s {counts:?}");
    }
    println!(
        "database node 2 killed at {KILL_AT} s, started again at {RESTART_AT} s (synced after {rejoined_after:?})"
    );
    let worst = answers.iter().map(|a| a.took).max().unwrap();
    println!("{} answers, slowest {worst:?}", answers.len());

    let odd: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a.status, 200 | 503))
        .map(|a| (a.at, a.status))
        .collect();
    if !odd.is_empty() {
        // Seen once in six runs: two 401s just after the node rejoined. Not a 5xx, but a
        // valid client refused: shown with the servers' warnings so the cause can be found.
        println!("UNEXPECTED answers (neither 200 nor 503): {odd:?}");
        print_server_warnings();
    }
    let failed: Vec<_> = odd.iter().filter(|(_, s)| *s == 0 || *s >= 500).collect();
    assert!(
        failed.is_empty(),
        "server errors or dropped requests: {failed:?}"
    );
    assert!(worst <= ANSWER_WITHIN, "an answer took {worst:?}");
    let ok_in = |from: f64, to: f64| {
        answers
            .iter()
            .filter(|a| a.status == 200 && a.at >= from && a.at < to)
            .count() as f64
            / (to - from)
    };
    let before = ok_in(1.0, KILL_AT);
    let after = ok_in(KILL_AT + 6.0, RESTART_AT);
    println!("tokens per second: {before:.0} before the kill, {after:.0} from 6 s after it");
    assert!(
        after >= before / 2.0,
        "throughput fell to {after:.0}/s from {before:.0}/s"
    );

    // Every token that was returned has its row on all three database nodes.
    let jtis: Vec<String> = answers.iter().filter_map(|a| a.jti.clone()).collect();
    for url in &cluster.db_urls {
        assert_eq!(
            rows_on(url, &jtis),
            jtis.len(),
            "tokens without their row on {url}"
        );
    }
    println!(
        "{} returned tokens, each with its row on all three database nodes",
        jtis.len()
    );
}

/// A first start of two nodes at once on an empty database, each on its own database
/// node: both serve, and the schema, the first superuser and the signing key exist once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn two_nodes_started_together_on_an_empty_database_both_serve() {
    let cluster = Cluster::load();
    let name = format!("consentry_boot_{:08x}", rand::random::<u32>());
    let url = |db: usize| {
        let base = cluster.db_urls[db].rsplit_once('/').unwrap().0.to_string();
        format!("{base}/{name}")
    };
    let dir = std::env::temp_dir().join(&name);
    let start = |n: usize| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&cluster.bin)
            .arg("serve")
            .env("DATABASE_URL", url(n))
            .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
            .env("CONSENTRY_PUBLIC_URL", "http://127.0.0.1:1")
            .env("CONSENTRY_DATA_DIR", dir.join(n.to_string()))
            .env("CONSENTRY_ADMIN_PASSWORD", "first start password 1")
            .env("CONSENTRY_SESSION_KEY", &cluster.session_key)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start a node");
        (child, format!("http://127.0.0.1:{port}"))
    };
    let mut nodes = [start(0), start(1)];
    let mut ready = [false, false];
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(60) && ready.contains(&false) {
        for (i, (child, base)) in nodes.iter_mut().enumerate() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("node {i} exited with {status}: {err}");
            }
            ready[i] = ready[i]
                || reqwest::get(format!("{base}/readyz"))
                    .await
                    .is_ok_and(|r| r.status() == 200);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = began.elapsed();
    for (child, _) in nodes.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(ready, [true, true], "both nodes ready within 60 s");
    let count = |sql: &str| {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = diesel::MysqlConnection::establish(&url(2)).unwrap();
        diesel::sql_query(sql)
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    };
    let counts = (
        count("SELECT COUNT(*) AS n FROM users"),
        count("SELECT COUNT(*) AS n FROM signing_keys"),
    );
    {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::MysqlConnection::establish(&url(2)).unwrap();
        conn.batch_execute(&format!("DROP DATABASE `{name}`"))
            .unwrap();
    }
    println!(
        "two nodes started together on an empty database: both ready after {took:?}; users {}, signing keys {}",
        counts.0, counts.1
    );
    assert_eq!(counts, (1, 1), "one first superuser and one signing key");
}

/// The warnings and errors the Consentry nodes logged (the last 40), for a failed trial.
fn print_server_warnings() {
    let dir = std::env::var("CONSENTRY_CLUSTER_DIR")
        .unwrap_or_else(|_| "/tmp/consentry-cluster".to_string());
    for n in 1..=9 {
        let Ok(log) = std::fs::read_to_string(format!("{dir}/app{n}/server.log")) else {
            continue;
        };
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("refers to a row that is gone")
            })
            .collect();
        println!(
            "--- Consentry node {n}: {} warning(s)/error(s), the last 40:",
            lines.len()
        );
        for line in lines.iter().rev().take(40).rev() {
            println!("{line}");
        }
    }
}

/// The active superusers, as node `db` lists them.
fn active_superusers(cluster: &Cluster, db: usize) -> Vec<String> {
    let listed: Value =
        serde_json::from_str(&cluster.cli(db, &["user", "list", "--json"])).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "superuser" && u["deactivated_at"].is_null())
        .map(|u| u["login"].as_str().unwrap().to_string())
        .collect()
}

/// Reactivates these users when dropped, even after a failed assertion, so that the
/// cluster's superuser is there for the tests that follow.
struct Reactivate<'a> {
    cluster: &'a Cluster,
    logins: Vec<String>,
}

impl Drop for Reactivate<'_> {
    fn drop(&mut self) {
        for login in &self.logins {
            let _ = self
                .cluster
                .cli_run(0, &["user", "activate", "--login", login]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs scripts/cluster up (the README's test command runs it)"]
async fn the_last_two_superusers_deactivated_at_two_nodes_at_once_leave_one() {
    let cluster = Cluster::load();
    let password_file = std::env::temp_dir().join(format!("cluster-su-{}", std::process::id()));
    std::fs::write(&password_file, "cluster superuser password\n").unwrap();
    let file = password_file.to_str().unwrap();
    let mut refusals = 0;
    for round in 0..5 {
        let other = format!("su{round}{:06x}", rand::random::<u32>() & 0xff_ffff);
        let email = format!("{other}@example.com");
        cluster.cli(
            0,
            &[
                "user",
                "create",
                "--login",
                &other,
                "--email",
                &email,
                "--role",
                "superuser",
                "--password-file",
                file,
            ],
        );
        // Exactly two active superusers: the cluster's and this round's.
        let last_two = ["admin".to_string(), other.clone()];
        let mut restore = Reactivate {
            cluster: &cluster,
            logins: last_two.to_vec(),
        };
        for extra in active_superusers(&cluster, 0) {
            if !last_two.contains(&extra) {
                cluster.cli(0, &["user", "deactivate", "--login", &extra]);
                restore.logins.push(extra);
            }
        }
        let outs: Vec<std::process::Output> = std::thread::scope(|s| {
            let handles: Vec<_> = last_two
                .iter()
                .enumerate()
                .map(|(node, login)| {
                    let cluster = &cluster;
                    s.spawn(move || {
                        cluster.cli_run(node, &["user", "deactivate", "--login", login])
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
        for out in &outs {
            assert!(
                matches!(out.status.code(), Some(0 | 2)),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let left: Vec<Vec<String>> = (0..3).map(|db| active_superusers(&cluster, db)).collect();
        println!("round {round}: exit codes {codes:?}, left {:?}", left[0]);
        for (db, active) in left.iter().enumerate() {
            assert!(
                !active.is_empty(),
                "round {round}: no active superuser at node {db}"
            );
        }
        refusals += codes.iter().filter(|c| **c == Some(2)).count();
        drop(restore);
        cluster.cli(0, &["user", "delete", "--login", &other]);
    }
    assert_eq!(refusals, 5, "one of the two refused in every round");
    let _ = std::fs::remove_file(&password_file);
}
