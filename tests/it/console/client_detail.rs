//! A client's detail page: status history, holdings and the tokens-per-day chart.

use consentry::domain::Role;

use super::{create_client, new_client_form, post_button};
use crate::common::{TestApp, spawn_app, text_of};
use crate::protocol;

const LIST: &str = "/admin/oauth2/clients";

async fn issue(app: &TestApp, id: &str, secret: &str) {
    let (status, body) = protocol::token(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

fn chart_total(html: &str) -> i64 {
    let title = text_of(html, "svg.chart title").expect("an SVG chart with a title");
    title.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn support_sees_status_history_holdings_and_a_chart_that_outlives_the_purge() {
    let app = spawn_app().await;
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let form = new_client_form(&admin, "Charted app").await.set_all(
        "grant_types",
        &["authorization_code", "client_credentials", "refresh_token"],
    );
    let (id, secret) = create_client(&admin, form).await;
    let secret = secret.unwrap();
    for _ in 0..3 {
        issue(&app, &id, &secret).await;
    }
    let detail = format!("{LIST}/{id}");
    post_button(&admin, &detail, &format!("{detail}/pause")).await;
    post_button(&admin, &detail, &format!("{detail}/resume")).await;

    app.sign_in_as("helper", Role::Support).await;
    let html = app.page(&detail).await;
    for text in [
        "Charted app",
        "Confidential",
        "Authorisation code, Client credentials, Refresh token",
        "matomo:read",
        "https://example-app.com/oauth/callback",
        "<dt>Owner</dt><dd>root1</dd>",
        "<dt>Active access tokens</dt><dd>3</dd>",
        "<dt>Active refresh tokens</dt><dd>0</dd>",
        "<dt>Consents</dt><dd>0</dd>",
        "Paused</td><td>root1",
        "Resumed</td><td>root1",
        "Created</td><td>root1",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert_eq!(chart_total(&html), 3);
    assert_eq!(
        scraper::Html::parse_document(&html)
            .select(&scraper::Selector::parse("svg.chart rect").unwrap())
            .count(),
        30
    );
    assert!(
        !html.contains("<script src=\"http"),
        "no third-party script"
    );

    // Expire the tokens and purge them: the chart still counts them, the holdings do not.
    protocol::sql(
        &app,
        "UPDATE oauth_access_tokens SET expires_at = NOW(6) - INTERVAL 1 SECOND",
    );
    protocol::sql(
        &app,
        "UPDATE oauth_grants SET expires_at = NOW(6) - INTERVAL 1 SECOND",
    );
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
        consentry::oauth::purge::run(&mut conn).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(super::count(&app, "SELECT jti FROM oauth_access_tokens"), 0);
    issue(&app, &id, &secret).await;
    let html = app.page(&detail).await;
    assert_eq!(chart_total(&html), 4);
    assert!(html.contains("<dt>Active access tokens</dt><dd>1</dd>"));
}
