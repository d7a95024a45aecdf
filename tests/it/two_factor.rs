//! The second factor: enrolment, sign-in with a code or a recovery code, replay, the
//! throttle, turning it off, the superuser requirement, `user reset-2fa`, and what ID
//! tokens say about it.

use consentry::domain::Role;
use serde_json::Value;

use crate::cli::{consentry, stderr};
use crate::common::{FormData, PASSWORD, TestApp, spawn_app, text_of};
use crate::protocol::{self, CALLBACK, Spec, location, param};

const ENROL: &str = "/account/security/2fa";

/// The code an authenticator app shows `steps` 30-second steps from now.
fn code(secret: &str, steps: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .unwrap();
    let totp = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    );
    let now = chrono::Utc::now().timestamp() + steps * 30;
    totp.generate(now as u64)
}

/// Enrols the signed-in user; returns the secret, the recovery codes and the code that
/// confirmed the enrolment (spent).
async fn enrol(app: &TestApp) -> (String, Vec<String>, String) {
    let html = app.get_html(ENROL).await;
    let secret = text_of(&html, "#totp-secret").expect("the key as text");
    let first = code(&secret, 0);
    let form = FormData::from_page(&html, ENROL)
        .set("code", &first)
        .set("enable_password", PASSWORD);
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let doc = scraper::Html::parse_document(&page);
    let selector = scraper::Selector::parse("ul.recovery-codes code").unwrap();
    let codes: Vec<String> = doc.select(&selector).map(|e| e.inner_html()).collect();
    assert_eq!(codes.len(), 10, "{page}");
    (secret, codes, first)
}

/// Signs in with the password; returns where that leads.
async fn password_step(app: &TestApp, login: &str) -> String {
    let res = app.login(login, PASSWORD).await;
    assert_eq!(res.status(), 303);
    location(&res)
}

async fn code_step(app: &TestApp, typed: &str) -> reqwest::Response {
    let form = app
        .form("/login/2fa", "/login/2fa")
        .await
        .set("code", typed);
    app.submit(&form).await
}

