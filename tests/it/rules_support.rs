//! Rows the direct rule tests need, made through the same functions the server uses.

use consentry::audit::Actor;
use consentry::db::models;
use consentry::domain::{ClientName, ClientType, GrantType, RedirectUri, Scope};
use consentry::oauth::clients::{self, ClientSpec};
use diesel::MysqlConnection;

/// A confidential client for the authorization code grant; returns its row id.
pub fn client(conn: &mut MysqlConnection, owner: i64) -> i64 {
    let created = clients::create(
        conn,
        &ClientSpec {
            name: ClientName::parse("Rules app").unwrap(),
            description: String::new(),
            client_type: ClientType::Confidential,
            grants: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: vec![Scope::Read, Scope::Write],
            redirect_uris: vec![RedirectUri::parse("https://app.example/cb").unwrap()],
            trusted: false,
            may_introspect_any: false,
            homepage_url: None,
            icon_url: None,
        },
        owner,
        &Actor::new("test"),
    )
    .unwrap();
    models::clients::find_by_client_id(conn, created.client_id.as_str())
        .unwrap()
        .unwrap()
        .id
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
