//! The admin API, `OAuth2.*`: superuser-scoped calls for deployment scripts, through the
//! same rules and audit events as the console and the command line.

use consentry::domain::{Role, Scope};
use serde_json::Value;

use super::{Answer, answer, api, world};
use crate::common::TestApp;
use crate::console::{count, last_event};
use crate::protocol::{self, token};

/// Calls `method` as Matomo's clients may: `module`, `method` and the parameters in a
/// POST body.
async fn post(app: &TestApp, bearer: &str, method: &str, params: &[(&str, &str)]) -> Answer {
    let mut form = vec![("module", "API"), ("method", method), ("format", "json")];
    form.extend_from_slice(params);
    let res = reqwest::Client::new()
        .post(app.url("/index.php"))
        .bearer_auth(bearer)
        .form(&form)
        .send()
        .await
        .unwrap();
    answer(res).await
}

fn message(a: &Answer) -> &str {
    a.body["message"].as_str().unwrap_or_default()
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> u16 {
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
    .0
}

#[tokio::test]
async fn every_admin_method_works_for_a_superuser_token_and_is_audited_as_user_via_client() {
    let w = world().await;
    let root = w.user("root1", Role::Superuser, None).await;
    let bearer = w.token(&root, Scope::Superuser).await;
    let via = format!("root1 via {}", w.client.id);

    // Create, through a POST body; the secret comes once and works.
    let created = post(
        &w.app,
        &bearer,
        "OAuth2.createClient",
        &[
            ("name", "Deploy bot"),
            ("type", "confidential"),
            ("grantTypes", "client_credentials"),
            ("scopes", "matomo:read,matomo:write"),
            ("accessTokenLifetime", "600"),
        ],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["client_id"].as_str().unwrap().to_string();
    let secret = created.body["client_secret"].as_str().unwrap().to_string();
    assert_eq!(client_credentials(&w.app, &id, &secret).await, 200);
    let (actor, details, _) = last_event(&w.app, "client.created");
    assert_eq!(actor, via);
    assert_eq!(details["name"], "Deploy bot");

    // Read: the list (filtered) and one client, as `client show --json` prints it.
    let all = api(&w.app, Some(&bearer), "OAuth2.getClients", "").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body.as_array().unwrap().len(), 2);
    let found = api(&w.app, Some(&bearer), "OAuth2.getClients", "q=Deploy").await;
    assert_eq!(found.body[0]["client_id"], id.as_str());
    let one = api(
        &w.app,
        Some(&bearer),
        "OAuth2.getClient",
        &format!("clientId={id}"),
    )
    .await;
    assert_eq!(one.body["access_token_lifetime"], 600);
    assert_eq!(
        one.body["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert!(one.body.get("secret_hash").is_none());

    // Update: what is named changes, the rest stays.
    let updated = post(
        &w.app,
        &bearer,
        "OAuth2.updateClient",
        &[
            ("clientId", &id),
            ("name", "Deploy robot"),
            ("scopes", "matomo:read"),
        ],
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        (
            updated.body["name"].as_str(),
            updated.body["access_token_lifetime"].as_i64()
        ),
        (Some("Deploy robot"), Some(600))
    );
    assert_eq!(last_event(&w.app, "client.edited").0, via);
    // `default` gives a lifetime back to the server, as on the command line.
    let reset = post(
        &w.app,
        &bearer,
        "OAuth2.updateClient",
        &[("clientId", &id), ("accessTokenLifetime", "default")],
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert!(
        reset.body["access_token_lifetime"].is_null(),
        "{}",
        reset.body
    );

    // Pause and resume.
    assert_eq!(
        post(&w.app, &bearer, "OAuth2.pauseClient", &[("clientId", &id)])
            .await
            .status,
        200
    );
    assert_eq!(client_credentials(&w.app, &id, &secret).await, 401);
    let paused = api(&w.app, Some(&bearer), "OAuth2.getClients", "status=paused").await;
    assert_eq!(paused.body.as_array().unwrap().len(), 1);
    assert_eq!(
        post(&w.app, &bearer, "OAuth2.resumeClient", &[("clientId", &id)])
            .await
            .status,
        200
    );
    assert_eq!(client_credentials(&w.app, &id, &secret).await, 200);
    assert_eq!(last_event(&w.app, "client.paused").0, via);
    assert_eq!(last_event(&w.app, "client.resumed").0, via);

    // Rotate with a grace period: both secrets work.
    let rotated = post(
        &w.app,
        &bearer,
        "OAuth2.rotateSecret",
        &[("clientId", &id), ("grace", "1h")],
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new = rotated.body["client_secret"].as_str().unwrap().to_string();
    assert!(
        rotated.body["previous_secret_valid_until"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(client_credentials(&w.app, &id, &secret).await, 200);
    assert_eq!(client_credentials(&w.app, &id, &new).await, 200);
    assert_eq!(last_event(&w.app, "client.secret_regenerated").0, via);

    // Settings: read, change one, the change applies and is audited.
    let settings = api(&w.app, Some(&bearer), "OAuth2.getSettings", "").await;
    assert_eq!(settings.body["device_flow_enabled"], false);
    let set = post(
        &w.app,
        &bearer,
        "OAuth2.setSettings",
        &[
            ("device_flow_enabled", "1"),
            ("access_token_lifetime", "1800"),
        ],
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        (
            set.body["changed"].as_bool(),
            set.body["access_token_lifetime"].as_i64()
        ),
        (Some(true), Some(1800))
    );
    let doc: Value = w
        .app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["device_authorization_endpoint"].is_string());
    let (actor, details, _) = last_event(&w.app, "settings.changed");
    assert_eq!(actor, via);
    assert_eq!(details["new"]["device_flow_enabled"], true);

    // The audit log, filtered as on its page; the user filter finds what they did via a client.
    let log = api(
        &w.app,
        Some(&bearer),
        "OAuth2.getAuditLog",
        &format!("clientId={id}&limit=3"),
    )
    .await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert_eq!(log.body.as_array().unwrap().len(), 3);
    let mine = api(
        &w.app,
        Some(&bearer),
        "OAuth2.getAuditLog",
        "user=root1&action=client.created",
    )
    .await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);

    // Delete.
    assert_eq!(
        post(&w.app, &bearer, "OAuth2.deleteClient", &[("clientId", &id)])
            .await
            .status,
        200
    );
    assert_eq!(
        count(
            &w.app,
            &format!("SELECT id FROM oauth_clients WHERE client_id = '{id}'")
        ),
        0
    );
    assert_eq!(last_event(&w.app, "client.deleted").0, via);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter_and_changes_nothing() {
    let w = world().await;
    let root = w.user("root1", Role::Superuser, None).await;
    let bearer = w.token(&root, Scope::Superuser).await;
    let clients = count(&w.app, "SELECT id FROM oauth_clients");
    let events = count(&w.app, "SELECT id FROM audit_events");
    for (params, named) in [
        (
            vec![
                ("type", "confidential"),
                ("grantTypes", "client_credentials"),
                ("scopes", "matomo:read"),
            ],
            "Parameter name",
        ),
        (
            vec![
                ("name", "X app"),
                ("type", "secret"),
                ("grantTypes", "client_credentials"),
                ("scopes", "matomo:read"),
            ],
            "Parameter type",
        ),
        (
            vec![
                ("name", "X app"),
                ("type", "confidential"),
                ("grantTypes", "password"),
                ("scopes", "matomo:read"),
            ],
            "Parameter grantTypes",
        ),
        (
            vec![
                ("name", "X app"),
                ("type", "confidential"),
                ("grantTypes", "authorization_code"),
                ("scopes", "matomo:read"),
                ("redirectUris", "http://evil.example/cb"),
            ],
            "Parameter redirectUris",
        ),
        (
            vec![
                ("name", "X app"),
                ("type", "confidential"),
                ("grantTypes", "client_credentials"),
                ("scopes", "matomo:root"),
            ],
            "Parameter scopes",
        ),
        (
            vec![
                ("name", "X app"),
                ("type", "confidential"),
                ("grantTypes", "client_credentials"),
                ("scopes", "matomo:read"),
                ("accessTokenLifetime", "5"),
            ],
            "Parameter accessTokenLifetime",
        ),
        (
            vec![
                ("name", "X app"),
                ("type", "confidential"),
                ("grantTypes", "client_credentials"),
                ("scopes", "matomo:read"),
                ("trusted", "maybe"),
            ],
            "Parameter trusted",
        ),
        (
            vec![
                ("name", "X app"),
                ("type", "confidential"),
                ("grantTypes", "client_credentials"),
                ("scopes", "matomo:read"),
                ("owner", "nobody"),
            ],
            "Parameter owner",
        ),
    ] {
        let a = post(&w.app, &bearer, "OAuth2.createClient", &params).await;
        assert_eq!(a.status, 400, "{params:?}: {}", a.body);
        assert!(
            message(&a).starts_with(named),
            "{params:?}: {}",
            message(&a)
        );
    }
    for (method, params, named) in [
        ("OAuth2.getClient", vec![], "Parameter clientId"),
        (
            "OAuth2.getClient",
            vec![("clientId", "0123456789abcdef0123456789abcdef")],
            "Parameter clientId",
        ),
        (
            "OAuth2.pauseClient",
            vec![("clientId", "nope")],
            "Parameter clientId",
        ),
        (
            "OAuth2.updateClient",
            vec![
                ("clientId", w.client.id.as_str()),
                ("refreshTokenLifetime", "x"),
            ],
            "Parameter refreshTokenLifetime",
        ),
        (
            "OAuth2.rotateSecret",
            vec![("clientId", w.client.id.as_str()), ("grace", "2d")],
            "Parameter grace",
        ),
        (
            "OAuth2.rotateSecret",
            vec![
                ("clientId", w.client.id.as_str()),
                ("expires", "2001-01-01"),
            ],
            "Parameter expires",
        ),
        (
            "OAuth2.setSettings",
            vec![("access_token_lifetime", "5")],
            "Parameter access_token_lifetime",
        ),
        (
            "OAuth2.setSettings",
            vec![("device_flow_enabled", "yes")],
            "Parameter device_flow_enabled",
        ),
        (
            "OAuth2.setSettings",
            vec![("colour", "blue")],
            "Name at least one setting",
        ),
        (
            "OAuth2.getAuditLog",
            vec![("since", "yesterday")],
            "Parameter since",
        ),
        (
            "OAuth2.getAuditLog",
            vec![("action", "client.nuked")],
            "Parameter action",
        ),
        (
            "OAuth2.getClients",
            vec![("limit", "100000")],
            "Parameter limit",
        ),
        (
            "OAuth2.getClients",
            vec![("status", "gone")],
            "Parameter status",
        ),
    ] {
        let a = post(&w.app, &bearer, method, &params).await;
        assert_eq!(a.status, 400, "{method} {params:?}: {}", a.body);
        assert!(
            message(&a).starts_with(named),
            "{method} {params:?}: {}",
            message(&a)
        );
    }
    assert_eq!(count(&w.app, "SELECT id FROM oauth_clients"), clients);
    assert_eq!(count(&w.app, "SELECT id FROM audit_events"), events);
    let settings = api(&w.app, Some(&bearer), "OAuth2.getSettings", "").await;
    assert_eq!(settings.body["access_token_lifetime"], 3600);
}

#[tokio::test]
async fn only_a_superuser_scoped_token_of_a_superuser_may_call_them() {
    let w = world().await;
    let root = w.user("root1", Role::Superuser, None).await;
    let admin_scoped = w.token(&root, Scope::Admin).await;
    let site_admin = w
        .user(
            "siteadmin",
            Role::User,
            Some(consentry::domain::AccessLevel::Admin),
        )
        .await;
    let user_token = w.token(&site_admin, Scope::Admin).await;
    let clients = count(&w.app, "SELECT id FROM oauth_clients");
    for bearer in [&admin_scoped, &user_token] {
        for method in consentry::api::oauth2::METHODS {
            let a = post(
                &w.app,
                bearer,
                method,
                &[("clientId", w.client.id.as_str()), ("name", "Hijacked")],
            )
            .await;
            assert_eq!(a.status, 403, "{method}: {}", a.body);
            assert!(
                a.challenge
                    .as_deref()
                    .unwrap_or_default()
                    .contains("insufficient_scope"),
                "{method}"
            );
        }
    }
    let none = api(&w.app, None, "OAuth2.getClients", "").await;
    assert_eq!(none.status, 401);
    assert_eq!(count(&w.app, "SELECT id FROM oauth_clients"), clients);
    // A token whose client is paused is refused like any other.
    let bearer = w.token(&root, Scope::Superuser).await;
    protocol::sql(
        &w.app,
        &format!(
            "UPDATE oauth_clients SET status = 'paused' WHERE client_id = '{}'",
            w.client.id
        ),
    );
    crate::common::until("the pause", || async {
        api(&w.app, Some(&bearer), "OAuth2.getClients", "")
            .await
            .status
            == 401
    })
    .await;
}
