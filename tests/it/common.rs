//! `spawn_app()`: a real Consentry server on 127.0.0.1:0 against a uniquely named database
//! that is created for the test and dropped when the `TestApp` goes out of scope.

use std::collections::HashMap;
use std::net::TcpListener;

use base64::Engine;
use consentry::auth::accounts;
use consentry::config::{Config, DatabaseUrl};
use consentry::db;
use consentry::domain::{Email, Login, Password, Role};
use consentry::web::app::Application;
use diesel::{Connection, MysqlConnection};

pub const PASSWORD: &str = "correct horse battery staple";

/// The server the tests use: `DATABASE_URL` (its database part is replaced per test).
pub fn server_url() -> DatabaseUrl {
    let raw = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/consentry".into());
    DatabaseUrl::parse(&raw).unwrap_or_else(|e| panic!("DATABASE_URL is invalid: {e}"))
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub db_url: DatabaseUrl,
    pub data_dir: std::path::PathBuf,
    _db: std::sync::Arc<TestDb>,
}

/// Drops the test database (and the data directory) when the test ends, pass or fail.
struct TestDb {
    url: DatabaseUrl,
    data_dir: std::path::PathBuf,
}

pub struct Options {
    /// Where the app's pool connects, when it must differ from the test database URL
    /// (the outage test routes it through a proxy it can cut).
    pub pool_url: Option<DatabaseUrl>,
    pub db_timeout_secs: u64,
    /// The test database name, when the caller needs to know it in advance.
    pub db_name: Option<String>,
    /// More configuration variables, as the environment would give them.
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pool_url: None,
            db_timeout_secs: 5,
            db_name: None,
            env: Vec::new(),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let name = options
        .db_name
        .clone()
        .unwrap_or_else(|| format!("consentry_test_{:016x}", rand::random::<u64>()));
    let db_url = server_url()
        .with_database(&name)
        .expect("valid test database name");
    let data_dir = std::env::temp_dir().join(&name);
    // Owns the database from here on, so even a failed start-up drops it.
    let guard = TestDb {
        url: db_url.clone(),
        data_dir: data_dir.clone(),
    };
    let prepare_url = db_url.clone();
    tokio::task::spawn_blocking(move || crate::template::create_from_template(&prepare_url))
        .await
        .expect("prepare task")
        .unwrap_or_else(|e| {
            panic!(
                "no usable MySQL/MariaDB at {} ({e}); start one with scripts/test, or set DATABASE_URL to a server where this account may create databases",
                server_url().address()
            )
        });

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let key =
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>().repeat(2));
    let pool_url = options.pool_url.clone().unwrap_or_else(|| db_url.clone());
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", pool_url.full().to_string()),
        ("CONSENTRY_PUBLIC_URL", address.clone()),
        ("CONSENTRY_SESSION_KEY", key),
        ("CONSENTRY_DATA_DIR", data_dir.display().to_string()),
        ("CONSENTRY_DB_TIMEOUT", options.db_timeout_secs.to_string()),
        // Changes made outside the server (the command line, another server) are read
        // from the change log this often; tests run many servers on two busy cores.
        ("CONSENTRY_CHANGE_POLL_MS", "100".to_string()),
    ]);
    vars.extend(options.env.iter().cloned());
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration");
    let (url, timeout) = (pool_url.clone(), config.db_timeout);
    let pool =
        tokio::task::spawn_blocking(move || db::build_pool(std::slice::from_ref(&url), 5, timeout))
            .await
            .unwrap()
            .expect("pool");
    let app = Application::with_listener(config, pool.clone(), listener).expect("build app");
    tokio::spawn(app.run_until_stopped());

    TestApp {
        client: browser(),
        address,
        port,
        db_url,
        data_dir,
        _db: std::sync::Arc::new(guard),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop runs inside the async runtime; do the blocking work on a plain thread.
        let _ = std::thread::spawn(move || db::drop_database(&url)).join();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A client that behaves like a browser: its own cookie jar, redirects not followed.
fn browser() -> reqwest::Client {
    browser_from(None)
}

/// A browser whose connections come from `ip` (any 127.x.y.z address reaches the server
/// on Linux), so tests can play several client addresses.
pub fn browser_from(ip: Option<std::net::IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .local_address(ip)
        .build()
        .unwrap()
}

impl TestApp {
    /// A second browser (its own cookies) connecting from `ip`, e.g. "127.0.0.2".
    pub fn browser_at(&self, ip: &str) -> TestApp {
        let mut other = self.new_browser();
        other.client = browser_from(Some(ip.parse().expect("an IP address")));
        other
    }

    /// A second browser (its own cookies) whose every request says it was forwarded for
    /// `ip` (`X-Forwarded-For`), as a reverse proxy on this machine would send it.
    pub fn browser_forwarded_for(&self, ip: &str) -> TestApp {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", ip.parse().unwrap());
        let mut other = self.new_browser();
        other.client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .default_headers(headers)
            .build()
            .unwrap();
        other
    }

    /// The same server and database seen from a second browser (its own cookies).
    pub fn new_browser(&self) -> TestApp {
        TestApp {
            address: self.address.clone(),
            port: self.port,
            client: browser(),
            db_url: self.db_url.clone(),
            data_dir: self.data_dir.clone(),
            _db: self._db.clone(),
        }
    }

    /// Another server on the same database, listening on `port` (see `cluster.rs`).
    pub fn server_at(&self, port: u16) -> TestApp {
        let mut other = self.new_browser();
        other.address = format!("http://127.0.0.1:{port}");
        other.port = port;
        other
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A direct connection to this test's database, for checking what the app stored.
    pub fn conn(&self) -> MysqlConnection {
        MysqlConnection::establish(self.db_url.full()).expect("connect to the test database")
    }

    pub async fn create_user(&self, login: &str, role: Role) {
        let url = self.db_url.clone();
        let login = login.to_string();
        tokio::task::spawn_blocking(move || {
            let mut conn = MysqlConnection::establish(url.full()).unwrap();
            accounts::create(
                &mut conn,
                &Login::parse(&login).unwrap(),
                &Email::parse(&format!("{login}@example.com")).unwrap(),
                role,
                &consentry::auth::password::hash(&Password::parse(PASSWORD).unwrap()),
                &consentry::audit::Actor::new("test"),
            )
            .unwrap();
        })
        .await
        .unwrap();
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// The CSRF token in the first form of `path`.
    pub async fn csrf_token(&self, path: &str) -> String {
        csrf_in(&self.get_html(path).await)
    }

    /// Posts a form as a browser would (same-origin `Origin`), adding the page's CSRF token.
    pub async fn post_form(
        &self,
        path: &str,
        token: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token)];
        form.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .header("Origin", &self.address)
            .form(&form)
            .send()
            .await
            .expect("POST")
    }

    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        let token = self.csrf_token("/login").await;
        self.post_form(
            "/login",
            &token,
            &[("login", login), ("password", password)],
        )
        .await
    }

    pub async fn logout(&self) {
        let token = self.csrf_token("/account/authorized-apps").await;
        let res = self.post_form("/logout", &token, &[]).await;
        assert_eq!(res.status(), 303, "sign-out");
    }

    /// Signs in and asserts that it worked.
    pub async fn sign_in_as(&self, login: &str, role: Role) {
        self.create_user(login, role).await;
        let res = self.login(login, PASSWORD).await;
        assert_eq!(res.status(), 303, "sign-in of {login} should succeed");
    }

    pub fn audit_actions(&self) -> Vec<String> {
        use consentry::db::schema::audit_events::dsl::*;
        use diesel::prelude::*;
        audit_events
            .order(id.asc())
            .select(action)
            .load(&mut self.conn())
            .unwrap()
    }
}

