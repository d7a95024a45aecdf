//! Secret rotation with a grace period, its use count and early end; secret expiry; the
//! same through the command line.

use super::{count, create_client, last_event, new_client_form, superuser_app};
use crate::cli::{assert_one_line_exit_2, consentry};
use crate::common::{PASSWORD, TestApp, text_of, until};
use crate::protocol::{self, Client, active, introspect, token};

const LIST: &str = "/admin/oauth2/clients";

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> (u16, serde_json::Value) {
    token(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "matomo:read"),
        ],
    )
    .await
}

fn as_client(id: &str, secret: &str) -> Client {
    Client {
        id: id.into(),
        secret: Some(secret.into()),
    }
}

/// A confidential client-credentials client and its secret.
async fn machine_client(app: &TestApp, name: &str) -> (String, String) {
    let form = new_client_form(app, name)
        .await
        .set_all("grant_types", &["client_credentials"])
        .set("redirect_uris", "");
    let (id, secret) = create_client(app, form).await;
    (id, secret.unwrap())
}

/// Rotates the secret through the console; returns the new one.
async fn rotate(app: &TestApp, id: &str, grace: &str, revoke: bool) -> String {
    let page = format!("{LIST}/{id}/secret");
    let mut form = app
        .form(&page, &page)
        .await
        .set("grace", grace)
        .set("password", PASSWORD);
    if !revoke {
        form = form.remove("revoke_tokens");
    }
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 303);
    let html = app.page(&protocol::location(&res)).await;
    text_of(&html, "#client-secret").unwrap()
}

#[tokio::test]
async fn with_a_grace_period_both_secrets_work_the_old_ones_uses_are_counted_and_it_can_end_early()
{
    let app = superuser_app().await;
    let (id, old) = machine_client(&app, "Rolling app").await;
    let (_, before) = client_credentials(&app, &id, &old).await;
    let earlier = before["access_token"].as_str().unwrap().to_string();

    // The form offers the four grace periods; a bad one is a field message, nothing changes.
    let page = format!("{LIST}/{id}/secret");
    let html = app.page(&page).await;
    for grace in ["none", "1h", "24h", "7d"] {
        assert!(html.contains(&format!("value=\"{grace}\"")), "{grace}");
    }
    let form = app
        .form(&page, &page)
        .await
        .set("grace", "forever")
        .set("password", PASSWORD);
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("none, 1h, 24h or 7d"));
    assert_eq!(client_credentials(&app, &id, &old).await.0, 200);

    let new = rotate(&app, &id, "24h", false).await;
    assert_ne!(new, old);
    // Both work, and the tokens the old one gets are real (kept by the batch writer).
    for _ in 0..3 {
        let (status, body) = client_credentials(&app, &id, &old).await;
        assert_eq!(status, 200, "{body}");
        let access = body["access_token"].as_str().unwrap();
        assert!(active(
            &introspect(&app, &as_client(&id, &new), access).await
        ));
    }
    assert_eq!(client_credentials(&app, &id, &new).await.0, 200);
    // Introspection with the old secret counts too; the token from before still works.
    assert!(active(
        &introspect(&app, &as_client(&id, &old), &earlier).await
    ));
    let (_, details, _) = last_event(&app, "client.secret_regenerated");
    assert_eq!(details["grace"], "24h");
    assert!(details["previous_valid_until"].is_string());

    // The count reaches the page within a few seconds (written in batches).
    let detail = format!("{LIST}/{id}");
    until("previous secret's use count", || async {
        let html = app.page(&detail).await;
        let text = text_of(&html, "#previous-secret");
        text.is_some_and(|t| t.contains("used 4 times since rotation"))
    })
    .await;
    let html = app.page(&detail).await;
    let previous = text_of(&html, "#previous-secret").unwrap();
    assert!(
        previous.starts_with("Previous secret valid until"),
        "{previous}"
    );
    assert!(html.contains("<time datetime=\""));

    // Ending it early asks for the password, then only the new secret works.
    let end = format!("{LIST}/{id}/secret/end-previous");
    assert!(html.contains(&end));
    let form = app.form(&end, &end).await.set("password", "wrong password");
    assert_eq!(app.submit(&form).await.status(), 422);
    assert_eq!(client_credentials(&app, &id, &old).await.0, 200);
    let form = app.form(&end, &end).await.set("password", PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 303);
    assert!(
        text_of(&app.page(&detail).await, ".flash")
            .unwrap()
            .contains("used 5 times since the rotation")
    );
    let (status, body) = client_credentials(&app, &id, &old).await;
    assert_eq!((status, protocol::error(&body)), (401, "invalid_client"));
    assert_eq!(client_credentials(&app, &id, &new).await.0, 200);
    assert!(text_of(&app.page(&detail).await, "#previous-secret").is_none());
    let (actor, details, _) = last_event(&app, "client.previous_secret_ended");
    assert_eq!(
        (actor.as_str(), details["uses_since_rotation"].as_i64()),
        ("root1", Some(5))
    );
    // Nothing to end any more.
    let form = app.form(&end, &end).await.set("password", PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 400);
}

