//! One code, or one refresh token, used by 20 requests at once: exactly one success,
//! enforced by the database.

use consentry::domain::Role;
use futures_util::future::join_all;

use super::*;
use crate::common::spawn_app;

async fn race(
    app: &crate::common::TestApp,
    form: Vec<(String, String)>,
) -> Vec<(u16, serde_json::Value)> {
    let attempts = (0..20).map(|_| {
        let form = form.clone();
        let url = app.url("/oauth2/token");
        async move {
            let res = reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap();
            (
                res.status().as_u16(),
                res.json::<serde_json::Value>().await.unwrap(),
            )
        }
    });
    join_all(attempts).await
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn twenty_concurrent_redemptions_of_one_code_yield_exactly_one_token() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let code = approved_code(&app, &client, false).await;
    let results = race(
        &app,
        owned(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", CALLBACK),
            ("code", &code),
        ]),
    )
    .await;
    let wins: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(wins.len(), 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*status, error(body)), (400, "invalid_grant"), "{body}");
    }
    // The losers were replays: the winner's tokens are revoked too.
    assert!(!active(
        &introspect(&app, &client, wins[0].1["access_token"].as_str().unwrap()).await
    ));
}

#[tokio::test]
async fn twenty_concurrent_refreshes_of_one_token_yield_exactly_one_successor() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, body) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let rt = body["refresh_token"].as_str().unwrap();
    let results = race(
        &app,
        owned(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("refresh_token", rt),
        ]),
    )
    .await;
    let wins = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(wins, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*status, error(body)), (400, "invalid_grant"), "{body}");
    }
    use diesel::RunQueryDsl;
    let successors: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT COUNT(*) FROM oauth_refresh_tokens)",
    ))
    .get_result(&mut app.conn())
    .unwrap();
    assert_eq!(successors, 2, "the original and exactly one successor");
}