/// A port nothing listens on now, for a server started as a process of its own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn csrf_in(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("input[name=csrf_token]").unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .expect("page has a CSRF field")
        .to_string()
}

/// Texts of the links in the main navigation.
pub fn nav_links(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("nav a").unwrap();
    doc.select(&sel)
        .map(|a| a.value().attr("href").unwrap_or("").to_string())
        .collect()
}

/// Fails unless `html` parses without error and every form control has an accessible name.
pub fn assert_valid_html(html: &str) {
    let doc = scraper::Html::parse_document(html);
    assert!(
        doc.errors.is_empty(),
        "HTML parse errors: {:?}\n{html}",
        doc.errors
    );
    let controls = scraper::Selector::parse("input, select, textarea").unwrap();
    for control in doc.select(&controls) {
        let el = control.value();
        if matches!(el.attr("type"), Some("hidden" | "submit")) {
            continue;
        }
        let labelled = el.attr("aria-label").is_some()
            || el.attr("id").is_some_and(|id| {
                let sel = scraper::Selector::parse(&format!("label[for=\"{id}\"]")).unwrap();
                doc.select(&sel).next().is_some()
            });
        assert!(labelled, "unlabelled control: {:?}", el);
    }
}

/// A form as a browser would send it: its hidden fields, typed values, checked boxes and
/// selected options, which a test then changes like a user would.
#[derive(Debug, Clone)]
pub struct FormData {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl FormData {
    /// The form of `html` whose action is `action`.
    pub fn from_page(html: &str, action: &str) -> Self {
        let doc = scraper::Html::parse_document(html);
        let form_sel = scraper::Selector::parse(&format!("form[action=\"{action}\"]")).unwrap();
        let form = doc
            .select(&form_sel)
            .next()
            .unwrap_or_else(|| panic!("no form posting to {action}"));
        let mut fields = Vec::new();
        let controls = scraper::Selector::parse("input, textarea, select").unwrap();
        for c in form.select(&controls) {
            let el = c.value();
            let Some(name) = el.attr("name") else {
                continue;
            };
            match (el.name(), el.attr("type").unwrap_or("text")) {
                ("input", "checkbox" | "radio") if el.attr("checked").is_some() => {
                    fields.push((name.into(), el.attr("value").unwrap_or("on").into()));
                }
                ("input", "checkbox" | "radio") => {}
                ("input", "submit") => {}
                ("input", _) => fields.push((name.into(), el.attr("value").unwrap_or("").into())),
                ("textarea", _) => fields.push((name.into(), c.text().collect())),
                ("select", _) => {
                    let opt = scraper::Selector::parse("option[selected]").unwrap();
                    if let Some(o) = c.select(&opt).next() {
                        fields.push((name.into(), o.value().attr("value").unwrap_or("").into()));
                    }
                }
                _ => {}
            }
        }
        Self {
            action: action.into(),
            fields,
        }
    }

