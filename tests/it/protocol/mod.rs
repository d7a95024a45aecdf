//! The OAuth 2.0 protocol, driven over HTTP against the real server and database.

mod authorize;
mod concurrency;
mod device;
mod discovery;
mod edges;
mod lifecycle;
mod lifetimes;
mod openid;
mod races;
mod revocation;
mod seeds;
mod third_party;
mod token;

use consentry::domain::{ClientName, ClientType, GrantType, RedirectUri, Role, Scope};
use consentry::oauth::clients::{self as registrar, ClientSpec};
use diesel::Connection;
use serde_json::Value;

use crate::common::{TestApp, csrf_in};

pub const CALLBACK: &str = "https://example-app.com/oauth/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[derive(Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<String>,
}

impl Client {
    pub fn secret(&self) -> &str {
        self.secret.as_deref().expect("a confidential client")
    }
}

/// What a test client looks like; `register` turns it into a real client.
pub struct Spec {
    pub kind: ClientType,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    pub uris: Vec<&'static str>,
    pub post_logout_uris: Vec<&'static str>,
    /// The client's own token lifetimes (seconds); `None`: the server's.
    pub lifetimes: (Option<i64>, Option<i64>),
    pub trusted: bool,
    pub may_introspect_any: bool,
}

impl Spec {
    pub fn confidential() -> Self {
        Self {
            kind: ClientType::Confidential,
            grants: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
            ],
            scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
            uris: vec![CALLBACK],
            post_logout_uris: Vec::new(),
            lifetimes: (None, None),
            trusted: false,
            may_introspect_any: false,
        }
    }

    pub fn public() -> Self {
        Self {
            kind: ClientType::Public,
            grants: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            ..Self::confidential()
        }
    }
}

/// Registers a client owned by the superuser `owner` (created when missing).
pub async fn register(app: &TestApp, spec: Spec) -> Client {
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
        let owner = match consentry::db::models::users::find_by_login(&mut conn, "owner").unwrap() {
            Some(u) => u.id,
            None => {
                consentry::auth::accounts::create(
                    &mut conn,
                    &consentry::domain::Login::parse("owner").unwrap(),
                    &consentry::domain::Email::parse("owner@example.com").unwrap(),
                    Role::Superuser,
                    &consentry::auth::password::hash(
                        &consentry::domain::Password::parse(crate::common::PASSWORD).unwrap(),
                    ),
                    &consentry::audit::Actor::new("test"),
                )
                .unwrap();
                consentry::db::models::users::find_by_login(&mut conn, "owner")
                    .unwrap()
                    .unwrap()
                    .id
            }
        };
        let created = registrar::create(
            &mut conn,
            &ClientSpec {
                name: ClientName::parse("Analytics app").unwrap(),
                description: "Reads the dashboards".into(),
                client_type: spec.kind,
                grants: spec.grants,
                scopes: spec.scopes,
                redirect_uris: spec
                    .uris
                    .iter()
                    .map(|u| RedirectUri::parse(u).unwrap())
                    .collect(),
                post_logout_redirect_uris: spec
                    .post_logout_uris
                    .iter()
                    .map(|u| RedirectUri::parse(u).unwrap())
                    .collect(),
                access_token_lifetime: spec.lifetimes.0,
                refresh_token_lifetime: spec.lifetimes.1,
                require_pkce: false,
                trusted: spec.trusted,
                may_introspect_any: spec.may_introspect_any,
                homepage_url: Some("https://example-app.com/".into()),
                icon_url: None,
                privacy_url: None,
                terms_url: None,
                secret_expires_at: None,
                site_limit: Default::default(),
            },
            owner,
            &consentry::audit::Actor::new("test"),
        )
        .unwrap();
        Client {
            id: created.client_id.to_string(),
            secret: created.secret.map(|s| s.expose().to_string()),
        }
    })
    .await
    .unwrap()
}

/// Runs SQL against the test database (to change settings, expire a code, ...), and
/// says so in the change log, as an operator editing tables by hand must: the servers
/// then forget what they hold in memory.
pub fn sql(app: &TestApp, statement: &str) {
    use diesel::RunQueryDsl;
    let mut conn = app.conn();
    diesel::sql_query(statement).execute(&mut conn).unwrap();
    consentry::db::changes::record(&mut conn, consentry::db::changes::Change::All).unwrap();
}

pub fn authorize_path(pairs: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/oauth2/authorize?{query}")
}

/// The standard authorization request parameters for `client`.
pub fn code_request(client: &Client, pkce: bool) -> Vec<(&str, &str)> {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", "matomo:read"),
        ("state", "abc123"),
    ];
    if pkce {
        pairs.push(("code_challenge", CHALLENGE));
        pairs.push(("code_challenge_method", "S256"));
    }
    pairs
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on a {} response", res.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// The query parameter `name` of an absolute or local URL.
pub fn param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location)
        .or_else(|_| url::Url::parse(&format!("http://local{location}")))
        .unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The consent form's hidden request handle and CSRF token.
pub fn consent_form(html: &str) -> (String, String) {
    let doc = scraper::Html::parse_document(html);
    let sel =
        scraper::Selector::parse("form[action='/oauth2/consent'] input[name=request]").unwrap();
    let handle = doc
        .select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .expect("a consent form")
        .to_string();
    (handle, csrf_in(html))
}

/// Answers the consent screen at `path` (the user must be signed in); returns the redirect.
pub async fn consent(app: &TestApp, path: &str, decision: &str, scope: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "consent screen for {path}");
    let (handle, csrf) = consent_form(&res.text().await.unwrap());
    let res = app
        .post_form(
            "/oauth2/consent",
            &csrf,
            &[
                ("request", &handle),
                ("scope", scope),
                ("decision", decision),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    location(&res)
}

/// Approves `client`'s request; returns the code.
pub async fn approved_code(app: &TestApp, client: &Client, pkce: bool) -> String {
    let path = authorize_path(&code_request(client, pkce));
    // The first approval is remembered; later requests come straight back with a code.
    let res = app.get(&path).await;
    let to = if res.status() == 303 {
        location(&res)
    } else {
        consent(app, &path, "allow", "matomo:read").await
    };
    assert!(to.starts_with(CALLBACK), "{to}");
    param(&to, "code").expect("a code")
}

/// Posts a token (or revoke/introspect) request; returns status, headers and JSON body.
pub async fn post(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::new();
    let mut req = client.post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got: {text}"))
    };
    (status, headers, body)
}

pub async fn token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let (status, headers, body) = post(app, "/oauth2/token", None, form).await;
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    (status, body)
}

/// Redeems `code` for a confidential client with client_secret_post.
pub async fn redeem(app: &TestApp, client: &Client, code: &str) -> (u16, Value) {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", CALLBACK),
            ("code", code),
        ],
    )
    .await
}

/// Introspects `token` with `client`'s credentials; returns the JSON answer.
pub async fn introspect(app: &TestApp, client: &Client, token: &str) -> Value {
    let (status, _, body) = post(
        app,
        "/oauth2/introspect",
        Some((&client.id, client.secret())),
        &[("token", token)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub fn active(body: &Value) -> bool {
    body["active"].as_bool().expect("an active field")
}

pub fn error(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an error body, got {body}"))
}
