//! The audit log: filters, paging and CSV export.

use consentry::domain::Role;

use super::{count, create_client, last_event, new_client_form, post_button, superuser_app};
use crate::common::{TestApp, spawn_app, text_of};
use crate::protocol;

const LOG: &str = "/admin/audit";

fn row_actions(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("tbody tr td:nth-child(3)").unwrap();
    doc.select(&sel).map(|e| e.text().collect()).collect()
}

async fn csv(app: &TestApp, query: &str) -> Vec<Vec<String>> {
    let res = app.get(&format!("/admin/audit.csv?{query}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "time_utc",
            "actor",
            "action",
            "target_type",
            "target",
            "details",
            "client_address",
            "count"
        ]
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

#[tokio::test]
async fn events_filter_by_action_client_user_and_date_and_export_as_csv() {
    let app = spawn_app().await;
    app.login("=HYPERLINK(\"http://evil\")", "wrong password")
        .await;
    app.sign_in_as("root1", Role::Superuser).await;
    let (a, _) = create_client(&app, new_client_form(&app, "Alpha").await).await;
    let (b, _) = create_client(&app, new_client_form(&app, "Beta").await).await;
    let detail = format!("/admin/oauth2/clients/{a}");
    post_button(&app, &detail, &format!("{detail}/pause")).await;

    let all = app.page(LOG).await;
    let actions = row_actions(&all);
    assert_eq!(
        actions.first().map(String::as_str),
        Some("client.paused"),
        "newest first"
    );
    for action in [
        "login.failure",
        "login.success",
        "client.created",
        "client.paused",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    assert!(all.contains("127.0.0.1"));

    let by_action = app.page(&format!("{LOG}?action=client.created")).await;
    assert_eq!(
        row_actions(&by_action),
        ["client.created", "client.created"]
    );
    let by_client = app.page(&format!("{LOG}?client={a}")).await;
    assert_eq!(row_actions(&by_client), ["client.paused", "client.created"]);
    assert!(!by_client.contains(&b));
    let by_user = app.page(&format!("{LOG}?user=root1")).await;
    assert!(row_actions(&by_user).iter().all(|a| a != "login.failure"));
    assert!(row_actions(&by_user).iter().any(|a| a == "login.success"));
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let yesterday = today.pred_opt().unwrap();
    let in_range = app.page(&format!("{LOG}?from={today}&to={today}")).await;
    assert_eq!(row_actions(&in_range).len(), row_actions(&all).len());
    let out_of_range = app.page(&format!("{LOG}?from={tomorrow}")).await;
    assert!(row_actions(&out_of_range).is_empty());
    let before = app.page(&format!("{LOG}?to={yesterday}")).await;
    assert!(row_actions(&before).is_empty());

    // Bad filters get a field message and no rows.
    let res = app.get(&format!("{LOG}?from=24/11/2026")).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        text_of(&html, "#from-error")
            .unwrap()
            .contains("YYYY-MM-DD")
    );
    assert_eq!(
        app.get(&format!("{LOG}?from={today}&to={yesterday}"))
            .await
            .status(),
        422
    );
    assert_eq!(
        app.get(&format!("{LOG}?action=drop.table")).await.status(),
        422
    );

    // The export follows the filter, quotes properly and defuses formulas.
    let rows = csv(&app, &format!("client={a}")).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][1], "root1");
    assert_eq!(rows[0][2], "client.paused");
    assert_eq!(rows[0][4], a);
    assert_eq!(rows[0][6], "127.0.0.1");
    let link = text_of(&by_client, "a[download]").unwrap();
    assert_eq!(link, "Export as CSV");
    assert!(by_client.contains(&format!("/admin/audit.csv?client={a}")));
    let failures = csv(&app, "action=login.failure").await;
    assert_eq!(failures.len(), 1);
    assert!(failures[0][1].starts_with("'="), "{:?}", failures[0]);
    assert!(failures[0][5].contains("HYPERLINK"));
    assert_eq!(app.get("/admin/audit.csv?from=nope").await.status(), 400);
}

#[tokio::test]
async fn pages_of_fifty_go_back_in_time_by_event_id() {
    let app = superuser_app().await;
    let values: Vec<String> = (0..120)
        .map(|i| format!("(NOW(6), 'bot{i:03}', 'client.paused', 'client', 'x', '{{}}', NULL)"))
        .collect();
    protocol::sql(
        &app,
        &format!(
            "INSERT INTO audit_events (occurred_at, actor, action, target_type, target_id, details, ip) VALUES {}",
            values.join(",")
        ),
    );
    let path = format!("{LOG}?action=client.paused");
    let page1 = app.page(&path).await;
    assert_eq!(row_actions(&page1).len(), 50);
    assert!(page1.contains("bot119"));
    let doc = scraper::Html::parse_document(&page1);
    let next = doc
        .select(&scraper::Selector::parse("a[rel=next]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_string();
    assert!(next.contains("action=client.paused"));
    let page2 = app.page(&next).await;
    assert!(page2.contains("bot069") && !page2.contains("bot070"));
    assert!(page2.contains("Newest events"));
}

#[tokio::test]
async fn purge_applies_the_audit_retention_and_records_that_it_did() {
    let app = spawn_app().await;
    let old = "INSERT INTO audit_events (occurred_at, actor, action, details) \
               VALUES (UTC_TIMESTAMP(6) - INTERVAL 500 DAY, 'x', 'login.failure', '{}'), \
                      (UTC_TIMESTAMP(6) - INTERVAL 401 DAY, 'x', 'login.failure', '{}'), \
                      (UTC_TIMESTAMP(6) - INTERVAL 399 DAY, 'x', 'login.failure', '{}')";
    crate::protocol::sql(&app, old);
    // 0 keeps everything.
    crate::protocol::sql(&app, "UPDATE oauth_settings SET audit_retention_days = 0");
    let out = crate::cli::consentry(&app, &["purge"], "");
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    assert_eq!(count(&app, "SELECT id FROM audit_events"), 3);
    // The default, 400 days, removes the two older ones, and says so in the log.
    crate::protocol::sql(&app, "UPDATE oauth_settings SET audit_retention_days = 400");
    let out = crate::cli::consentry(&app, &["purge"], "");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(printed.contains("2 audit event(s)"), "{printed}");
    assert_eq!(
        count(
            &app,
            "SELECT id FROM audit_events WHERE action = 'login.failure'"
        ),
        1
    );
    let (_, details, _) = last_event(&app, "audit.purged");
    assert_eq!(
        (
            details["deleted"].as_i64(),
            details["retention_days"].as_i64()
        ),
        (Some(2), Some(400))
    );
}
