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

#[tokio::test]
async fn deactivation_ends_access_and_sign_in_until_the_user_is_activated_again() {
    let app = spawn_app().await;
    let (alice, client, tokens) = alice_with_tokens(&app).await;
    let out = consentry(&app, &["user", "deactivate", "--login", "alice"], "");
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    // Sessions ended, refresh refused, the access token inactive within the second.
    assert_eq!(alice.get("/account/authorized-apps").await.status(), 303);
    assert_eq!(refresh(&app, &client, &tokens).await.0, 400);
    let token = tokens["access_token"].as_str().unwrap();
    let took = crate::common::until("the deactivation's revocation", || async {
        !active(&introspect(&app, &client, token).await)
    })
    .await;
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    // The right password now says why; a wrong one says nothing more than before.
    let again = app.new_browser();
    let res = again.login("alice", PASSWORD).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("deactivated"));
    assert_eq!(
        again
            .login("alice", "not the password at all")
            .await
            .status(),
        401
    );
    let listed = consentry(&app, &["user", "list", "--json"], "");
    let users: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let alice_row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "alice")
        .unwrap();
    assert!(alice_row["deactivated_at"].is_string(), "{alice_row}");

    let out = consentry(&app, &["user", "activate", "--login", "alice"], "");
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    assert_eq!(again.login("alice", PASSWORD).await.status(), 303);
    // A deactivated owner's clients no longer act as them (client credentials).
    app.create_user("root9", Role::Superuser).await;
    let out = consentry(&app, &["user", "deactivate", "--login", "owner"], "");
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    crate::common::until("the deactivated owner's client refused", || async {
        let (status, _, body) = protocol::post(
            &app,
            "/oauth2/token",
            Some((&client.id, client.secret())),
            &[("grant_type", "client_credentials")],
        )
        .await;
        status == 400 && error(&body) == "unauthorized_client"
    })
    .await;
    let actions = app.audit_actions();
    for action in ["user.deactivated", "user.activated", "user.grants_revoked"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_last_active_superuser_is_neither_deactivated_nor_deleted() {
    let app = spawn_app().await;
    app.create_user("root1", Role::Superuser).await;
    for args in [
        &["user", "deactivate", "--login", "root1"][..],
        &["user", "delete", "--login", "root1"][..],
    ] {
        crate::cli::assert_one_line_exit_2(&consentry(&app, args, ""), "last active superuser");
    }
    app.create_user("root2", Role::Superuser).await;
    let out = consentry(&app, &["user", "deactivate", "--login", "root1"], "");
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    // A deactivated superuser does not count: root2 is now the last active one.
    crate::cli::assert_one_line_exit_2(
        &consentry(&app, &["user", "deactivate", "--login", "root2"], ""),
        "last active superuser",
    );
    assert_eq!(
        app.new_browser().login("root2", PASSWORD).await.status(),
        303
    );
}

#[tokio::test]
async fn deleting_a_user_takes_their_grants_and_hands_on_or_deletes_their_clients() {
    let app = spawn_app().await;
    // `register` makes the superuser "owner", who owns the client alice authorizes.
    let (_alice, client, tokens) = alice_with_tokens(&app).await;
    app.create_user("heir", Role::Superuser).await;
    let cc = || async {
        let (status, _, body) = protocol::post(
            &app,
            "/oauth2/token",
            Some((&client.id, client.secret())),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert!(status == 200 || body["error"].is_string(), "{body}");
        status
    };
    crate::cli::assert_one_line_exit_2(
        &consentry(&app, &["user", "delete", "--login", "owner"], ""),
        "owns 1 client(s)",
    );
    crate::cli::assert_one_line_exit_2(
        &consentry(
            &app,
            &[
                "user",
                "delete",
                "--login",
                "owner",
                "--reassign-clients-to",
                "alice",
            ],
            "",
        ),
        "another active superuser",
    );
    let out = consentry(
        &app,
        &[
            "user",
            "delete",
            "--login",
            "owner",
            "--reassign-clients-to",
            "heir",
        ],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 client(s) reassigned"));
    // The client lives on under its new owner (the server hears of it within the second).
    crate::common::until("the client under its new owner", || async {
        cc().await == 200
    })
    .await;

    // Deleting alice takes the access she gave.
    let out = consentry(&app, &["user", "delete", "--login", "alice"], "");
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    assert_eq!(refresh(&app, &client, &tokens).await.0, 400);
    let token = tokens["access_token"].as_str().unwrap();
    crate::common::until("the deletion's revocation", || async {
        !active(&introspect(&app, &client, token).await)
    })
    .await;

    app.create_user("root3", Role::Superuser).await;
    let out = consentry(
        &app,
        &["user", "delete", "--login", "heir", "--delete-clients"],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    // The command is a process of its own: the server hears of it within the second.
    let took =
        crate::common::until("the deleted client refused", || async { cc().await == 401 }).await;
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    let listed = consentry(&app, &["user", "list", "--json"], "");
    let users: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let logins: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["root3"]);
    assert!(app.audit_actions().iter().any(|a| a == "user.deleted"));
}

#[tokio::test]
async fn the_user_page_deactivates_reactivates_and_deletes_with_the_password_confirmed() {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    let helper = app.new_browser();
    helper.sign_in_as("helper", Role::Support).await;
    let page = "/admin/users/helper";
    let form = |html: &str, action: &str| FormData::from_page(html, action);
    // A wrong password changes nothing and says so next to the field.
    let wrong = form(&app.page(page).await, "/admin/users/helper/deactivate")
        .set("status_confirm_password", "not my password at all");
    let res = app.submit(&wrong).await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Your password is incorrect")
    );
    assert_eq!(helper.get("/admin/audit").await.status(), 200);

    let deactivate = form(&app.page(page).await, "/admin/users/helper/deactivate")
        .set("status_confirm_password", PASSWORD);
    assert_eq!(app.submit(&deactivate).await.status(), 303);
    assert_eq!(
        helper.get("/admin/audit").await.status(),
        303,
        "session ended"
    );
    assert!(app.page(page).await.contains("Deactivated"));
    assert!(app.page("/admin/users").await.contains("(deactivated)"));
    assert_eq!(
        app.new_browser().login("helper", PASSWORD).await.status(),
        403
    );

    let activate = form(&app.page(page).await, "/admin/users/helper/activate")
        .set("status_confirm_password", PASSWORD);
    assert_eq!(app.submit(&activate).await.status(), 303);
    assert_eq!(
        app.new_browser().login("helper", PASSWORD).await.status(),
        303
    );

    // root1 cannot deactivate themselves: the last active superuser.
    let own = "/admin/users/root1";
    let res = app
        .submit(
            &form(&app.page(own).await, "/admin/users/root1/deactivate")
                .set("status_confirm_password", PASSWORD),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("last active superuser"));

    let delete = form(&app.page(page).await, "/admin/users/helper/delete")
        .set("delete_confirm_password", PASSWORD);
    assert_eq!(app.submit(&delete).await.status(), 303);
    assert_eq!(app.get(page).await.status(), 404);
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_only_their_other_sessions_end() {
    let app = spawn_app().await;
    let (alice, client, tokens) = alice_with_tokens(&app).await;
    let elsewhere = app.new_browser();
    assert_eq!(elsewhere.login("alice", PASSWORD).await.status(), 303);
    let page = "/account/security";
    let action = "/account/security/password";
    let new = "a brand new password of mine";
    let form = |html: &str| FormData::from_page(html, action);

    let wrong = form(&alice.page(page).await)
        .set("current_password", "not the current one")
        .set("new_password", new)
        .set("repeat_password", new);
    assert_eq!(alice.submit(&wrong).await.status(), 422);
    let differ = form(&alice.page(page).await)
        .set("current_password", PASSWORD)
        .set("new_password", new)
        .set("repeat_password", "something else entirely");
    let res = alice.submit(&differ).await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The two new passwords differ.")
    );
    assert_eq!(
        app.new_browser().login("alice", PASSWORD).await.status(),
        303,
        "unchanged"
    );

    let good = form(&alice.page(page).await)
        .set("current_password", PASSWORD)
        .set("new_password", new)
        .set("repeat_password", new);
    assert_eq!(alice.submit(&good).await.status(), 303);
    assert_eq!(alice.get(page).await.status(), 200, "this session goes on");
    assert_eq!(
        elsewhere.get(page).await.status(),
        303,
        "the other one ended"
    );
    assert_eq!(app.new_browser().login("alice", new).await.status(), 303);
    // The applications keep their access.
    let token = tokens["access_token"].as_str().unwrap();
    assert!(active(&introspect(&app, &client, token).await));
}
