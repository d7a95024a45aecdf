//! Sessions and grants end when they should: a password change or reset (console or
//! command line) and a role change end the user's console sessions, a reset revokes the
//! applications' access by default, and a regenerated client secret revokes the tokens
//! issued before it by default.

use consentry::domain::Role;
use serde_json::Value;

use crate::cli::consentry;
use crate::common::{FormData, PASSWORD, TestApp, spawn_app};
use crate::protocol::{self, Spec, active, approved_code, error, introspect, redeem};

/// alice signed in on her own browser, with tokens from an app she authorized.
async fn alice_with_tokens(app: &TestApp) -> (TestApp, protocol::Client, Value) {
    let client = protocol::register(app, Spec::confidential()).await;
    let alice = app.new_browser();
    alice.sign_in_as("alice", Role::User).await;
    let (status, tokens) = redeem(
        &alice,
        &client,
        &approved_code(&alice, &client, false).await,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(alice.get("/account/authorized-apps").await.status(), 200);
    (alice, client, tokens)
}

async fn refresh(app: &TestApp, client: &protocol::Client, tokens: &Value) -> (u16, Value) {
    protocol::token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_console_reset_ends_the_users_sessions_and_revokes_their_applications() {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    let (alice, client, tokens) = alice_with_tokens(&app).await;
    let page = "/admin/users/alice";
    let reset = FormData::from_page(&app.page(page).await, "/admin/users/alice/password")
        .set("password", "a brand new long password")
        .set("reset_confirm_password", PASSWORD);
    assert_eq!(reset.get("revoke_grants"), Some("1"), "checked by default");
    assert_eq!(app.submit(&reset).await.status(), 303);
    // Her old session is over; so are the app's tokens.
    assert_eq!(alice.get("/account/authorized-apps").await.status(), 303);
    let token = tokens["access_token"].as_str().unwrap();
    assert!(!active(&introspect(&app, &client, token).await));
    let (status, body) = refresh(&app, &client, &tokens).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    // The superuser's own session goes on.
    assert_eq!(app.get("/admin/users").await.status(), 200);
}

#[tokio::test]
async fn a_reset_can_keep_the_applications_but_still_ends_sessions() {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    let (alice, client, tokens) = alice_with_tokens(&app).await;
    let reset = FormData::from_page(
        &app.page("/admin/users/alice").await,
        "/admin/users/alice/password",
    )
    .set("password", "a brand new long password")
    .set("reset_confirm_password", PASSWORD)
    .remove("revoke_grants");
    assert_eq!(app.submit(&reset).await.status(), 303);
    assert_eq!(alice.get("/account/authorized-apps").await.status(), 303);
    let token = tokens["access_token"].as_str().unwrap();
    assert!(active(&introspect(&app, &client, token).await));
}

#[tokio::test]
async fn the_command_line_password_change_ends_sessions_and_grants() {
    let app = spawn_app().await;
    let (alice, client, tokens) = alice_with_tokens(&app).await;
    let out = consentry(
        &app,
        &["user", "set-password", "--login", "alice"],
        "another long password\n",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    assert_eq!(alice.get("/account/authorized-apps").await.status(), 303);
    let (status, _) = refresh(&app, &client, &tokens).await;
    assert_eq!(status, 400);
    // The command is a process of its own: the server hears of it through the change log,
    // within the second the README promises.
    let token = tokens["access_token"].as_str().unwrap();
    let took = crate::common::until("the password change's revocation", || async {
        !active(&introspect(&app, &client, token).await)
    })
    .await;
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn a_role_change_ends_the_users_sessions() {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    let helper = app.new_browser();
    helper.sign_in_as("helper", Role::Support).await;
    assert_eq!(helper.get("/admin/audit").await.status(), 200);
    let role = FormData::from_page(
        &app.page("/admin/users/helper").await,
        "/admin/users/helper/role",
    )
    .set("role", "user")
    .set("confirm_password", PASSWORD);
    assert_eq!(app.submit(&role).await.status(), 303);
    assert_eq!(helper.get("/account/authorized-apps").await.status(), 303);
}

#[tokio::test]
async fn regenerating_a_secret_revokes_earlier_tokens_by_default() {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    let client = protocol::register(&app, Spec::confidential()).await;
    let (status, _, body) = protocol::post(
        &app,
        "/oauth2/token",
        Some((&client.id, client.secret())),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page = format!("/admin/oauth2/clients/{}/secret", client.id);
    let form = FormData::from_page(&app.page(&page).await, &page).set("password", PASSWORD);
    assert_eq!(form.get("revoke_tokens"), Some("1"), "checked by default");
    assert_eq!(app.submit(&form).await.status(), 303);
    let live = crate::console::count(&app, "SELECT id FROM oauth_grants WHERE revoked_at IS NULL");
    assert_eq!(live, 0, "the token issued with the old secret was revoked");
}
