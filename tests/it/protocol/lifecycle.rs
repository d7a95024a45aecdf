//! Replay, refresh rotation and reuse, pause and resume, delete, and the token's claims.

use consentry::domain::{GrantType, Role};

use super::*;
use crate::common::spawn_app;

async fn refresh(
    app: &crate::common::TestApp,
    client: &Client,
    token: &str,
    scope: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret()),
        ("refresh_token", token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    super::token(app, &form).await
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_it_issued() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let code = approved_code(&app, &client, false).await;
    let (status, first) = redeem(&app, &client, &code).await;
    assert_eq!(status, 200);
    let access = first["access_token"].as_str().unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    assert!(active(&introspect(&app, &client, access).await));
    let (status, body) = redeem(&app, &client, &code).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    assert!(!active(&introspect(&app, &client, access).await));
    assert!(!active(&introspect(&app, &client, refresh_token).await));
    assert!(
        app.audit_actions()
            .contains(&"token.code_replayed".to_string())
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_kills_the_family() {
    let app = spawn_app().await;
    let client = register(
        &app,
        Spec {
            scopes: vec![
                consentry::domain::Scope::Read,
                consentry::domain::Scope::Write,
            ],
            ..Spec::confidential()
        },
    )
    .await;
    app.sign_in_as("alice", Role::User).await;
    let mut pairs = code_request(&client, false);
    pairs[3] = ("scope", "matomo:write");
    let to = consent(&app, &authorize_path(&pairs), "allow", "matomo:write").await;
    let (_, t1) = redeem(&app, &client, &param(&to, "code").unwrap()).await;
    assert_eq!(t1["scope"], "matomo:write");
    let rt1 = t1["refresh_token"].as_str().unwrap();

    // Narrowing is allowed; widening is not.
    let (status, body) = refresh(&app, &client, rt1, Some("matomo:admin")).await;
    assert_eq!((status, error(&body)), (400, "invalid_scope"));
    let (status, t2) = refresh(&app, &client, rt1, Some("matomo:read")).await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(t2["scope"], "matomo:read");
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    let at2 = t2["access_token"].as_str().unwrap();
    assert!(active(&introspect(&app, &client, at2).await));

    // RT1 again: refused, and RT2 and its access token die with the family.
    let (status, body) = refresh(&app, &client, rt1, None).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let (status, body) = refresh(&app, &client, rt2, None).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    assert!(!active(&introspect(&app, &client, at2).await));
    assert!(
        app.audit_actions()
            .contains(&"token.refresh_reused".to_string())
    );
}

#[tokio::test]
async fn refresh_tokens_only_when_the_grant_is_on_globally_and_for_the_client() {
    let app = spawn_app().await;
    let no_refresh = register(
        &app,
        Spec {
            grants: vec![GrantType::AuthorizationCode],
            ..Spec::confidential()
        },
    )
    .await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(
        &app,
        &no_refresh,
        &approved_code(&app, &no_refresh, false).await,
    )
    .await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    sql(
        &app,
        "UPDATE oauth_settings SET refresh_tokens_enabled = FALSE",
    );
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn refreshing_cannot_outlive_the_refresh_lifetime_counted_from_the_authorization() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    sql(
        &app,
        "UPDATE oauth_grants SET created_at = UTC_TIMESTAMP(6) - INTERVAL 31 DAY",
    );
    let (status, body) =
        refresh(&app, &client, body["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
}

#[tokio::test]
async fn a_refresh_token_of_another_client_is_invalid_grant() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let other = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let (status, body) = refresh(&app, &other, body["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
}

#[tokio::test]
async fn pausing_stops_every_token_at_once_and_resuming_brings_them_back() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let watcher = register(
        &app,
        Spec {
            may_introspect_any: true,
            ..Spec::confidential()
        },
    )
    .await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let access = body["access_token"].as_str().unwrap();
    let rt = body["refresh_token"].as_str().unwrap();
    assert!(active(&introspect(&app, &watcher, access).await));
    run_cli(&app, &["client", "pause", &client.id]).await;
    assert!(!active(&introspect(&app, &watcher, access).await));
    assert!(!active(&introspect(&app, &watcher, rt).await));
    let res = app
        .get(&authorize_path(&code_request(&client, false)))
        .await;
    assert_eq!(
        param(&location(&res), "error").as_deref(),
        Some("unauthorized_client")
    );
    run_cli(&app, &["client", "resume", &client.id]).await;
    assert!(
        active(&introspect(&app, &watcher, access).await),
        "resumed without new authorization"
    );
    let (status, _) = refresh(&app, &client, rt, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn deleting_a_client_revokes_its_tokens_codes_and_consents_for_good() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let watcher = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let access = body["access_token"].as_str().unwrap().to_string();
    let pending = approved_code(&app, &client, false).await;
    run_cli(&app, &["client", "delete", &client.id]).await;
    assert!(!active(&introspect(&app, &watcher, &access).await));
    let (status, body) = redeem(&app, &client, &pending).await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    use diesel::RunQueryDsl;
    let left: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT COUNT(*) FROM oauth_grants) + (SELECT COUNT(*) FROM oauth_consents) + (SELECT COUNT(*) FROM oauth_authorization_codes)"))
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn switching_a_client_to_public_revokes_its_tokens_and_drops_its_secret() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let watcher = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let id = client.id.clone();
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
        consentry::oauth::clients::make_public(
            &mut conn,
            &id,
            &consentry::audit::Actor::new("test"),
        )
        .unwrap();
    })
    .await
    .unwrap();
    assert!(!active(
        &introspect(&app, &watcher, body["access_token"].as_str().unwrap()).await
    ));
    // The old secret no longer authenticates, and the client now needs PKCE.
    let (status, body) = super::token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    let res = app
        .get(&authorize_path(&code_request(&client, false)))
        .await;
    assert_eq!(
        param(&location(&res), "error").as_deref(),
        Some("invalid_request")
    );
    assert!(
        app.audit_actions()
            .contains(&"client.made_public".to_string())
    );
}

#[tokio::test]
async fn deleting_a_user_deletes_their_grants_and_consents() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let watcher = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    sql(&app, "DELETE FROM users WHERE login = 'alice'");
    assert!(!active(
        &introspect(&app, &watcher, body["access_token"].as_str().unwrap()).await
    ));
}

#[tokio::test]
async fn access_tokens_carry_the_rfc_9068_claims() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let token = body["access_token"].as_str().unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], app.address.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "matomo:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 22);
    let info = introspect(&app, &client, token).await;
    assert_eq!(info["exp"], claims["exp"]);
    assert_eq!(info["username"], "alice");
}

/// Runs a `consentry` command, then waits the second within which a change made outside
/// the server (the command line is a process of its own) is in force on it (the README's
/// promise; test servers read the change log every 100 ms).
pub async fn run_cli(app: &crate::common::TestApp, args: &[&str]) {
    let out = crate::cli::consentry(app, args, "");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        crate::cli::stderr(&out)
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}
