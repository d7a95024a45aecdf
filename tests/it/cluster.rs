//! Two servers on one database: the in-process server A and a second `consentry serve`
//! process B, with the default change-log poll (250 ms). A change made through one is in
//! force on the other within a second (the README's promise); on the server that made it,
//! at once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use consentry::audit::Actor;
use consentry::domain::{AccessLevel, ClientStatus, Role, Scope};
use serde_json::Value;

use crate::api::{World, api, world};
use crate::common::{TestApp, until};
use crate::protocol::{Client, active, error, introspect, post, token};

/// Server B: the binary, on the same database and issuer as A.
struct SecondServer {
    child: Child,
    app: TestApp,
}

impl SecondServer {
    async fn start(a: &TestApp) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_consentry"))
            .arg("serve")
            .env("DATABASE_URL", a.db_url.full())
            .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
            // One issuer for both, as behind a load balancer.
            .env("CONSENTRY_PUBLIC_URL", &a.address)
            .env("CONSENTRY_DATA_DIR", a.data_dir.join("server-b"))
            .env("CONSENTRY_ADMIN_PASSWORD", "second server admin password")
            .env("CONSENTRY_INTROSPECTION_RATE", "100000")
            .env_remove("CONSENTRY_CHANGE_POLL_MS")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server B");
        // Owned at once, so that it is killed and waited for on every path (Drop).
        let server = Self {
            child,
            app: a.server_at(port),
        };
        for _ in 0..200 {
            if let Ok(res) = reqwest::get(server.app.url("/readyz")).await
                && res.status() == 200
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(server);
        panic!("server B did not start");
    }
}

impl Drop for SecondServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn client_credentials(app: &TestApp, client: &Client) -> (u16, Value) {
    token(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("scope", "matomo:read"),
        ],
    )
    .await
}

/// Runs `change` in this process, as server A's own code does: its memory hears of the
/// change right after the commit, server B through the change log.
async fn through_a(w: &World, change: impl FnOnce(&mut diesel::MysqlConnection) + Send + 'static) {
    let url = w.app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        change(&mut diesel::MysqlConnection::establish(url.full()).unwrap());
    })
    .await
    .unwrap();
}

const PROMISE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_change_through_one_server_is_in_force_on_the_other_within_a_second() {
    let w = world().await;
    let b = SecondServer::start(&w.app).await;
    let client = w.client.clone();

    // Both servers know the client (warm), then A pauses it.
    assert_eq!(client_credentials(&b.app, &client).await.0, 200);
    assert_eq!(client_credentials(&w.app, &client).await.0, 200);
    let id = client.id.clone();
    through_a(&w, move |conn| {
        consentry::oauth::clients::set_status(conn, &id, ClientStatus::Paused, &Actor::new("test"))
            .unwrap();
    })
    .await;
    let (status, body) = client_credentials(&w.app, &client).await;
    assert_eq!(
        (status, error(&body)),
        (401, "invalid_client"),
        "at once on A"
    );
    let took = until("pause at A, token refused at B", || async {
        client_credentials(&b.app, &client).await.0 == 401
    })
    .await;
    assert!(took < PROMISE, "{took:?}");
    let id = client.id.clone();
    through_a(&w, move |conn| {
        consentry::oauth::clients::set_status(conn, &id, ClientStatus::Active, &Actor::new("test"))
            .unwrap();
    })
    .await;
    until("resume at A, token issued at B", || async {
        client_credentials(&b.app, &client).await.0 == 200
    })
    .await;

    // A token revoked at B is inactive at A within the second.
    let (_, issued) = client_credentials(&w.app, &client).await;
    let access = issued["access_token"].as_str().unwrap().to_string();
    assert!(active(&introspect(&w.app, &client, &access).await));
    assert!(active(&introspect(&b.app, &client, &access).await));
    let (status, _, _) = post(
        &b.app,
        "/oauth2/revoke",
        Some((&client.id, client.secret())),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !active(&introspect(&b.app, &client, &access).await),
        "at once on B"
    );
    let took = until("revoke at B, inactive at A", || async {
        !active(&introspect(&w.app, &client, &access).await)
    })
    .await;
    assert!(took < PROMISE, "{took:?}");

    // Settings saved at A apply at B.
    through_a(&w, |conn| {
        let mut settings = consentry::oauth::settings::Settings::load(conn).unwrap();
        settings.client_credentials_enabled = false;
        settings.save(conn, &Actor::new("test")).unwrap();
    })
    .await;
    let took = until("client credentials off at A, refused at B", || async {
        let (status, body) = client_credentials(&b.app, &client).await;
        status == 400 && error(&body) == "unauthorized_client"
    })
    .await;
    assert!(took < PROMISE, "{took:?}");
    let metadata: Value = reqwest::get(b.app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_credentials".into()),
        "B's metadata follows"
    );

    // A site access removed at A applies to the API at B.
    let browser = w.user("alice", Role::User, Some(AccessLevel::View)).await;
    let user_token = w.token(&browser, Scope::Read).await;
    let sites = |app: &TestApp| {
        let (app, t) = (app.new_browser(), user_token.clone());
        async move {
            let answer = api(
                &app,
                Some(&t),
                "SitesManager.getSitesWithAtLeastViewAccess",
                "",
            )
            .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            answer.body.as_array().unwrap().len()
        }
    };
    assert_eq!(sites(&b.app).await, 1);
    w.set_access("alice", w.site1, None).await;
    assert_eq!(sites(&w.app).await, 0, "at once on A");
    let took = until("access removed at A, gone at B", || async {
        sites(&b.app).await == 0
    })
    .await;
    assert!(took < PROMISE, "{took:?}");
}
