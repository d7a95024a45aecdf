//! Rows the direct rule tests need, made through the same functions the server uses.

use consentry::audit::Actor;
use consentry::auth::{accounts, password};
use consentry::db::{self, DatabaseUrl, models};
use consentry::domain::{
    ClientName, ClientType, Email, GrantType, Login, Password, RedirectUri, Role, Scope,
};
use consentry::oauth::clients::{self, ClientSpec, Created};
use diesel::{Connection, MysqlConnection};

use crate::common::{PASSWORD, server_url};

/// A database of its own (copied from the migrated template), dropped at the end.
pub struct Db {
    url: DatabaseUrl,
}

impl Db {
    pub fn new() -> Self {
        let name = format!("consentry_test_{:016x}", rand::random::<u64>());
        let url = server_url().with_database(&name).unwrap();
        crate::template::create_from_template(&url).expect("a test database");
        Self { url }
    }

    pub fn conn(&self) -> MysqlConnection {
        MysqlConnection::establish(self.url.full()).unwrap()
    }

    pub fn pool(&self) -> db::DbPool {
        db::build_pool(
            std::slice::from_ref(&self.url),
            2,
            std::time::Duration::from_secs(2),
        )
        .unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = db::drop_database(&self.url);
    }
}

pub fn user(conn: &mut MysqlConnection, login: &str, role: Role) -> i64 {
    accounts::create(
        conn,
        &Login::parse(login).unwrap(),
        &Email::parse(&format!("{login}@example.com")).unwrap(),
        role,
        &password::hash(&Password::parse(PASSWORD).unwrap()),
        &Actor::new("test"),
    )
    .unwrap();
    models::users::find_by_login(conn, login)
        .unwrap()
        .unwrap()
        .id
}

/// A confidential client for the authorization code grant; returns its row id.
pub fn client(conn: &mut MysqlConnection, owner: i64) -> i64 {
    let created = confidential_client(conn, owner);
    models::clients::find_by_client_id(conn, created.client_id.as_str())
        .unwrap()
        .unwrap()
        .id
}

/// The same client, returned as created: its client ID and its secret.
pub fn confidential_client(conn: &mut MysqlConnection, owner: i64) -> Created {
    create_confidential(
        conn,
        owner,
        "Rules app",
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        vec![Scope::Read, Scope::Write],
        vec![RedirectUri::parse("https://app.example/cb").unwrap()],
    )
}

/// A confidential client of `owner` with these grants, scopes and redirect URIs.
pub fn create_confidential(
    conn: &mut MysqlConnection,
    owner: i64,
    name: &str,
    grants: Vec<GrantType>,
    scopes: Vec<Scope>,
    redirect_uris: Vec<RedirectUri>,
) -> Created {
    clients::create(
        conn,
        &ClientSpec {
            name: ClientName::parse(name).unwrap(),
            description: String::new(),
            client_type: ClientType::Confidential,
            grants,
            scopes,
            redirect_uris,
            post_logout_redirect_uris: Vec::new(),
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            require_pkce: false,
            trusted: false,
            may_introspect_any: false,
            homepage_url: None,
            icon_url: None,
            privacy_url: None,
            terms_url: None,
            secret_expires_at: None,
            site_limit: Default::default(),
        },
        owner,
        &Actor::new("test"),
    )
    .unwrap()
}

/// A live grant of `user` to `client`; returns its id.
pub fn grant(conn: &mut MysqlConnection, client: i64, user: i64) -> i64 {
    let now = models::now();
    models::grants::insert(
        conn,
        &models::grants::NewGrant {
            client_id: client,
            user_id: Some(user),
            code_id: None,
            grant_type: GrantType::AuthorizationCode.as_str(),
            scope: Scope::Read.as_str(),
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
        },
    )
    .unwrap()
}