#[tokio::test]
async fn the_grace_period_ends_by_itself_and_without_one_the_old_secret_stops_at_once() {
    let app = superuser_app().await;
    let (id, first) = machine_client(&app, "Timed app").await;
    let second = rotate(&app, &id, "1h", false).await;
    assert_eq!(client_credentials(&app, &id, &first).await.0, 200);
    // An hour later (moved back in the table), the first secret is refused.
    protocol::sql(
        &app,
        &format!(
            "UPDATE oauth_clients SET previous_secret_until = UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE client_id = '{id}'"
        ),
    );
    until("the grace period's end", || async {
        client_credentials(&app, &id, &first).await.0 == 401
    })
    .await;
    assert_eq!(client_credentials(&app, &id, &second).await.0, 200);
    assert!(text_of(&app.page(&format!("{LIST}/{id}")).await, "#previous-secret").is_none());

    // No grace: the replaced secret stops at once, and the tokens are kept when asked.
    let (_, body) = client_credentials(&app, &id, &second).await;
    let access = body["access_token"].as_str().unwrap().to_string();
    let third = rotate(&app, &id, "none", false).await;
    assert_eq!(client_credentials(&app, &id, &second).await.0, 401);
    assert!(active(
        &introspect(&app, &as_client(&id, &third), &access).await
    ));
    // Revoking with the rotation ends every token issued so far.
    let fourth = rotate(&app, &id, "7d", true).await;
    assert!(!active(
        &introspect(&app, &as_client(&id, &fourth), &access).await
    ));
    assert_eq!(client_credentials(&app, &id, &third).await.0, 200);
}

