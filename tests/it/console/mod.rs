//! The administration console and the personal pages, driven as a browser would: session
//! cookie, CSRF token, forms read from the pages themselves.

mod audit_log;
mod authorized_apps;
mod client_detail;
mod client_pages;
mod clients;
mod navigation;
mod secret_rotation;
mod settings;
mod sites_and_users;

use consentry::domain::Role;

use crate::common::{FormData, PASSWORD, TestApp, spawn_app, text_of};

pub const NEW_CLIENT: &str = "/admin/oauth2/clients/new";
pub const CALLBACK: &str = "https://example-app.com/oauth/callback";

/// A fresh server with a signed-in superuser `root1`.
pub async fn superuser_app() -> TestApp {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    app
}

/// The create form filled in with a valid confidential client named `name`.
pub async fn new_client_form(app: &TestApp, name: &str) -> FormData {
    app.form(NEW_CLIENT, NEW_CLIENT)
        .await
        .set("name", name)
        .set("description", "Reads the dashboards")
        .set("redirect_uris", CALLBACK)
        .set("password", PASSWORD)
}

/// Submits a create or edit form that must succeed; returns the client ID and the secret
/// when the answer is the one-time credentials page.
pub async fn save_client(app: &TestApp, form: &FormData) -> (String, Option<String>) {
    let res = app.submit(form).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let to = crate::protocol::location(&res);
    let id = to
        .trim_start_matches("/admin/oauth2/clients/")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 32, "{to}");
    if to.ends_with("/credentials") {
        let html = app.page(&to).await;
        let secret = text_of(&html, "#client-secret").expect("the secret is shown");
        (id, Some(secret))
    } else {
        (id, None)
    }
}

/// Creates a client through the console.
pub async fn create_client(app: &TestApp, form: FormData) -> (String, Option<String>) {
    save_client(app, &form).await
}

/// Count of rows a statement selects, for checking what the app stored.
pub fn count(app: &TestApp, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM ({sql}) AS t"))
        .get_result::<N>(&mut app.conn())
        .unwrap()
        .n
}

/// The latest audit event of `action`: (actor, details, ip).
pub fn last_event(app: &TestApp, action: &str) -> (String, serde_json::Value, Option<String>) {
    use consentry::db::schema::audit_events::dsl as a;
    use diesel::prelude::*;
    a::audit_events
        .filter(a::action.eq(action))
        .order(a::id.desc())
        .select((a::actor, a::details, a::ip))
        .first(&mut app.conn())
        .unwrap_or_else(|_| panic!("an audit event {action}"))
}

/// Posts a form's CSRF token and nothing else to `path`.
pub async fn post_button(app: &TestApp, page: &str, path: &str) -> reqwest::Response {
    let token = app.csrf_token(page).await;
    app.post_form(path, &token, &[]).await
}
