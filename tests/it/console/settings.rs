//! General settings > OAuth 2.0.

use consentry::domain::Role;

use super::{last_event, superuser_app};
use crate::common::{FormData, PASSWORD, spawn_app, text_of};

const PATH: &str = "/admin/settings/oauth2";

fn stored(app: &crate::common::TestApp) -> (i32, i32, i32, bool, String) {
    use consentry::db::schema::oauth_settings::dsl as s;
    use diesel::prelude::*;
    s::oauth_settings
        .select((
            s::access_token_lifetime,
            s::refresh_token_lifetime,
            s::auth_code_lifetime,
            s::client_credentials_enabled,
            s::allowed_scopes,
        ))
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn superuser_saves_settings_and_the_audit_event_has_old_and_new_values() {
    let app = superuser_app().await;
    let form = app.form(PATH, PATH).await;
    // The seed's field labels, and the current values filled in.
    let html = app.page(PATH).await;
    for label in [
        "Access token lifetime (seconds)",
        "Refresh token lifetime (seconds)",
        "Authorisation code lifetime (seconds)",
        "Enable authorisation code grant (PKCE supported)",
        "Enable client credentials grant",
        "Enable refresh tokens",
        "Allowed scope(s)",
        "Save",
    ] {
        assert!(html.contains(label), "{label}");
    }
    assert_eq!(form.get("access_token_lifetime"), Some("3600"));
    let form = form
        .set("access_token_lifetime", "600")
        .remove("client_credentials_enabled")
        .set_all("allowed_scopes", &["matomo:read", "matomo:write"]);
    // Saving needs the superuser's password; without it nothing is stored.
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        text_of(&html, "#confirm_password-error")
            .unwrap()
            .contains("password")
    );
    assert_eq!(
        FormData::from_page(&html, PATH).get("access_token_lifetime"),
        Some("600")
    );
    assert_eq!(stored(&app).0, 3600);
    let form = form.set("confirm_password", "not my password at all");
    assert_eq!(app.submit(&form).await.status(), 422);
    assert_eq!(stored(&app).0, 3600);
    let form = form.set("confirm_password", PASSWORD);
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 303);
    let html = app.page(PATH).await;
    assert_eq!(
        text_of(&html, ".flash").as_deref(),
        Some("The OAuth 2.0 settings were saved.")
    );
    let form = FormData::from_page(&html, PATH);
    assert_eq!(form.get("access_token_lifetime"), Some("600"));
    assert_eq!(form.get("client_credentials_enabled"), None);
    assert_eq!(
        stored(&app),
        (
            600,
            2_592_000,
            600,
            false,
            "matomo:read matomo:write".into()
        )
    );
    let (actor, details, ip) = last_event(&app, "settings.changed");
    assert_eq!(actor, "root1");
    assert_eq!(details["old"]["access_token_lifetime"], 3600);
    assert_eq!(details["new"]["access_token_lifetime"], 600);
    assert_eq!(details["old"]["client_credentials_enabled"], true);
    assert_eq!(details["new"]["client_credentials_enabled"], false);
    assert_eq!(details["new"]["allowed_scopes"], "matomo:read matomo:write");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    // The flash shows once.
    assert!(text_of(&app.page(PATH).await, ".flash").is_none());
}

#[tokio::test]
async fn each_invalid_value_gets_its_field_message_keeps_what_was_typed_and_changes_nothing() {
    let app = superuser_app().await;
    let before = stored(&app);
    let cases: &[(&str, &str, &str)] = &[
        ("access_token_lifetime", "59", "from 60 to 86400"),
        ("access_token_lifetime", "86401", "from 60 to 86400"),
        ("access_token_lifetime", "1h", "whole number"),
        ("access_token_lifetime", "3600.5", "whole number"),
        ("access_token_lifetime", "", "whole number"),
        (
            "refresh_token_lifetime",
            "1800",
            "at least the access token lifetime",
        ),
        ("refresh_token_lifetime", "31536001", "from 1 to 31536000"),
        ("auth_code_lifetime", "9", "from 10 to 600"),
        ("auth_code_lifetime", "601", "from 10 to 600"),
        ("auth_code_lifetime", "-30", "whole number"),
    ];
    for (field, value, message) in cases {
        let form = app.form(PATH, PATH).await.set(field, value);
        let res = app.submit(&form).await;
        assert_eq!(res.status(), 422, "{field}={value}");
        let html = res.text().await.unwrap();
        crate::common::assert_valid_html(&html);
        let error = text_of(&html, &format!("#{field}-error"))
            .unwrap_or_else(|| panic!("a message for {field}={value}"));
        assert!(error.contains(message), "{field}={value}: {error}");
        assert_eq!(
            FormData::from_page(&html, PATH).get(field),
            Some(*value),
            "the typed value is kept"
        );
        assert!(html.contains(r#"aria-invalid="true""#));
    }
    let form = app.form(PATH, PATH).await.remove("allowed_scopes");
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        text_of(&html, "#allowed_scopes-error")
            .unwrap()
            .contains("at least one")
    );
    let form = app
        .form(PATH, PATH)
        .await
        .set_all("allowed_scopes", &["matomo:root"]);
    assert_eq!(app.submit(&form).await.status(), 422);
    assert_eq!(stored(&app), before);
    assert!(
        !app.audit_actions()
            .contains(&"settings.changed".to_string())
    );
}

#[tokio::test]
async fn support_sees_the_settings_read_only_and_a_post_is_refused() {
    let app = spawn_app().await;
    app.sign_in_as("helper", Role::Support).await;
    let html = app.page(PATH).await;
    assert!(html.contains("3600"));
    assert!(!html.contains(r#"action="/admin/settings/oauth2""#));
    assert!(!html.contains("<button type=\"submit\" class=\"primary\">Save"));
    let before = stored(&app);
    let token = app.csrf_token(PATH).await;
    let res = app
        .post_form(
            PATH,
            &token,
            &[
                ("access_token_lifetime", "600"),
                ("refresh_token_lifetime", "3600"),
                ("auth_code_lifetime", "60"),
                ("allowed_scopes", "matomo:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(stored(&app), before);
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let app = superuser_app().await;
    let form = app
        .form(PATH, PATH)
        .await
        .set("access_token_lifetime", "600")
        .remove("csrf_token");
    assert_eq!(app.submit(&form).await.status(), 403);
    assert_eq!(stored(&app).0, 3600);
}

#[tokio::test]
async fn the_signing_algorithm_is_chosen_on_the_form_and_signs_the_next_token() {
    let app = superuser_app().await;
    let html = app.page(PATH).await;
    assert!(html.contains("Access token signing algorithm"));
    let form = app.form(PATH, PATH).await.set("confirm_password", PASSWORD);
    let res = app.submit(&form.clone().set("signing_alg", "HS256")).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        text_of(&html, "#signing_alg-error")
            .unwrap()
            .contains("RS256, ES256 or EdDSA")
    );
    let res = app.submit(&form.set("signing_alg", "ES256")).await;
    assert_eq!(res.status(), 303);
    let doc: serde_json::Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["access_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    let client = crate::protocol::register(&app, crate::protocol::Spec::confidential()).await;
    let (status, body) = crate::protocol::token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let header = jsonwebtoken::decode_header(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let (_, details, _) = last_event(&app, "settings.changed");
    assert_eq!(details["old"]["signing_alg"], "RS256");
    assert_eq!(details["new"]["signing_alg"], "ES256");
}
