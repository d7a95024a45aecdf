//! Personal > Authorized applications.

use consentry::domain::Role;

use super::{create_client, new_client_form};
use crate::common::{FormData, spawn_app, text_of};
use crate::protocol::{self, Client, active, introspect, location};

const PATH: &str = "/account/authorized-apps";

#[tokio::test]
async fn a_user_sees_approved_apps_and_revoking_one_kills_its_tokens_at_once() {
    let app = spawn_app().await;
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let (id, secret) = create_client(&admin, new_client_form(&admin, "Dashboard sync").await).await;
    let client = Client {
        id: id.clone(),
        secret,
    };
    app.sign_in_as("enduser", Role::User).await;
    assert!(
        app.page(PATH)
            .await
            .contains("You have not authorized any application.")
    );

    let code = protocol::approved_code(&app, &client, false).await;
    let (_, tokens) = protocol::redeem(&app, &client, &code).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    // A second code, not yet redeemed when the user revokes.
    let pending = protocol::approved_code(&app, &client, false).await;

    let html = app.page(PATH).await;
    for text in ["Dashboard sync", "Reads the dashboards", "matomo:read"] {
        assert!(html.contains(text), "{text}");
    }
    assert!(html.contains(r#"aria-label="Revoke access of Dashboard sync""#));
    let action = format!("{PATH}/{id}/revoke");
    let res = app.submit(&FormData::from_page(&html, &action)).await;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, PATH.to_string())
    );
    let html = app.page(PATH).await;
    assert!(
        text_of(&html, ".flash")
            .unwrap()
            .contains("Dashboard sync no longer has access")
    );
    assert!(html.contains("You have not authorized any application."));

    assert!(!active(&introspect(&app, &client, &access).await));
    let (status, body) = protocol::token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &id),
            ("client_secret", client.secret()),
        ],
    )
    .await;
    assert_eq!((status, protocol::error(&body)), (400, "invalid_grant"));
    let (status, body) = protocol::redeem(&app, &client, &pending).await;
    assert_eq!((status, protocol::error(&body)), (400, "invalid_grant"));
    // The next authorization asks again.
    let res = app
        .get(&protocol::authorize_path(&protocol::code_request(
            &client, false,
        )))
        .await;
    assert_eq!(res.status(), 200);
    let consent = res.text().await.unwrap();
    crate::common::assert_valid_html(&consent);
    assert!(consent.contains("Dashboard sync"));
    let (actor, details, ip) = super::last_event(&app, "consent.revoked");
    assert_eq!(
        (actor.as_str(), ip.as_deref()),
        ("enduser", Some("127.0.0.1"))
    );
    assert_eq!(details["grants_revoked"], 1);
    assert_eq!(details["codes_voided"], 1);
}

#[tokio::test]
async fn revoking_needs_csrf_and_an_existing_consent_of_ones_own() {
    let app = spawn_app().await;
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let (id, secret) = create_client(&admin, new_client_form(&admin, "Shared app").await).await;
    let client = Client {
        id: id.clone(),
        secret,
    };
    protocol::approved_code(&admin, &client, false).await;
    app.sign_in_as("enduser", Role::User).await;
    let token = app.csrf_token(PATH).await;
    let action = format!("{PATH}/{id}/revoke");
    // Not this user's consent.
    assert_eq!(app.post_form(&action, &token, &[]).await.status(), 404);
    assert_eq!(
        app.post_form(&format!("{PATH}/nonsense/revoke"), &token, &[])
            .await
            .status(),
        404
    );
    // The superuser's consent survives, and a forged POST is refused.
    assert_eq!(super::count(&app, "SELECT user_id FROM oauth_consents"), 1);
    let res = admin
        .client
        .post(admin.url(&action))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(super::count(&app, "SELECT user_id FROM oauth_consents"), 1);
}

#[tokio::test]
async fn a_trusted_client_skips_consent_but_is_listed_and_revocable() {
    let app = spawn_app().await;
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let form = new_client_form(&admin, "In-house app")
        .await
        .set("trusted", "1");
    let (id, secret) = create_client(&admin, form).await;
    let client = Client {
        id: id.clone(),
        secret,
    };
    app.sign_in_as("enduser", Role::User).await;
    // No consent screen: straight back to the client with a code.
    let res = app
        .get(&protocol::authorize_path(&protocol::code_request(
            &client, false,
        )))
        .await;
    assert_eq!(res.status(), 303);
    let code = protocol::param(&location(&res), "code").expect("a code without a consent screen");
    let (_, tokens) = protocol::redeem(&app, &client, &code).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let html = app.page(PATH).await;
    assert!(html.contains("In-house app"));
    let action = format!("{PATH}/{id}/revoke");
    assert_eq!(
        app.submit(&FormData::from_page(&html, &action))
            .await
            .status(),
        303
    );
    assert!(!active(&introspect(&app, &client, &access).await));
}
