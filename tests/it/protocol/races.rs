//! Races that used to end in 500s: a code redeemed while the user revokes the app, and
//! token requests while the client is deleted. A hundred rounds each; every answer is a
//! protocol answer (200, 400 invalid_grant, 401 invalid_client), and single use holds.

use consentry::domain::Role;

use super::*;
use crate::common::spawn_app;

/// A client-credentials token request (scope `matomo:read`) from `client`.
async fn client_credentials(
    app: &crate::common::TestApp,
    client: &Client,
) -> (u16, reqwest::header::HeaderMap, Value) {
    post(
        app,
        "/oauth2/token",
        Some((&client.id, client.secret())),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "matomo:read"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeeming_while_the_user_revokes_never_answers_500() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..100 {
        let code = approved_code(&app, &client, false).await;
        let csrf = app.csrf_token("/account/authorized-apps").await;
        let revoke_path = format!("/account/authorized-apps/{}/revoke", client.id);
        let revoke = app.post_form(&revoke_path, &csrf, &[]);
        let redeem = redeem(&app, &client, &code);
        let (revoked, (status, body)) = tokio::join!(revoke, redeem);
        assert_eq!(revoked.status(), 303, "round {round}");
        let outcome = match status {
            200 => {
                // Redeemed first: the revocation that followed must have ended the token.
                let token = body["access_token"].as_str().unwrap();
                assert!(
                    !active(&introspect(&app, &client, token).await),
                    "round {round}"
                );
                "redeemed, then revoked".to_string()
            }
            400 => {
                assert_eq!(error(&body), "invalid_grant", "round {round}: {body}");
                "invalid_grant".to_string()
            }
            other => panic!("round {round}: {other} {body}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    println!("redeem vs revoke, 100 rounds: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_while_the_client_is_deleted_never_answer_500() {
    let app = spawn_app().await;
    let mut outcomes = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..100 {
        // This test is about the race, not the throttle on failed authentication.
        sql(&app, "DELETE FROM throttle_buckets");
        let client = register(&app, Spec::confidential()).await;
        let requests = (0..4).map(|_| client_credentials(&app, &client));
        let url = app.db_url.clone();
        let id = client.id.clone();
        let delete = tokio::task::spawn_blocking(move || {
            let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
            consentry::oauth::clients::delete(
                &mut conn,
                &id,
                &consentry::audit::Actor::new("test"),
            )
            .unwrap();
        });
        let (answers, deleted) = tokio::join!(futures_util::future::join_all(requests), delete);
        deleted.unwrap();
        for (status, _, body) in answers {
            match status {
                200 => assert!(body["access_token"].is_string()),
                401 => assert_eq!(error(&body), "invalid_client", "round {round}: {body}"),
                other => panic!("round {round}: {other} {body}"),
            }
            *outcomes.entry(status).or_default() += 1;
        }
        // Whatever won, nothing the deleted client held is usable.
        let (status, _, _) = post(
            &app,
            "/oauth2/token",
            Some((&client.id, client.secret())),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, 401);
    }
    println!("token requests vs delete, 100 rounds x 4: {outcomes:?}");
}

/// A database restart (or a proxy) closes the connections the server keeps, the token
/// writers' included: the next token requests are still answered, on new connections,
/// not refused with 503.
#[tokio::test]
async fn token_requests_after_the_servers_connections_were_killed_are_answered() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let request = || client_credentials(&app, &client);
    for _ in 0..4 {
        assert_eq!(request().await.0, 200);
    }
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let mut conn = app.conn();
    let ids: Vec<Id> = diesel::sql_query(
        "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
    )
    .load(&mut conn)
    .unwrap();
    assert!(!ids.is_empty());
    for Id { id } in ids {
        let _ = diesel::sql_query(format!("KILL CONNECTION {id}")).execute(&mut conn);
    }
    for n in 0..6 {
        let (status, _, body) = request().await;
        assert_eq!(status, 200, "request {n} after the kill: {body}");
    }
}