fn user_row(app: &TestApp, login: &str) -> consentry::db::models::users::UserRow {
    consentry::db::models::users::find_by_login(&mut app.conn(), login)
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn enrolment_then_sign_in_with_a_code_once_and_with_recovery_codes_once() {
    let app = spawn_app().await;
    app.sign_in_as("tess", Role::User).await;
    let html = app.get_html(ENROL).await;
    assert!(html.contains("<svg"), "a QR code drawn on the server");
    assert!(!html.contains("<img"), "no image from anywhere");
    let secret = text_of(&html, "#totp-secret").unwrap();
    // A wrong first code: a field message, still off.
    // A session alone cannot turn it on: the password is asked.
    let no_password = FormData::from_page(&html, ENROL).set("code", &code(&secret, 0));
    let res = app.submit(&no_password).await;
    assert_eq!(res.status(), 422);
    assert!(text_of(&res.text().await.unwrap(), "#enable_password-error").is_some());
    let wrong = FormData::from_page(&html, ENROL)
        .set("code", "000000")
        .set("enable_password", PASSWORD);
    let res = app.submit(&wrong).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(text_of(&page, "#code-error").unwrap().contains("not right"));
    assert!(user_row(&app, "tess").totp_enabled_at.is_none());
    assert_eq!(
        text_of(&page, "#totp-secret").unwrap(),
        secret,
        "the same key until it is confirmed"
    );

    // Another session, opened with the password alone, ends when the second factor starts.
    let before = app.new_browser();
    assert_eq!(password_step(&before, "tess").await, "/");
    let (secret, codes, first) = enrol(&app).await;
    assert_eq!(before.get("/account/security").await.status(), 303);
    assert_eq!(
        app.get("/account/security").await.status(),
        200,
        "this one goes on"
    );
    let row = user_row(&app, "tess");
    assert!(row.totp_enabled_at.is_some());
    let raw = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
    let stored = row.totp_secret.unwrap();
    assert!(
        !stored.windows(raw.len()).any(|w| w == raw.as_slice()),
        "the secret is not stored in clear"
    );
    assert!(app.audit_actions().contains(&"2fa.enabled".to_string()));
    // The page now says it is on and shows no codes again.
    let again = app.get_html(ENROL).await;
    assert!(again.contains("Recovery codes left: 10"));
    assert!(!again.contains(&codes[0]));

    // Signing in: the password leads to the code step; the session is nothing yet.
    let browser = app.new_browser();
    assert_eq!(password_step(&browser, "tess").await, "/login/2fa");
    assert_eq!(browser.get("/account/security").await.status(), 303);
    // The enrolment code's time step is spent: the next one signs in.
    let res = code_step(&browser, &first).await;
    assert_eq!(res.status(), 401, "a code cannot be used twice");
    let next = code(&secret, 1);
    let res = code_step(&browser, &next).await;
    assert_eq!(res.status(), 303);
    assert_eq!(browser.get("/account/security").await.status(), 200);
    // ... and not a third time, from another browser.
    let other = app.new_browser();
    password_step(&other, "tess").await;
    assert_eq!(code_step(&other, &next).await.status(), 401);

    // A recovery code, typed loosely, signs in once.
    let loose = codes[3].to_uppercase().replace('-', " ");
    let res = code_step(&other, &loose).await;
    assert_eq!(res.status(), 303);
    let home = other.get_html("/account/security").await;
    assert!(home.contains("9 left"), "{home}");
    assert!(
        app.audit_actions()
            .contains(&"2fa.recovery_code_used".to_string())
    );
    let third = app.new_browser();
    password_step(&third, "tess").await;
    assert_eq!(code_step(&third, &codes[3]).await.status(), 401);
    // Stored as hashes: nothing of a code's text is in its row.
    let typed = crate::console::count(
        &app,
        &format!(
            "SELECT id FROM user_recovery_codes WHERE INSTR(code_hash, '{}') > 0",
            &codes[0][..4]
        ),
    );
    assert_eq!(typed, 0);
}

#[tokio::test]
async fn five_wrong_codes_then_the_account_waits() {
    let app = spawn_app().await;
    app.sign_in_as("uma", Role::User).await;
    let (secret, _, _) = enrol(&app).await;
    let browser = app.new_browser();
    password_step(&browser, "uma").await;
    for _ in 0..5 {
        assert_eq!(code_step(&browser, "123456").await.status(), 401);
    }
    // Even the right code waits now, from any address.
    let res = code_step(&browser, &code(&secret, 1)).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let elsewhere = app.new_browser();
    password_step(&elsewhere, "uma").await;
    assert_eq!(code_step(&elsewhere, &code(&secret, 1)).await.status(), 429);
    assert!(app.audit_actions().contains(&"2fa.failure".to_string()));
}

#[tokio::test]
async fn turning_it_off_takes_the_password_and_a_code() {
    let app = spawn_app().await;
    app.sign_in_as("vera", Role::User).await;
    let (secret, _, _) = enrol(&app).await;
    let disable = "/account/security/2fa/disable";
    let form = app.form(ENROL, disable).await;
    let res = app
        .submit(
            &form
                .clone()
                .set("disable_password", "not my password")
                .set("disable_code", &code(&secret, 1)),
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .submit(
            &form
                .clone()
                .set("disable_password", PASSWORD)
                .set("disable_code", "999999"),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        text_of(&res.text().await.unwrap(), "#disable_code-error")
            .unwrap()
            .contains("not right")
    );
    assert!(user_row(&app, "vera").has_second_factor());
    let res = app
        .submit(
            &form
                .set("disable_password", PASSWORD)
                .set("disable_code", &code(&secret, 1)),
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(!user_row(&app, "vera").has_second_factor());
    assert!(app.audit_actions().contains(&"2fa.disabled".to_string()));
    assert_eq!(
        crate::console::count(&app, "SELECT id FROM user_recovery_codes"),
        0
    );
    // The password alone signs in again.
    let browser = app.new_browser();
    assert_eq!(password_step(&browser, "vera").await, "/");
}

#[tokio::test]
async fn required_for_superusers_they_reach_only_enrolment_until_they_enrol() {
    let app = spawn_app().await;
    app.sign_in_as("wanda", Role::Superuser).await;
    // Ticked on the General settings form, with the password.
    let settings = "/admin/settings/oauth2";
    let form = app
        .form(settings, settings)
        .await
        .set("require_2fa_superusers", "1")
        .set("confirm_password", PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 303);
    for path in ["/admin/oauth2/clients", "/admin/settings/oauth2", "/"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(location(&res), ENROL, "{path}");
    }
    let html = app.get_html(ENROL).await;
    assert!(html.contains("Your role must sign in with two-factor authentication"));
    // A user of another role is not held.
    let plain = app.new_browser();
    plain.sign_in_as("xavier", Role::User).await;
    assert_eq!(plain.get("/account/authorized-apps").await.status(), 200);
    enrol(&app).await;
    assert_eq!(app.get("/admin/oauth2/clients").await.status(), 200);
}

#[tokio::test]
async fn the_command_line_resets_a_lost_authenticator() {
    let app = spawn_app().await;
    app.sign_in_as("yuri", Role::User).await;
    enrol(&app).await;
    let out = consentry(&app, &["user", "reset-2fa", "--login", "yuri"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!user_row(&app, "yuri").has_second_factor());
    assert!(app.audit_actions().contains(&"2fa.reset".to_string()));
    let browser = app.new_browser();
    assert_eq!(password_step(&browser, "yuri").await, "/");
    let out = consentry(&app, &["user", "reset-2fa", "--login", "nobody"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1);
}

#[tokio::test]
async fn id_tokens_say_a_second_factor_was_used() {
    let app = spawn_app().await;
    let client = protocol::register(&app, Spec::confidential()).await;
    app.sign_in_as("zoe", Role::User).await;
    let (secret, _, _) = enrol(&app).await;
    let browser = app.new_browser();
    password_step(&browser, "zoe").await;
    assert_eq!(code_step(&browser, &code(&secret, 1)).await.status(), 303);
    let mut pairs = protocol::code_request(&client, true);
    pairs.retain(|(k, _)| *k != "scope");
    pairs.push(("scope", "openid"));
    pairs.push((
        "acr_values",
        "urn:consentry:acr:mfa urn:consentry:acr:password",
    ));
    let path = protocol::authorize_path(&pairs);
    let to = protocol::consent(&browser, &path, "allow", "").await;
    assert!(to.starts_with(CALLBACK));
    let (status, body) = protocol::token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", CALLBACK),
            ("code", &param(&to, "code").unwrap()),
            ("code_verifier", protocol::VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(claims["acr"], "urn:consentry:acr:mfa");
}

/// The payload of a JWT (its signature is checked by the OpenID Connect tests).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn prompt_none_answers_interaction_required_while_enrolment_is_due() {
    let app = spawn_app().await;
    let client = protocol::register(&app, Spec::confidential()).await;
    protocol::sql(
        &app,
        "UPDATE oauth_settings SET require_2fa_superusers = TRUE",
    );
    app.sign_in_as("abe", Role::Superuser).await;
    let mut pairs = protocol::code_request(&client, true);
    pairs.push(("prompt", "none"));
    let to = location(&app.get(&protocol::authorize_path(&pairs)).await);
    assert_eq!(param(&to, "error").as_deref(), Some("interaction_required"));
}
