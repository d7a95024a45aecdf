//! A client's own token lifetimes (issue 18): honoured by every grant, the server's when
//! it has none.

use consentry::domain::Role;
use serde_json::Value;

use super::*;
use crate::common::spawn_app;

fn lifetime_of(jwt: &str) -> i64 {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
}

/// Seconds between a grant's creation and its end, for the newest grant of the client.
fn family_seconds(app: &crate::common::TestApp, client_id: &str) -> i64 {
    crate::console::count(
        app,
        &format!(
            "SELECT g.id FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id \
             WHERE c.client_id = '{client_id}' AND g.grant_type = 'authorization_code' \
             AND TIMESTAMPDIFF(SECOND, g.created_at, g.expires_at) BETWEEN 599 AND 601"
        ),
    )
}

#[tokio::test]
async fn a_clients_own_lifetimes_apply_to_every_grant_and_others_keep_the_servers() {
    let app = spawn_app().await;
    let mut spec = Spec::confidential();
    spec.lifetimes = (Some(120), Some(600));
    let own = register(&app, spec).await;
    let plain = register(&app, Spec::confidential()).await;
    let cc = |c: &Client| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", c.id.clone()),
            ("client_secret", c.secret().to_string()),
        ]
    };
    for (client, expected) in [(&own, 120), (&plain, 3600)] {
        let form = cc(client);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = token(&app, &form).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expires_in"], expected);
        assert_eq!(
            lifetime_of(body["access_token"].as_str().unwrap()),
            expected
        );
    }
    // The code grant, its refresh family, and the refresh.
    app.sign_in_as("ida", Role::User).await;
    let (status, body) = redeem(&app, &own, &approved_code(&app, &own, false).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 120);
    assert_eq!(lifetime_of(body["access_token"].as_str().unwrap()), 120);
    assert_eq!(family_seconds(&app, &own.id), 1, "the family lives 600 s");
    let (status, refreshed) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &own.id),
            ("client_secret", own.secret()),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["expires_in"], 120);
}