#[tokio::test]
async fn an_expired_secret_is_refused_and_the_list_flags_secrets_that_expire_within_14_days() {
    let app = superuser_app().await;
    let (id, secret) = machine_client(&app, "Expiring app").await;
    let edit = format!("{LIST}/{id}/edit");
    // A date in the past is a field message; the form keeps what was typed.
    let form = app
        .form(&edit, &edit)
        .await
        .set("secret_expires", "2020-01-01")
        .set("password", PASSWORD);
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Choose a date after today"));
    assert!(html.contains("value=\"2020-01-01\""));
    let form = app
        .form(&edit, &edit)
        .await
        .set("secret_expires", "not a date")
        .set("password", PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 422);

    // Ten days ahead: flagged in the list; a year ahead: not.
    let soon = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    let form = app
        .form(&edit, &edit)
        .await
        .set("secret_expires", &soon.to_string())
        .set("password", PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 303);
    let list = app.page(LIST).await;
    assert!(
        list.contains("Secret expires in 9 days") || list.contains("Secret expires in 10 days"),
        "{list}"
    );
    assert!(
        app.page(&format!("{LIST}/{id}"))
            .await
            .contains(&format!("datetime=\"{soon}T00:00:00Z\""))
    );
    assert_eq!(client_credentials(&app, &id, &secret).await.0, 200);
    let later = (chrono::Utc::now() + chrono::Duration::days(365)).date_naive();
    let form = app
        .form(&edit, &edit)
        .await
        .set("secret_expires", &later.to_string())
        .set("password", PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 303);
    assert!(!app.page(LIST).await.contains("Secret expires"));

    // Past its expiry the secret fails with invalid_client (and is not throttled as a
    // guess); the list says so; rotating gives a working one.
    protocol::sql(
        &app,
        &format!(
            "UPDATE oauth_clients SET secret_expires_at = UTC_TIMESTAMP() - INTERVAL 1 MINUTE WHERE client_id = '{id}'"
        ),
    );
    until("the expiry", || async {
        client_credentials(&app, &id, &secret).await.0 == 401
    })
    .await;
    let (_, body) = client_credentials(&app, &id, &secret).await;
    assert_eq!(protocol::error(&body), "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    assert!(app.page(LIST).await.contains("Secret expired"));
    // The stored, passed date can stay while other fields change.
    let form = app
        .form(&edit, &edit)
        .await
        .set("description", "Renamed")
        .set("password", PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 303);
    let fresh = rotate(&app, &id, "none", false).await;
    assert_eq!(client_credentials(&app, &id, &fresh).await.0, 200);
    assert!(!app.page(LIST).await.contains("Secret expired"));
}

#[tokio::test]
async fn the_command_line_rotates_with_a_grace_period_and_ends_the_previous_secret() {
    let app = superuser_app().await;
    let (id, old) = machine_client(&app, "Scripted app").await;
    let out = consentry(
        &app,
        &[
            "client", "secret", "rotate", &id, "--grace", "24h", "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = printed["client_secret"].as_str().unwrap().to_string();
    let until_text = printed["previous_secret_valid_until"].as_str().unwrap();
    assert!(until_text.ends_with('Z'), "{until_text}");
    assert_eq!(client_credentials(&app, &id, &old).await.0, 200);
    assert_eq!(client_credentials(&app, &id, &new).await.0, 200);
    let (actor, details, _) = last_event(&app, "client.secret_regenerated");
    assert!(actor.starts_with("cli:"), "{actor}");
    assert_eq!(details["grace"], "24h");

    let out = consentry(&app, &["client", "show", &id, "--json"], "");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["previous_secret_valid_until"], until_text);

    let out = consentry(
        &app,
        &["client", "secret", "end-previous", &id, "--json"],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    let ended: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(ended["previous_secret_uses"].as_i64().unwrap() >= 0);
    assert_eq!(client_credentials(&app, &id, &old).await.0, 401);

    // Bad input: one line, exit 2, nothing changed.
    let events = count(&app, "SELECT id FROM audit_events");
    assert_one_line_exit_2(
        &consentry(
            &app,
            &["client", "secret", "rotate", &id, "--grace", "2d"],
            "",
        ),
        "--grace",
    );
    assert_one_line_exit_2(
        &consentry(
            &app,
            &["client", "secret", "rotate", &id, "--expires", "2001-01-01"],
            "",
        ),
        "--expires",
    );
    assert_one_line_exit_2(
        &consentry(&app, &["client", "secret", "end-previous", &id], ""),
        "CLIENT_ID: This client has no previous secret",
    );
    assert_eq!(count(&app, "SELECT id FROM audit_events"), events);
    assert_eq!(client_credentials(&app, &id, &new).await.0, 200);

    // An expiry set from the command line, and given with the rotation.
    let out = consentry(
        &app,
        &[
            "client",
            "edit",
            &id,
            "--secret-expires",
            "2099-01-01",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    let edited: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(edited["secret_expires_at"], "2099-01-01T00:00:00Z");
    let out = consentry(&app, &["client", "secret", "rotate", &id, "--json"], "");
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotated["secret_expires_at"], "2099-01-01T00:00:00Z", "kept");
    assert!(rotated["previous_secret_valid_until"].is_null());
}

/// A grace period never brings back a secret that expired, nor keeps one past its expiry.
#[tokio::test]
async fn a_grace_period_never_outlives_the_old_secrets_expiry() {
    let app = superuser_app().await;
    let rotate = |id: String| {
        let app = &app;
        async move {
            let out = consentry(
                app,
                &["client", "secret", "rotate", &id, "--grace", "7d", "--json"],
                "",
            );
            assert!(out.status.success(), "{}", crate::cli::stderr(&out));
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
        }
    };
    // Expired: the rotation gives the old secret no grace.
    let (id, old) = machine_client(&app, "Expired app").await;
    protocol::sql(
        &app,
        &format!(
            "UPDATE oauth_clients SET secret_expires_at = UTC_TIMESTAMP() - INTERVAL 1 MINUTE WHERE client_id = '{id}'"
        ),
    );
    until("the expiry reaches the server", || async {
        client_credentials(&app, &id, &old).await.0 == 401
    })
    .await;
    let rotated = rotate(id.clone()).await;
    assert!(
        rotated["previous_secret_valid_until"].is_null(),
        "{rotated}"
    );
    // The command is a process of its own: the server learns the new secret within a second.
    let new = rotated["client_secret"].as_str().unwrap();
    until("the new secret reaches the server", || async {
        client_credentials(&app, &id, new).await.0 == 200
    })
    .await;
    assert_eq!(client_credentials(&app, &id, &old).await.0, 401);

    // About to expire: the grace ends when the old secret would have.
    let (id, _) = machine_client(&app, "Expiring app").await;
    protocol::sql(
        &app,
        &format!(
            "UPDATE oauth_clients SET secret_expires_at = UTC_TIMESTAMP() + INTERVAL 1 HOUR WHERE client_id = '{id}'"
        ),
    );
    let rotated = rotate(id.clone()).await;
    let until_text = rotated["previous_secret_valid_until"].as_str().unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(until_text).unwrap();
    assert!(
        until < chrono::Utc::now() + chrono::Duration::minutes(61),
        "capped at the old expiry, not 7 days: {until_text}"
    );
}

/// Text that no client ID can be (non-ASCII) is "no such client", never a database error.
#[tokio::test]
async fn a_non_ascii_client_id_is_unknown_not_an_error() {
    let app = superuser_app().await;
    for args in [
        vec!["client", "show", "é"],
        vec!["client", "pause", "é"],
        vec!["client", "secret", "rotate", "é"],
    ] {
        assert_one_line_exit_2(&consentry(&app, &args, ""), "é");
    }
    let res = app
        .get("/admin/oauth2/clients?q=Caf%C3%A9%20%F0%9F%98%80")
        .await;
    assert_eq!(res.status(), 200);
}
