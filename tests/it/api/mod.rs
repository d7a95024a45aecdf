//! The protected analytics API: Bearer tokens, Matomo-shaped errors, and the permission
//! matrix (every method × scope × user level).

mod admin;
mod errors;
mod matrix;
mod site_limits;

use consentry::audit::Actor;
use consentry::domain::{AccessLevel, GrantType, Role, Scope, SiteName, SiteUrl};
use serde_json::Value;

use crate::common::{TestApp, spawn_app};
use crate::protocol::{self, Client, Spec};

/// A server with two sites, a client allowed every scope, and `matomo:superuser` allowed.
pub struct World {
    pub app: TestApp,
    pub client: Client,
    pub site1: i64,
    pub site2: i64,
}

pub async fn world() -> World {
    let app = spawn_app().await;
    protocol::sql(
        &app,
        "UPDATE oauth_settings SET allowed_scopes = 'matomo:read matomo:write matomo:admin matomo:superuser'",
    );
    let client = protocol::register(
        &app,
        Spec {
            scopes: Scope::ALL.to_vec(),
            grants: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
            ],
            ..Spec::confidential()
        },
    )
    .await;
    let url = app.db_url.clone();
    let (site1, site2) = tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
        let create = |conn: &mut _, name: &str, url: &str| {
            consentry::sites::create(
                conn,
                &SiteName::parse(name).unwrap(),
                &SiteUrl::parse(url).unwrap(),
                &Actor::new("test"),
            )
            .unwrap()
        };
        (
            create(&mut conn, "Shop", "https://shop.example"),
            create(&mut conn, "Blog", "https://blog.example"),
        )
    })
    .await
    .unwrap();
    World {
        app,
        client,
        site1,
        site2,
    }
}

impl World {
    /// Creates `login` with `role` and, when given, a level on site 1.
    pub async fn user(&self, login: &str, role: Role, level: Option<AccessLevel>) -> TestApp {
        let browser = self.app.new_browser();
        browser.sign_in_as(login, role).await;
        if let Some(level) = level {
            self.set_access(login, self.site1, Some(level)).await;
        }
        browser
    }

    pub async fn set_access(&self, login: &str, site: i64, level: Option<AccessLevel>) {
        let (url, login) = (self.app.db_url.clone(), login.to_string());
        tokio::task::spawn_blocking(move || {
            use diesel::Connection;
            let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
            consentry::sites::set_access(&mut conn, &login, site, level, &Actor::new("test"))
                .unwrap();
        })
        .await
        .unwrap();
    }

    /// An access token of `scope` that the user signed in on `browser` approves.
    pub async fn token(&self, browser: &TestApp, scope: Scope) -> String {
        let mut pairs = protocol::code_request(&self.client, false);
        pairs.retain(|(k, _)| *k != "scope");
        pairs.push(("scope", scope.as_str()));
        pairs.push(("prompt", "consent"));
        let to = protocol::consent(
            browser,
            &protocol::authorize_path(&pairs),
            "allow",
            scope.as_str(),
        )
        .await;
        let code = protocol::param(&to, "code").unwrap_or_else(|| panic!("a code: {to}"));
        let (status, body) = protocol::redeem(browser, &self.client, &code).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], scope.as_str());
        body["access_token"].as_str().unwrap().to_string()
    }
}

/// The answer to an API call: status, `WWW-Authenticate` and JSON body.
pub struct Answer {
    pub status: u16,
    pub challenge: Option<String>,
    pub body: Value,
}

/// Calls `/index.php?module=API&method=…&format=json&<query>` with the Bearer token.
pub async fn api(app: &TestApp, token: Option<&str>, method: &str, query: &str) -> Answer {
    let mut path = format!("/index.php?module=API&method={method}&format=json");
    if !query.is_empty() {
        path.push('&');
        path.push_str(query);
    }
    let mut req = reqwest::Client::new().get(app.url(&path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    answer(req.send().await.unwrap()).await
}

pub async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(res.headers()["cache-control"], "no-store");
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON, got {text}"));
    if status != 200 {
        assert_eq!(body["result"], "error", "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    Answer {
        status,
        challenge,
        body,
    }
}