    /// Replaces every value of `name` with `value`.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.into(), value.into()));
        self
    }

    /// Replaces a checkbox group's values.
    pub fn set_all(mut self, name: &str, values: &[&str]) -> Self {
        self.fields.retain(|(k, _)| k != name);
        for v in values {
            self.fields.push((name.into(), v.to_string()));
        }
        self
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl TestApp {
    /// GETs a page that must answer 200 with valid, labelled HTML.
    pub async fn page(&self, path: &str) -> String {
        let html = self.get_html(path).await;
        assert_valid_html(&html);
        html
    }

    /// The form posting to `action` on the page at `path`.
    pub async fn form(&self, path: &str, action: &str) -> FormData {
        FormData::from_page(&self.page(path).await, action)
    }

    /// Submits a form as a browser would (same-origin).
    pub async fn submit(&self, form: &FormData) -> reqwest::Response {
        self.client
            .post(self.url(&form.action))
            .header("Origin", &self.address)
            .form(&form.fields)
            .send()
            .await
            .expect("POST")
    }
}

/// The text of the element with `id`, if the page has one.
pub fn text_of(html: &str, selector: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_string())
}

/// How long until `check` holds, polling every 20 ms; panics after 5 s.
pub async fn until<F, Fut>(what: &str, mut check: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{what}: never"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    println!("{what}: in force after {} ms", took.as_millis());
    took
}
